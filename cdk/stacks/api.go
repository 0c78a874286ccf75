package stacks

import (
	"encoding/json"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awswafv2"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/originverify"
)

// Headers API Gateway adds to every backend request. The values come from
// the authorizer's context: lambdas/authorizer returns customerId, keyId,
// plan, scopes, authMethod and originVerify (the origin-verify value it
// reads from Secrets Manager: the secret is never in API Gateway's
// configuration, see internal/originverify).
const (
	HeaderCustomerID   = "X-Customer-Id"
	HeaderPlan         = "X-Customer-Plan"
	HeaderScopes       = "X-Customer-Scopes"
	HeaderKeyID        = "X-Api-Key-Id"
	HeaderAuthMethod   = "X-Auth-Method"
	HeaderOriginVerify = "X-Origin-Verify"
)

// authorizerContextHeaders maps backend headers to authorizer context keys.
var authorizerContextHeaders = []struct{ header, context string }{
	{HeaderCustomerID, "customerId"},
	{HeaderPlan, "plan"},
	{HeaderScopes, "scopes"},
	{HeaderKeyID, "keyId"},
	{HeaderAuthMethod, "authMethod"},
	{HeaderOriginVerify, originverify.ContextKey},
}

// ApiStackProps configures NewApiStack.
type ApiStackProps struct {
	awscdk.StackProps
	Config *config.Config
	// Colour is "blue" or "green".
	Colour string
	// The shared stack's authorizer and the network stack's VPC Link and
	// NLB are read from their stable SSM parameters (wiring.go), never
	// imported from those stacks.
}

// ApiStack is one colour's REST API.
type ApiStack struct {
	awscdk.Stack
	Api        awsapigateway.RestApi
	Authorizer awsapigateway.RequestAuthorizer
	AccessLogs awslogs.LogGroup
	// ExecutionLogs is API Gateway's execution log group of the stage
	// (API-Gateway-Execution-Logs_<apiId>/<stage>), created here so that it
	// has a retention.
	ExecutionLogs awslogs.LogGroup
}

