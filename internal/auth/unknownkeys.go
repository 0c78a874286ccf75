package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

// Unknown API keys.
//
// A key's format and checksum are public, so anyone can mint endless
// well-formed keys, and each unknown one costs a registry read. Two
// defences sit in the authorizer (a WAF rate-based rule in front of the
// API is the third, see docs/authorizer.md):
//
//   - a negative cache: a key the registry does not hold is answered 401
//     without another read for unknownKeyCacheSeconds (default 5 s). It is
//     bounded (cacheMaxEntries, least recently used out first) and short,
//     so a key created just after someone tried it works at the latest
//     unknownKeyCacheSeconds after that failed try (plus the registry's own
//     replication lag, well under a second);
//   - an EMF metric, UnknownApiKeys (namespace stagehand/authorizer,
//     dimension Environment), the number of requests with an unknown key,
//     emitted at most once a minute per Lambda instance, so the rate can be
//     alarmed on.

// ErrUnknownKey: a well-formed key of this environment that the registry
// does not hold (wraps ErrInvalidKey).
var ErrUnknownKey = fmt.Errorf("%w: not in the registry", ErrInvalidKey)

// Metric names (CloudWatch embedded metric format).
const (
	MetricNamespace      = "stagehand/authorizer"
	MetricUnknownAPIKeys = "UnknownApiKeys"
	metricFlushEvery     = time.Minute
)

// unknownKeys is the negative cache and the unknown-key counter.
type unknownKeys struct {
	ttl   time.Duration // 0: no negative cache
	cache *lru.Cache[keys.Hash, time.Time]

	mu          sync.Mutex
	count       int64
	windowStart time.Time
}

func newUnknownKeys(ttl time.Duration, max int) *unknownKeys {
	u := &unknownKeys{ttl: ttl}
	if ttl > 0 {
		u.cache, _ = lru.New[keys.Hash, time.Time](max) // max ≥ 1, validated
	}
	return u
}

// known reports whether h was found unknown less than ttl ago.
func (u *unknownKeys) known(h keys.Hash, now time.Time) bool {
	if u.cache == nil {
		return false
	}
	at, ok := u.cache.Get(h)
	if ok && now.Sub(at) < u.ttl {
		return true
	}
	if ok {
		u.cache.Remove(h)
	}
	return false
}

// remember records h as unknown at now.
func (u *unknownKeys) remember(h keys.Hash, now time.Time) {
	if u.cache != nil {
		u.cache.Add(h, now)
	}
}

// counted adds one unknown-key request and, once a minute has passed since
// the window began, returns the window's count to emit (0: nothing yet).
func (u *unknownKeys) counted(now time.Time) (n int64, windowEnd time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.windowStart.IsZero() {
		u.windowStart = now
	}
	u.count++
	if now.Sub(u.windowStart) < metricFlushEvery {
		return 0, time.Time{}
	}
	n, u.count, u.windowStart = u.count, 0, now
	return n, now
}

// unknownKey handles a request whose key the registry lacks (or, with
// cached true, lacked within the negative TTL): counts it and emits the
// metric when due.
func (a *Authorizer) unknownKey(ctx context.Context, now time.Time) {
	n, at := a.unknown.counted(now)
	if n == 0 {
		return
	}
	a.log.LogAttrs(ctx, slog.LevelInfo, "unknown API keys",
		slog.Group("_aws",
			slog.Int64("Timestamp", at.UnixMilli()),
			slog.Any("CloudWatchMetrics", []emfDirective{{
				Namespace:  MetricNamespace,
				Dimensions: [][]string{{"Environment"}},
				Metrics:    []emfMetric{{Name: MetricUnknownAPIKeys, Unit: "Count"}},
			}}),
		),
		slog.String("Environment", a.env),
		slog.Int64(MetricUnknownAPIKeys, n),
	)
}

type emfDirective struct {
	Namespace  string      `json:"Namespace"`
	Dimensions [][]string  `json:"Dimensions"`
	Metrics    []emfMetric `json:"Metrics"`
}

type emfMetric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// isUnknownKey reports whether err says the registry has no such key.
func isUnknownKey(err error) bool { return errors.Is(err, ErrUnknownKey) }
