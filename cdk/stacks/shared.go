package stacks

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// Environment variable names the Lambda handlers read. They are a contract
// with lambdas/authorizer, eventhandlers/deployment and
// eventhandlers/reconcile.
const (
	EnvStage             = "STAGEHAND_ENV"
	EnvTable             = "STAGEHAND_TABLE"
	EnvAuthorizerConfig  = "AUTHORIZER_CONFIG"
	EnvEventSource       = "STAGEHAND_EVENT_SOURCE"
	EnvContinuationQueue = "CONTINUATION_QUEUE_URL"
)

// Lambda function names: each is a directory under the asset root holding
// the `bootstrap` binary that `make lambdas` builds.
const (
	FnAuthorizer = "authorizer"
	FnDeployment = "deployment"
	FnReconcile  = "reconcile"
	FnKeyAdmin   = "keyadmin"
)

// functionNames are every function of the shared stack.
var functionNames = []string{FnAuthorizer, FnDeployment, FnReconcile, FnKeyAdmin}

// Detail types of the deployment events the deployment function handles.
const (
	DetailTypeDeploymentCompleted = "API Deployment Completed"
	DetailTypeStackRetiring       = "API Stack Retiring"
)

// Registry table layout; must match internal/registry/model.go.
const (
	TableGSI1 = "GSI1"
	TableGSI2 = "GSI2"
	TableTTL  = "ttl"
)

// The API Gateway control-plane verbs the deployment and reconcile
// functions need: read state, create keys and plan keys, patch plans,
// remove plan keys. Never a wildcard.
var apiGatewayVerbs = []string{"apigateway:GET", "apigateway:POST", "apigateway:PATCH", "apigateway:DELETE"}

// apiGatewayPaths are the only API Gateway resources those functions touch.
var apiGatewayPaths = []string{
	"/usageplans", "/usageplans/*",
	"/apikeys", "/apikeys/*",
	"/restapis/*/stages", "/restapis/*/stages/*",
	"/tags/*",
}

// dynamoReadActions are all the authorizer may do on the registry.
var dynamoReadActions = []string{"dynamodb:GetItem", "dynamodb:Query"}

// dynamoReadWriteActions are what the deployment and reconcile functions
// may do on the registry (no Scan: every access pattern is a key lookup or a
// query, see internal/registry/model.go). Transactions are authorized by
// the underlying item actions.
var dynamoReadWriteActions = []string{
	"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query",
	"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
	"dynamodb:BatchWriteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable",
}

// KMS actions on a customer managed table key: readers decrypt, writers
// also encrypt.
var (
	kmsReadActions      = []string{"kms:Decrypt", "kms:DescribeKey"}
	kmsReadWriteActions = []string{"kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"}
)

// SharedStackProps configures NewSharedStack.
type SharedStackProps struct {
	awscdk.StackProps
	Config *config.Config
}

// SharedStack holds the long-lived resources of an environment.
type SharedStack struct {
	awscdk.Stack
	Table              awsdynamodb.Table
	UsagePlans         map[string]awsapigateway.UsagePlan
	OriginVerifySecret awssecretsmanager.Secret
	Authorizer         awslambda.Function
	Deployment         awslambda.Function
	Reconcile          awslambda.Function
	// KeyAdmin serves the key administration API: KeyAdminAPI (every
	// method AWS_IAM) and, with keyAdmin.jwt, KeyAdminJWTAPI (nil
	// otherwise).
	KeyAdmin       awslambda.Function
	KeyAdminAPI    awsapigateway.RestApi
	KeyAdminJWTAPI awsapigateway.RestApi
	// Portal is the console and portal (nil without config portal).
	Portal            *Portal
	ContinuationQueue awssqs.Queue
	ContinuationDLQ   awssqs.Queue
	DeploymentDLQ     awssqs.Queue
	ReconcileDLQ      awssqs.Queue
	DeploymentRule    awsevents.Rule
	ReconcileRule     awsevents.Rule
	AlarmTopic        awssns.Topic
	Alarms            []awscloudwatch.Alarm
	Roles             map[string]awsiam.Role

	apiGatewayAccount awsapigateway.CfnAccount
}

