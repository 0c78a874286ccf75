package stacks_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// isJobResource: the scheduled jobs' rules and alarms, which the tests
// below cover (the older tests of the stack skip them).
func isJobResource(id string) bool {
	for _, p := range []string{"RotationSchedule", "UsageSchedule", "BillingSchedule", anomalyNotification} {
		if strings.HasPrefix(id, p) {
			return true
		}
	}
	return false
}

// rotationKeyID is the logical id of the KMS key rotated secrets are
// sealed under.
func rotationKeyID(t *testing.T, sh *stacks.SharedStack) string {
	t.Helper()
	for _, k := range resources(t, sh.Stack, "AWS::KMS::Key") {
		if strings.HasPrefix(k.ID, "RotationSecretsKey") {
			return k.ID
		}
	}
	t.Fatal("no RotationSecretsKey")
	return ""
}

func idWithPrefix(t *testing.T, sh *stacks.SharedStack, typ, prefix string) string {
	t.Helper()
	for _, r := range resources(t, sh.Stack, typ) {
		if strings.HasPrefix(r.ID, prefix) {
			return r.ID
		}
	}
	t.Fatalf("no %s %s*", typ, prefix)
	return ""
}

func TestJobSchedules(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			// given an environment's shared stack
			sh := envs[name].Shared
			type job struct {
				Schedule, Function, DLQ, FunctionDLQ string
				MaxAge, Retry, Timeout, Reserved     float64
				Alarms                               []string
			}
			// when its job rules, functions and alarms are read back
			got := map[string]job{}
			for _, r := range resources(t, sh.Stack, "AWS::Events::Rule") {
				if !isJobResource(r.ID) || strings.HasPrefix(r.ID, anomalyNotification) {
					continue // TestJobAnomalyTopic
				}
				tg := r.Props["Targets"].([]any)[0].(map[string]any)
				fnID := strings.TrimSuffix(strings.TrimPrefix(render(tg["Arn"]), "${"), ".Arn}")
				fn := resourceByID(t, sh.Stack, fnID).Props
				got[r.ID[:strings.Index(r.ID, "Schedule")]] = job{
					Schedule: r.Props["ScheduleExpression"].(string), Function: fnID,
					DLQ: render(get(tg, "DeadLetterConfig", "Arn")), FunctionDLQ: render(get(fn, "DeadLetterConfig", "TargetArn")),
					MaxAge: get(tg, "RetryPolicy", "MaximumEventAgeInSeconds").(float64), Retry: get(tg, "RetryPolicy", "MaximumRetryAttempts").(float64),
					Timeout: fn["Timeout"].(float64), Reserved: fn["ReservedConcurrentExecutions"].(float64),
				}
			}
			for _, a := range sh.Alarms {
				id := *a.Node().Id()
				if !isJobResource(id) || strings.HasPrefix(id, anomalyNotification) {
					continue
				}
				j := got[id[:strings.Index(id, "Schedule")]]
				r := resourceByID(t, sh.Stack, logicalID(t, sh.Stack, a)).Props
				j.Alarms = append(j.Alarms, r["Namespace"].(string)+" "+r["MetricName"].(string)+" > "+render(r["Threshold"]))
				sort.Strings(j.Alarms)
				got[id[:strings.Index(id, "Schedule")]] = j
			}
			// then each job runs daily, retries then dead-letters, runs one
			// at a time within Lambda's 15 minutes, and alarms on errors and
			// on its DLQ
			want := map[string]job{}
			for name, cron := range map[string]string{"Rotation": "cron(17 3 * * ? *)", "Usage": "cron(30 1 * * ? *)", "Billing": "cron(30 4 * * ? *)"} {
				dlq := "${" + idWithPrefix(t, sh, "AWS::SQS::Queue", name+"Dlq") + ".Arn}"
				want[name] = job{
					Schedule: cron, Function: idWithPrefix(t, sh, "AWS::Lambda::Function", name),
					DLQ: dlq, FunctionDLQ: dlq, MaxAge: 86400, Retry: 185, Timeout: 900, Reserved: 1,
					Alarms: []string{"AWS/Lambda Errors > 0", "AWS/SQS ApproximateNumberOfMessagesVisible > 0"},
				}
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("jobs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestJobRolePermissions(t *testing.T) {
	// given dev's shared stack
	sh := envs["dev"].Shared
	table := "${" + logicalID(t, sh.Stack, sh.Table) + ".Arn}"
	events := "events:PutEvents on arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
	tests := []struct {
		name string
		role string
		want []string
	}{
		{"rotation: registry items and GSI2 (keys, subscriptions), encrypt-only on its key, events, its DLQ", stacks.FnRotation, []string{
			"dynamodb:ConditionCheckItem,dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on " + table + " " + table + "/index/GSI2",
			"kms:GenerateDataKey on ${" + rotationKeyID(t, sh) + ".Arn}",
			events,
			"sqs:SendMessage on ${" + idWithPrefix(t, sh, "AWS::SQS::Queue", "RotationDlq") + ".Arn}",
		}},
		{"usage: its registry items and GSI2, GetUsage on this environment's usage plans, a Logs Insights query of the authorizer's log group, events, its DLQ", stacks.FnUsage, []string{
			"dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on " + table + " " + table + "/index/GSI2",
			"apigateway:GET on " + strings.Join(usagePaths(t, sh), " "),
			"logs:StartQuery on ${" + idWithPrefix(t, sh, "AWS::Logs::LogGroup", "AuthorizerLogs") + ".Arn}",
			// GetQueryResults has no resource-level permission; CDK merges
			// it with X-Ray's statement on *.
			"logs:GetQueryResults,xray:PutTelemetryRecords,xray:PutTraceSegments on *",
			events,
			"sqs:SendMessage on ${" + idWithPrefix(t, sh, "AWS::SQS::Queue", "UsageDlq") + ".Arn}",
		}},
		{"billing: no delete, PutObject under billing/ of its bucket only, events, its DLQ", stacks.FnBilling, []string{
			"dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on " + table + " " + table + "/index/GSI2",
			"s3:PutObject on ${" + idWithPrefix(t, sh, "AWS::S3::Bucket", "BillingExports") + ".Arn}/billing/*",
			events,
			"sqs:SendMessage on ${" + idWithPrefix(t, sh, "AWS::SQS::Queue", "BillingDlq") + ".Arn}",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// then the role holds exactly these statements
			want := append([]string{}, tc.want...)
			sort.Strings(want)
			if diff := cmp.Diff(want, statementsOf(t, sh, tc.role)); diff != "" {
				t.Errorf("statements (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRotationFunctionConfiguration(t *testing.T) {
	sh := envs["dev"].Shared
	fn := resourceByID(t, sh.Stack, idWithPrefix(t, sh, "AWS::Lambda::Function", "Rotation")).Props
	got := map[string]string{}
	for k, v := range get(fn, "Environment", "Variables").(map[string]any) {
		got[k] = render(v)
	}
	want := map[string]string{
		stacks.EnvStage: "dev", stacks.EnvTable: "${" + logicalID(t, sh.Stack, sh.Table) + "}",
		stacks.EnvRotationKMSKey: "${" + rotationKeyID(t, sh) + ".Arn}",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	key := resourceByID(t, sh.Stack, rotationKeyID(t, sh))
	if key.Props["EnableKeyRotation"] != true {
		t.Errorf("rotation secrets key: EnableKeyRotation %v", key.Props["EnableKeyRotation"])
	}
}

// TestUsageFunctionConfiguration: the usage job reads the denial counts
// from the authorizer's log group (the one the authorizer writes to).
func TestUsageFunctionConfiguration(t *testing.T) {
	sh := envs["dev"].Shared
	fn := resourceByID(t, sh.Stack, idWithPrefix(t, sh, "AWS::Lambda::Function", "Usage")).Props
	got := map[string]string{}
	for k, v := range get(fn, "Environment", "Variables").(map[string]any) {
		got[k] = render(v)
	}
	logs := idWithPrefix(t, sh, "AWS::Logs::LogGroup", "AuthorizerLogs")
	want := map[string]string{
		stacks.EnvStage: "dev", stacks.EnvTable: "${" + logicalID(t, sh.Stack, sh.Table) + "}",
		stacks.EnvDenialLogGroup: "${" + logs + "}",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("environment (-want +got):\n%s", diff)
	}
	authz := resourceByID(t, sh.Stack, idWithPrefix(t, sh, "AWS::Lambda::Function", "Authorizer")).Props
	if got := render(get(authz, "LoggingConfig", "LogGroup")); got != "${"+logs+"}" {
		t.Errorf("authorizer log group %s, want %s", got, logs)
	}
}

// usagePaths are the GetUsage resources of the usage job: every usage
// plan's report (the registry creates the plans at run time).
func usagePaths(*testing.T, *stacks.SharedStack) []string {
	return []string{"arn:${AWS::Partition}:apigateway:${AWS::Region}::/usageplans/*/usage"}
}

func TestBillingExportsBucket(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			// given the environment's exports bucket
			sh := envs[name].Shared
			id := idWithPrefix(t, sh, "AWS::S3::Bucket", "BillingExports")
			b := resourceByID(t, sh.Stack, id).Props
			// then it is encrypted, versioned and never public
			got := []any{
				get(b, "BucketEncryption", "ServerSideEncryptionConfiguration").([]any)[0].(map[string]any)["ServerSideEncryptionByDefault"].(map[string]any)["SSEAlgorithm"],
				get(b, "VersioningConfiguration", "Status"),
				b["PublicAccessBlockConfiguration"],
			}
			want := []any{"AES256", "Enabled", map[string]any{"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true}}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("bucket (-want +got):\n%s", diff)
			}
			// and its policy denies every request without TLS
			found := false
			for _, p := range resources(t, sh.Stack, "AWS::S3::BucketPolicy") {
				if render(get(p.Props, "Bucket")) != "${"+id+"}" {
					continue
				}
				for _, st := range get(p.Props, "PolicyDocument", "Statement").([]any) {
					sm := st.(map[string]any)
					if sm["Effect"] == "Deny" && render(get(sm, "Condition", "Bool", "aws:SecureTransport")) == "false" {
						found = true
					}
				}
			}
			if !found {
				t.Error("no TLS-only deny statement on the exports bucket")
			}
			// and the billing function is told where it is
			fn := resourceByID(t, sh.Stack, idWithPrefix(t, sh, "AWS::Lambda::Function", "Billing")).Props
			if got := render(get(fn, "Environment", "Variables", stacks.EnvBillingBucket)); got != "${"+id+"}" {
				t.Errorf("%s = %s", stacks.EnvBillingBucket, got)
			}
		})
	}
}
