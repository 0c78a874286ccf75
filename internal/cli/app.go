// Package cli is the stagehand operator CLI: customers, plans, keys,
// bindings, audit, deploy events, verification, reconcile and cutover.
// scripts/stagehand/main.go only calls Execute; tests run the same commands
// in-process against DynamoDB Local and the API Gateway emulator.
package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sync"
	"text/tabwriter"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/ddbclient"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// App holds the global flags and builds AWS clients once, on first use, so
// that `--help` and input validation never need credentials.
type App struct {
	Env                string
	Table              string
	Region             string
	Endpoint           string // DynamoDB endpoint override (DynamoDB Local)
	APIGatewayEndpoint string // API Gateway endpoint override (emulator)
	EventsEndpoint     string // EventBridge endpoint override
	Output             string // table or json
	Actor              string // who is acting, for the audit trail

	Out, Err io.Writer
	Clock    clock.Clock

	// Overrides for tests: when set, used instead of building from flags.
	DynamoDB    registry.DynamoDB
	APIGateway  *apigateway.Client
	EventBridge *eventbridge.Client

	once   sync.Once
	awsCfg aws.Config
	cfgErr error
}

func (a *App) aws(ctx context.Context) (aws.Config, error) {
	a.once.Do(func() {
		opts := []func(*config.LoadOptions) error{}
		if a.Region != "" {
			opts = append(opts, config.WithRegion(a.Region))
		}
		a.awsCfg, a.cfgErr = config.LoadDefaultConfig(ctx, opts...)
		if a.cfgErr == nil && a.awsCfg.Region == "" {
			a.awsCfg.Region = "us-east-1"
		}
	})
	return a.awsCfg, a.cfgErr
}

// Store returns the registry store for --table.
func (a *App) Store(ctx context.Context) (*registry.Store, error) {
	if a.Table == "" {
		return nil, fmt.Errorf("--table (or STAGEHAND_TABLE) is required")
	}
	if a.DynamoDB != nil {
		return registry.New(a.DynamoDB, a.Table, registry.WithClock(a.clock())), nil
	}
	cfg, err := a.aws(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	db := dynamodb.NewFromConfig(cfg, ddbclient.WithEndpoint(a.Endpoint))
	a.DynamoDB = db
	return registry.New(db, a.Table, registry.WithClock(a.clock())), nil
}

// APIGatewayClient returns the API Gateway client.
func (a *App) APIGatewayClient(ctx context.Context) (*apigateway.Client, error) {
	if a.APIGateway != nil {
		return a.APIGateway, nil
	}
	cfg, err := a.aws(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	a.APIGateway = apigateway.NewFromConfig(cfg, func(o *apigateway.Options) {
		if a.APIGatewayEndpoint != "" {
			o.BaseEndpoint = aws.String(a.APIGatewayEndpoint)
		}
	})
	return a.APIGateway, nil
}

// EventBridgeClient returns the EventBridge client.
func (a *App) EventBridgeClient(ctx context.Context) (*eventbridge.Client, error) {
	if a.EventBridge != nil {
		return a.EventBridge, nil
	}
	cfg, err := a.aws(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	a.EventBridge = eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if a.EventsEndpoint != "" {
			o.BaseEndpoint = aws.String(a.EventsEndpoint)
		}
	})
	return a.EventBridge, nil
}

// Service returns the registry service layer (shared with the key-admin
// API), with API Gateway metering-key provisioning.
func (a *App) Service(ctx context.Context) (*service.Service, error) {
	store, err := a.Store(ctx)
	if err != nil {
		return nil, err
	}
	gw, err := a.APIGatewayClient(ctx)
	if err != nil {
		return nil, err
	}
	return service.New(store, service.NewAPIGatewayUsageKeys(gw), service.WithClock(a.clock())), nil
}

func (a *App) clock() clock.Clock {
	if a.Clock == nil {
		return clock.System{}
	}
	return a.Clock
}

func (a *App) requireEnv() error {
	if a.Env == "" {
		return fmt.Errorf("--env (or STAGEHAND_ENV) is required")
	}
	return nil
}

// print writes v as JSON with --output json, or calls table to write rows.
func (a *App) print(v any, table func(w *tabwriter.Writer)) error {
	if a.Output == "json" {
		enc := json.NewEncoder(a.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	w := tabwriter.NewWriter(a.Out, 0, 4, 2, ' ', 0)
	table(w)
	return w.Flush()
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