// NewSharedStack builds the Shared-<env> stack. It fails when a Lambda
// binary is missing from the asset root.
func NewSharedStack(scope constructs.Construct, id string, props *SharedStackProps) (*SharedStack, error) {
	cfg := props.Config
	authorizerJSON, err := cfg.AuthorizerJSON()
	if err != nil {
		return nil, err
	}
	assets := map[string]string{}
	for _, name := range functionNames {
		dir, err := lambdaAssetDir(cfg.LambdaAssetRoot, name)
		if err != nil {
			return nil, err
		}
		assets[name] = dir
	}

	stack := awscdk.NewStack(scope, jsii.String(id), &props.StackProps)
	ss := &SharedStack{Stack: stack, UsagePlans: map[string]awsapigateway.UsagePlan{}, Roles: map[string]awsiam.Role{}}

	var tableKey awskms.Key
	if cfg.Registry.CustomerManagedKey {
		tableKey = awskms.NewKey(stack, jsii.String("RegistryKey"), &awskms.KeyProps{
			Description:       jsii.String("stagehand " + cfg.Env + " registry table encryption"),
			EnableKeyRotation: jsii.Bool(true),
			RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		})
	}
	ss.Table = newRegistryTable(stack, cfg, tableKey)
	ss.newUsagePlans(cfg)

	ss.OriginVerifySecret = awssecretsmanager.NewSecret(stack, jsii.String("OriginVerifySecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String("stagehand/" + cfg.Env + "/origin-verify"),
		Description: jsii.String("stagehand " + cfg.Env + ": value of the X-Origin-Verify header API Gateway adds to every backend request; the backend rejects requests without it"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(48),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
	})
	suppress(ss.OriginVerifySecret, false, suppression{
		id:     "AwsSolutions-SMG4",
		reason: "The origin-verify value is resolved into both colours' integration headers at deploy time, so an automatic rotation would break the live API until it is redeployed. It is rotated by updating the secret and deploying the next colour (the blue/green cutover), which this pipeline does on every release.",
	})

	// Queues: one DLQ per event path, and the continuation queue (with its
	// own DLQ) through which a run that reaches its Lambda deadline hands
	// the rest of its work to a later invocation.
	ss.DeploymentDLQ = newQueue(stack, "DeploymentEventsDlq", nil, nil)
	ss.ReconcileDLQ = newQueue(stack, "ReconcileDlq", nil, nil)
	ss.ContinuationDLQ = newQueue(stack, "ContinuationDlq", nil, nil)
	// AWS's guidance for an SQS event source: visibility timeout at least
	// six times the function timeout, so retries after throttling (the
	// function has reserved concurrency 1) do not re-deliver early.
	ss.ContinuationQueue = newQueue(stack, "ContinuationQueue",
		awscdk.Duration_Seconds(jsii.Number(6*cfg.Lambdas.Deployment.TimeoutSeconds)),
		&awssqs.DeadLetterQueue{Queue: ss.ContinuationDLQ, MaxReceiveCount: jsii.Number(5)})

	env := map[string]*string{
		EnvStage: jsii.String(cfg.Env),
		EnvTable: ss.Table.TableName(),
	}
	ss.Authorizer = ss.newFunction(cfg, functionSpec{
		id:          "Authorizer",
		name:        FnAuthorizer,
		asset:       assets[FnAuthorizer],
		size:        cfg.Lambdas.Authorizer,
		description: "stagehand " + cfg.Env + " REQUEST authorizer (API keys and JWTs)",
		env:         withEnv(env, map[string]*string{EnvAuthorizerConfig: jsii.String(authorizerJSON)}),
	})
	ss.grantTable(FnAuthorizer, tableKey, dynamoReadActions, kmsReadActions, nil)

	handlerEnv := withEnv(env, map[string]*string{
		EnvEventSource:       jsii.String(cfg.Events.Source),
		EnvContinuationQueue: ss.ContinuationQueue.QueueUrl(),
	})
	ss.Deployment = ss.newFunction(cfg, functionSpec{
		id:          "Deployment",
		name:        FnDeployment,
		asset:       assets[FnDeployment],
		size:        cfg.Lambdas.Deployment,
		description: "stagehand " + cfg.Env + " re-association on API Deployment Completed / API Stack Retiring",
		env:         handlerEnv,
		reserved:    1,
		asyncDLQ:    ss.DeploymentDLQ,
	})
	ss.Reconcile = ss.newFunction(cfg, functionSpec{
		id:          "Reconcile",
		name:        FnReconcile,
		asset:       assets[FnReconcile],
		size:        cfg.Lambdas.Reconcile,
		description: "stagehand " + cfg.Env + " scheduled drift repair",
		env:         handlerEnv,
		reserved:    1,
		asyncDLQ:    ss.ReconcileDLQ,
	})
	for _, name := range []string{FnDeployment, FnReconcile} {
		ss.grantTable(name, tableKey, dynamoReadWriteActions, kmsReadWriteActions, nil)
		ss.grantControlPlane(name)
	}
	ss.Deployment.AddEventSource(awslambdaeventsources.NewSqsEventSource(ss.ContinuationQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(1),
		ReportBatchItemFailures: jsii.Bool(true),
		// The minimum; reserved concurrency 1 caps the invocations anyway.
		MaxConcurrency: jsii.Number(2),
	}))

	ss.newRules(cfg)
	if cfg.API.ManageAccountCloudWatchRole {
		ss.apiGatewayAccount = newAPIGatewayAccount(stack)
	}
	ss.newKeyAdmin(cfg, assets[FnKeyAdmin], tableKey)
	if err := ss.newPortal(cfg, tableKey); err != nil {
		return nil, err
	}
	ss.newAlarms(cfg)
	ss.newOutputs(cfg)
	return ss, nil
}

