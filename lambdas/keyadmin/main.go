// Command keyadmin is the key administration API's Lambda function (API
// Gateway REST API, Lambda proxy integration). It reads its configuration
// once, builds the SDK clients and the handler, and serves requests with
// internal/keyadmin. Configuration: see keyadmin.ConfigFromEnv and
// docs/keyadmin.md.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/ddbclient"
	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/rotation"
	"github.com/stagehand-dev/stagehand/internal/service"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := build(context.Background(), log)
	if err != nil {
		log.Error("keyadmin: cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}

// build wires configuration, SDK clients, the service layer and the handler.
func build(ctx context.Context, log *slog.Logger) (*keyadmin.Handler, error) {
	cfg, err := keyadmin.ConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, ddbclient.WithEndpoint(cfg.DynamoDBEndpoint))
	apigw := apigateway.NewFromConfig(awsCfg, func(o *apigateway.Options) {
		if cfg.APIGatewayEndpoint != "" {
			o.BaseEndpoint = aws.String(cfg.APIGatewayEndpoint)
		}
	})
	store := registry.New(db, cfg.Table)
	svc := service.New(store, service.NewAPIGatewayUsageKeys(apigw))
	opts := []keyadmin.Option{keyadmin.WithLogger(log), keyadmin.WithOrigin(cfg.Origin)}
	if cfg.RotationKMSKey != "" {
		kmsc := kms.NewFromConfig(awsCfg, func(o *kms.Options) {
			if cfg.KMSEndpoint != "" {
				o.BaseEndpoint = aws.String(cfg.KMSEndpoint)
			}
		})
		opts = append(opts, keyadmin.WithSecretPickups(rotation.NewPickups(store, rotation.NewEnvelope(kmsc, cfg.RotationKMSKey))))
	}
	if cfg.JWT.Enabled() {
		// The authorizer's verifier: its background JWKS refresh lives as
		// long as the execution environment.
		v, err := jwtverify.New(ctx, cfg.JWT.Issuers(), jwtverify.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("JWT verifier: %w", err)
		}
		opts = append(opts, keyadmin.WithTokenVerifier(keyadmin.NewJWTVerifier(v), cfg.JWT.Scope))
	}
	return keyadmin.New(svc, service.NewUsageReader(store, apigw), cfg.Env, opts...)
}
