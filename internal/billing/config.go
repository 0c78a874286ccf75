package billing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Config is the billing function's configuration, read once at start.
type Config struct {
	Env, Table, EventBus string
	// Bucket receives the exports (STAGEHAND_BILLING_BUCKET, required).
	Bucket string
	// StripeSecretARN names the Secrets Manager secret holding the Stripe
	// API key (STAGEHAND_STRIPE_SECRET_ARN); empty disables the Stripe sink.
	StripeSecretARN string
	// StripeMeterEvent is the meter's event name (STAGEHAND_STRIPE_METER_EVENT, default api_requests).
	StripeMeterEvent string
	// Endpoint overrides for local runs.
	DynamoDBEndpoint, EventBridgeEndpoint, S3Endpoint, SecretsManagerEndpoint, StripeURL string
}

// ErrConfig wraps every configuration problem.
var ErrConfig = errors.New("invalid configuration")

var reEnv = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ConfigFromEnv reads the configuration with getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{Env: getenv("STAGEHAND_ENV"), Table: getenv("STAGEHAND_TABLE"), EventBus: getenv("STAGEHAND_EVENT_BUS"),
		Bucket: getenv("STAGEHAND_BILLING_BUCKET"), StripeSecretARN: getenv(EnvStripeSecretARN),
		StripeMeterEvent: getenv("STAGEHAND_STRIPE_METER_EVENT"),
		DynamoDBEndpoint: getenv("STAGEHAND_DYNAMODB_ENDPOINT"), EventBridgeEndpoint: getenv("STAGEHAND_EVENTBRIDGE_ENDPOINT"),
		S3Endpoint: getenv("STAGEHAND_S3_ENDPOINT"), SecretsManagerEndpoint: getenv("STAGEHAND_SECRETSMANAGER_ENDPOINT"),
		StripeURL: getenv("STAGEHAND_STRIPE_URL")}
	if c.StripeMeterEvent == "" {
		c.StripeMeterEvent = "api_requests"
	}
	var problems []string
	if !reEnv.MatchString(c.Env) {
		problems = append(problems, fmt.Sprintf("STAGEHAND_ENV %q must be a lowercase name", c.Env))
	}
	if c.Table == "" {
		problems = append(problems, "STAGEHAND_TABLE is required")
	}
	if c.Bucket == "" {
		problems = append(problems, "STAGEHAND_BILLING_BUCKET is required")
	}
	if c.StripeSecretARN != "" && !SecretARNPattern.MatchString(c.StripeSecretARN) {
		problems = append(problems, fmt.Sprintf("%s %q must be a full Secrets Manager secret ARN", EnvStripeSecretARN, c.StripeSecretARN))
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	return c, nil
}

func endpoint(ep string) *string {
	if ep == "" {
		return nil
	}
	return aws.String(ep)
}

// S3Client is an S3 client for the exports (path-style with an endpoint
// override, so an S3-compatible local server works).
func S3Client(awsCfg aws.Config, ep string) *s3.Client {
	return s3.NewFromConfig(awsCfg, func(o *s3.Options) {
		o.BaseEndpoint = endpoint(ep)
		o.UsePathStyle = ep != ""
	})
}

// Handler is the scheduled billing function.
type Handler struct {
	Job   *Job
	env   string
	clock clock.Clock
	log   *slog.Logger
}

// NewHandlerFromEnv reads the configuration, builds the clients (and, when
// configured, reads the Stripe key from Secrets Manager once) and the job.
func NewHandlerFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = endpoint(cfg.DynamoDBEndpoint) })
	eb := eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) { o.BaseEndpoint = endpoint(cfg.EventBridgeEndpoint) })
	store := registry.New(db, cfg.Table)
	opts := []Option{WithLogger(log), WithExport(S3Client(awsCfg, cfg.S3Endpoint), cfg.Bucket, "billing")}
	if cfg.StripeSecretARN != "" {
		sm := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) { o.BaseEndpoint = endpoint(cfg.SecretsManagerEndpoint) })
		key, err := ReadStripeKey(ctx, sm, cfg.StripeSecretARN)
		if err != nil {
			return nil, err
		}
		client := NewStripeClient(key, cfg.StripeURL, 3)
		opts = append(opts, WithSink(NewStripeSink(client.V1BillingMeterEvents, store, cfg.StripeMeterEvent)))
		log.Info("billing: Stripe sink enabled", slog.String("secret", cfg.StripeSecretARN), slog.String("meterEvent", cfg.StripeMeterEvent))
	}
	job := NewJob(store, EventBridgePublisher{Client: eb, Bus: cfg.EventBus}, opts...)
	return &Handler{Job: job, env: cfg.Env, clock: clock.System{}, log: log.With("env", cfg.Env)}, nil
}

// HandleScheduled bills the last billable day (two days before the event).
func (h *Handler) HandleScheduled(ctx context.Context, ev events.CloudWatchEvent) (Report, error) {
	now := h.clock.Now()
	if !ev.Time.IsZero() {
		now = ev.Time
	}
	rep, err := h.Job.Run(ctx, h.env, BillableDay(now))
	h.log.Info("billing run", slog.String("date", rep.Date), slog.Int("created", rep.Created), slog.Int("existed", rep.Existed),
		slog.Int("events", rep.Events), slog.Int("failed", rep.Failed))
	if err != nil {
		return rep, fmt.Errorf("billing run in %s: %w", h.env, err)
	}
	return rep, nil
}