// lambdaAssetDir returns <root>/<name> (absolute) after checking that it
// holds a bootstrap binary.
func lambdaAssetDir(root, name string) (string, error) {
	dir, err := filepath.Abs(filepath.Join(root, name))
	if err != nil {
		return "", fmt.Errorf("resolve lambda asset %s: %w", name, err)
	}
	bootstrap := filepath.Join(dir, "bootstrap")
	if !fileExists(bootstrap) {
		return "", fmt.Errorf("%w: %s is missing; run `make lambdas` first (the Makefile's synth target does it), or point lambdaAssetRoot (-c lambdaAssetRoot=DIR) at a directory holding %s/bootstrap",
			ErrLambdaBinaryMissing, bootstrap, strings.Join(functionNames, "/bootstrap, "))
	}
	return dir, nil
}

func withEnv(base, extra map[string]*string) *map[string]*string {
	out := make(map[string]*string, len(base)+len(extra))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return &out
}

// newRegistryTable builds the single-table registry described in
// internal/registry/model.go.
func newRegistryTable(stack awscdk.Stack, cfg *config.Config, key awskms.Key) awsdynamodb.Table {
	str := func(name string) *awsdynamodb.Attribute {
		return &awsdynamodb.Attribute{Name: jsii.String(name), Type: awsdynamodb.AttributeType_STRING}
	}
	props := &awsdynamodb.TableProps{
		TableName:    jsii.String(cfg.Registry.TableName),
		PartitionKey: str("PK"),
		SortKey:      str("SK"),
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		Encryption:          awsdynamodb.TableEncryption_AWS_MANAGED,
		DeletionProtection:  jsii.Bool(cfg.Registry.DeletionProtection),
		RemovalPolicy:       awscdk.RemovalPolicy_RETAIN,
		TimeToLiveAttribute: jsii.String(TableTTL),
	}
	if key != nil {
		props.Encryption = awsdynamodb.TableEncryption_CUSTOMER_MANAGED
		props.EncryptionKey = key
	}
	table := awsdynamodb.NewTable(stack, jsii.String("RegistryTable"), props)
	for _, gsi := range []string{TableGSI1, TableGSI2} {
		table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
			IndexName:      jsii.String(gsi),
			PartitionKey:   str(gsi + "PK"),
			SortKey:        str(gsi + "SK"),
			ProjectionType: awsdynamodb.ProjectionType_ALL,
		})
	}
	return table
}

