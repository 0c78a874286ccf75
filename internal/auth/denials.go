package auth

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Denial counts.
//
// Every 401 or 403 whose credentials name a known customer (a registered
// key that is revoked, expired, suspended, outside its allowlist, of a
// suspended customer, or a caller without the route's scope) is counted in
// memory per (customer, key or JWT client, status). At most once per
// metricFlushEvery per Lambda instance, on the next denial after the
// window ends, the counts are written as CloudWatch embedded metric format
// lines, one per (customer, key, status):
//
//	{"_aws":{"Timestamp":…,"CloudWatchMetrics":[{"Namespace":"stagehand/authorizer",
//	  "Dimensions":[["Env"]],"Metrics":[{"Name":"Denied","Unit":"Count"}]}]},
//	 "Env":"prod","CustomerId":"acme","KeyId":"key_…","Status":403,"Denied":17}
//
// The metric has Env as its only dimension (one CloudWatch metric per
// environment, whatever the number of customers); CustomerId and KeyId are
// properties, read per customer by the usage job with Logs Insights
// (internal/usage, LogsInsightsDenials). The line shape is
// usage.DenialEMF's (a test holds the two together). Denials without a
// known customer (unknown keys, bad signatures) are UnknownApiKeys or the
// "unauthorized" log, not this metric. Ids only: never a key or token.
//
// Nothing here runs on an allowed request. Counts of a window that sees no
// later denial on that instance stay unwritten until the next one (or are
// lost when the instance ends): the count is a lower bound, exact for the
// sustained surges it is meant to show.

// Metric name and the bound on distinct (customer, key, status) entries
// per window; further entries in a full window are written as one line
// without a customer (they still count in the Env metric).
const (
	MetricDenied      = "Denied"
	maxDenialsEntries = 4096
)

type denialKey struct {
	customerID, keyID string
	status            int
}

// denials is the per-instance denial counter.
type denials struct {
	mu          sync.Mutex
	counts      map[denialKey]int64
	overflow    int64
	windowStart time.Time
}

// counted adds one denial and, once the window has lasted
// metricFlushEvery, returns its counts to write (nil: nothing yet).
func (dn *denials) counted(k denialKey, now time.Time) (flush map[denialKey]int64, overflow int64) {
	dn.mu.Lock()
	defer dn.mu.Unlock()
	if dn.counts == nil {
		dn.counts = map[denialKey]int64{}
		dn.windowStart = now
	}
	if _, ok := dn.counts[k]; ok || len(dn.counts) < maxDenialsEntries {
		dn.counts[k]++
	} else {
		dn.overflow++
	}
	if now.Sub(dn.windowStart) < metricFlushEvery {
		return nil, 0
	}
	flush, overflow = dn.counts, dn.overflow
	dn.counts, dn.overflow, dn.windowStart = map[denialKey]int64{}, 0, now
	return flush, overflow
}

// denied counts a denial of d (status 401 or 403) when it names a customer
// and writes the window's lines when due.
func (a *Authorizer) denied(ctx context.Context, d *decision, status int) {
	if d.customerID == "" {
		return
	}
	id := d.keyID
	if d.method == AuthMethodJWT {
		id = d.clientID
	}
	now := a.clock.Now()
	flush, overflow := a.denials.counted(denialKey{customerID: d.customerID, keyID: id, status: status}, now)
	for k, n := range flush {
		a.denialLine(ctx, now, slog.String("CustomerId", k.customerID), slog.String("KeyId", k.keyID), slog.Int("Status", k.status), n)
	}
	if overflow > 0 {
		a.denialLine(ctx, now, slog.Bool("Overflow", true), slog.Attr{}, slog.Attr{}, overflow)
	}
}

func (a *Authorizer) denialLine(ctx context.Context, at time.Time, who, key, status slog.Attr, n int64) {
	a.log.LogAttrs(ctx, slog.LevelInfo, "denied requests",
		slog.Group("_aws",
			slog.Int64("Timestamp", at.UnixMilli()),
			slog.Any("CloudWatchMetrics", []emfDirective{{
				Namespace:  MetricNamespace,
				Dimensions: [][]string{{"Env"}},
				Metrics:    []emfMetric{{Name: MetricDenied, Unit: "Count"}},
			}}),
		),
		slog.String("Env", a.env),
		who, key, status,
		slog.Int64(MetricDenied, n),
	)
}
