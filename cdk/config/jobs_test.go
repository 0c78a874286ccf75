package config_test

import (
	"strings"
	"testing"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

func TestJobsAndBillingValidation(t *testing.T) {
	const arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/prod/stripe-Ab12Cd"
	tests := []struct {
		name string
		edit func(m map[string]any)
		want string // "" valid
	}{
		{"neither", func(map[string]any) {}, ""},
		{"anomaly topic without email", func(m map[string]any) { m["jobs"] = map[string]any{"anomalyTopic": map[string]any{}} }, ""},
		{"anomaly topic email", func(m map[string]any) {
			m["jobs"] = map[string]any{"anomalyTopic": map[string]any{"email": "ops@example.com"}}
		}, ""},
		{"anomaly topic bad email", func(m map[string]any) {
			m["jobs"] = map[string]any{"anomalyTopic": map[string]any{"email": "ops"}}
		}, "jobs.anomalyTopic.email"},
		{"stripe secret", func(m map[string]any) { m["billing"] = map[string]any{"stripeSecretArn": arn} }, ""},
		{"stripe secret in the stack's region", func(m map[string]any) {
			m["account"], m["region"], m["availabilityZones"] = "123456789012", "eu-west-1", []string{"eu-west-1a", "eu-west-1b"}
			m["billing"] = map[string]any{"stripeSecretArn": arn}
		}, ""},
		{"stripe secret in another region", func(m map[string]any) {
			m["account"], m["region"], m["availabilityZones"] = "123456789012", "us-east-1", []string{"us-east-1a", "us-east-1b"}
			m["billing"] = map[string]any{"stripeSecretArn": arn}
		}, "billing.stripeSecretArn: must be a secret in the stack's region"},
		{"stripe secret in another account", func(m map[string]any) {
			m["account"], m["region"], m["availabilityZones"] = "210987654321", "eu-west-1", []string{"eu-west-1a", "eu-west-1b"}
			m["billing"] = map[string]any{"stripeSecretArn": arn}
		}, "billing.stripeSecretArn: must be a secret in the stack's account"},
		{"partial ARN", func(m map[string]any) {
			m["billing"] = map[string]any{"stripeSecretArn": strings.TrimSuffix(arn, "-Ab12Cd")}
		}, "billing.stripeSecretArn: must be a full Secrets Manager secret ARN"},
		{"secret name", func(m map[string]any) { m["billing"] = map[string]any{"stripeSecretArn": "stagehand/prod/stripe"} }, "billing.stripeSecretArn"},
		{"wildcard", func(m map[string]any) {
			m["billing"] = map[string]any{"stripeSecretArn": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:*"}
		}, "billing.stripeSecretArn"},
		{"another service", func(m map[string]any) {
			m["billing"] = map[string]any{"stripeSecretArn": "arn:aws:ssm:eu-west-1:123456789012:secret:stripe-Ab12Cd"}
		}, "billing.stripeSecretArn"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse(mutate(t, tc.edit), "test.json")
			if tc.want == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}
