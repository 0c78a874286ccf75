package stacks

// The scheduled jobs of the Shared stack (docs/jobs.md, docs/billing.md):
// key rotation, usage collection with anomaly detection, billing.
// Each job is a function with its own role, a daily EventBridge schedule
// whose target retries and then dead-letters, an async DLQ, and alarms on
// errors and on the DLQ.

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/billing"
)

// Job function names (directories under the asset root).
const (
	FnRotation = "rotation"
	FnUsage    = "usage"
	FnBilling  = "billing"
)

// JobFunctionNames are the scheduled jobs' functions.
var JobFunctionNames = []string{FnRotation, FnUsage, FnBilling}

// Environment variables of the job functions (a contract with
// internal/rotation's ConfigFromEnv and internal/keyadmin's).
const (
	EnvRotationKMSKey = "STAGEHAND_ROTATION_KMS_KEY"
	EnvBillingBucket  = "STAGEHAND_BILLING_BUCKET"
	// EnvDenialLogGroup: the authorizer's log group, where the usage job
	// reads the denial counts with Logs Insights (internal/usage).
	EnvDenialLogGroup = "STAGEHAND_DENIAL_LOG_GROUP"
)

// dynamoUsageActions: reads (plans, subscriptions on GSI2, usage days),
// usage days (UpdateItem), anomaly marks (PutItem, DeleteItem).
var dynamoUsageActions = []string{"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}

// dynamoBillingActions: reads (subscriptions on GSI2, usage days, records,
// billing accounts), records (PutItem), delivery marks (UpdateItem).
var dynamoBillingActions = []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}

// jobSize: the jobs run once a day and may take a while; the rotation job
// stops at its safety margin before this timeout (docs/jobs.md).
var jobSize = config.Function{MemoryMiB: 512, TimeoutSeconds: 900}

// dynamoRotationActions are the item actions of the rotation job: reads
// (GetItem; Query of policies, subscriptions and keys), warning markers
// (UpdateItem), pickups (PutItem, DeleteItem), and the items of the
// rotation and expiry transactions (Put, Update, ConditionCheck). No Scan,
// no batch calls, no DescribeTable.
var dynamoRotationActions = []string{
	"dynamodb:ConditionCheckItem", "dynamodb:DeleteItem", "dynamodb:GetItem",
	"dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem",
}

// newJobs builds the scheduled jobs; it runs after newAlarms (it adds
// alarms to the topic) and newKeyAdmin (the key-admin function picks up
// rotated secrets).
func (ss *SharedStack) newJobs(cfg *config.Config, assets map[string]string, tableKey awskms.Key) {
	stack := ss.Stack
	env := map[string]*string{EnvStage: jsii.String(cfg.Env), EnvTable: ss.Table.TableName()}

	// Rotation: new secrets are sealed under a key of their own, which
	// only the rotation job may use to encrypt (GenerateDataKey) and only
	// the key-admin function may use to decrypt (pickup).
	secretsKey := awskms.NewKey(stack, jsii.String("RotationSecretsKey"), &awskms.KeyProps{
		Description:       jsii.String("stagehand " + cfg.Env + ": envelope key of rotated API keys' secrets awaiting pickup"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
	})
	dlq := newQueue(stack, "RotationDlq", nil, nil)
	fn := ss.newFunction(cfg, functionSpec{
		id:          "Rotation",
		name:        FnRotation,
		asset:       assets[FnRotation],
		size:        jobSize,
		description: "stagehand " + cfg.Env + " daily key rotation (warn, expire, rotate with one-time pickup)",
		env:         withEnv(env, map[string]*string{EnvRotationKMSKey: secretsKey.KeyArn()}),
		reserved:    1,
		asyncDLQ:    dlq,
	})
	ss.grantTable(FnRotation, tableKey, dynamoRotationActions, kmsReadWriteActions, []string{TableGSI2})
	ss.Roles[FnRotation].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kms:GenerateDataKey"),
		Resources: jsii.Strings(*secretsKey.KeyArn()),
	}))
	ss.grantPutEvents(FnRotation)
	ss.Roles[FnKeyAdmin].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("kms:Decrypt"),
		Resources: jsii.Strings(*secretsKey.KeyArn()),
	}))
	ss.KeyAdmin.AddEnvironment(jsii.String(EnvRotationKMSKey), secretsKey.KeyArn(), nil)
	ss.newJobSchedule(cfg, "RotationSchedule", "daily key rotation", "cron(17 3 * * ? *)", fn, dlq)
	ss.newUsageJob(cfg, assets, tableKey, env)
	ss.newBillingJob(cfg, assets, tableKey, env)
}

