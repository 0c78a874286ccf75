// Command portal is the operator console and customer portal's Lambda
// function (API Gateway REST API, Lambda proxy integration; see
// internal/web and docs/console.md). It reads its configuration and secret
// once, builds the SDK clients and the handler, and serves requests through
// internal/httpadapter. With PORTAL_LISTEN set (e.g. 127.0.0.1:8080) it
// serves plain HTTP instead, for local runs.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stagehand-dev/stagehand/internal/httpadapter"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/web"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := build(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("portal: cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	if addr := os.Getenv("PORTAL_LISTEN"); addr != "" {
		srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
		log.Info("portal: listening", slog.String("addr", addr))
		if err := srv.ListenAndServe(); err != nil {
			log.Error("portal: serve", slog.String("error", err.Error()))
			os.Exit(1)
		}
		return
	}
	lambda.Start(httpadapter.Handler(h))
}

// build wires configuration, the secret, SDK clients, the OIDC relying
// party and the web UIs.
func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (http.Handler, error) {
	st, err := web.SettingsFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	endpoint := func(ep string) *string {
		if ep == "" {
			return nil
		}
		return aws.String(ep)
	}
	raw := st.SecretJSON
	if st.SecretARN != "" {
		sm := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint(st.SecretsEndpoint) })
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(st.SecretARN)})
		if err != nil {
			return nil, fmt.Errorf("read the portal secret: %w", err)
		}
		raw = aws.ToString(out.SecretString)
	}
	secrets, err := web.ParseSecrets(raw)
	if err != nil {
		return nil, err
	}
	var doc []byte
	if st.OpenAPI != "" {
		if doc, err = os.ReadFile(st.OpenAPI); err != nil {
			return nil, fmt.Errorf("read the OpenAPI document: %w", err)
		}
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = endpoint(st.DynamoDBEndpoint) })
	apigw := apigateway.NewFromConfig(awsCfg, func(o *apigateway.Options) { o.BaseEndpoint = endpoint(st.APIGatewayEndpoint) })
	eb := eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) { o.BaseEndpoint = endpoint(st.EventBridgeEndpoint) })
	store := registry.New(db, st.Table)
	svc := service.New(store, service.NewAPIGatewayUsageKeys(apigw))
	auth, err := web.NewOIDC(ctx, st.Issuer, st.ClientID, secrets.ClientSecret, st.PublicURL+"/auth/callback", st.GroupsClaim)
	if err != nil {
		return nil, err
	}
	srv, err := web.New(web.Config{
		Env: st.Env, OperatorGroup: st.OperatorGroup, HashKey: secrets.HashKey, BlockKey: secrets.BlockKey,
		InsecureCookies: st.InsecureCookies, OpenAPI: doc, APIBaseURL: st.APIURL, OperatorSessionTTL: st.OperatorSessionTTL,
	}, svc, service.NewUsageReader(store, apigw), service.EventBridgePlanEvents{Client: eb, Bus: st.EventBus, Source: st.EventSource}, auth, web.WithLogger(log))
	if err != nil {
		return nil, err
	}
	return srv.Handler(), nil
}
