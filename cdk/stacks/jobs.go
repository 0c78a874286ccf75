package stacks

// The scheduled jobs of the Shared stack (docs/jobs.md): key rotation.
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
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

// Job function names (directories under the asset root).
const (
	FnRotation = "rotation"
)

// JobFunctionNames are the scheduled jobs' functions.
var JobFunctionNames = []string{FnRotation}

// Environment variables of the job functions (a contract with
// internal/rotation's ConfigFromEnv and internal/keyadmin's).
const (
	EnvRotationKMSKey = "STAGEHAND_ROTATION_KMS_KEY"
)

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