// NewApiStack builds the Api-<env>-<colour> stack.
func NewApiStack(scope constructs.Construct, id string, props *ApiStackProps) *ApiStack {
	cfg := props.Config
	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	as := &ApiStack{Stack: stack}
	awscdk.Tags_Of(stack).Add(jsii.String(TagColour), jsii.String(props.Colour), nil)

	as.AccessLogs = awslogs.NewLogGroup(stack, jsii.String("AccessLogs"), &awslogs.LogGroupProps{
		Retention: retention(cfg.API.AccessLogRetentionDays),
		// Kept after the colour's stack is destroyed: they are the request
		// record of that deploy.
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})

	as.Api = awsapigateway.NewRestApi(stack, jsii.String("Api"), &awsapigateway.RestApiProps{
		RestApiName:           jsii.String(fmt.Sprintf("stagehand-%s-%s", cfg.Env, props.Colour)),
		Description:           jsii.String(fmt.Sprintf("stagehand %s API (%s)", cfg.Env, props.Colour)),
		ApiKeySourceType:      awsapigateway.ApiKeySourceType_AUTHORIZER,
		EndpointConfiguration: &awsapigateway.EndpointConfiguration{Types: &[]awsapigateway.EndpointType{awsapigateway.EndpointType_REGIONAL}},
		// The account-level CloudWatch role is the shared stack's (one per
		// account and region; two colour stacks must not fight over it).
		CloudWatchRole: jsii.Bool(false),
		Deploy:         jsii.Bool(true),
		DeployOptions: &awsapigateway.StageOptions{
			StageName:            jsii.String(cfg.Env),
			AccessLogDestination: awsapigateway.NewLogGroupLogDestination(as.AccessLogs),
			AccessLogFormat:      awsapigateway.AccessLogFormat_Custom(jsii.String(accessLogFormat())),
			TracingEnabled:       jsii.Bool(true),
			LoggingLevel:         awsapigateway.MethodLoggingLevel(cfg.API.LoggingLevel),
			DataTraceEnabled:     jsii.Bool(false), // would log request bodies and headers, keys included
			MetricsEnabled:       jsii.Bool(true),
			ThrottlingRateLimit:  jsii.Number(cfg.API.MethodThrottle.RateLimit),
			ThrottlingBurstLimit: jsii.Number(cfg.API.MethodThrottle.BurstLimit),
		},
	})

	as.ExecutionLogs = newExecutionLogs(stack, cfg, as.Api)

	authorizerFn := awslambda.Function_FromFunctionAttributes(stack, jsii.String("AuthorizerFunction"), &awslambda.FunctionAttributes{
		FunctionArn:     readParameter(stack, cfg.Env, ParamAuthorizerArn),
		SameEnvironment: jsii.Bool(true),
	})
	as.Authorizer = newRequestAuthorizer(stack, cfg, authorizerFn)
	vpcLink := awsapigateway.VpcLink_FromVpcLinkId(stack, jsii.String("VpcLink"), readParameter(stack, cfg.Env, ParamVpcLinkID))

	headers := map[string]*string{}
	for _, h := range authorizerContextHeaders {
		headers["integration.request.header."+h.header] = jsii.String("context.authorizer." + h.context)
	}
	base := "http://" + *readParameter(stack, cfg.Env, ParamNlbDNS)
	if cfg.Service.ListenerPort != 80 {
		base += fmt.Sprintf(":%d", cfg.Service.ListenerPort)
	}
	integration := func(path string, extra map[string]*string) awsapigateway.Integration {
		params := make(map[string]*string, len(headers)+len(extra))
		for k, v := range headers {
			params[k] = v
		}
		for k, v := range extra {
			params[k] = v
		}
		return awsapigateway.NewIntegration(&awsapigateway.IntegrationProps{
			Type:                  awsapigateway.IntegrationType_HTTP_PROXY,
			IntegrationHttpMethod: jsii.String("ANY"),
			Uri:                   jsii.String(base + path),
			Options: &awsapigateway.IntegrationOptions{
				ConnectionType:    awsapigateway.ConnectionType_VPC_LINK,
				VpcLink:           vpcLink,
				RequestParameters: &params,
			},
		})
	}
	methodOptions := func(params map[string]*bool) *awsapigateway.MethodOptions {
		o := &awsapigateway.MethodOptions{
			ApiKeyRequired:    jsii.Bool(true),
			AuthorizationType: awsapigateway.AuthorizationType_CUSTOM,
			Authorizer:        as.Authorizer,
		}
		if params != nil {
			o.RequestParameters = &params
		}
		return o
	}
	as.Api.Root().AddMethod(jsii.String("ANY"), integration("/", nil), methodOptions(nil))
	proxy := as.Api.Root().AddResource(jsii.String("{proxy+}"), nil)
	proxy.AddMethod(jsii.String("ANY"),
		integration("/{proxy}", map[string]*string{"integration.request.path.proxy": jsii.String("method.request.path.proxy")}),
		methodOptions(map[string]*bool{"method.request.path.proxy": jsii.Bool(true)}))

	addGatewayResponses(as.Api, cfg)

	if webACL := cfg.API.WebACLArn; webACL != "" || cfg.API.WebACLRateLimit > 0 {
		arn := jsii.String(webACL)
		if webACL == "" {
			arn = newRateLimitWebACL(stack, cfg)
		}
		awswafv2.NewCfnWebACLAssociation(stack, jsii.String("WebAcl"), &awswafv2.CfnWebACLAssociationProps{
			ResourceArn: as.Api.DeploymentStage().StageArn(),
			WebAclArn:   arn,
		})
	} else {
		suppress(as.Api.DeploymentStage(), false, suppression{
			id:     "AwsSolutions-APIG3",
			reason: "No WAFv2 web ACL is configured for this environment (api.webAclArn). Every method requires a valid API key or JWT checked by the Lambda authorizer and is throttled per stage and per usage plan; set api.webAclArn to attach a web ACL.",
		})
	}
	suppress(as.Api, true,
		suppression{
			id:     "AwsSolutions-APIG2",
			reason: "The API is an HTTP_PROXY pass-through to the backend service, which owns its request schemas and validates bodies and parameters itself; the gateway authenticates, meters and throttles.",
		},
		suppression{
			id:     "AwsSolutions-COG4",
			reason: "Methods use a REQUEST Lambda authorizer (AuthorizationType CUSTOM) that accepts stagehand API keys and JWTs from several issuers and meters callers through usage plans (apiKeySource AUTHORIZER); a Cognito user pool authorizer cannot do either.",
		},
	)

	out := func(id string, value *string, export string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value:      value,
			ExportName: exportName(cfg.Env, props.Colour, export),
		})
	}
	out("ApiId", as.Api.RestApiId(), "apiId")
	out("Stage", as.Api.DeploymentStage().StageName(), "stage")
	out("Url", as.Api.Url(), "url")
	return as
}

