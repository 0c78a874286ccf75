package stacks_test

import (
	"encoding/json"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
	"github.com/stagehand-dev/stagehand/internal/iamgrant"
	"github.com/stagehand-dev/stagehand/internal/originverify"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// TestNoUsagePlanInShippedTemplates: the registry owns usage plans, so no
// template of a shipped environment declares one (no stack update can reset
// a plan's stages, aws-cdk#32544), and no output exports a plan id.
func TestNoUsagePlanInShippedTemplates(t *testing.T) {
	for _, name := range shippedEnvs {
		t.Run(name, func(t *testing.T) {
			// given every stack of the environment, as synthesized
			checked := 0
			for _, st := range allStacks() {
				// Shared-dev, Network-dev, Api-dev-blue, Domain-dev, ...
				if parts := strings.Split(*st.StackName(), "-"); len(parts) < 2 || parts[1] != name {
					continue
				}
				checked++
				// when its template is read
				tmpl, err := json.Marshal(templateJSON(t, st))
				if err != nil {
					t.Fatal(err)
				}
				// then it declares no usage plan and exports no plan id
				for _, banned := range []string{"AWS::ApiGateway::UsagePlan", "UsagePlanId"} {
					if strings.Contains(string(tmpl), banned) {
						t.Errorf("%s: template contains %q", *st.StackName(), banned)
					}
				}
			}
			if checked < 4 {
				t.Errorf("checked %d stacks of %s, want Network, Shared and both colours", checked, name)
			}
		})
	}
}

// TestLegacyUsagePlansAreRetainedUnchanged: with retainLegacyUsagePlans
// (qa), the Shared stack keeps the usage plans of earlier releases with the
// same logical ids and properties, only DeletionPolicy and
// UpdateReplacePolicy Retain added, so that the deploy removing them leaves
// the plans in place for the registry to adopt.
func TestLegacyUsagePlansAreRetainedUnchanged(t *testing.T) {
	env := envs["qa"]
	type plan struct {
		ID, Name, Description, Period, EnvTag, PlanTag string
		Rate, Burst, Quota                             float64
		DeclaresApiStages                              bool
		Deletion, Replace                              string
	}
	var want []plan
	for _, p := range env.Config.Plans {
		want = append(want, plan{ID: "UsagePlan-" + p.Name, Name: "stagehand-qa-" + p.Name, Description: p.Description,
			Period: p.QuotaPeriod, EnvTag: "qa", PlanTag: p.Name, Rate: p.RateLimit, Burst: float64(p.BurstLimit),
			Quota: float64(p.QuotaLimit), Deletion: "Retain", Replace: "Retain"})
	}
	var got []plan
	for _, r := range resources(t, env.Shared.Stack, "AWS::ApiGateway::UsagePlan") {
		_, hasStages := r.Props["ApiStages"]
		tags := map[string]string{}
		for _, tag := range r.Props["Tags"].([]any) {
			tm := tag.(map[string]any)
			tags[tm["Key"].(string)] = tm["Value"].(string)
		}
		quota, _ := get(r.Props, "Quota", "Limit").(float64)
		period, _ := get(r.Props, "Quota", "Period").(string)
		desc, _ := r.Props["Description"].(string)
		del, _ := r.Raw["DeletionPolicy"].(string)
		rep, _ := r.Raw["UpdateReplacePolicy"].(string)
		var id string
		for tier, c := range env.Shared.LegacyUsagePlans {
			if logicalID(t, env.Shared.Stack, c) == r.ID {
				id = "UsagePlan-" + tier
			}
		}
		got = append(got, plan{ID: id, Name: r.Props["UsagePlanName"].(string), Description: desc, Period: period,
			EnvTag: tags[stacks.TagEnv], PlanTag: tags[stacks.TagPlan],
			Rate: get(r.Props, "Throttle", "RateLimit").(float64), Burst: get(r.Props, "Throttle", "BurstLimit").(float64),
			Quota: quota, DeclaresApiStages: hasStages, Deletion: del, Replace: rep})
	}
	sortPlans := func(p []plan) { sort.Slice(p, func(i, j int) bool { return p[i].Name < p[j].Name }) }
	sortPlans(want)
	sortPlans(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("legacy usage plans (-want +got):\n%s", diff)
	}
}

func TestRegistryTableMatchesRegistryLayout(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			tables := resources(t, env.Shared.Stack, "AWS::DynamoDB::Table")
			if len(tables) != 1 {
				t.Fatalf("got %d tables, want 1", len(tables))
			}
			tb := tables[0]
			type gsi struct{ Name, Hash, Range, Projection string }
			type table struct {
				Name, Billing, Hash, Range, TTL string
				TTLEnabled, PITR                bool
				DeletionProtection, SSE         bool
				SSEType                         string
				Attributes                      map[string]string
				GSIs                            []gsi
				DeletionPolicy, ReplacePolicy   string
			}
			keys := func(schema any) (hash, rng string) {
				for _, k := range schema.([]any) {
					km := k.(map[string]any)
					if km["KeyType"] == "HASH" {
						hash = km["AttributeName"].(string)
					} else {
						rng = km["AttributeName"].(string)
					}
				}
				return hash, rng
			}
			got := table{
				Name:               tb.Props["TableName"].(string),
				Billing:            tb.Props["BillingMode"].(string),
				TTL:                get(tb.Props, "TimeToLiveSpecification", "AttributeName").(string),
				TTLEnabled:         get(tb.Props, "TimeToLiveSpecification", "Enabled") == true,
				PITR:               get(tb.Props, "PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled") == true,
				DeletionProtection: tb.Props["DeletionProtectionEnabled"] == true,
				SSE:                get(tb.Props, "SSESpecification", "SSEEnabled") == true,
				Attributes:         map[string]string{},
				DeletionPolicy:     tb.Raw["DeletionPolicy"].(string),
				ReplacePolicy:      tb.Raw["UpdateReplacePolicy"].(string),
			}
			got.SSEType, _ = get(tb.Props, "SSESpecification", "SSEType").(string)
			got.Hash, got.Range = keys(tb.Props["KeySchema"])
			for _, a := range tb.Props["AttributeDefinitions"].([]any) {
				am := a.(map[string]any)
				got.Attributes[am["AttributeName"].(string)] = am["AttributeType"].(string)
			}
			for _, g := range tb.Props["GlobalSecondaryIndexes"].([]any) {
				gm := g.(map[string]any)
				h, r := keys(gm["KeySchema"])
				got.GSIs = append(got.GSIs, gsi{gm["IndexName"].(string), h, r, get(gm, "Projection", "ProjectionType").(string)})
			}

			want := table{
				Name: "stagehand-" + name + "-registry", Billing: "PAY_PER_REQUEST",
				Hash: "PK", Range: "SK", TTL: "ttl", TTLEnabled: true, PITR: true,
				DeletionProtection: env.Config.Registry.DeletionProtection, SSE: true,
				Attributes: map[string]string{"PK": "S", "SK": "S", "GSI1PK": "S", "GSI1SK": "S", "GSI2PK": "S", "GSI2SK": "S"},
				GSIs: []gsi{
					{"GSI1", "GSI1PK", "GSI1SK", "ALL"},
					{"GSI2", "GSI2PK", "GSI2SK", "ALL"},
				},
				DeletionPolicy: "Retain", ReplacePolicy: "Retain",
			}
			if env.Config.Registry.CustomerManagedKey {
				want.SSEType = "KMS"
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("registry table (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLambdaFunctionsHonourTheHandlerContract(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		env := envs[name]
		sh := env.Shared
		queueRef := "${" + logicalID(t, sh.Stack, sh.ContinuationQueue) + "}"
		tableRef := "${" + logicalID(t, sh.Stack, sh.Table) + "}"
		authorizerJSON, err := env.Config.AuthorizerJSON()
		if err != nil {
			t.Fatal(err)
		}
		handlerEnv := map[string]string{
			stacks.EnvStage: name, stacks.EnvTable: tableRef,
			stacks.EnvEventSource: env.Config.Events.Source, stacks.EnvContinuationQueue: queueRef,
		}
		tests := []struct {
			name     string
			id       string
			size     [2]int
			env      map[string]string
			reserved any
			asyncDLQ string
		}{
			{"authorizer", logicalID(t, sh.Stack, sh.Authorizer), [2]int{env.Config.Lambdas.Authorizer.MemoryMiB, env.Config.Lambdas.Authorizer.TimeoutSeconds},
				map[string]string{stacks.EnvStage: name, stacks.EnvTable: tableRef, stacks.EnvAuthorizerConfig: authorizerJSON,
					// The origin-verify secret's ARN (never its value) and timing.
					originverify.EnvSecretARN: "${" + logicalID(t, sh.Stack, sh.OriginVerifySecret) + "}", originverify.EnvRefreshSeconds: "300", originverify.EnvPromoteAfterSeconds: "900"}, nil, ""},
			{"deployment", logicalID(t, sh.Stack, sh.Deployment), [2]int{env.Config.Lambdas.Deployment.MemoryMiB, env.Config.Lambdas.Deployment.TimeoutSeconds},
				// No reserved concurrency: see TestContinuationMappingIsNeverThrottled.
				handlerEnv, nil, logicalID(t, sh.Stack, sh.DeploymentDLQ)},
			{"reconcile", logicalID(t, sh.Stack, sh.Reconcile), [2]int{env.Config.Lambdas.Reconcile.MemoryMiB, env.Config.Lambdas.Reconcile.TimeoutSeconds},
				handlerEnv, 1.0, logicalID(t, sh.Stack, sh.ReconcileDLQ)},
		}
		for _, tc := range tests {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				fn := resourceByID(t, sh.Stack, tc.id).Props
				gotEnv := map[string]string{}
				for k, v := range get(fn, "Environment", "Variables").(map[string]any) {
					gotEnv[k] = render(v)
				}
				type shape struct {
					Runtime, Handler, Tracing, LogFormat string
					Arch                                 []string
					Memory, Timeout                      float64
					Env                                  map[string]string
					Reserved                             any
					AsyncDLQ                             string
				}
				got := shape{
					Runtime: fn["Runtime"].(string), Handler: fn["Handler"].(string),
					Tracing: get(fn, "TracingConfig", "Mode").(string), LogFormat: get(fn, "LoggingConfig", "LogFormat").(string),
					Arch: strs(fn["Architectures"]), Memory: fn["MemorySize"].(float64), Timeout: fn["Timeout"].(float64),
					Env: gotEnv, Reserved: fn["ReservedConcurrentExecutions"],
				}
				if dlq := get(fn, "DeadLetterConfig", "TargetArn"); dlq != nil {
					got.AsyncDLQ = strings.TrimSuffix(strings.TrimPrefix(render(dlq), "${"), ".Arn}")
				}
				want := shape{
					Runtime: "provided.al2023", Handler: "bootstrap", Tracing: "Active", LogFormat: "JSON",
					Arch: []string{"arm64"}, Memory: float64(tc.size[0]), Timeout: float64(tc.size[1]),
					Env: tc.env, Reserved: tc.reserved, AsyncDLQ: tc.asyncDLQ,
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("function (-want +got):\n%s", diff)
				}

				// The log group the function writes to has the configured retention.
				logGroup := strings.Trim(render(get(fn, "LoggingConfig", "LogGroup")), "${}")
				lg := resourceByID(t, sh.Stack, logGroup)
				if got, want := lg.Props["RetentionInDays"], float64(env.Config.Lambdas.LogRetentionDays); got != want {
					t.Errorf("log group %s retention = %v, want %v", logGroup, got, want)
				}
			})
		}
		t.Run(name+"/authorizer config is passed verbatim", func(t *testing.T) {
			var want, got any
			if err := json.Unmarshal(env.Config.Authorizer, &want); err != nil {
				t.Fatal(err)
			}
			fn := resourceByID(t, sh.Stack, logicalID(t, sh.Stack, sh.Authorizer)).Props
			if err := json.Unmarshal([]byte(get(fn, "Environment", "Variables", stacks.EnvAuthorizerConfig).(string)), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("AUTHORIZER_CONFIG (-config +env):\n%s", diff)
			}
		})
	}
}

