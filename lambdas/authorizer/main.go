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
	"github.com/stagehand-dev/stagehand/internal/originverify"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

func main() {
	logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ctx := context.Background()
	// The origin-verify secret is read while the authorizer is set up.
	type senderResult struct {
		wrap func(originverify.AuthorizerHandler) originverify.AuthorizerHandler
		err  error
	}
	ov := make(chan senderResult, 1)
	go func() {
		wrap, err := originVerify(ctx, os.Getenv, logger)
		ov <- senderResult{wrap, err}
	}()
	a, err := setup(ctx, os.Getenv, logger)
	if err != nil {
		logger.Error("authorizer cold start failed", "error", err)
		os.Exit(1)
	}
	r := <-ov
	if r.err != nil {
		logger.Error("authorizer cold start failed", "error", r.err)
		os.Exit(1)
	}
	lambda.Start(r.wrap(a.Handle))
}

// originVerify reads the origin-verify configuration and the secret, and
// returns what wraps the handler so that every response's context carries
// the value the backend checks (internal/originverify). Without
// ORIGIN_VERIFY_SECRET_ARN (a local run) the handler is left as it is.
func originVerify(ctx context.Context, getenv func(string) string, logger *slog.Logger) (func(originverify.AuthorizerHandler) originverify.AuthorizerHandler, error) {
	cfg, err := originverify.LoadConfig(getenv)
	if err != nil {
		return nil, err
	}
	if !cfg.Enabled() {
		logger.Warn("origin verify off: " + originverify.EnvSecretARN + " is not set")
		return func(h originverify.AuthorizerHandler) originverify.AuthorizerHandler { return h }, nil
	}
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRetryMaxAttempts(2))
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	sm := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	sender, err := originverify.NewSender(ctx, sm, cfg.SecretARN, append(cfg.Options(), originverify.WithLogger(logger))...)
	if err != nil {
		return nil, fmt.Errorf("origin verify: %w", err)
	}
	return sender.Wrap, nil
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
	// Leave room in API Gateway's 8 KiB response for the origin-verify
	// value the handler's wrapper adds (see originVerify).
	opts = append(opts, auth.WithLogger(logger), auth.WithContextReserve(originverify.ContextReserve))
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
