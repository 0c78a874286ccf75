package stacks

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// KeyAdminStage is the stage of the key-admin REST APIs.
const KeyAdminStage = "v1"

// dynamoKeyAdminActions are exactly the item actions internal/registry
// performs for the key-admin API: reads (GetItem, Query) and the items of
// its transactions (Put, Update, Delete, ConditionCheck; DynamoDB
// authorizes TransactWriteItems per item). No Scan, no batch calls, no
// DescribeTable.
var dynamoKeyAdminActions = []string{
	"dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
	"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
}

// keyAdminControlPlane are the API Gateway calls of internal/service for
// the key-admin API, per verb: metering keys (CreateApiKey,
// DeleteApiKey), their usage plan membership (CreateUsagePlanKey,
// DeleteUsagePlanKey) and usage reports (GetUsage). A path holding
// "{plan}" is granted once per usage plan of this stack, so the function
// cannot touch another environment's plans.
var keyAdminControlPlane = []struct {
	verb  string
	paths []string
}{
	{"apigateway:POST", []string{"/apikeys", "/usageplans/{plan}/keys"}},
	{"apigateway:DELETE", []string{"/apikeys/*", "/usageplans/{plan}/keys/*"}},
	{"apigateway:GET", []string{"/usageplans/{plan}/usage"}},
}

// newKeyAdmin builds the key administration function and its REST API
// (every method AWS_IAM) and, when configured, the JWT route's API.
func (ss *SharedStack) newKeyAdmin(cfg *config.Config, asset string, tableKey awskms.Key) {
	env := map[string]*string{}
	for k, v := range cfg.KeyAdminEnv(*ss.Table.TableName()) {
		env[k] = jsii.String(v)
	}
	ss.KeyAdmin = ss.newFunction(cfg, functionSpec{
		id:          "KeyAdmin",
		name:        FnKeyAdmin,
		asset:       asset,
		size:        cfg.Lambdas.KeyAdmin,
		description: "stagehand " + cfg.Env + " key administration API (customers, subscriptions, keys, usage)",
		env:         &env,
	})
	// Its queries name their index, so the grant names both indexes
	// instead of index/*.
	ss.grantTable(FnKeyAdmin, tableKey, dynamoKeyAdminActions, kmsReadWriteActions, []string{TableGSI1, TableGSI2})
	ss.grantKeyAdminControlPlane(cfg, FnKeyAdmin)

	ss.KeyAdminAPI = ss.newKeyAdminAPI(cfg, keyAdminAPISpec{
		id:          "KeyAdminApi",
		name:        "stagehand-" + cfg.Env + "-keyadmin",
		description: "stagehand " + cfg.Env + " key administration API (IAM-authorized, SigV4)",
		auth:        awsapigateway.AuthorizationType_IAM,
		// Callers need execute-api:Invoke in an identity policy of this
		// account; the resource policy only narrows where they call from.
		principal: awsiam.NewAccountRootPrincipal(),
	})
	if cfg.KeyAdmin.JWT != nil {
		ss.KeyAdminJWTAPI = ss.newKeyAdminAPI(cfg, keyAdminAPISpec{
			id:          "KeyAdminJwtApi",
			name:        "stagehand-" + cfg.Env + "-keyadmin-jwt",
			description: "stagehand " + cfg.Env + " key administration API, JWT route (the function verifies the bearer token and the admin scope)",
			auth:        awsapigateway.AuthorizationType_NONE,
			// Bearer-token callers have no IAM identity.
			principal: awsiam.NewAnyPrincipal(),
		})
	}
}