// newUsagePlans creates one usage plan per tier. They declare no ApiStages:
// the reconciler owns stage membership, and a declared list would be reset
// by every update of this stack. Tags let the reconciler find them.
func (ss *SharedStack) newUsagePlans(cfg *config.Config) {
	for _, p := range cfg.Plans {
		props := &awsapigateway.UsagePlanProps{
			Name:        jsii.String("stagehand-" + cfg.Env + "-" + p.Name),
			Description: jsii.String(p.Description),
			Throttle: &awsapigateway.ThrottleSettings{
				RateLimit:  jsii.Number(p.RateLimit),
				BurstLimit: jsii.Number(p.BurstLimit),
			},
		}
		if p.QuotaLimit > 0 {
			props.Quota = &awsapigateway.QuotaSettings{
				Limit:  jsii.Number(p.QuotaLimit),
				Period: awsapigateway.Period(p.QuotaPeriod),
			}
		}
		plan := awsapigateway.NewUsagePlan(ss.Stack, jsii.String("UsagePlan-"+p.Name), props)
		// Tagged explicitly (not only through stack tags) because the
		// reconciler discovers plans by these two tags.
		awscdk.Tags_Of(plan).Add(jsii.String(TagEnv), jsii.String(cfg.Env), nil)
		awscdk.Tags_Of(plan).Add(jsii.String(TagPlan), jsii.String(p.Name), nil)
		ss.UsagePlans[p.Name] = plan
	}
}

// newQueue builds an SSE (SQS-managed), TLS-only queue.
func newQueue(stack awscdk.Stack, id string, visibility awscdk.Duration, dlq *awssqs.DeadLetterQueue) awssqs.Queue {
	return awssqs.NewQueue(stack, jsii.String(id), &awssqs.QueueProps{
		Encryption:        awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		RetentionPeriod:   awscdk.Duration_Days(jsii.Number(14)),
		VisibilityTimeout: visibility,
		DeadLetterQueue:   dlq,
	})
}

// functionSpec describes one Lambda function.
type functionSpec struct {
	id          string
	name        string
	asset       string
	size        config.Function
	description string
	env         *map[string]*string
	reserved    int
	asyncDLQ    awssqs.IQueue
}

// newFunction builds a provided.al2023 arm64 function with its own role
// (no managed policies), its own log group with retention, and X-Ray.
func (ss *SharedStack) newFunction(cfg *config.Config, spec functionSpec) awslambda.Function {
	stack := ss.Stack
	logs := awslogs.NewLogGroup(stack, jsii.String(spec.id+"Logs"), &awslogs.LogGroupProps{
		Retention:     retention(cfg.Lambdas.LogRetentionDays),
		RemovalPolicy: awscdk.RemovalPolicy_RETAIN,
	})
	role := awsiam.NewRole(stack, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String(spec.description),
	})
	// Instead of AWSLambdaBasicExecutionRole (logs on every group): write
	// to this function's log group only.
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("logs:CreateLogStream", "logs:PutLogEvents"),
		Resources: jsii.Strings(*logs.LogGroupArn()),
	}))
	ss.Roles[spec.name] = role

	props := &awslambda.FunctionProps{
		Description:   jsii.String(spec.description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(spec.asset), nil),
		MemorySize:    jsii.Number(spec.size.MemoryMiB),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(spec.size.TimeoutSeconds)),
		Environment:   spec.env,
		Role:          role,
		LogGroup:      logs,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		Tracing:       awslambda.Tracing_ACTIVE,
	}
	if spec.reserved > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(spec.reserved)
	}
	if spec.asyncDLQ != nil {
		// EventBridge invokes asynchronously: a function error (an invalid
		// event, say) is retried twice by Lambda, then lands here.
		props.DeadLetterQueue = spec.asyncDLQ
		props.RetryAttempts = jsii.Number(2)
		props.MaxEventAge = awscdk.Duration_Hours(jsii.Number(6))
	}
	fn := awslambda.NewFunction(stack, jsii.String(spec.id), props)
	suppress(role, true, suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "X-Ray's PutTraceSegments and PutTelemetryRecords do not support resource-level permissions; CDK adds exactly these two actions for active tracing.",
		appliesTo: []string{"Resource::*"},
	})
	return fn
}