// usageReportsPath is every usage plan's usage report.
const usageReportsPath = "/usageplans/*/usage"

// newUsageJob: daily collection of yesterday's usage (GetUsage on this
// environment's usage plans only) and anomaly events.
func (ss *SharedStack) newUsageJob(cfg *config.Config, assets map[string]string, tableKey awskms.Key, env map[string]*string) {
	dlq := newQueue(ss.Stack, "UsageDlq", nil, nil)
	authorizerLogs := ss.Authorizer.LogGroup()
	fn := ss.newFunction(cfg, functionSpec{
		id: "Usage", name: FnUsage, asset: assets[FnUsage], size: jobSize,
		description: "stagehand " + cfg.Env + " daily usage collection and anomaly detection",
		env:         withEnv(env, map[string]*string{EnvDenialLogGroup: authorizerLogs.LogGroupName()}), reserved: 1, asyncDLQ: dlq,
	})
	// Denial counts: one Logs Insights query a day over the authorizer's
	// log group (its EMF denial lines, docs/jobs.md). StartQuery is
	// granted on that log group only; GetQueryResults supports no
	// resource-level permission, so it is granted on "*": it reads a
	// query's result by id (this role cannot list queries).
	// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoncloudwatchlogs.html
	ss.Roles[FnUsage].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("logs:StartQuery"), Resources: jsii.Strings(*authorizerLogs.LogGroupArn()),
	}))
	ss.Roles[FnUsage].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("logs:GetQueryResults"), Resources: jsii.Strings("*"),
	}))
	ss.grantTable(FnUsage, tableKey, dynamoUsageActions, kmsReadWriteActions, []string{TableGSI2})
	// GetUsage reads counters only. The registry owns the usage plans and
	// the reconciler creates them at run time, so their ids are unknown at
	// synth time; API Gateway documents no tag inheritance for a plan's
	// usage resource, so a tag condition could deny every report (as for
	// key-admin's GetUsage).
	ss.Roles[FnUsage].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("apigateway:GET"), Resources: jsii.Strings(*apiGatewayArn(ss.Stack, usageReportsPath)),
	}))
	suppress(ss.Roles[FnUsage], true, suppression{
		id: "AwsSolutions-IAM5",
		reason: "Usage plans are created at run time by the reconciler (the registry owns them), so GetUsage is granted on /usageplans/*/usage: read-only usage counters, GET only. " +
			"logs:GetQueryResults supports no resource-level permission (Service Authorization Reference, CloudWatch Logs), so it is on *: it reads the result of a Logs Insights query by id, and StartQuery, the only way to make one, is granted on the authorizer's log group only.",
		appliesTo: []string{"Resource::arn:<AWS::Partition>:apigateway:<AWS::Region>::" + usageReportsPath, "Resource::*"},
	})
	ss.grantPutEvents(FnUsage)
	ss.newJobSchedule(cfg, "UsageSchedule", "daily usage collection and anomaly detection", "cron(30 1 * * ? *)", fn, dlq)
	ss.newAnomalyTopic(cfg)
}