// newExecutionLogs creates the stage's execution log group, which API
// Gateway would otherwise create on first use with no retention (one per
// release, kept forever). The name is API Gateway's:
// API-Gateway-Execution-Logs_<restApiId>/<stageName>
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html).
// The stage depends on it, so the group exists before the first request is
// logged; it goes with the colour's stack (its requests are in the
// retained access log).
func newExecutionLogs(stack awscdk.Stack, cfg *config.Config, api awsapigateway.RestApi) awslogs.LogGroup {
	group := awslogs.NewLogGroup(stack, jsii.String("ExecutionLogs"), &awslogs.LogGroupProps{
		LogGroupName:  awscdk.Fn_Join(jsii.String(""), &[]*string{jsii.String("API-Gateway-Execution-Logs_"), api.RestApiId(), jsii.String("/" + cfg.Env)}),
		Retention:     retention(cfg.API.AccessLogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_DESTROY,
	})
	api.DeploymentStage().Node().AddDependency(group)
	return group
}

// newRequestAuthorizer builds the REQUEST authorizer over the shared
// function. API Gateway invokes the function with a role created here
// rather than through a permission on the function: that permission would
// live in the shared stack and reference this stack's API, a dependency
// cycle.
func newRequestAuthorizer(stack awscdk.Stack, cfg *config.Config, fn awslambda.IFunction) awsapigateway.RequestAuthorizer {
	role := awsiam.NewRole(stack, jsii.String("AuthorizerInvokeRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		Description: jsii.String("API Gateway invokes the stagehand authorizer"),
	})
	// Exactly the function's ARN (CDK's grant would add "<arn>:*").
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("lambda:InvokeFunction"),
		Resources: jsii.Strings(*fn.FunctionArn()),
	}))
	sources := make([]*string, 0, len(cfg.API.IdentitySources))
	for _, s := range cfg.API.IdentitySources {
		sources = append(sources, jsii.String(s))
	}
	auth := awsapigateway.NewRequestAuthorizer(stack, jsii.String("Authorizer"), &awsapigateway.RequestAuthorizerProps{
		AuthorizerName:  jsii.String("stagehand-" + cfg.Env),
		Handler:         fn,
		IdentitySources: &sources,
		ResultsCacheTtl: awscdk.Duration_Seconds(jsii.Number(cfg.API.AuthorizerResultTTLSeconds)),
		// WithoutPolicyUpdates: the statement above is the role's only
		// permission (CDK would otherwise add its wider grant).
		AssumeRole: role.WithoutPolicyUpdates(nil),
	})
	if len(sources) == 0 {
		// No identity sources (allowed with caching off): omit the property
		// rather than send an empty string.
		if cfn, ok := auth.Node().DefaultChild().(awsapigateway.CfnAuthorizer); ok {
			cfn.AddPropertyDeletionOverride(jsii.String("IdentitySource"))
		}
	}
	return auth
}

