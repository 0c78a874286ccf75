package originverify

import (
	"fmt"
	"strconv"
	"time"
)

// Environment variables of the authorizer function (and of the backend
// container, which gets the same names from the Network stack).
const (
	EnvSecretARN           = "ORIGIN_VERIFY_SECRET_ARN"
	EnvRefreshSeconds      = "ORIGIN_VERIFY_REFRESH_SECONDS"
	EnvPromoteAfterSeconds = "ORIGIN_VERIFY_PROMOTE_AFTER_SECONDS"
	// EnvExemptPath is the backend's health check path (container only).
	EnvExemptPath = "ORIGIN_VERIFY_EXEMPT_PATH"
	// EnvEndpoint overrides the Secrets Manager endpoint (local runs).
	EnvEndpoint = "STAGEHAND_SECRETSMANAGER_ENDPOINT"
)

// Config is the origin-verify configuration read from the environment.
type Config struct {
	// SecretARN is empty when origin verify is off (a local run without a
	// backend that checks it).
	SecretARN    string
	Endpoint     string
	Refresh      time.Duration
	PromoteAfter time.Duration
}

// Enabled reports whether a secret is configured.
func (c Config) Enabled() bool { return c.SecretARN != "" }

// Options returns the Sender/Checker options of c.
func (c Config) Options() []Option {
	return []Option{WithRefresh(c.Refresh), WithPromoteAfter(c.PromoteAfter)}
}

// LoadConfig reads the configuration once, at start. Unset durations take
// their defaults; the promote-after delay may not be shorter than the
// refresh interval (the backend refreshes on the same interval, and must
// know a new value before it is sent).
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		SecretARN:    getenv(EnvSecretARN),
		Endpoint:     getenv(EnvEndpoint),
		Refresh:      DefaultRefresh,
		PromoteAfter: DefaultPromoteAfter,
	}
	for _, f := range []struct {
		name string
		dst  *time.Duration
	}{{EnvRefreshSeconds, &c.Refresh}, {EnvPromoteAfterSeconds, &c.PromoteAfter}} {
		raw := getenv(f.name)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 1 {
			return Config{}, fmt.Errorf("%w: %s must be a positive number of seconds, got %q", ErrConfig, f.name, raw)
		}
		*f.dst = time.Duration(n) * time.Second
	}
	if c.PromoteAfter < c.Refresh {
		return Config{}, fmt.Errorf("%w: %s (%s) is shorter than %s (%s)", ErrConfig,
			EnvPromoteAfterSeconds, c.PromoteAfter, EnvRefreshSeconds, c.Refresh)
	}
	return c, nil
}
