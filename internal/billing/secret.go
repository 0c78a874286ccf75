package billing

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// EnvStripeSecretARN names the Secrets Manager secret holding the Stripe
// API key (a contract with the CDK app, cdk/stacks/jobs.go).
const EnvStripeSecretARN = "STAGEHAND_STRIPE_SECRET_ARN"

// ErrStripeKey: the Stripe key could not be read or is unusable. Its
// messages never carry the key.
var ErrStripeKey = errors.New("stripe key unavailable")

// SecretValueAPI is the part of the Secrets Manager client the billing
// function uses (one GetSecretValue at cold start).
type SecretValueAPI interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// SecretARNPattern is a full Secrets Manager secret ARN, with the six
// characters Secrets Manager appends to the name (a partial ARN would need
// a wildcard grant).
var SecretARNPattern = regexp.MustCompile(`^arn:aws(-[a-z]+)*:secretsmanager:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$`)

// ReadStripeKey reads the Stripe API key from the secret arn: its
// SecretString, surrounding white space trimmed. A binary or empty secret,
// or one that is not a Stripe secret or restricted key, is refused
// without quoting it.
func ReadStripeKey(ctx context.Context, api SecretValueAPI, arn string) (string, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return "", fmt.Errorf("%w: read %s: %w", ErrStripeKey, arn, err)
	}
	key := strings.TrimSpace(aws.ToString(out.SecretString))
	switch {
	case key == "":
		return "", fmt.Errorf("%w: secret %s has no SecretString (store the key as plain text)", ErrStripeKey, arn)
	case !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_"):
		return "", fmt.Errorf("%w: secret %s does not hold a Stripe secret (sk_) or restricted (rk_) key", ErrStripeKey, arn)
	case strings.ContainsAny(key, " \t\r\n{}\""):
		return "", fmt.Errorf("%w: secret %s holds more than one plain-text key (a JSON secret?)", ErrStripeKey, arn)
	}
	return key, nil
}