// addGatewayResponses gives 401, 403 and 429 JSON bodies and CORS headers,
// so browser callers can read why they were rejected.
func addGatewayResponses(api awsapigateway.RestApi, cfg *config.Config) {
	headers := &map[string]*string{
		"Access-Control-Allow-Origin":  jsii.String("'" + cfg.API.CORSAllowOrigin + "'"),
		"Access-Control-Allow-Headers": jsii.String("'Content-Type,Authorization,X-Api-Key'"),
	}
	for _, r := range []struct {
		id, status, code, message string
		typ                       awsapigateway.ResponseType
	}{
		{"Unauthorized", "401", "UNAUTHORIZED", "Unauthorized", awsapigateway.ResponseType_UNAUTHORIZED()},
		{"AccessDenied", "403", "ACCESS_DENIED", "Forbidden", awsapigateway.ResponseType_ACCESS_DENIED()},
		{"QuotaExceeded", "429", "QUOTA_EXCEEDED", "Quota exceeded", awsapigateway.ResponseType_QUOTA_EXCEEDED()},
		{"Throttled", "429", "THROTTLED", "Too many requests", awsapigateway.ResponseType_THROTTLED()},
	} {
		body := fmt.Sprintf(`{"error":"%s","message":"%s","requestId":"$context.requestId"}`, r.code, r.message)
		api.AddGatewayResponse(jsii.String(r.id), &awsapigateway.GatewayResponseOptions{
			Type:            r.typ,
			StatusCode:      jsii.String(r.status),
			ResponseHeaders: headers,
			Templates:       &map[string]*string{"application/json": jsii.String(body)},
		})
	}
}

// accessLogFormat is the stage's JSON access log line. It records who
// called (principal, key id: never a key or token), what, the outcome and
// the authorizer's and backend's latency.
func accessLogFormat() string {
	return jsonAccessLog(map[string]string{
		"principalId":       "$context.authorizer.principalId",
		"keyId":             "$context.authorizer.keyId",
		"plan":              "$context.authorizer.plan",
		"authMethod":        "$context.authorizer.authMethod",
		"usagePlanKeyId":    "$context.identity.apiKeyId",
		"authorizerStatus":  "$context.authorizer.status",
		"authorizerLatency": "$context.authorizer.latency",
		"authorizerError":   "$context.authorizer.error",
	})
}

// jsonAccessLog is a stage's JSON access log line: what every stagehand
// stage records (the request, its outcome and latency; never a header or
// a body) and the fields of extra.
func jsonAccessLog(extra map[string]string) string {
	fields := map[string]string{
		"requestId":          "$context.requestId",
		"extendedRequestId":  "$context.extendedRequestId",
		"requestTime":        "$context.requestTime",
		"ip":                 "$context.identity.sourceIp",
		"userAgent":          "$context.identity.userAgent",
		"httpMethod":         "$context.httpMethod",
		"resourcePath":       "$context.resourcePath",
		"path":               "$context.path",
		"protocol":           "$context.protocol",
		"status":             "$context.status",
		"responseLength":     "$context.responseLength",
		"responseLatency":    "$context.responseLatency",
		"integrationStatus":  "$context.integration.status",
		"integrationLatency": "$context.integration.latency",
		"integrationError":   "$context.integration.error",
		"errorMessage":       "$context.error.message",
		"errorResponseType":  "$context.error.responseType",
		"xrayTraceId":        "$context.xrayTraceId",
		"stage":              "$context.stage",
	}
	for k, v := range extra {
		fields[k] = v
	}
	b, err := json.Marshal(fields)
	if err != nil { // a map of strings always marshals
		return `{"requestId":"$context.requestId"}`
	}
	return string(b)
}