func TestEventRulesHaveRetryPolicyAndDLQ(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			sh := env.Shared
			type target struct {
				Function, DLQ  string
				MaxAge, Retry  float64
				Schedule       string
				Sources, Types []string
				EnvFilter      []string
			}
			ref := func(id string) string { return "${" + id + ".Arn}" }
			want := map[string]target{
				logicalID(t, sh.Stack, sh.DeploymentRule): {
					Function: ref(logicalID(t, sh.Stack, sh.Deployment)), DLQ: ref(logicalID(t, sh.Stack, sh.DeploymentDLQ)),
					MaxAge: 86400, Retry: 185,
					Sources:   []string{env.Config.Events.Source},
					Types:     []string{stacks.DetailTypeDeploymentCompleted, stacks.DetailTypeStackRetiring},
					EnvFilter: []string{name},
				},
				logicalID(t, sh.Stack, sh.ReconcileRule): {
					Function: ref(logicalID(t, sh.Stack, sh.Reconcile)), DLQ: ref(logicalID(t, sh.Stack, sh.ReconcileDLQ)),
					MaxAge: 86400, Retry: 185,
					Schedule: "rate(" + map[int]string{5: "5 minutes", 15: "15 minutes"}[env.Config.Events.ReconcileRateMinutes] + ")",
				},
			}
			got := map[string]target{}
			for _, r := range resources(t, sh.Stack, "AWS::Events::Rule") {
				if isJobResource(r.ID) {
					continue // TestJobSchedules
				}
				targets := r.Props["Targets"].([]any)
				if len(targets) != 1 {
					t.Fatalf("rule %s has %d targets, want 1", r.ID, len(targets))
				}
				tg := targets[0].(map[string]any)
				sched, _ := r.Props["ScheduleExpression"].(string)
				got[r.ID] = target{
					Function: render(tg["Arn"]), DLQ: render(get(tg, "DeadLetterConfig", "Arn")),
					MaxAge:   get(tg, "RetryPolicy", "MaximumEventAgeInSeconds").(float64),
					Retry:    get(tg, "RetryPolicy", "MaximumRetryAttempts").(float64),
					Schedule: sched, Sources: strs(get(r.Props, "EventPattern", "source")),
					Types: strs(get(r.Props, "EventPattern", "detail-type")), EnvFilter: strs(get(r.Props, "EventPattern", "detail", "environment")),
				}
			}
			sort.Strings(want[logicalID(t, sh.Stack, sh.DeploymentRule)].Types)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestContinuationQueue(t *testing.T) {
	env := envs["dev"]
	sh := env.Shared
	queueID := logicalID(t, sh.Stack, sh.ContinuationQueue)
	dlqID := logicalID(t, sh.Stack, sh.ContinuationDLQ)

	t.Run("consumed by the deployment function one message at a time", func(t *testing.T) {
		mappings := resources(t, sh.Stack, "AWS::Lambda::EventSourceMapping")
		if len(mappings) != 1 {
			t.Fatalf("got %d event source mappings, want 1", len(mappings))
		}
		m := mappings[0].Props
		got := []string{render(m["EventSourceArn"]), render(m["FunctionName"]), render(m["BatchSize"]), render(m["FunctionResponseTypes"])}
		want := []string{"${" + queueID + ".Arn}", "${" + logicalID(t, sh.Stack, sh.Deployment) + "}", "1", `["ReportBatchItemFailures"]`}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("event source mapping (-want +got):\n%s", diff)
		}
	})
	t.Run("has its own DLQ and a visibility timeout of six function timeouts", func(t *testing.T) {
		q := resourceByID(t, sh.Stack, queueID).Props
		got := []string{render(get(q, "RedrivePolicy", "deadLetterTargetArn")), render(q["VisibilityTimeout"])}
		want := []string{"${" + dlqID + ".Arn}", render(float64(6 * env.Config.Lambdas.Deployment.TimeoutSeconds))}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("continuation queue (-want +got):\n%s", diff)
		}
	})
	t.Run("every queue is encrypted and refuses plain HTTP", func(t *testing.T) {
		queues := resources(t, sh.Stack, "AWS::SQS::Queue")
		if len(queues) != 4+len(stacks.JobFunctionNames) {
			t.Fatalf("got %d queues, want %d (continuation + 3 DLQs + one DLQ per job)", len(queues), 4+len(stacks.JobFunctionNames))
		}
		tlsDenied := map[string]bool{}
		for _, p := range resources(t, sh.Stack, "AWS::SQS::QueuePolicy") {
			for _, s := range get(p.Props, "PolicyDocument", "Statement").([]any) {
				sm := s.(map[string]any)
				if sm["Effect"] == "Deny" && render(get(sm, "Condition", "Bool", "aws:SecureTransport")) == "false" {
					for _, q := range p.Props["Queues"].([]any) {
						tlsDenied[render(q)] = true
					}
				}
			}
		}
		for _, q := range queues {
			if q.Props["SqsManagedSseEnabled"] != true {
				t.Errorf("queue %s: SqsManagedSseEnabled = %v, want true", q.ID, q.Props["SqsManagedSseEnabled"])
			}
			if !tlsDenied["${"+q.ID+"}"] {
				t.Errorf("queue %s: no policy denies requests without TLS", q.ID)
			}
		}
	})
}

