package usage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// FunctionConfig is the usage function's configuration, read once at start.
type FunctionConfig struct {
	Env, Table, EventBus string
	// RetentionDays: how long usage days are kept (STAGEHAND_USAGE_RETENTION_DAYS, default 400).
	RetentionDays int
	// DenialLogGroup: the authorizer's log group, read for denial counts
	// with Logs Insights (STAGEHAND_DENIAL_LOG_GROUP; empty: no denial
	// signal).
	DenialLogGroup string
	// Endpoint overrides for local runs.
	DynamoDBEndpoint, APIGatewayEndpoint, EventBridgeEndpoint, LogsEndpoint string
}

// ErrFunctionConfig wraps every problem of the function's configuration.
var ErrFunctionConfig = errors.New("invalid configuration")

var reEnv = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// reLogGroup: CloudWatch Logs' log group name pattern
// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html).
var reLogGroup = regexp.MustCompile(`^[.\-_/#A-Za-z0-9]{1,512}$`)

// ConfigFromEnv reads the configuration with getenv.
func ConfigFromEnv(getenv func(string) string) (FunctionConfig, error) {
	c := FunctionConfig{Env: getenv("STAGEHAND_ENV"), Table: getenv("STAGEHAND_TABLE"), EventBus: getenv("STAGEHAND_EVENT_BUS"), RetentionDays: 400,
		DynamoDBEndpoint: getenv("STAGEHAND_DYNAMODB_ENDPOINT"), APIGatewayEndpoint: getenv("STAGEHAND_APIGATEWAY_ENDPOINT"),
		EventBridgeEndpoint: getenv("STAGEHAND_EVENTBRIDGE_ENDPOINT"),
		DenialLogGroup:      getenv("STAGEHAND_DENIAL_LOG_GROUP"), LogsEndpoint: getenv("STAGEHAND_LOGS_ENDPOINT")}
	var problems []string
	if !reEnv.MatchString(c.Env) {
		problems = append(problems, fmt.Sprintf("STAGEHAND_ENV %q must be a lowercase name", c.Env))
	}
	if c.Table == "" {
		problems = append(problems, "STAGEHAND_TABLE is required")
	}
	if s := getenv("STAGEHAND_USAGE_RETENTION_DAYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 35 || n > 3650 {
			problems = append(problems, fmt.Sprintf("STAGEHAND_USAGE_RETENTION_DAYS %q must be 35-3650", s))
		} else {
			c.RetentionDays = n
		}
	}
	if c.DenialLogGroup != "" && !reLogGroup.MatchString(c.DenialLogGroup) {
		problems = append(problems, fmt.Sprintf("STAGEHAND_DENIAL_LOG_GROUP %q is not a log group name", c.DenialLogGroup))
	}
	if len(problems) > 0 {
		return c, fmt.Errorf("%w: %s", ErrFunctionConfig, strings.Join(problems, "; "))
	}
	return c, nil
}

func endpoint(ep string) *string {
	if ep == "" {
		return nil
	}
	return aws.String(ep)
}

// Handler is the scheduled usage function.
type Handler struct {
	Job   *Job
	env   string
	clock clock.Clock
	log   *slog.Logger
}

// NewHandlerFromConfig builds the handler over the real SDK clients.
func NewHandlerFromConfig(cfg FunctionConfig, awsCfg aws.Config, log *slog.Logger) *Handler {
	db := dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.BaseEndpoint = endpoint(cfg.DynamoDBEndpoint) })
	gw := apigateway.NewFromConfig(awsCfg, func(o *apigateway.Options) { o.BaseEndpoint = endpoint(cfg.APIGatewayEndpoint) })
	eb := eventbridge.NewFromConfig(awsCfg, func(o *eventbridge.Options) { o.BaseEndpoint = endpoint(cfg.EventBridgeEndpoint) })
	opts := []Option{WithLogger(log), WithRetention(time.Duration(cfg.RetentionDays) * 24 * time.Hour)}
	if cfg.DenialLogGroup != "" {
		cwl := cloudwatchlogs.NewFromConfig(awsCfg, func(o *cloudwatchlogs.Options) { o.BaseEndpoint = endpoint(cfg.LogsEndpoint) })
		opts = append(opts, WithDenials(LogsInsightsDenials{Client: cwl, LogGroup: cfg.DenialLogGroup}))
	}
	job := NewJob(registry.New(db, cfg.Table), reconcile.NewClient(gw), EventBridgePublisher{Client: eb, Bus: cfg.EventBus}, opts...)
	return &Handler{Job: job, env: cfg.Env, clock: clock.System{}, log: log}
}

// NewHandlerFromEnv reads the configuration and builds the handler.
func NewHandlerFromEnv(ctx context.Context, getenv func(string) string, log *slog.Logger) (*Handler, error) {
	cfg, err := ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("load AWS config: %w", err)
	}
	return NewHandlerFromConfig(cfg, awsCfg, log.With("env", cfg.Env)), nil
}

// HandleScheduled collects and judges yesterday (UTC), or, when the
// scheduled event's time is set, the day before it.
func (h *Handler) HandleScheduled(ctx context.Context, ev events.CloudWatchEvent) (Report, error) {
	now := h.clock.Now()
	if !ev.Time.IsZero() {
		now = ev.Time
	}
	rep, err := h.Job.Run(ctx, h.env, Yesterday(now))
	h.log.Info("usage run", slog.String("day", rep.Day), slog.Int("customers", rep.Customers),
		slog.Int("anomalies", len(rep.Anomalies)), slog.Int("published", rep.Published), slog.Int("failed", rep.Failed))
	if err != nil {
		return rep, fmt.Errorf("usage run in %s: %w", h.env, err)
	}
	return rep, nil
}
