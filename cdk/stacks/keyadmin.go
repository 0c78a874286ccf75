package stacks

import (
	"fmt"
	"reflect"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsec2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/iamgrant"
	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/service"
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
	// The function refuses any event whose requestContext does not name
	// these APIs and their stage (keyadmin.Origin). The Lambda permissions
	// that LambdaIntegration adds (one per method, principal
	// apigateway.amazonaws.com, source ARN <api>/<stage>/<method>/<path>,
	// no test-invoke stage) are the only resource-based grants on it.
	ss.KeyAdmin.AddEnvironment(jsii.String(keyadmin.EnvAPIID), ss.KeyAdminAPI.RestApiId(), nil)
	ss.KeyAdmin.AddEnvironment(jsii.String(keyadmin.EnvAPIStage), jsii.String(KeyAdminStage), nil)
	if ss.KeyAdminJWTAPI != nil {
		ss.KeyAdmin.AddEnvironment(jsii.String(keyadmin.EnvJWTAPIID), ss.KeyAdminJWTAPI.RestApiId(), nil)
	}
}

// grantKeyAdminControlPlane gives the key-admin function (and the portal,
// which calls the same internal/service operations) exactly the API
// Gateway calls it makes (derived from internal/service's interfaces and
// service.KeyGrants), on this environment's keys and usage plans.
func (ss *SharedStack) grantKeyAdminControlPlane(cfg *config.Config, name string) {
	role := ss.Roles[name]
	var ops [][]iamgrant.Op
	for _, iface := range []reflect.Type{reflect.TypeFor[service.APIGatewayKeysAPI](), reflect.TypeFor[service.GetUsageAPI]()} {
		o, err := service.KeyGrants.For(iface)
		if err != nil {
			// A method without a grant: iamgrant.Check in internal/service's
			// tests names it; synthesis fails on the error annotation.
			awscdk.Annotations_Of(role).AddError(jsii.String(err.Error()))
			return
		}
		ops = append(ops, o)
	}
	wildcards := ss.grantAPIGateway(role, cfg.Env, iamgrant.Statements(ops...))
	suppress(role, true, suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "API Gateway API keys and usage plans are created at run time (one metering key per customer and environment; plans by the registry's owner), so their paths hold ids unknown at synth time. Each verb is granted only on the paths of the calls the function makes (derived from its interfaces): POST /apikeys only with request tags stagehand:env of this environment and stagehand:* tag keys (and apigateway:PUT on API-key tags under the same conditions, which tag-on-create needs); DELETE of keys, and POST/DELETE of usage plan keys, only where the key or the plan carries aws:ResourceTag/stagehand:env of this environment; GET for usage reports.",
		appliesTo: wildcards,
	})
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
