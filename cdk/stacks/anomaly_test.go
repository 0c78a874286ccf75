package stacks_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
	"github.com/stagehand-dev/stagehand/internal/billing"
	"github.com/stagehand-dev/stagehand/internal/usage"
)

// anomalyNotification prefixes the anomaly rule, its DLQ and its alarm.
const anomalyNotification = "AnomalyNotification"

// qaStripeSecret is billing.stripeSecretArn of testdata/qa.json.
const qaStripeSecret = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/qa/stripe-StR1pe"

// policyLines renders a policy document's statements as sorted lines:
// effect principal actions on resources if conditions.
func policyLines(doc any) []string {
	var out []string
	for _, s := range get(doc, "Statement").([]any) {
		sm := s.(map[string]any)
		line := render(sm["Effect"]) + " " + strings.Join(strs(get(sm, "Principal", "Service")), ",") + " " +
			strings.Join(strs(sm["Action"]), ",") + " on " + strings.Join(strs(sm["Resource"]), " ")
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
	sort.Strings(out)
	return out
}

// withService keeps the lines granting to a service principal.
func withService(lines []string, service string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(l, "Allow "+service+" ") {
			out = append(out, l)
		}
	}
	return out
}

func TestJobAnomalyTopic(t *testing.T) {
	t.Run("qa: the rule publishes a summary to the anomaly topic, EventBridge allowed for this rule only", func(t *testing.T) {
		// given qa's shared stack, with jobs.anomalyTopic configured
		sh := envs["qa"].Shared
		if sh.AnomalyTopic == nil {
			t.Fatal("no anomaly topic")
		}
		topicID := logicalID(t, sh.Stack, sh.AnomalyTopic)
		ruleID := idWithPrefix(t, sh, "AWS::Events::Rule", anomalyNotification)
		dlqID := idWithPrefix(t, sh, "AWS::SQS::Queue", anomalyNotification+"Dlq")
		rule := resourceByID(t, sh.Stack, ruleID).Props

		// then the rule matches qa's anomaly events as internal/usage emits them
		wantPattern := map[string]any{
			"source": []any{usage.Source}, "detail-type": []any{usage.DetailAnomaly},
			"detail": map[string]any{"env": []any{"qa"}},
		}
		if diff := cmp.Diff(wantPattern, rule["EventPattern"]); diff != "" {
			t.Errorf("event pattern (-want +got):\n%s", diff)
		}
		// and its one target is the topic, through the input transformer
		// (only these non-secret fields of the detail), with retries and a DLQ
		targets := rule["Targets"].([]any)
		if len(targets) != 1 {
			t.Fatalf("%d targets, want 1", len(targets))
		}
		tg := targets[0].(map[string]any)
		got := map[string]any{
			"arn": render(tg["Arn"]), "template": get(tg, "InputTransformer", "InputTemplate"),
			"paths": get(tg, "InputTransformer", "InputPathsMap"), "dlq": render(get(tg, "DeadLetterConfig", "Arn")),
			"input": tg["Input"], "inputPath": tg["InputPath"], "retries": get(tg, "RetryPolicy", "MaximumRetryAttempts"),
		}
		want := map[string]any{
			"arn": "${" + topicID + "}", "template": stacks.AnomalyInputTemplate,
			"paths": map[string]any{
				"env": "$.detail.env", "kind": "$.detail.kind", "customer": "$.detail.customerId", "date": "$.detail.date",
				"observed": "$.detail.observed", "expected": "$.detail.expected", "event": "$.detail.eventId",
			},
			"dlq": "${" + dlqID + ".Arn}", "input": nil, "inputPath": nil, "retries": float64(envs["qa"].Config.Events.RetryAttempts),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("target (-want +got):\n%s", diff)
		}

		// and the topic is encrypted with the alarm key; its policy lets
		// EventBridge publish for this rule only
		topic := resourceByID(t, sh.Stack, topicID).Props
		alarmKey := render(topic["KmsMasterKeyId"])
		if want := render(resourceByID(t, sh.Stack, logicalID(t, sh.Stack, sh.AlarmTopic)).Props["KmsMasterKeyId"]); alarmKey != want || want == "null" {
			t.Errorf("topic key %s, want the alarm topic's %s", alarmKey, want)
		}
		fromRule := " if ArnEquals aws:SourceArn=${" + ruleID + ".Arn}"
		var topicPolicy, dlqPolicy []string
		for _, p := range resources(t, sh.Stack, "AWS::SNS::TopicPolicy") {
			if cmp.Equal(strs(p.Props["Topics"]), []string{"${" + topicID + "}"}) {
				topicPolicy = append(topicPolicy, policyLines(p.Props["PolicyDocument"])...)
			}
		}
		for _, p := range resources(t, sh.Stack, "AWS::SQS::QueuePolicy") {
			if cmp.Equal(strs(p.Props["Queues"]), []string{"${" + dlqID + "}"}) {
				dlqPolicy = append(dlqPolicy, policyLines(p.Props["PolicyDocument"])...)
			}
		}
		if diff := cmp.Diff([]string{"Allow events.amazonaws.com sns:Publish on ${" + topicID + "}" + fromRule}, withService(topicPolicy, "events.amazonaws.com")); diff != "" {
			t.Errorf("topic policy for EventBridge (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"Allow events.amazonaws.com sqs:SendMessage on ${" + dlqID + ".Arn}" + fromRule}, withService(dlqPolicy, "events.amazonaws.com")); diff != "" {
			t.Errorf("DLQ policy for EventBridge (-want +got):\n%s", diff)
		}
		// and the key lets EventBridge encrypt for this account only
		keyID := strings.TrimSuffix(strings.TrimPrefix(alarmKey, "${"), ".Arn}")
		keyPolicy := policyLines(resourceByID(t, sh.Stack, keyID).Props["KeyPolicy"])
		wantKey := []string{`Allow events.amazonaws.com kms:Decrypt,kms:GenerateDataKey on * if StringEquals aws:SourceAccount=${AWS::AccountId}`}
		if diff := cmp.Diff(wantKey, withService(keyPolicy, "events.amazonaws.com")); diff != "" {
			t.Errorf("key policy for EventBridge (-want +got):\n%s", diff)
		}
		// and the operators' address is subscribed, and the DLQ alarms
		var emails []string
		for _, s := range resources(t, sh.Stack, "AWS::SNS::Subscription") {
			if render(s.Props["TopicArn"]) == "${"+topicID+"}" {
				emails = append(emails, s.Props["Protocol"].(string)+":"+s.Props["Endpoint"].(string))
			}
		}
		if diff := cmp.Diff([]string{"email:usage-watch@example.com"}, emails); diff != "" {
			t.Errorf("subscriptions (-want +got):\n%s", diff)
		}
		alarms := 0
		for _, a := range sh.Alarms {
			if *a.Node().Id() == anomalyNotification+"DlqDepth" {
				alarms++
			}
		}
		if alarms != 1 {
			t.Errorf("%d DLQ alarms, want 1", alarms)
		}
	})
	t.Run("dev: not configured, nothing added", func(t *testing.T) {
		sh := envs["dev"].Shared
		if sh.AnomalyTopic != nil {
			t.Error("dev has an anomaly topic")
		}
		for _, typ := range []string{"AWS::Events::Rule", "AWS::SQS::Queue"} {
			for _, r := range resources(t, sh.Stack, typ) {
				if strings.HasPrefix(r.ID, anomalyNotification) {
					t.Errorf("dev has %s %s", typ, r.ID)
				}
			}
		}
		for _, k := range resources(t, sh.Stack, "AWS::KMS::Key") {
			if l := withService(policyLines(k.Props["KeyPolicy"]), "events.amazonaws.com"); len(l) > 0 {
				t.Errorf("dev key %s grants EventBridge: %q", k.ID, l)
			}
		}
	})
}

func TestBillingStripeSecretGrant(t *testing.T) {
	for _, tc := range []struct {
		name, env, secret string
	}{
		{"qa: billing.stripeSecretArn set, read exactly that secret", "qa", qaStripeSecret},
		{"dev: not configured, no grant and the sink off", "dev", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// given the environment's shared stack
			sh := envs[tc.env].Shared
			// when the billing role's statements and function's environment are read back
			var grants []string
			for _, l := range statementsOf(t, sh, stacks.FnBilling) {
				if strings.Contains(l, "secretsmanager:") {
					grants = append(grants, l)
				}
			}
			fn := resourceByID(t, sh.Stack, idWithPrefix(t, sh, "AWS::Lambda::Function", "Billing")).Props
			envVar, _ := get(fn, "Environment", "Variables", billing.EnvStripeSecretARN).(string)
			// then GetSecretValue on the one secret, passed to the function, iff configured
			var want []string
			if tc.secret != "" {
				want = []string{"secretsmanager:GetSecretValue on " + tc.secret}
			}
			if diff := cmp.Diff(want, grants); diff != "" {
				t.Errorf("Secrets Manager grants (-want +got):\n%s", diff)
			}
			if envVar != tc.secret {
				t.Errorf("%s = %q, want %q", billing.EnvStripeSecretARN, envVar, tc.secret)
			}
		})
	}
}
