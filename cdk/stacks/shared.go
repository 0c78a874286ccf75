package stacks

import (
	"fmt"
	"path/filepath"
	"reflect"
	"slices"
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
	"github.com/stagehand-dev/stagehand/internal/emf"
	"github.com/stagehand-dev/stagehand/internal/iamgrant"
	"github.com/stagehand-dev/stagehand/internal/originverify"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
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
var functionNames = append([]string{FnAuthorizer, FnDeployment, FnReconcile, FnKeyAdmin}, JobFunctionNames...)

// ContinuationMaxConcurrency is the continuation queue's event source
// mapping MaximumConcurrency (SQS allows 2 to 1000).
const ContinuationMaxConcurrency = 2

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

// The API Gateway control-plane grants of the deployment and reconcile
// functions are derived from the interface their code calls
// (reconcile.Gateway, with reconcile.GatewayGrants kept next to it): see
// grantAPIGateway.

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
	Table awsdynamodb.Table
	// LegacyUsagePlans are the CloudFormation usage plans kept, retained,
	// for one release while an environment migrates to registry-owned
	// plans (config retainLegacyUsagePlans); empty otherwise.
	LegacyUsagePlans   map[string]awsapigateway.UsagePlan
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

	// AnomalyTopic receives usage anomaly notifications (nil without config
	// jobs.anomalyTopic); see anomaly.go.
	AnomalyTopic awssns.Topic

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
	ss := &SharedStack{Stack: stack, LegacyUsagePlans: map[string]awsapigateway.UsagePlan{}, Roles: map[string]awsiam.Role{}}

	var tableKey awskms.Key
	if cfg.Registry.CustomerManagedKey {
		tableKey = awskms.NewKey(stack, jsii.String("RegistryKey"), &awskms.KeyProps{
			Description:       jsii.String("stagehand " + cfg.Env + " registry table encryption"),
			EnableKeyRotation: jsii.Bool(true),
			RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		})
	}
	ss.Table = newRegistryTable(stack, cfg, tableKey)
	// No usage plan here: the registry owns them (internal/reconcile), so
	// no update of this stack can reset their stages (aws-cdk#32544).
	if cfg.RetainLegacyUsagePlans {
		ss.retainLegacyUsagePlans(cfg)
	}

	ss.OriginVerifySecret = awssecretsmanager.NewSecret(stack, jsii.String("OriginVerifySecret"), &awssecretsmanager.SecretProps{
		SecretName:  jsii.String("stagehand/" + cfg.Env + "/origin-verify"),
		Description: jsii.String("stagehand " + cfg.Env + ": value of the X-Origin-Verify header on every backend request (the authorizer reads it and returns it in its context); the backend accepts AWSCURRENT, AWSPENDING and AWSPREVIOUS"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(48),
			ExcludePunctuation: jsii.Bool(true),
			IncludeSpace:       jsii.Bool(false),
		},
	})
	suppress(ss.OriginVerifySecret, false, suppression{
		id:     "AwsSolutions-SMG4",
		reason: "Rotated by hand with put-secret-value (docs/cdk.md, Origin verify): the authorizer and the backend read AWSCURRENT/AWSPENDING/AWSPREVIOUS at run time and the authorizer sends a new value only after the backends have learnt it, which needs rotations at least the documented overlap apart; a rotation Lambda on a schedule could rotate twice within that overlap.",
	})

	// Queues: one DLQ per event path, and the continuation queue (with its
	// own DLQ) through which a run that reaches its Lambda deadline hands
	// the rest of its work to a later invocation.
	ss.DeploymentDLQ = newQueue(stack, "DeploymentEventsDlq", nil, nil)
	ss.ReconcileDLQ = newQueue(stack, "ReconcileDlq", nil, nil)
	ss.ContinuationDLQ = newQueue(stack, "ContinuationDlq", nil, nil)
	// AWS's guidance for an SQS event source: visibility timeout at least
	// six times the function timeout, so that a message is not delivered
	// again while an invocation may still be working on it.
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
		env: withEnv(env, map[string]*string{
			EnvAuthorizerConfig:                 jsii.String(authorizerJSON),
			originverify.EnvSecretARN:           ss.OriginVerifySecret.SecretArn(),
			originverify.EnvRefreshSeconds:      jsii.String(fmt.Sprint(int(originverify.DefaultRefresh.Seconds()))),
			originverify.EnvPromoteAfterSeconds: jsii.String(fmt.Sprint(int(originverify.DefaultPromoteAfter.Seconds()))),
		}),
	})
	ss.grantTable(FnAuthorizer, tableKey, dynamoReadActions, kmsReadActions, nil)
	// The authorizer reads the origin-verify secret (internal/originverify:
	// GetSecretValue of AWSCURRENT, AWSPENDING, AWSPREVIOUS) and returns the
	// value in its context; nothing else. The secret is encrypted with the
	// AWS managed key aws/secretsmanager, whose key policy lets Secrets
	// Manager decrypt for any principal allowed GetSecretValue: no
	// kms:Decrypt statement.
	ss.Roles[FnAuthorizer].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("secretsmanager:GetSecretValue"),
		Resources: jsii.Strings(*ss.OriginVerifySecret.SecretArn()),
	}))
	if cfg.LegacyColourExports {
		// The exports older colour and Network stacks import (same names:
		// CDK derives them from the construct path), kept until they are
		// redeployed with the SSM wiring.
		stack.ExportValue(ss.Authorizer.FunctionArn(), nil)
		stack.ExportValue(ss.OriginVerifySecret.SecretArn(), nil)
	}
	publishParameter(stack, "AuthorizerArnParameter", cfg.Env, ParamAuthorizerArn, *ss.Authorizer.FunctionArn(),
		"stagehand "+cfg.Env+": authorizer function ARN the colour stacks use")
	publishParameter(stack, "OriginVerifySecretArnParameter", cfg.Env, ParamOriginVerifySecretArn, *ss.OriginVerifySecret.SecretArn(),
		"stagehand "+cfg.Env+": origin-verify secret ARN (not its value) the network stack gives the backend")
	if err := ss.grantHS256Secrets(cfg); err != nil {
		return nil, err
	}

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
		// No reserved concurrency: the continuation queue's event source
		// mapping ignores it (a throttled message goes back to the queue
		// and, after 5 receives, to the DLQ), and its MaximumConcurrency
		// cannot be below 2. The mapping's MaximumConcurrency caps the
		// continuation path instead, and the registry's run lease
		// serializes the work of concurrent invocations (a second one
		// defers to the lease holder).
		asyncDLQ: ss.DeploymentDLQ,
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
		ss.grantControlPlane(cfg, name)
	}
	ss.Deployment.AddEventSource(awslambdaeventsources.NewSqsEventSource(ss.ContinuationQueue, &awslambdaeventsources.SqsEventSourceProps{
		BatchSize:               jsii.Number(1),
		ReportBatchItemFailures: jsii.Bool(true),
		// The minimum the mapping allows; the function has no reserved
		// concurrency the mapping could exceed (see above).
		MaxConcurrency: jsii.Number(ContinuationMaxConcurrency),
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
	ss.newJobs(cfg, assets, tableKey)
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
func (ss *SharedStack) grantControlPlane(cfg *config.Config, name string) {
	role := ss.Roles[name]
	stack := ss.Stack
	ops, err := reconcile.GatewayGrants.For(reflect.TypeFor[reconcile.Gateway]())
	if err != nil {
		// A method without a grant: iamgrant.Check in internal/reconcile's
		// tests names it; synthesis fails on the error annotation.
		awscdk.Annotations_Of(role).AddError(jsii.String(err.Error()))
		return
	}
	wildcards := ss.grantAPIGateway(role, cfg.Env, iamgrant.Statements(ops))
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
		reason:    "API Gateway control-plane resources are addressed by path and their ids are created at run time (usage plans by the registry's owner, stages by each colour's deploy, API keys by the key-admin API). Each verb is granted only on the paths of the calls the reconciler makes (derived from its Gateway interface): GET to read usage plans, their keys and stages; PATCH on usage plans and POST/DELETE on usage plan keys only where the plan carries aws:ResourceTag/stagehand:env of this environment (usage plan keys inherit their plan's tags); no write on stages at all.",
		appliesTo: wildcards,
	})
}

// grantAPIGateway adds one statement per API Gateway grant statement to
// role, with the tag conditions of its scope for env, and returns the
// cdk-nag appliesTo entries of its wildcard paths.
func (ss *SharedStack) grantAPIGateway(role awsiam.Role, env string, statements []iamgrant.Statement) []string {
	var wildcards []string
	for _, st := range statements {
		resources := make([]string, 0, len(st.Paths))
		for _, p := range st.Paths {
			resources = append(resources, *apiGatewayArn(ss.Stack, p))
			if strings.Contains(p, "*") {
				wildcards = append(wildcards, "Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::"+p)
			}
		}
		props := &awsiam.PolicyStatementProps{Actions: jsii.Strings(st.Action), Resources: jsii.Strings(resources...)}
		if c := st.Conditions(env); c != nil {
			props.Conditions = &c
		}
		role.AddToPolicy(awsiam.NewPolicyStatement(props))
	}
	slices.Sort(wildcards)
	return slices.Compact(wildcards)
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
	// The reconciler's EMF records (internal/emf): a usage plan whose
	// update kept failing was given up for a run; the deployment record and
	// `stagehand deploy verify` name it.
	add("FailingUsagePlans", "usage plans whose UpdateUsagePlan kept failing (see deploy verify / the deployment record)",
		awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace:     jsii.String(emf.Namespace),
			MetricName:    jsii.String(emf.FailingUsagePlans),
			DimensionsMap: &map[string]*string{emf.DimEnvironment: jsii.String(cfg.Env)},
			Period:        five,
			Statistic:     jsii.String("Sum"),
		}), 0, 1)
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
}