// newBillingJob: the exports bucket (encrypted, TLS only, no public
// access, versioned) and the daily billing function.
func (ss *SharedStack) newBillingJob(cfg *config.Config, assets map[string]string, tableKey awskms.Key, env map[string]*string) {
	bucket := awss3.NewBucket(ss.Stack, jsii.String("BillingExports"), &awss3.BucketProps{
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		EnforceSSL:        jsii.Bool(true),
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		Versioned:         jsii.Bool(true),
		RemovalPolicy:     awscdk.RemovalPolicy_RETAIN,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
	})
	suppress(bucket, false, suppression{
		id:     "AwsSolutions-S1",
		reason: "The exports bucket is written only by the billing function's role (one object pair per day, versioned) and read by the billing system's own principal; access is recorded by CloudTrail. Server access logs would need a second bucket with no reader.",
	})
	dlq := newQueue(ss.Stack, "BillingDlq", nil, nil)
	fnEnv := map[string]*string{EnvBillingBucket: bucket.BucketName()}
	stripeSecret := ""
	if cfg.Billing != nil {
		stripeSecret = cfg.Billing.StripeSecretArn
	}
	if stripeSecret != "" {
		// The function reads the Stripe key at cold start (internal/billing.ReadStripeKey).
		fnEnv[billing.EnvStripeSecretARN] = jsii.String(stripeSecret)
	}
	fn := ss.newFunction(cfg, functionSpec{
		id: "Billing", name: FnBilling, asset: assets[FnBilling], size: jobSize,
		description: "stagehand " + cfg.Env + " daily billing records, exports and Usage Recorded events",
		env:         withEnv(env, fnEnv), reserved: 1, asyncDLQ: dlq,
	})
	if stripeSecret != "" {
		// Exactly the configured secret (a full ARN, validated by config),
		// read only. A secret under the AWS managed key aws/secretsmanager
		// needs no KMS grant (docs/billing.md).
		ss.Roles[FnBilling].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Actions: jsii.Strings("secretsmanager:GetSecretValue"), Resources: jsii.Strings(stripeSecret),
		}))
	}
	ss.grantTable(FnBilling, tableKey, dynamoBillingActions, kmsReadWriteActions, []string{TableGSI2})
	ss.Roles[FnBilling].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("s3:PutObject"), Resources: jsii.Strings(*bucket.ArnForObjects(jsii.String("billing/*"))),
	}))
	suppress(ss.Roles[FnBilling], true, suppression{
		id:        "AwsSolutions-IAM5",
		reason:    "The billing function writes billing/<env>/<day>/records.csv and .json, one pair per day: the day is in the key, so the grant is the billing/ prefix of its own bucket, PutObject only.",
		appliesTo: []string{"Resource::<" + ss.logicalID(bucket) + ".Arn>/billing/*"},
	})
	ss.grantPutEvents(FnBilling)
	ss.newJobSchedule(cfg, "BillingSchedule", "daily billing", "cron(30 4 * * ? *)", fn, dlq)
}

// grantPutEvents lets a job publish to the default bus.
func (ss *SharedStack) grantPutEvents(name string) {
	ss.Roles[name].AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions: jsii.Strings("events:PutEvents"),
		Resources: jsii.Strings(*ss.Stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("events"), Resource: jsii.String("event-bus"), ResourceName: jsii.String("default"),
		})),
	}))
}

// newJobSchedule runs fn on a schedule (an EventBridge cron expression)
// with the target's retry policy and DLQ, and alarms on the function's
// errors and on messages in the DLQ.
func (ss *SharedStack) newJobSchedule(cfg *config.Config, id, what, cron string, fn awslambda.Function, dlq awssqs.Queue) {
	stack := ss.Stack
	awsevents.NewRule(stack, jsii.String(id), &awsevents.RuleProps{
		Description: jsii.String("stagehand " + cfg.Env + ": " + what),
		Schedule:    awsevents.Schedule_Expression(jsii.String(cron)),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(fn, &awseventstargets.LambdaFunctionProps{
			DeadLetterQueue: dlq,
			MaxEventAge:     awscdk.Duration_Hours(jsii.Number(cfg.Events.MaxEventAgeHours)),
			RetryAttempts:   jsii.Number(cfg.Events.RetryAttempts),
		})},
	})
	action := awscloudwatchactions.NewSnsAction(ss.AlarmTopic)
	hour := awscdk.Duration_Hours(jsii.Number(1))
	for _, a := range []struct {
		suffix, description string
		metric              awscloudwatch.IMetric
	}{
		{"Errors", what + " failed (a key failed, or the run stopped at its deadline; the next run resumes)",
			fn.MetricErrors(&awscloudwatch.MetricOptions{Period: hour, Statistic: jsii.String("Sum")})},
		{"DlqDepth", what + ": invocations given up on, in its DLQ",
			dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Period: hour, Statistic: jsii.String("Maximum")})},
	} {
		alarm := awscloudwatch.NewAlarm(stack, jsii.String(id+a.suffix), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("stagehand " + cfg.Env + ": " + a.description),
			Metric:             a.metric,
			Threshold:          jsii.Number(0),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		alarm.AddAlarmAction(action)
		ss.Alarms = append(ss.Alarms, alarm)
	}
}
