package reconcile

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
)

// Config is the configuration of the deployment and reconcile functions,
// read once from the environment by their mains.
type Config struct {
	// Env is the environment served (STAGEHAND_ENV, required).
	Env string
	// Table is the registry table (STAGEHAND_TABLE, required).
	Table string
	// Source is the EventBridge source of deploy events, and of the "API
	// Keys Associated" events published (STAGEHAND_EVENT_SOURCE, default
	// stagehand.deployment).
	Source string
	// EventBus receives "API Keys Associated" (STAGEHAND_EVENT_BUS,
	// default: the account's default bus).
	EventBus string
	// QueueURL is the continuation queue (CONTINUATION_QUEUE_URL; required
	// when RequireQueue).
	QueueURL string
	// PacerTable holds the account-wide UpdateUsagePlan pacer slot
	// (STAGEHAND_PACER_TABLE, default Table). Environments with separate
	// tables in one account must share one.
	PacerTable string
	// SafetyMargin is how long before the Lambda deadline a run hands over
	// (STAGEHAND_SAFETY_MARGIN, Go duration, default 45s).
	SafetyMargin time.Duration
	// Endpoint overrides for local runs (STAGEHAND_DYNAMODB_ENDPOINT,
	// STAGEHAND_APIGATEWAY_ENDPOINT).
	DynamoDBEndpoint   string
	APIGatewayEndpoint string
}

// ErrConfig wraps every configuration problem.
var ErrConfig = errors.New("invalid configuration")

var reEnv = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// ConfigFromEnv reads the configuration with getenv (os.Getenv in main).
// requireQueue: the deployment function needs the continuation queue; the
// scheduled function uses it when set.
func ConfigFromEnv(getenv func(string) string, requireQueue bool) (Config, error) {
	c := Config{
		Env: getenv("STAGEHAND_ENV"), Table: getenv("STAGEHAND_TABLE"), Source: getenv("STAGEHAND_EVENT_SOURCE"),
		EventBus: getenv("STAGEHAND_EVENT_BUS"), QueueURL: getenv("CONTINUATION_QUEUE_URL"), PacerTable: getenv("STAGEHAND_PACER_TABLE"),
		SafetyMargin: 45 * time.Second, DynamoDBEndpoint: getenv("STAGEHAND_DYNAMODB_ENDPOINT"), APIGatewayEndpoint: getenv("STAGEHAND_APIGATEWAY_ENDPOINT"),
	}
	var problems []string
	if !reEnv.MatchString(c.Env) {
		problems = append(problems, fmt.Sprintf("STAGEHAND_ENV %q must be a lowercase name ([a-z][a-z0-9-]*)", c.Env))
	}
	if c.Table == "" {
		problems = append(problems, "STAGEHAND_TABLE is required")
	}
	if c.Source == "" {
		c.Source = deployevent.DefaultSource
	}
	if c.PacerTable == "" {
		c.PacerTable = c.Table
	}
	if requireQueue && c.QueueURL == "" {
		problems = append(problems, "CONTINUATION_QUEUE_URL is required")
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
