package rotation

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Config is the rotation function's configuration, read once at start.
type Config struct {
	Env      string // STAGEHAND_ENV (required)
	Table    string // STAGEHAND_TABLE (required)
	KMSKeyID string // STAGEHAND_ROTATION_KMS_KEY: key id, ARN or alias (required)
	EventBus string // STAGEHAND_EVENT_BUS ("" = default bus)
	// SafetyMargin: stop reading keys this long before the deadline
	// (STAGEHAND_SAFETY_MARGIN, default 60s).
	SafetyMargin time.Duration
	// Endpoint overrides for local runs.
	DynamoDBEndpoint, KMSEndpoint, EventBridgeEndpoint string
}

// ErrConfig wraps every configuration problem.
var ErrConfig = errors.New("invalid configuration")

var reEnv = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ConfigFromEnv reads the configuration with getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Env: getenv("STAGEHAND_ENV"), Table: getenv("STAGEHAND_TABLE"), KMSKeyID: getenv("STAGEHAND_ROTATION_KMS_KEY"),
		EventBus: getenv("STAGEHAND_EVENT_BUS"), SafetyMargin: time.Minute,
		DynamoDBEndpoint: getenv("STAGEHAND_DYNAMODB_ENDPOINT"), KMSEndpoint: getenv("STAGEHAND_KMS_ENDPOINT"),
		EventBridgeEndpoint: getenv("STAGEHAND_EVENTBRIDGE_ENDPOINT"),
	}
	var problems []string
	if !reEnv.MatchString(c.Env) {
		problems = append(problems, fmt.Sprintf("STAGEHAND_ENV %q must be a lowercase name", c.Env))
	}
	if c.Table == "" {
		problems = append(problems, "STAGEHAND_TABLE is required")
	}
	if c.KMSKeyID == "" {
		problems = append(problems, "STAGEHAND_ROTATION_KMS_KEY is required")
	}
	if s := getenv("STAGEHAND_SAFETY_MARGIN"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 5*time.Second || d > 5*time.Minute {
			problems = append(problems, fmt.Sprintf("STAGEHAND_SAFETY_MARGIN %q must be a duration between 5s and 5m", s))
		} else {
			c.SafetyMargin = d
		}
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", ErrConfig, strings.Join(problems, "; "))
	}
	return c, nil
}

// Clients are the SDK clients a rotation function uses.
type Clients struct {
	DynamoDB    *dynamodb.Client
	KMS         *kms.Client
	EventBridge *eventbridge.Client
}

// NewClients builds the real SDK clients, each with its endpoint override.
func NewClients(cfg Config, awsCfg aws.Config) Clients {
	endpoint := func(ep string) *string {
		if ep == "" {
			return nil
		}
		return aws.String(ep)
	}
	return Clients{
		DynamoDB:    dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = endpoint(cfg.DynamoDBEndpoint) }),
		KMS:         kms.NewFromConfig(awsCfg, func(o *kms.Options) { o.BaseEndpoint = endpoint(cfg.KMSEndpoint) }),
		EventBridge: eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) { o.BaseEndpoint = endpoint(cfg.EventBridgeEndpoint) }),
	}
}

// Handler is the scheduled rotation function.
type Handler struct {
	Job *Job
	env string
	log *slog.Logger
}

// NewHandler wires a Handler from the configuration and clients: what
// the Lambda main does once per execution environment.
func NewHandler(cfg Config, c Clients, log *slog.Logger) *Handler {
	store := registry.New(c.DynamoDB, cfg.Table)
	job := NewJob(store, NewEnvelope(c.KMS, cfg.KMSKeyID), EventBridgePublisher{Client: c.EventBridge, Bus: cfg.EventBus},
		WithLogger(log), WithSafetyMargin(cfg.SafetyMargin))
	return &Handler{Job: job, env: cfg.Env, log: log}
}

// NewHandlerFromEnv reads the configuration, loads the AWS configuration
// and builds the Handler.
func NewHandlerFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return NewHandler(cfg, NewClients(cfg, awsCfg), log.With("env", cfg.Env)), nil
}

// ErrIncomplete: a run stopped at its safety margin or had failures; the
// scheduler's retry (or the next day's run) finishes it, safely.
var ErrIncomplete = errors.New("rotation run incomplete")

// HandleScheduled runs the job once for the configured environment. A run
// with failures, or one that stopped at the deadline, returns an error so
// the invocation counts as failed (alarm) and EventBridge retries it.
func (h *Handler) HandleScheduled(ctx context.Context, _ events.CloudWatchEvent) (Report, error) {
	rep, err := h.Job.Run(ctx, RunInput{Env: h.env})
	h.log.Info("rotation run", slog.Int("scanned", rep.Scanned), slog.Int("warned", rep.Count(ActionWarn, ResultDone)),
		slog.Int("expiring", rep.Count(ActionExpire, ResultDone)), slog.Int("rotated", rep.Count(ActionRotate, ResultDone)),
		slog.Int("failed", rep.Failed()), slog.Bool("complete", rep.Next == ""))
	if err != nil {
		return rep, fmt.Errorf("rotation run in %s: %w", h.env, err)
	}
	if rep.Failed() > 0 || rep.Next != "" {
		return rep, fmt.Errorf("%w: %d failed, stopped early %v", ErrIncomplete, rep.Failed(), rep.Next != "")
	}
	return rep, nil
}
