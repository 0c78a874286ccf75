package stacks

// The optional operator notification of usage anomalies (docs/jobs.md,
// config jobs.anomalyTopic): an SNS topic of its own (operators who watch
// anomalies need not be paged by every alarm, nor the reverse), an
// EventBridge rule that matches this environment's "Usage Anomaly
// Detected" events on the default bus and publishes a one-line summary to
// the topic through an input transformer, and a DLQ with an alarm for the
// deliveries EventBridge gives up on.
//
// The rule is an L1 CfnRule on purpose: the events-targets SnsTopic target
// calls grantPublish for events.amazonaws.com, a topic policy statement
// without any condition. Here the topic policy and the DLQ policy allow
// EventBridge only for this rule (aws:SourceArn), and the topic's KMS key
// (the alarm topic's) allows EventBridge only for this account
// (aws:SourceAccount, the condition EventBridge documents against the
// confused deputy: docs.aws.amazon.com/eventbridge/latest/userguide/eb-encryption-key-policy.html).

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/usage"
)

// AnomalyInputTemplate is the notification text: which customer, what
// kind of anomaly, the day, observed against expected, and the event id to
// look the evidence up by. The Anomaly detail carries no secret (no key
// value, no token); the template still names each field it passes on.
const AnomalyInputTemplate = `"stagehand <env>: usage anomaly <kind> for customer <customer> on <date>: observed <observed>, expected <expected> (Usage Anomaly Detected event <event>)"`

// anomalyInputPaths are the fields of the event the template uses.
var anomalyInputPaths = map[string]*string{
	"env": jsii.String("$.detail.env"), "kind": jsii.String("$.detail.kind"), "customer": jsii.String("$.detail.customerId"),
	"date": jsii.String("$.detail.date"), "observed": jsii.String("$.detail.observed"), "expected": jsii.String("$.detail.expected"),
	"event": jsii.String("$.detail.eventId"),
}

// newAnomalyTopic builds the topic and its rule when configured; it runs
// after newAlarms (it reuses the alarm topic's key and adds an alarm).
func (ss *SharedStack) newAnomalyTopic(cfg *config.Config) {
	if cfg.Jobs == nil || cfg.Jobs.AnomalyTopic == nil {
		return
	}
	stack := ss.Stack
	key := ss.AlarmTopic.MasterKey()
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowEventBridgeAnomalyNotifications"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]interface{}{
			"StringEquals": map[string]interface{}{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()},
		},
	}), jsii.Bool(false))
	ss.AnomalyTopic = awssns.NewTopic(stack, jsii.String("AnomalyTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("stagehand " + cfg.Env + " usage anomalies"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	if cfg.Jobs.AnomalyTopic.Email != "" {
		ss.AnomalyTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(cfg.Jobs.AnomalyTopic.Email), nil))
	}
	dlq := newQueue(stack, "AnomalyNotificationDlq", nil, nil)
	suppress(dlq, true, suppression{
		id:     "AwsSolutions-SQS3",
		reason: "This queue is the dead-letter queue of the anomaly rule's EventBridge target (DeadLetterConfig of AnomalyNotification); cdk-nag 2.35 recognises a DLQ only from an SQS redrive policy or a Lambda DeadLetterConfig. Its depth alarms to the alarm topic.",
	})
	rule := awsevents.NewCfnRule(stack, jsii.String("AnomalyNotification"), &awsevents.CfnRuleProps{
		Description: jsii.String("stagehand " + cfg.Env + ": Usage Anomaly Detected to the operators' anomaly topic"),
		EventPattern: map[string]any{
			"source":      []string{usage.Source},
			"detail-type": []string{usage.DetailAnomaly},
			"detail":      map[string]any{"env": []string{cfg.Env}},
		},
		State: jsii.String("ENABLED"),
		Targets: []any{&awsevents.CfnRule_TargetProperty{
			Id:  jsii.String("AnomalyTopic"),
			Arn: ss.AnomalyTopic.TopicArn(),
			InputTransformer: &awsevents.CfnRule_InputTransformerProperty{
				InputPathsMap: &anomalyInputPaths,
				InputTemplate: jsii.String(AnomalyInputTemplate),
			},
			DeadLetterConfig: &awsevents.CfnRule_DeadLetterConfigProperty{Arn: dlq.QueueArn()},
			RetryPolicy: &awsevents.CfnRule_RetryPolicyProperty{
				MaximumEventAgeInSeconds: jsii.Number(float64(cfg.Events.MaxEventAgeHours) * 3600),
				MaximumRetryAttempts:     jsii.Number(float64(cfg.Events.RetryAttempts)),
			},
		}},
	})
	fromRule := &map[string]interface{}{"ArnEquals": map[string]interface{}{"aws:SourceArn": rule.AttrArn()}}
	ss.AnomalyTopic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowAnomalyRule"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  jsii.Strings(*ss.AnomalyTopic.TopicArn()),
		Conditions: fromRule,
	}))
	dlq.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("AllowAnomalyRuleDeadLetters"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)},
		Actions:    jsii.Strings("sqs:SendMessage"),
		Resources:  jsii.Strings(*dlq.QueueArn()),
		Conditions: fromRule,
	}))
	alarm := awscloudwatch.NewAlarm(stack, jsii.String("AnomalyNotificationDlqDepth"), &awscloudwatch.AlarmProps{
		AlarmDescription: jsii.String("stagehand " + cfg.Env + ": anomaly notifications EventBridge could not publish to the anomaly topic, in its DLQ"),
		Metric: dlq.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{
			Period: awscdk.Duration_Hours(jsii.Number(1)), Statistic: jsii.String("Maximum"),
		}),
		Threshold:          jsii.Number(0),
		EvaluationPeriods:  jsii.Number(1),
		ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_THRESHOLD,
		TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
	})
	alarm.AddAlarmAction(awscloudwatchactions.NewSnsAction(ss.AlarmTopic))
	ss.Alarms = append(ss.Alarms, alarm)
	awscdk.NewCfnOutput(stack, jsii.String("AnomalyTopicArn"), &awscdk.CfnOutputProps{
		Value: ss.AnomalyTopic.TopicArn(), ExportName: exportName(cfg.Env, "anomalyTopicArn"),
	})
}
