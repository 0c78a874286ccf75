package config

import (
	"strings"

	"github.com/stagehand-dev/stagehand/internal/billing"
)

// Jobs configures optional integrations of the scheduled jobs
// (docs/jobs.md).
type Jobs struct {
	// AnomalyTopic, when set, adds an SNS topic for operators that receives
	// a one-line summary of every "Usage Anomaly Detected" event of this
	// environment (an EventBridge rule with an input transformer).
	AnomalyTopic *AnomalyTopic `json:"anomalyTopic,omitempty"`
}

// AnomalyTopic configures the anomaly notification topic.
type AnomalyTopic struct {
	// Email, when set, subscribes an address to the topic; otherwise
	// subscribe to the topic ARN in the stack outputs.
	Email string `json:"email,omitempty"`
}

// Billing configures the billing job's sinks (docs/billing.md).
type Billing struct {
	// StripeSecretArn, when set, is the full ARN (with Secrets Manager's
	// six-character suffix) of the secret holding the Stripe API key as
	// plain text, in the stack's region. The billing function may read
	// exactly that secret and sends usage to Stripe as meter events;
	// unset, the Stripe sink is off.
	StripeSecretArn string `json:"stripeSecretArn,omitempty"`
}

func (c *Config) validateJobs(v *validator) {
	if c.Jobs != nil && c.Jobs.AnomalyTopic != nil && c.Jobs.AnomalyTopic.Email != "" && !strings.Contains(c.Jobs.AnomalyTopic.Email, "@") {
		v.add("jobs.anomalyTopic.email", "must be an email address, got %q", c.Jobs.AnomalyTopic.Email)
	}
	if c.Billing == nil || c.Billing.StripeSecretArn == "" {
		return
	}
	arn := c.Billing.StripeSecretArn
	if !billing.SecretARNPattern.MatchString(arn) {
		v.add("billing.stripeSecretArn", "must be a full Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>), got %q", arn)
		return
	}
	if parts := strings.Split(arn, ":"); c.Region != "" && parts[3] != c.Region {
		v.add("billing.stripeSecretArn", "must be a secret in the stack's region %s, got %s", c.Region, parts[3])
	} else if c.Account != "" && parts[4] != c.Account {
		v.add("billing.stripeSecretArn", "must be a secret in the stack's account %s, got %s", c.Account, parts[4])
	}
}
