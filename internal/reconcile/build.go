package reconcile

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stagehand-dev/stagehand/internal/ddbclient"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// NewHandlerFromConfig wires SDK clients from awsCfg and the configuration
// into a Handler: what both Lambda mains do once per execution
// environment.
func NewHandlerFromConfig(_ context.Context, cfg Config, awsCfg aws.Config, log *slog.Logger) (*Handler, error) {
	db := dynamodb.NewFromConfig(awsCfg, ddbclient.WithEndpoint(cfg.DynamoDBEndpoint))
	gw := apigateway.NewFromConfig(awsCfg, func(o *apigateway.Options) {
		if cfg.APIGatewayEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.APIGatewayEndpoint)
		}
	})
	store := registry.New(db, cfg.Table)
	opts := []RunnerOption{
		WithLogger(log), WithSource(cfg.Source),
		WithPublisher(EventBridgePublisher{Client: eventbridge.NewFromConfig(awsCfg), Bus: cfg.EventBus}),
	}
	if cfg.QueueURL != "" {
		opts = append(opts, WithContinuer(SQSContinuer{Client: sqs.NewFromConfig(awsCfg), QueueURL: cfg.QueueURL}))
	}
	if cfg.PacerTable != cfg.Table {
		opts = append(opts, WithPacerStore(registry.New(db, cfg.PacerTable)))
	}
	runner, err := NewRunner(cfg.Env, store, gw, opts...)
	if err != nil {
		return nil, fmt.Errorf("build runner: %w", err)
	}
	return NewHandler(runner, store, WithEventSource(cfg.Source), WithSafetyMargin(cfg.SafetyMargin), WithHandlerLogger(log)), nil
}

// NewHandlerFromEnv reads the configuration from getenv (see
// ConfigFromEnv; requireQueue: the continuation queue must be set), loads
// the default AWS configuration and builds the Handler. Both Lambda mains
// call it once per execution environment.
func NewHandlerFromEnv(ctx context.Context, getenv func(string) string, requireQueue bool, log *slog.Logger) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv, requireQueue)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return NewHandlerFromConfig(ctx, cfg, awsCfg, log.With("env", cfg.Env))
}