func TestOriginVerifySecretIsGenerated(t *testing.T) {
	sh := envs["dev"].Shared
	secrets := resources(t, sh.Stack, "AWS::SecretsManager::Secret")
	if len(secrets) != 1 {
		t.Fatalf("got %d secrets, want 1", len(secrets))
	}
	s := secrets[0].Props
	if _, plain := s["SecretString"]; plain {
		t.Errorf("secret has a SecretString in the template; want a generated value")
	}
	got := []any{s["Name"], get(s, "GenerateSecretString", "ExcludePunctuation"), get(s, "GenerateSecretString", "PasswordLength")}
	want := []any{"stagehand/dev/origin-verify", true, 48.0}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("secret (-want +got):\n%s", diff)
	}
}

func TestAlarmsNotifyTheEncryptedTopic(t *testing.T) {
	sh := envs["dev"].Shared
	topicID := logicalID(t, sh.Stack, sh.AlarmTopic)
	topic := resourceByID(t, sh.Stack, topicID).Props
	if topic["KmsMasterKeyId"] == nil {
		t.Errorf("alarm topic has no KmsMasterKeyId")
	}

	// given the alarms the issue asks for
	want := map[string]string{
		"DeploymentEventsDlqDepth": "AWS/SQS ApproximateNumberOfMessagesVisible Maximum > 0",
		"ReconcileDlqDepth":        "AWS/SQS ApproximateNumberOfMessagesVisible Maximum > 0",
		"ContinuationDlqDepth":     "AWS/SQS ApproximateNumberOfMessagesVisible Maximum > 0",
		"DeploymentErrors":         "AWS/Lambda Errors Sum > 0",
		"ReconcileErrors":          "AWS/Lambda Errors Sum > 0",
		"FailingUsagePlans":        "Stagehand FailingUsagePlans Sum > 0",
		"AuthorizerErrors":         "AWS/Lambda Errors Sum > 0",
		"AuthorizerThrottles":      "AWS/Lambda Throttles Sum > 0",
		"AuthorizerP99Latency":     "AWS/Lambda Duration p99 > 500",
		"KeyAdmin5xx":              "AWS/ApiGateway 5XXError Sum > 0",
	}
	// when the template's alarms are read back
	got := map[string]string{}
	for _, a := range sh.Alarms {
		if isJobResource(*a.Node().Id()) {
			continue // TestJobSchedules
		}
		r := resourceByID(t, sh.Stack, logicalID(t, sh.Stack, a)).Props
		stat, _ := r["Statistic"].(string)
		if stat == "" {
			stat, _ = r["ExtendedStatistic"].(string)
		}
		got[*a.Node().Id()] = r["Namespace"].(string) + " " + r["MetricName"].(string) + " " + stat + " > " + render(r["Threshold"])
		// then each notifies the topic
		if diff := cmp.Diff([]string{"${" + topicID + "}"}, strs(r["AlarmActions"])); diff != "" {
			t.Errorf("alarm %s actions (-want +got):\n%s", *a.Node().Id(), diff)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("alarms (-want +got):\n%s", diff)
	}
	if n := len(resources(t, sh.Stack, "AWS::CloudWatch::Dashboard")); n != 1 {
		t.Errorf("got %d dashboards, want 1", n)
	}
}

func TestIdentityPoliciesAreLeastPrivilege(t *testing.T) {
	// Actions that do not support resource-level permissions; only they
	// may name Resource "*".
	resourceStarAllowed := map[string]bool{
		"xray:PutTraceSegments": true, "xray:PutTelemetryRecords": true, "ecr:GetAuthorizationToken": true,
		// Logs Insights results are addressed by query id only (the usage
		// job's StartQuery is scoped to the authorizer's log group).
		"logs:GetQueryResults": true,
	}
	checked := 0
	for _, st := range allStacks() {
		t.Run(*st.StackName(), func(t *testing.T) {
			var docs []map[string]any
			for _, p := range resources(t, st, "AWS::IAM::Policy") {
				docs = append(docs, p.Props["PolicyDocument"].(map[string]any))
			}
			for _, r := range resources(t, st, "AWS::IAM::Role") {
				for _, arn := range strs(r.Props["ManagedPolicyArns"]) {
					if strings.Contains(arn, "FullAccess") || strings.Contains(arn, "AdministratorAccess") {
						t.Errorf("role %s has managed policy %s", r.ID, arn)
					}
				}
				if pols, ok := r.Props["Policies"].([]any); ok {
					for _, p := range pols {
						docs = append(docs, p.(map[string]any)["PolicyDocument"].(map[string]any))
					}
				}
			}
			checked += len(docs)
			for _, d := range docs {
				for _, s := range d["Statement"].([]any) {
					sm := s.(map[string]any)
					actions := strs(sm["Action"])
					for _, a := range actions {
						if strings.Contains(a, "*") {
							t.Errorf("statement %v lists wildcard action %q", sm, a)
						}
					}
					for _, res := range strs(sm["Resource"]) {
						if res != "*" {
							continue
						}
						for _, a := range actions {
							if !resourceStarAllowed[a] {
								t.Errorf("action %s is granted on Resource \"*\"", a)
							}
						}
					}
				}
			}
		})
	}
	if checked < 10 {
		t.Errorf("checked %d policy documents; the walk is broken", checked)
	}
}

// statementsOf returns a role's policy statements other than the logging
// and tracing ones every function has, rendered as "actions on resources".
func statementsOf(t *testing.T, sh *stacks.SharedStack, role string) []string {
	t.Helper()
	roleID := logicalID(t, sh.Stack, sh.Roles[role])
	var out []string
	for _, p := range resources(t, sh.Stack, "AWS::IAM::Policy") {
		if diff := cmp.Diff([]string{"${" + roleID + "}"}, strs(p.Props["Roles"])); diff != "" {
			continue
		}
		for _, s := range get(p.Props, "PolicyDocument", "Statement").([]any) {
			sm := s.(map[string]any)
			actions := strs(sm["Action"])
			// Log writing and tracing are every function's; Logs Insights
			// reads (the usage job's) are listed.
			readsLogs := actions[0] == "logs:StartQuery" || actions[0] == "logs:GetQueryResults"
			if strings.HasPrefix(actions[0], "logs:") && !readsLogs || strings.HasPrefix(actions[0], "xray:") {
				continue
			}
			line := strings.Join(actions, ",") + " on " + strings.Join(strs(sm["Resource"]), " ")
			if c, ok := sm["Condition"].(map[string]any); ok {
				var conds []string
				for op, kv := range c {
					for k, v := range kv.(map[string]any) {
						conds = append(conds, op+" "+k+"="+strings.Join(strs(v), ","))
					}
				}
				sort.Strings(conds)
				line += " if " + strings.Join(conds, "; ")
			}
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

func TestRolePermissions(t *testing.T) {
	sh := envs["dev"].Shared
	table := "${" + logicalID(t, sh.Stack, sh.Table) + ".Arn}"
	queue := "${" + logicalID(t, sh.Stack, sh.ContinuationQueue) + ".Arn}"
	apigw := func(p string) string { return "arn:${AWS::Partition}:apigateway:${AWS::Region}::" + p }
	// Writes only on this environment's plans and keys (aws:ResourceTag),
	// creates only tagged with it (aws:RequestTag, stagehand:* tag keys);
	// TestAPIGatewayGrantsAreDerivedFromTheCalls derives the same from the code.
	ownTag := " if StringEquals aws:ResourceTag/stagehand:env=dev"
	tagOnCreate := " if ForAllValues:StringLike aws:TagKeys=stagehand:*; StringEquals aws:RequestTag/stagehand:env=dev"
	controlPlane := []string{
		"apigateway:DELETE on " + apigw("/usageplans/*/keys/*") + ownTag,
		"apigateway:GET on " + strings.Join([]string{apigw("/restapis/*/stages/*"), apigw("/usageplans"), apigw("/usageplans/*"), apigw("/usageplans/*/keys")}, " "),
		"apigateway:PATCH on " + apigw("/usageplans/*") + ownTag,
		"apigateway:POST on " + apigw("/usageplans") + tagOnCreate,
		"apigateway:POST on " + apigw("/usageplans/*/keys") + ownTag,
		"apigateway:PUT on " + apigw("/tags/*usageplans*") + tagOnCreate,
	}
	readWrite := "dynamodb:BatchGetItem,dynamodb:BatchWriteItem,dynamodb:ConditionCheckItem,dynamodb:DeleteItem,dynamodb:DescribeTable,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on " + table + " " + table + "/index/*"
	events := "events:PutEvents on arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default"
	consume := "sqs:ChangeMessageVisibility,sqs:DeleteMessage,sqs:GetQueueAttributes,sqs:GetQueueUrl,sqs:ReceiveMessage on " + queue
	tests := []struct {
		name string
		role string
		want []string
	}{
		{"authorizer reads two actions on the table only, and the origin-verify secret", stacks.FnAuthorizer, []string{
			"dynamodb:GetItem,dynamodb:Query on " + table + " " + table + "/index/*",
			"secretsmanager:GetSecretValue on ${" + logicalID(t, sh.Stack, sh.OriginVerifySecret) + "}",
		}},
		{"deployment", stacks.FnDeployment, append([]string{
			readWrite, events, consume,
			"sqs:SendMessage on " + queue + " ${" + logicalID(t, sh.Stack, sh.DeploymentDLQ) + ".Arn}",
		}, controlPlane...)},
		{"reconcile", stacks.FnReconcile, append([]string{
			readWrite, events,
			"sqs:SendMessage on " + queue + " ${" + logicalID(t, sh.Stack, sh.ReconcileDLQ) + ".Arn}",
		}, controlPlane...)},
		{"key admin: its registry calls on the table and its two indexes, metering keys of this environment's usage plans", stacks.FnKeyAdmin, []string{
			"dynamodb:ConditionCheckItem,dynamodb:DeleteItem,dynamodb:GetItem,dynamodb:PutItem,dynamodb:Query,dynamodb:UpdateItem on " +
				table + " " + table + "/index/GSI1 " + table + "/index/GSI2",
			"apigateway:POST on " + apigw("/apikeys") + tagOnCreate,
			"apigateway:POST on " + apigw("/usageplans/*/keys") + ownTag,
			"apigateway:DELETE on " + apigw("/apikeys/*") + " " + apigw("/usageplans/*/keys/*") + ownTag,
			"apigateway:GET on " + apigw("/usageplans/*/usage"),
			"apigateway:PUT on " + apigw("/tags/*apikeys*") + tagOnCreate,
			"kms:Decrypt on ${" + rotationKeyID(t, sh) + ".Arn}", // secret pickup (jobs.go)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := append([]string{}, tc.want...)
			sort.Strings(want)
			if diff := cmp.Diff(want, statementsOf(t, sh, tc.role)); diff != "" {
				t.Errorf("statements (-want +got):\n%s", diff)
			}
		})
	}
}

// apiGatewayStatement is an apigateway:* statement of a policy, rendered.
type apiGatewayStatement struct {
	Action    string
	Resources []string
	Condition string // JSON ("" for none)
}

func renderCondition(t *testing.T, c any) string {
	t.Helper()
	if c == nil {
		return ""
	}
	b, err := json.Marshal(c) // map keys sorted: a canonical form
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// apiGatewayStatementsOf returns role's apigateway statements in sh.
func apiGatewayStatementsOf(t *testing.T, sh *stacks.SharedStack, role string) []apiGatewayStatement {
	t.Helper()
	roleID := logicalID(t, sh.Stack, sh.Roles[role])
	var out []apiGatewayStatement
	for _, p := range resources(t, sh.Stack, "AWS::IAM::Policy") {
		if !slices.Contains(strs(p.Props["Roles"]), "${"+roleID+"}") {
			continue
		}
		for _, s := range get(p.Props, "PolicyDocument", "Statement").([]any) {
			sm := s.(map[string]any)
			for _, a := range strs(sm["Action"]) {
				if strings.HasPrefix(a, "apigateway:") {
					out = append(out, apiGatewayStatement{Action: a, Resources: strs(sm["Resource"]), Condition: renderCondition(t, sm["Condition"])})
				}
			}
		}
	}
	sortStatements(out)
	return out
}

func sortStatements(s []apiGatewayStatement) {
	slices.SortFunc(s, func(a, b apiGatewayStatement) int {
		return strings.Compare(a.Action+strings.Join(a.Resources, " ")+a.Condition, b.Action+strings.Join(b.Resources, " ")+b.Condition)
	})
}

// TestAPIGatewayGrantsAreDerivedFromTheCalls: the API Gateway statements
// of the deployment, reconcile and key-admin roles are exactly the grants
// of the methods of the interfaces their code calls (reconcile.Gateway;
// service.APIGatewayKeysAPI and service.GetUsageAPI), with the tag
// conditions of this environment, and nothing else. The tables themselves
// are checked against the SDK's request paths in internal/reconcile and
// internal/service (iamgrant.Check): a broader grant, a grant the code
// does not call, or a method without a grant fails one of the three.
func TestAPIGatewayGrantsAreDerivedFromTheCalls(t *testing.T) {
	want := func(t *testing.T, env string, table iamgrant.Table, ifaces ...reflect.Type) []apiGatewayStatement {
		var ops [][]iamgrant.Op
		for _, iface := range ifaces {
			o, err := table.For(iface)
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, o)
		}
		var out []apiGatewayStatement
		for _, st := range iamgrant.Statements(ops...) {
			var res []string
			for _, p := range st.Paths {
				res = append(res, "arn:${AWS::Partition}:apigateway:${AWS::Region}::"+p)
			}
			sort.Strings(res)
			var c any
			if cond := st.Conditions(env); cond != nil {
				b, _ := json.Marshal(cond)
				_ = json.Unmarshal(b, &c)
			}
			out = append(out, apiGatewayStatement{Action: st.Action, Resources: res, Condition: renderCondition(t, c)})
		}
		sortStatements(out)
		return out
	}
	for _, env := range []string{"dev", "prod"} {
		sh := envs[env].Shared
		gateway := want(t, env, reconcile.GatewayGrants, reflect.TypeFor[reconcile.Gateway]())
		keys := want(t, env, service.KeyGrants, reflect.TypeFor[service.APIGatewayKeysAPI](), reflect.TypeFor[service.GetUsageAPI]())
		for _, tc := range []struct {
			role string
			want []apiGatewayStatement
		}{
			{stacks.FnDeployment, gateway},
			{stacks.FnReconcile, gateway},
			{stacks.FnKeyAdmin, keys},
			{stacks.FnAuthorizer, nil},
		} {
			t.Run(env+"/"+tc.role, func(t *testing.T) {
				if diff := cmp.Diff(tc.want, apiGatewayStatementsOf(t, sh, tc.role)); diff != "" {
					t.Errorf("apigateway statements (-derived from the code +granted):\n%s", diff)
				}
			})
		}
		// Every write is limited to this environment's tagged resources.
		for _, st := range append(slices.Clone(gateway), keys...) {
			if st.Action != "apigateway:GET" && !strings.Contains(st.Condition, `"stagehand:env":"`+env+`"`) &&
				!strings.Contains(st.Condition, `"aws:ResourceTag/stagehand:env":"`+env+`"`) && !strings.Contains(st.Condition, `"aws:RequestTag/stagehand:env":"`+env+`"`) {
				t.Errorf("%s: %s on %v is not limited to %s's resources: %s", env, st.Action, st.Resources, env, st.Condition)
			}
		}
	}
}

// iamGlob compiles an IAM resource pattern: * is any run of characters
// ("/" included), ? any one character.
func iamGlob(pattern string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range pattern {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// TestNoRoleMayChangeAStage: no role of any stack may rewrite or delete a
// stage (PATCH/DELETE on /restapis/*/stages*): one that could would detach
// any API of the account.
func TestNoRoleMayChangeAStage(t *testing.T) {
	checked := 0
	for _, st := range allStacks() {
		var docs []map[string]any
		for _, p := range resources(t, st, "AWS::IAM::Policy") {
			docs = append(docs, p.Props["PolicyDocument"].(map[string]any))
		}
		for _, r := range resources(t, st, "AWS::IAM::Role") {
			if pols, ok := r.Props["Policies"].([]any); ok {
				for _, p := range pols {
					docs = append(docs, p.(map[string]any)["PolicyDocument"].(map[string]any))
				}
			}
		}
		for _, d := range docs {
			for _, s := range d["Statement"].([]any) {
				sm := s.(map[string]any)
				for _, a := range strs(sm["Action"]) {
					if !strings.HasPrefix(a, "apigateway:") {
						continue
					}
					checked++
					if a != "apigateway:PATCH" && a != "apigateway:DELETE" {
						continue
					}
					for _, res := range strs(sm["Resource"]) {
						for _, stage := range []string{"/restapis/abc123/stages/prod", "/restapis/abc123/stages"} {
							if iamGlob(res).MatchString("arn:${AWS::Partition}:apigateway:${AWS::Region}::" + stage) {
								t.Errorf("%s: %s on %s covers %s", *st.StackName(), a, res, stage)
							}
						}
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Error("no apigateway statement found; the walk is broken")
	}
}

func TestCustomerManagedKeyGrantsAreExplicit(t *testing.T) {
	// given prod, which encrypts the registry with its own key
	sh := envs["prod"].Shared
	var keyID string
	for _, k := range resources(t, sh.Stack, "AWS::KMS::Key") {
		if strings.Contains(k.ID, "RegistryKey") {
			keyID = k.ID
		}
	}
	if keyID == "" {
		t.Fatal("prod has no registry key")
	}
	key := "${" + keyID + ".Arn}"
	// then the authorizer may only decrypt, the writers also encrypt
	for role, want := range map[string]string{
		stacks.FnAuthorizer: "kms:Decrypt,kms:DescribeKey on " + key,
		stacks.FnDeployment: "kms:Decrypt,kms:DescribeKey,kms:Encrypt,kms:GenerateDataKey on " + key,
		stacks.FnKeyAdmin:   "kms:Decrypt,kms:DescribeKey,kms:Encrypt,kms:GenerateDataKey on " + key,
		stacks.FnRotation:   "kms:Decrypt,kms:DescribeKey,kms:Encrypt,kms:GenerateDataKey on " + key,
		stacks.FnUsage:      "kms:Decrypt,kms:DescribeKey,kms:Encrypt,kms:GenerateDataKey on " + key,
		stacks.FnBilling:    "kms:Decrypt,kms:DescribeKey,kms:Encrypt,kms:GenerateDataKey on " + key,
	} {
		found := false
		for _, s := range statementsOf(t, sh, role) {
			if strings.HasPrefix(s, "kms:") && strings.HasSuffix(s, " on "+key) {
				found = true
				if s != want {
					t.Errorf("%s: got %q, want %q", role, s, want)
				}
			}
		}
		if !found {
			t.Errorf("%s: no KMS statement", role)
		}
	}
}