// grantTable gives a function's role the listed DynamoDB actions on the
// table and its indexes (and the listed KMS actions on a customer managed
// key). Written out instead of table.Grant* so that the action list is
// exactly what the function needs. indexes names the indexes the function
// queries; nil grants index/* (both of them).
func (ss *SharedStack) grantTable(name string, key awskms.Key, actions, kmsActions, indexes []string) {
	role := ss.Roles[name]
	resources := []string{*ss.Table.TableArn()}
	for _, ix := range indexes {
		resources = append(resources, *ss.Table.TableArn()+"/index/"+ix)
	}
	if indexes == nil {
		resources = append(resources, *ss.Table.TableArn()+"/index/*")
		suppress(role, true, suppression{
			id:        "AwsSolutions-IAM5",
			reason:    "The registry's GSI1 and GSI2 are queried (keys by customer, keys/subscriptions/customers by environment); index/* covers exactly this table's two indexes.",
			appliesTo: []string{"Resource::<" + ss.logicalID(ss.Table) + ".Arn>/index/*"},
		})
	}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(actions...),
		Resources: jsii.Strings(resources...),
	}))
	if key != nil {
		role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions:   jsii.Strings(kmsActions...),
			Resources: jsii.Strings(*key.KeyArn()),
		}))
	}
}

// grantControlPlane gives a handler the API Gateway and messaging calls
// the reconciler makes.
func (ss *SharedStack) grantControlPlane(name string) {
	role := ss.Roles[name]
	stack := ss.Stack
	resources := make([]string, 0, len(apiGatewayPaths))
	var wildcards []string
	for _, p := range apiGatewayPaths {
		resources = append(resources, *apiGatewayArn(stack, p))
		if strings.Contains(p, "*") {
			wildcards = append(wildcards, "Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::"+p)
		}
	}
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings(apiGatewayVerbs...),
		Resources: jsii.Strings(resources...),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("sqs:SendMessage"),
		Resources: jsii.Strings(*ss.ContinuationQueue.QueueArn()),
	}))
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("events:PutEvents"),
		Resources: jsii.Strings(*stack.FormatArn(&awscdk.ArnComponents{
			Service:      jsii.String("events"),
			Resource:     jsii.String("event-bus"),
			ResourceName: jsii.String("default"),
		})),
	}))
	suppress(role, true, suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "API Gateway control-plane resources are addressed by path: the reconciler reads and patches every usage plan, API key and stage of the environment (their ids are created at run time by the CLI and by each colour's deploy). Verbs are limited to GET, POST, PATCH and DELETE and paths to usage plans, API keys, stages and tags.",
		appliesTo: wildcards,
	})
}

// apiGatewayArn is arn:<partition>:apigateway:<region>::<path>.
func apiGatewayArn(stack awscdk.Stack, path string) *string {
	return awscdk.Fn_Join(jsii.String(""), jsii.Strings(
		"arn:", *awscdk.Aws_PARTITION(), ":apigateway:", *awscdk.Aws_REGION(), "::"+path))
}

// logicalID returns the CloudFormation logical id of a construct's
// default child (as cdk-nag prints it in findings).
func (ss *SharedStack) logicalID(c constructs.IConstruct) string {
	el, ok := c.Node().DefaultChild().(awscdk.CfnElement)
	if !ok {
		return ""
	}
	return *ss.Stack.GetLogicalId(el)
}

// newRules wires the default bus to the handlers, each target with a
// retry policy and a DLQ.
func (ss *SharedStack) newRules(cfg *config.Config) {
	maxAge := awscdk.Duration_Hours(jsii.Number(cfg.Events.MaxEventAgeHours))
	retries := jsii.Number(cfg.Events.RetryAttempts)
	ss.DeploymentRule = awsevents.NewRule(ss.Stack, jsii.String("DeploymentEventsRule"), &awsevents.RuleProps{
		Description: jsii.String("stagehand " + cfg.Env + ": deployment completed / stack retiring → re-association"),
		EventPattern: &awsevents.EventPattern{
			Source:     jsii.Strings(cfg.Events.Source),
			DetailType: jsii.Strings(DetailTypeDeploymentCompleted, DetailTypeStackRetiring),
			Detail:     &map[string]interface{}{"environment": []interface{}{cfg.Env}},
		},
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(ss.Deployment, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: ss.DeploymentDLQ,
			MaxEventAge:     maxAge,
			RetryAttempts:   retries,
		})},
	})
	ss.ReconcileRule = awsevents.NewRule(ss.Stack, jsii.String("ReconcileSchedule"), &awsevents.RuleProps{
		Description: jsii.String(fmt.Sprintf("stagehand %s: drift repair every %d minute(s)", cfg.Env, cfg.Events.ReconcileRateMinutes)),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(cfg.Events.ReconcileRateMinutes))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(ss.Reconcile, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: ss.ReconcileDLQ,
			MaxEventAge:     maxAge,
			RetryAttempts:   retries,
		})},
	})
}