// grantKeyAdminControlPlane gives the key-admin function (and the portal,
// which calls the same internal/service operations) exactly the API
// Gateway calls it makes, on this environment's usage plans.
func (ss *SharedStack) grantKeyAdminControlPlane(cfg *config.Config, name string) {
	role := ss.Roles[name]
	var wildcards []string
	for _, c := range keyAdminControlPlane {
		var resources []string
		for _, p := range c.paths {
			paths := []string{p}
			if strings.Contains(p, "{plan}") {
				paths = paths[:0]
				for _, plan := range cfg.Plans {
					paths = append(paths, strings.ReplaceAll(p, "{plan}", *ss.UsagePlans[plan.Name].UsagePlanId()))
				}
			}
			for _, path := range paths {
				resources = append(resources, *apiGatewayArn(ss.Stack, path))
				if strings.HasSuffix(path, "*") {
					wildcards = append(wildcards, "Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::"+ss.nagPath(path))
				}
			}
		}
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(c.verb),
			Resources: jsii.Strings(resources...),
		}))
	}
	// CreateApiKey with tags (internal/service tags each metering key with
	// its environment and customer) is also authorized as tagging the new
	// key: apigateway:PUT on /tags/<the key's ARN, URL-encoded>, which API
	// Gateway checks before the key, or its id, exists. Hence a pattern: any
	// tagged ARN naming apikeys, and only stagehand's own tag keys.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("apigateway:PUT"),
		Resources: jsii.Strings(*apiGatewayArn(ss.Stack, keyTagsPath)),
		Conditions: &map[string]any{
			"ForAllValues:StringLike": map[string]any{"aws:TagKeys": []string{"stagehand:*"}},
		},
	}))
	wildcards = append(wildcards, "Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::"+keyTagsPath)
	suppress(role, true, suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "API Gateway API keys are created at run time (one metering key per customer and environment), so deleting one, removing it from a usage plan or tagging it on creation is addressed by a key id unknown at synth time. The usage plans are this stack's own (no wildcard), and each verb is granted only on the paths its call uses: POST to create keys and plan keys, DELETE to remove them, GET for usage, PUT on API-key tags (stagehand:* tag keys only) for tag-on-create.",
		appliesTo: wildcards,
	})
}

// keyTagsPath is the tags resource of every API key: API Gateway names it
// /tags/ and the key's URL-encoded ARN (arn%3A...%3A%3A%2Fapikeys%2F<id>).
const keyTagsPath = "/tags/*apikeys*"

// nagPath renders an API Gateway path as cdk-nag prints it in a finding:
// a usage plan id token becomes <LogicalId>.
func (ss *SharedStack) nagPath(path string) string {
	for _, p := range ss.UsagePlans {
		path = strings.ReplaceAll(path, *p.UsagePlanId(), "<"+ss.logicalID(p)+">")
	}
	return path
}

// keyAdminAPISpec describes one key-admin REST API.
type keyAdminAPISpec struct {
	id, name, description string
	auth                  awsapigateway.AuthorizationType
	principal             awsiam.IPrincipal
}

