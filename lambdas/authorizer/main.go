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

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
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
//
// Loading the AWS configuration and prefetching the JWKS are independent,
// so they run at the same time; only an HS256 secret (read from Secrets
// Manager with that configuration) makes the verifier wait for it.
func setup(ctx context.Context, getenv func(string) string, logger *slog.Logger) (*auth.Authorizer, error) {
	cfg, err := auth.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	awsConfig := loadAWSConfig(ctx)

	var (
		opts        []auth.Option
		verifierErr error
	)
	if len(cfg.Settings.Issuers) > 0 {
		v, err := newVerifier(ctx, cfg, logger, awsConfig)
		if err == nil {
			opts = append(opts, auth.WithVerifier(v))
		}
		verifierErr = err
	}
	// An AWS configuration error is reported first, as when it was loaded
	// before the verifier was built.
	awsCfg, err := awsConfig()
	if err != nil {
		return nil, err
	}
	if verifierErr != nil {
		return nil, verifierErr
	}
	store := registry.New(dynamodb.NewFromConfig(awsCfg), cfg.Table)
	opts = append(opts, auth.WithLogger(logger))
	return auth.New(cfg, store, opts...)
}

// loadAWSConfig starts loading the AWS configuration and returns a function
// that waits for it.
func loadAWSConfig(ctx context.Context) func() (aws.Config, error) {
	var (
		cfg  aws.Config
		err  error
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		cfg, err = awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryMaxAttempts(2))
		if err != nil {
			err = fmt.Errorf("load AWS config: %w", err)
		}
	}()
	return func() (aws.Config, error) {
		<-done
		return cfg, err
	}
}

// newVerifier builds the JWT verifier, fetching every issuer's JWKS.
func newVerifier(ctx context.Context, cfg auth.Config, logger *slog.Logger, awsConfig func() (aws.Config, error)) (*jwtverify.Verifier, error) {
	s := cfg.Settings
	vopts := s.VerifierOptions(logger)
	if arns := s.HS256SecretARNs(); len(arns) > 0 {
		awsCfg, err := awsConfig()
		if err != nil {
			return nil, err
		}
		sm := secretsmanager.NewFromConfig(awsCfg)
		for _, is := range s.Issuers {
			if !is.HS256 {
				continue
			}
			secret, err := auth.LoadHS256Secret(ctx, sm, is.HS256SecretARN)
			if err != nil {
				return nil, fmt.Errorf("issuer %q: %w", is.Issuer, err)
			}
			// jwtverify.New refuses two issuers with the same secret.
			vopts = append(vopts, jwtverify.WithIssuerHS256Secret(is.Issuer, secret))
		}
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
	return v, nil
}