// newAPIGatewayAccount sets API Gateway's account-level CloudWatch role,
// which stage execution and access logging need.
func newAPIGatewayAccount(stack awscdk.Stack) awsapigateway.CfnAccount {
	logGroups := stack.FormatArn(&awscdk.ArnComponents{
		Service:      jsii.String("logs"),
		Resource:     jsii.String("log-group"),
		ResourceName: jsii.String("*"),
		ArnFormat:    awscdk.ArnFormat_COLON_RESOURCE_NAME,
	})
	role := awsiam.NewRole(stack, jsii.String("ApiGatewayCloudWatchRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("apigateway.amazonaws.com"), nil),
		Description: jsii.String("API Gateway account role: writes REST API execution and access logs"),
		InlinePolicies: &map[string]awsiam.PolicyDocument{
			"PushLogs": awsiam.NewPolicyDocument(&awsiam.PolicyDocumentProps{
				Statements: &[]awsiam.PolicyStatement{awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
					Actions: jsii.Strings(
						"logs:CreateLogGroup", "logs:CreateLogStream", "logs:DescribeLogGroups",
						"logs:DescribeLogStreams", "logs:PutLogEvents", "logs:GetLogEvents", "logs:FilterLogEvents"),
					Resources: jsii.Strings(*logGroups),
				})},
			}),
		},
	})
	suppress(role, false, suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "API Gateway's account-level role writes execution logs to API-Gateway-Execution-Logs_<apiId>/<stage> for API ids that only exist after each colour's deploy, and access logs to each colour's log group; it is narrowed to log groups of this account and region (the same actions as AmazonAPIGatewayPushToCloudWatchLogs, without the managed policy).",
		appliesTo: []string{"Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:*"},
	})
	account := awsapigateway.NewCfnAccount(stack, jsii.String("ApiGatewayAccount"), &awsapigateway.CfnAccountProps{
		CloudWatchRoleArn: role.RoleArn(),
	})
	account.Node().AddDependency(role)
	return account
}

