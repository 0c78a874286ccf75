package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// SecretGetter is the one Secrets Manager call the authorizer makes, once,
// at cold start. *secretsmanager.Client implements it.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretGetter = (*secretsmanager.Client)(nil)

// ErrWeakSecret: the HS256 secret is shorter than 32 bytes.
var ErrWeakSecret = errors.New("HS256 secret shorter than 32 bytes")

// LoadHS256Secret reads the HS256 shared secret (SecretString, or
// SecretBinary) named by arn. The error never contains the secret.
func LoadHS256Secret(ctx context.Context, sm SecretGetter, arn string) ([]byte, error) {
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("get HS256 secret %s: %w", arn, err)
	}
	var secret []byte
	switch {
	case out.SecretString != nil:
		secret = []byte(*out.SecretString)
	default:
		secret = out.SecretBinary
	}
	if len(secret) < 32 {
		return nil, fmt.Errorf("HS256 secret %s: %w", arn, ErrWeakSecret)
	}
	return secret, nil
}