// newKeyAdminAPI builds a REST API whose every method (ANY / and
// ANY /{proxy+}) uses spec.auth and a Lambda proxy integration with the
// key-admin function, with a stage that logs access (never a body or a
// header), traces and throttles. With VPC endpoints configured the API is
// PRIVATE and its resource policy denies anything not coming through them.
func (ss *SharedStack) newKeyAdminAPI(cfg *config.Config, spec keyAdminAPISpec) awsapigateway.RestApi {
	stack := ss.Stack
	logs := awslogs.NewLogGroup(stack, jsii.String(spec.id+"AccessLogs"), &awslogs.LogGroupProps{
		Retention:     retention(cfg.KeyAdmin.AccessLogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	endpoint := &awsapigateway.EndpointConfiguration{Types: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL}}
	var policy awsiam.PolicyDocument
	if ids := cfg.KeyAdmin.VPCEndpointIDs; len(ids) > 0 {
		var endpoints []awsec2.IVpcEndpoint
		for i, id := range ids {
			endpoints = append(endpoints, awsec2.InterfaceVpcEndpoint_FromInterfaceVpcEndpointAttributes(stack,
				jsii.String(fmt.Sprintf("%sVpce%d", spec.id, i)), &awsec2.InterfaceVpcEndpointAttributes{
					VpcEndpointId: jsii.String(id), Port: jsii.Number(443),
				}))
		}
		endpoint = &awsapigateway.EndpointConfiguration{
			Types:        &[]awsapigateway.EndpointType{awsapigateway.EndpointType_PRIVATE},
			VpcEndpoints: &endpoints,
		}
		policy = keyAdminResourcePolicy(spec.principal, ids)
	}
	integration := awsapigateway.NewLambdaIntegration(ss.KeyAdmin, &awsapigateway.LambdaIntegrationOptions{
		Proxy:           jsii.Bool(true),
		AllowTestInvoke: jsii.Bool(false),
	})
	methods := &awsapigateway.MethodOptions{AuthorizationType: spec.auth}
	api := awsapigateway.NewRestApi(stack, jsii.String(spec.id), &awsapigateway.RestApiProps{
		RestApiName:           jsii.String(spec.name),
		Description:           jsii.String(spec.description),
		EndpointConfiguration: endpoint,
		Policy:                policy,
		// The account-level CloudWatch role is set once (newAPIGatewayAccount).
		CloudWatchRole:       jsii.Bool(false),
		Deploy:               jsii.Bool(true),
		DefaultIntegration:   integration,
		DefaultMethodOptions: methods,
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(KeyAdminStage),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(logs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(keyAdminAccessLogFormat())),
			TracingEnabled:       jsii.Bool(true),
			LoggingLevel:         awsapigateway.MethodLoggingLevel_ERROR,
			// A data trace would log request and response bodies: the
			// secret of every created or rotated key.
			DataTraceEnabled:     jsii.Bool(false),
			MetricsEnabled:       jsii.Bool(true),
			ThrottlingRateLimit:  jsii.Number(cfg.KeyAdmin.Throttle.RateLimit),
			ThrottlingBurstLimit: jsii.Number(cfg.KeyAdmin.Throttle.BurstLimit),
		},
	})
	api.Root().AddMethod(jsii.String("ANY"), nil, nil)
	api.Root().AddProxy(&awsapigateway.ProxyResourceOptions{AnyMethod: jsii.Bool(true)})
	if ss.apiGatewayAccount != nil {
		// Stage logging needs the account's CloudWatch role first.
		api.DeploymentStage().Node().AddDependency(ss.apiGatewayAccount)
	}

	rules := []suppression{
		{
			id:     "AwsSolutions-APIG2",
			reason: "A Lambda proxy integration whose function validates every request (path, query, headers, body) against the API's embedded OpenAPI 3.1 document before doing anything, and answers RFC 9457 problem details naming each invalid field; a gateway request validator would duplicate it with less precise errors.",
		},
		{
			id:     "AwsSolutions-APIG3",
			reason: "An administration API for operators and automation, not a public endpoint: it is throttled per stage and, with keyAdmin.vpcEndpointIds, private to the listed VPC endpoints. The web ACL of the customer-facing API (api.webAclArn) is written for that traffic.",
		},
	}
	if spec.auth == awsapigateway.AuthorizationType_IAM {
		rules = append(rules, suppression{
			id:     "AwsSolutions-COG4",
			reason: "Every method uses IAM authorization (SigV4): callers are IAM roles of operators and automation, and the signed principal becomes the actor of every audit entry. A Cognito user pool would add a second identity store for the same people.",
		})
	} else {
		rules = append(rules,
			suppression{
				id:     "AwsSolutions-APIG4",
				reason: "The JWT route (keyAdmin.jwt): REST APIs have no JWT authorizer, so the function verifies the bearer token itself with the authorizer's verifier (algorithm allowlist, JWKS of the configured issuer, exp, audience, maximum lifetime) and requires the admin scope; a request without a valid token gets 401 and writes nothing.",
			},
			suppression{
				id:     "AwsSolutions-COG4",
				reason: "The JWT route accepts tokens of the configured external issuer (keyAdmin.jwt.issuer), verified by the function; that issuer is not a Cognito user pool.",
			},
		)
	}
	suppress(api, true, rules...)
	return api
}

// keyAdminResourcePolicy allows principal to invoke the API and denies
// every request that does not come through one of the VPC endpoints.
func keyAdminResourcePolicy(principal awsiam.IPrincipal, endpoints []string) awsiam.PolicyDocument {
	return awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
		Statements: &[]awsiam.PolicyStatement{
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Effect:     awsiam.Effect_ALLOW,
				Principals: &[]awsiam.IPrincipal{principal},
				Actions:    jsii.Strings("execute-api:Invoke"),
				Resources:  jsii.Strings("execute-api:/*"),
			}),
			awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
				Effect:     awsiam.Effect_DENY,
				Principals: &[]awsiam.IPrincipal{awsiam.NewAnyPrincipal()},
				Actions:    jsii.Strings("execute-api:Invoke"),
				Resources:  jsii.Strings("execute-api:/*"),
				Conditions: &map[string]interface{}{
					"StringNotEquals": map[string]interface{}{"aws:SourceVpce": endpoints},
				},
			}),
		},
	})
}

// keyAdminAccessLogFormat is the key-admin stages' JSON access log line:
// who called (the IAM principal, the VPC endpoint) besides what every
// stage records. Never a header or a body: requests and responses carry
// tokens and secrets.
func keyAdminAccessLogFormat() string {
	return jsonAccessLog(map[string]string{
		"vpceId":    "$context.identity.vpceId",
		"caller":    "$context.identity.caller",
		"userArn":   "$context.identity.userArn",
		"accountId": "$context.identity.accountId",
	})
}