// newAlarms builds the alarm topic, the alarms and the dashboard.
func (ss *SharedStack) newAlarms(cfg *config.Config) {
	stack := ss.Stack
	key := awskms.NewKey(stack, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("stagehand " + cfg.Env + " alarm topic encryption"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_DESTROY,
	})
	// CloudWatch must be able to publish to the encrypted topic.
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowCloudWatchAlarms"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}), jsii.Bool(false))
	ss.AlarmTopic = awssns.NewTopic(stack, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("stagehand " + cfg.Env + " alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if cfg.Alarms.Email != "" {
		ss.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.Alarms.Email), nil))
	}
	action := awscloudwatchactions.NewSnsAction(ss.AlarmTopic)
	five := awscdk.Duration_Minutes(jsii.Number(5))

	add := func(id, description string, metric awscloudwatch.IMetric, threshold float64, periods int) {
		alarm := awscloudwatch.NewAlarm(stack, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("stagehand " + cfg.Env + ": " + description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		alarm.AddAlarmAction(action)
		ss.Alarms = append(ss.Alarms, alarm)
	}
	for _, q := range []struct {
		id    string
		queue awssqs.Queue
	}{
		{"DeploymentEventsDlqDepth", ss.DeploymentDLQ},
		{"ReconcileDlqDepth", ss.ReconcileDLQ},
		{"ContinuationDlqDepth", ss.ContinuationDLQ},
	} {
		add(q.id, "messages in "+q.id[:len(q.id)-5]+" (failed events to inspect and redrive)",
			q.queue.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Maximum")}), 0, 1)
	}
	sum := &awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("Sum")}
	add("DeploymentErrors", "re-association function errors", ss.Deployment.MetricErrors(sum), 0, 1)
	add("ReconcileErrors", "reconcile function errors", ss.Reconcile.MetricErrors(sum), 0, 1)
	add("AuthorizerErrors", "authorizer function errors (callers get 500/401)", ss.Authorizer.MetricErrors(sum), 0, 1)
	add("AuthorizerThrottles", "authorizer throttled (callers get 500)", ss.Authorizer.MetricThrottles(sum), 0, 1)
	add("KeyAdmin5xx", "key-admin API server errors (a function error, timeout or bug; the request id is in the access log)", ss.KeyAdminAPI.MetricServerError(sum), 0, 1)
	add("AuthorizerP99Latency", fmt.Sprintf("authorizer p99 duration above %d ms", cfg.Alarms.AuthorizerP99LatencyMs),
		ss.Authorizer.MetricDuration(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("p99")}),
		float64(cfg.Alarms.AuthorizerP99LatencyMs), 3)

	width := jsii.Number(12)
	dash := awscloudwatch.NewDashboard(stack, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DashboardName: jsii.String("stagehand-" + cfg.Env),
	})
	dash.AddWidgets(
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Authorizer invocations, errors, throttles"), Width: width,
			Left: &[]awscloudwatch.IMetric{ss.Authorizer.MetricInvocations(sum), ss.Authorizer.MetricErrors(sum), ss.Authorizer.MetricThrottles(sum)},
		}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Authorizer duration p50 / p99 (ms)"), Width: width,
			Left: &[]awscloudwatch.IMetric{
				ss.Authorizer.MetricDuration(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("p50")}),
				ss.Authorizer.MetricDuration(&awscloudwatch.MetricOptions{Period: five, Statistic: jsii.String("p99")}),
			},
		}),
	)
	dash.AddWidgets(
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Re-association and reconcile: invocations, errors"), Width: width,
			Left: &[]awscloudwatch.IMetric{
				ss.Deployment.MetricInvocations(sum), ss.Deployment.MetricErrors(sum),
				ss.Reconcile.MetricInvocations(sum), ss.Reconcile.MetricErrors(sum),
			},
		}),
		awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String("Dead-letter queues and continuation backlog"), Width: width,
			Left: &[]awscloudwatch.IMetric{
				ss.DeploymentDLQ.MetricApproximateNumberOfMessagesVisible(nil),
				ss.ReconcileDLQ.MetricApproximateNumberOfMessagesVisible(nil),
				ss.ContinuationDLQ.MetricApproximateNumberOfMessagesVisible(nil),
				ss.ContinuationQueue.MetricApproximateNumberOfMessagesVisible(nil),
			},
		}),
	)
}

func (ss *SharedStack) newOutputs(cfg *config.Config) {
	out := func(id string, value *string, export ...string) {
		awscdk.NewCfnOutput(ss.Stack, jsii.String(id), &awscdk.CfnOutputProps{
			Value:      value,
			ExportName: exportName(append([]string{cfg.Env}, export...)...),
		})
	}
	out("TableName", ss.Table.TableName(), "tableName")
	out("ContinuationQueueUrl", ss.ContinuationQueue.QueueUrl(), "continuationQueueUrl")
	out("AlarmTopicArn", ss.AlarmTopic.TopicArn(), "alarmTopicArn")
	out("AuthorizerFunctionArn", ss.Authorizer.FunctionArn(), "authorizerArn")
	out("KeyAdminApiId", ss.KeyAdminAPI.RestApiId(), "keyAdminApiId")
	out("KeyAdminUrl", ss.KeyAdminAPI.Url(), "keyAdminUrl")
	if ss.KeyAdminJWTAPI != nil {
		out("KeyAdminJwtUrl", ss.KeyAdminJWTAPI.Url(), "keyAdminJwtUrl")
	}
	for _, p := range cfg.Plans {
		out("UsagePlanId"+exportSafe(p.Name), ss.UsagePlans[p.Name].UsagePlanId(), "plan", p.Name)
	}
}

// exportSafe turns a tier name (a-z, 0-9, -) into an output id part.
func exportSafe(name string) string {
	var b strings.Builder
	upper := true
	for _, r := range name {
		if r == '-' {
			upper = true
			continue
		}
		if upper && r >= 'a' && r <= 'z' {
			r -= 'a' - 'A'
		}
		upper = false
		b.WriteRune(r)
	}
	return b.String()
}
