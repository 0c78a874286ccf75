// Command authorizer is stagehand's API Gateway REQUEST authorizer Lambda.
// It wires configuration, AWS clients and the JWKS prefetch once per cold
// start, then serves auth.Authorizer.Handle. All decisions live in
// internal/auth; see docs/authorizer.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stagehand-dev/stagehand/internal/auth"
	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	a, err := setup(context.Background(), os.Getenv, logger)
	if err != nil {
		logger.Error("authorizer cold start failed", "error", err)
		os.Exit(1)
	}
	lambda.Start(a.Handle)
}

// setup builds the authorizer: config (validated), AWS config, DynamoDB
// registry store, the HS256 secret if configured, and the JWT verifier with
// every issuer's JWKS fetched before the first request.
func setup(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*auth.Authorizer, error) {
	cfg, err := auth.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryMaxAttempts(2))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	store := registry.New(dynamodb.NewFromConfig(awsCfg), cfg.Table)

	var opts []auth.Option
	s := cfg.Settings
	if len(s.Issuers) > 0 {
		vopts := []jwtverify.Option{
			jwtverify.WithLeeway(s.Leeway()),
			jwtverify.WithMaxLifetime(s.MaxTokenLifetime()),
			jwtverify.WithRefreshInterval(time.Duration(s.JWKSRefreshSeconds) * time.Second),
			jwtverify.WithUnknownKIDRefresh(time.Duration(s.JWKSUnknownKIDSeconds) * time.Second),
			jwtverify.WithLogger(logger),
		}
		if cfg.HS256SecretARN != "" {
			secret, err := auth.LoadHS256Secret(ctx, secretsmanager.NewFromConfig(awsCfg), cfg.HS256SecretARN)
			if err != nil {
				return nil, err
			}
			vopts = append(vopts, jwtverify.WithHS256Secret(secret))
		}
		v, err := jwtverify.New(ctx, s.VerifierIssuers(), vopts...)
		if err != nil {
			return nil, fmt.Errorf("JWT verifier: %w", err)
		}
		for _, is := range s.Issuers {
			if is.JWKSURL != "" {
				logger.Info("jwks prefetched", "issuer", is.Issuer, "keys", v.KeyCount(is.Issuer))
			}
		}
		opts = append(opts, auth.WithVerifier(v))
	}
	opts = append(opts, auth.WithLogger(logger))
	return auth.New(cfg, store, opts...)
}
