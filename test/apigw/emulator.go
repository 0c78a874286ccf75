// Package apigw is a wire-compatible emulator of the Amazon API Gateway REST
// API (v1) control plane, for the subset stagehand uses: REST APIs and
// stages, usage plans, API keys, usage plan keys, custom domain names and
// base path mappings, usage and tags.
//
// Tests point the real aws-sdk-go-v2 apigateway client at it (BaseEndpoint,
// static credentials, region us-east-1), so the SDK's own serializers,
// deserializers, paginators and retryers run unchanged. The emulator enforces
// the service's documented rules and control-plane quotas on an injected
// clock, and can inject faults (throttling, 5xx, latency, a request that took
// effect but whose response was lost).
//
// It also exposes read access for a local data plane (UsagePlanForKeyValue,
// RecordUsage, BasePathMapping) and direct state helpers for tests
// (AttachKeyDirectly, WipeAPIStages, Seed*). See README.md for the fidelity
// choices and what is not emulated.
package apigw

import (
	"math/rand/v2"
	"net/http/httptest"
	"sync"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

// Account-wide limits of the real service (see README.md for sources).
const (
	// DefaultMaxUsagePlans is the "usage plans per account per Region" quota.
	DefaultMaxUsagePlans = 300
	// DefaultMaxAPIKeys is the "API keys per account per Region" quota.
	DefaultMaxAPIKeys = 10000
	// DefaultMaxPlansPerKey is the "usage plans per API key" quota.
	DefaultMaxPlansPerKey = 10
	// DefaultMaxMethodThrottles is the "method-level throttling settings for a
	// stage in a usage plan" quota.
	DefaultMaxMethodThrottles = 20
)

// Limits are the account limits the emulator enforces. A zero field keeps
// the service default.
type Limits struct {
	UsagePlans      int // usage plans in the account
	APIKeys         int // API keys in the account
	PlansPerKey     int // usage plans one API key can be in
	MethodThrottles int // method-level throttles per stage of a usage plan
}

// Option configures an Emulator.
type Option func(*config)

type config struct {
	clock                 clock.Clock
	seed                  uint64
	quotas                map[string]RateQuota
	limits                Limits
	stageDeleteProtection bool
}

// WithClock sets the clock that drives the control-plane quotas, created and
// updated dates, and usage days. Tests pass a *clock.Virtual. Default:
// clock.System.
func WithClock(c clock.Clock) Option {
	return func(cfg *config) {
		if c != nil {
			cfg.clock = c
		}
	}
}

// WithSeed seeds the random source used for generated ids, generated API key
// values and SetThrottleRate decisions, so a run is repeatable. Default: 1.
func WithSeed(seed uint64) Option {
	return func(cfg *config) { cfg.seed = seed }
}

// WithoutQuotas disables every control-plane quota (the account-wide total
// and the per-operation ones). Fault injection still works.
func WithoutQuotas() Option {
	return func(cfg *config) { cfg.quotas = map[string]RateQuota{} }
}

// WithQuota sets (or, with every <= 0, removes) the token bucket of one
// operation: one token every `every`, at most burst tokens. op "" is the
// account-wide total shared by all operations.
func WithQuota(op string, every time.Duration, burst int) Option {
	return func(cfg *config) {
		if every <= 0 || burst <= 0 {
			delete(cfg.quotas, op)
			return
		}
		cfg.quotas[op] = RateQuota{Every: every, Burst: burst}
	}
}

// WithDocumentedQuotas enables every fixed control-plane quota the API
// Gateway documentation lists for the emulated operations, in addition to
// the default ones (see DocumentedQuotas).
func WithDocumentedQuotas() Option {
	return func(cfg *config) {
		for op, q := range DocumentedQuotas() {
			cfg.quotas[op] = q
		}
	}
}

// WithLimits overrides account limits (for tests that want to reach a limit
// cheaply). Zero fields keep the defaults.
func WithLimits(l Limits) Option {
	return func(cfg *config) {
		if l.UsagePlans > 0 {
			cfg.limits.UsagePlans = l.UsagePlans
		}
		if l.APIKeys > 0 {
			cfg.limits.APIKeys = l.APIKeys
		}
		if l.PlansPerKey > 0 {
			cfg.limits.PlansPerKey = l.PlansPerKey
		}
		if l.MethodThrottles > 0 {
			cfg.limits.MethodThrottles = l.MethodThrottles
		}
	}
}

// WithoutStageDeleteProtection lets DeleteStage and DeleteRestApi succeed
// even when a usage plan still includes the stage (the plan keeps a dangling
// apiStages entry). By default such deletes are refused with
// BadRequestException.
func WithoutStageDeleteProtection() Option {
	return func(cfg *config) { cfg.stageDeleteProtection = false }
}

// Emulator is an in-memory API Gateway control plane served over HTTP. It
// implements http.Handler and is safe for concurrent use.
type Emulator struct {
	cfg    config
	quotas *quotaSet
	faults *faults

	mu  sync.RWMutex // guards st and rng
	st  *state
	rng *rand.Rand

	srvMu sync.Mutex
	srv   *httptest.Server
}

// New returns an emulator with empty state, the default quotas (UpdateUsagePlan
// 1 per 20 s, CreateApiKey 5 per second, all operations together 10 per
// second with a burst of 40) and the service's account limits.
func New(opts ...Option) *Emulator {
	cfg := config{
		clock:                 clock.System{},
		seed:                  1,
		quotas:                DefaultQuotas(),
		stageDeleteProtection: true,
		limits: Limits{
			UsagePlans:      DefaultMaxUsagePlans,
			APIKeys:         DefaultMaxAPIKeys,
			PlansPerKey:     DefaultMaxPlansPerKey,
			MethodThrottles: DefaultMaxMethodThrottles,
		},
	}
	for _, o := range opts {
		o(&cfg)
	}
	return &Emulator{
		cfg:    cfg,
		quotas: newQuotaSet(cfg.quotas),
		faults: newFaults(cfg.seed ^ 0x9e3779b97f4a7c15),
		st:     newState(),
		rng:    rand.New(rand.NewPCG(cfg.seed, 0x5eed)),
	}
}

func (e *Emulator) now() time.Time { return e.cfg.clock.Now().UTC() }
