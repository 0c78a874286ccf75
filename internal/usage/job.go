package usage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Event source and detail type of anomaly events.
const (
	Source        = "stagehand.usage"
	DetailAnomaly = "Usage Anomaly Detected"
)

// Anomaly is the detail of a Usage Anomaly Detected event: what was found,
// for whom, on which day, and the evidence.
type Anomaly struct {
	EventID    string  `json:"eventId"` // kind:customer:date, the same on every redelivery
	Env        string  `json:"env"`
	CustomerID string  `json:"customerId"`
	Kind       Kind    `json:"kind"`
	Date       string  `json:"date"`
	Observed   float64 `json:"observed"`
	Expected   float64 `json:"expected"`
	Scale      float64 `json:"scale,omitempty"`
	Score      float64 `json:"score,omitempty"`
	// Quota findings: the plan's quota, used so far in its period and when
	// it runs out at the recent daily rate.
	QuotaLimit  int64  `json:"quotaLimit,omitempty"`
	QuotaPeriod string `json:"quotaPeriod,omitempty"`
	PeriodEnd   string `json:"periodEnd,omitempty"`
	ExhaustedBy string `json:"exhaustedBy,omitempty"`
	// Series is the customer's last days (oldest first), for the reader.
	Series []float64 `json:"series,omitempty"`
}

// Publisher sends one anomaly event.
type Publisher interface {
	Publish(ctx context.Context, a Anomaly) error
}

// PutEventsAPI is the part of the EventBridge client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridgePublisher publishes to a bus ("" is the default bus).
type EventBridgePublisher struct {
	Client PutEventsAPI
	Bus    string
}

// Publish sends the event; a failed entry is an error.
func (p EventBridgePublisher) Publish(ctx context.Context, a Anomaly) error {
	b, err := json.Marshal(a)
	if err != nil {
		return err
	}
	e := ebtypes.PutEventsRequestEntry{Source: aws.String(Source), DetailType: aws.String(DetailAnomaly), Detail: aws.String(string(b))}
	if p.Bus != "" {
		e.EventBusName = aws.String(p.Bus)
	}
	out, err := p.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{e}})
	if err != nil {
		return fmt.Errorf("put %s: %w", DetailAnomaly, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		return fmt.Errorf("put %s: %s", DetailAnomaly, aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}

// Job collects usage and reports anomalies for one environment.
type Job struct {
	store     *registry.Store
	api       GetUsageAPI
	detector  *Detector
	denials   DenialSource
	events    Publisher
	clock     clock.Clock
	log       *slog.Logger
	retention time.Duration
	history   int
	recollect int
	pageSize  int32
}

// Option configures a Job.
type Option func(*Job)

// WithClock sets the clock. WithLogger the logger.
func WithClock(c clock.Clock) Option   { return func(j *Job) { j.clock = c } }
func WithLogger(l *slog.Logger) Option { return func(j *Job) { j.log = l } }

// WithDenials reads the authorizer's denial counts (none by default).
func WithDenials(d DenialSource) Option { return func(j *Job) { j.denials = d } }

// WithRetention sets how long usage days are kept (default 400 days: a
// year and a billing month).
func WithRetention(d time.Duration) Option { return func(j *Job) { j.retention = d } }

// WithPageSize sets GetUsage's page size (default 500, API Gateway's most).
func WithPageSize(n int32) Option { return func(j *Job) { j.pageSize = n } }

// WithDetector replaces the default detector.
func WithDetector(d *Detector) Option { return func(j *Job) { j.detector = d } }

// NewJob returns a job; api reads API Gateway usage (reconcile.Client).
func NewJob(store *registry.Store, api GetUsageAPI, events Publisher, opts ...Option) *Job {
	d, _ := NewDetector(DefaultConfig())
	j := &Job{store: store, api: api, detector: d, events: events, clock: clock.System{},
		log: slog.New(slog.DiscardHandler), retention: 400 * 24 * time.Hour, history: 90, recollect: 3, pageSize: 500}
	for _, o := range opts {
		o(j)
	}
	return j
}

// Report sums up a run.
type Report struct {
	Env       string        `json:"env"`
	Day       string        `json:"day"`
	Collected CollectReport `json:"collected"`
	Customers int           `json:"customers"`
	Anomalies []Anomaly     `json:"anomalies"`
	Published int           `json:"published"`
	Already   int           `json:"alreadyReported"`
	Failed    int           `json:"failed"`
}

// Yesterday is the last complete UTC day at now.
func Yesterday(now time.Time) time.Time { return now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -1) }

// Collect stores usage from start to end.
func (j *Job) Collect(ctx context.Context, env string, start, end time.Time) (CollectReport, error) {
	return Collect(ctx, j.store, j.api, env, start, end, j.retention, j.pageSize)
}

// Run is the daily job: collect the last days again (API Gateway counts
// late requests into past days), record denials, judge day for every
// subscribed customer and publish each anomaly once (a marker per
// customer, day and kind; a failed publish removes it for the next run).
func (j *Job) Run(ctx context.Context, env string, day time.Time) (Report, error) {
	day = day.UTC().Truncate(24 * time.Hour)
	rep := Report{Env: env, Day: day.Format(time.DateOnly), Anomalies: []Anomaly{}}
	var err error
	if rep.Collected, err = j.Collect(ctx, env, day.AddDate(0, 0, -(j.recollect-1)), day); err != nil {
		return rep, err
	}
	if j.denials != nil {
		counts, err := j.denials.Denials(ctx, env, day)
		if err != nil {
			return rep, fmt.Errorf("read denials: %w", err)
		}
		for cust, n := range counts {
			if err := j.store.PutDeniedCount(ctx, env, cust, rep.Day, n, j.retention); err != nil {
				return rep, err
			}
		}
	}
	found, n, err := j.Detect(ctx, env, day)
	rep.Customers = n
	if err != nil {
		return rep, err
	}
	rep.Anomalies = found
	for _, a := range found {
		// A projected quota exhaustion is reported once per quota period,
		// everything else once per day.
		mark := a.Date
		if a.Kind == KindQuota {
			mark = "period-" + a.PeriodEnd
		}
		err := j.store.MarkAnomaly(ctx, env, a.CustomerID, mark, string(a.Kind), day.AddDate(0, 0, 120))
		if errors.Is(err, registry.ErrAlreadyExists) {
			rep.Already++
			continue
		}
		if err == nil {
			if err = j.events.Publish(ctx, a); err != nil {
				if uerr := j.store.UnmarkAnomaly(ctx, env, a.CustomerID, mark, string(a.Kind)); uerr != nil {
					err = errors.Join(err, uerr)
				}
			}
		}
		if err != nil {
			rep.Failed++
			j.log.Error("usage: anomaly not reported", slog.String("customerId", a.CustomerID), slog.String("kind", string(a.Kind)), slog.String("error", err.Error()))
			continue
		}
		rep.Published++
	}
	if rep.Failed > 0 {
		return rep, fmt.Errorf("%d anomalies could not be reported", rep.Failed)
	}
	return rep, nil
}

// Detect judges day for every subscribed customer of env from the stored
// series (no writes) and returns the anomalies and how many customers it
// judged.
func (j *Job) Detect(ctx context.Context, env string, day time.Time) ([]Anomaly, int, error) {
	day = day.UTC().Truncate(24 * time.Hour)
	from := day.AddDate(0, 0, -(j.history - 1))
	plans := map[string]registry.Plan{}
	ps, err := j.store.ListPlans(ctx, env)
	if err != nil {
		return nil, 0, err
	}
	for _, p := range ps {
		plans[p.Name] = p
	}
	scan := j.detector.NewScanner()
	out := []Anomaly{}
	n := 0
	used := make([]float64, j.history)
	denied := make([]float64, j.history)
	for next := ""; ; {
		page, err := j.store.ListSubscriptions(ctx, env, next, 500)
		if err != nil {
			return nil, n, err
		}
		for _, sub := range page.Items {
			n++
			days, err := j.store.ListUsageDays(ctx, env, sub.CustomerID, from.Format(time.DateOnly), day.Format(time.DateOnly))
			if err != nil {
				return nil, n, err
			}
			if len(days) == 0 {
				continue
			}
			clear(used)
			clear(denied)
			first := j.history
			for _, d := range days {
				t, err := time.Parse(time.DateOnly, d.Date)
				if err != nil {
					continue
				}
				i := int(t.Sub(from) / (24 * time.Hour))
				if i >= 0 && i < j.history {
					used[i], denied[i] = float64(d.Used), float64(d.Denied)
					first = min(first, i)
				}
			}
			// A customer's series starts on its first recorded day: the
			// days before it are "not yet a customer", not zero traffic.
			u, dn := used[first:], denied[first:]
			last := len(u) - 1
			anomaly := func(f Finding, kind Kind, series []float64) Anomaly {
				return Anomaly{
					EventID: string(kind) + ":" + sub.CustomerID + ":" + day.Format(time.DateOnly), Env: env, CustomerID: sub.CustomerID,
					Kind: kind, Date: day.Format(time.DateOnly), Observed: f.Observed, Expected: round(f.Expected), Scale: round(f.Scale), Score: round(f.Score),
					Series: append([]float64(nil), series[max(0, len(series)-28):]...),
				}
			}
			for _, f := range scan.ScanFrom(u, last) {
				out = append(out, anomaly(f, f.Kind, u))
			}
			for _, f := range scan.ScanFrom(dn, last) {
				if f.Kind == KindSpike || (f.Kind == KindLevelShift && f.Score > 0) {
					out = append(out, anomaly(f, KindDenialSurge, dn))
				}
			}
			if a, ok := projectQuota(plans[sub.Plan], u, day); ok {
				a.EventID, a.Env, a.CustomerID = string(KindQuota)+":"+sub.CustomerID+":"+a.PeriodEnd, env, sub.CustomerID
				out = append(out, a)
			}
		}
		if next = page.Next; next == "" {
			return out, n, nil
		}
	}
}

func round(x float64) float64 { return math.Round(x*100) / 100 }

// projectQuota: with a WEEK or MONTH quota, the period's use so far plus
// the last 7 days' mean daily use until the period ends exceeds the quota
// (and it is not exhausted yet: that was reported when projected); with a
// DAY quota, day used at least 90 % of it. u ends on day.
func projectQuota(p registry.Plan, u []float64, day time.Time) (Anomaly, bool) {
	limit := float64(p.QuotaLimit)
	if limit <= 0 || len(u) == 0 {
		return Anomaly{}, false
	}
	a := Anomaly{Kind: KindQuota, Date: day.Format(time.DateOnly), QuotaLimit: int64(limit), QuotaPeriod: p.QuotaPeriod}
	var start, end time.Time
	switch p.QuotaPeriod {
	case "DAY":
		a.Observed, a.Expected, a.PeriodEnd = u[len(u)-1], limit, a.Date
		return a, u[len(u)-1] >= 0.9*limit
	case "WEEK":
		start = day.AddDate(0, 0, -((int(day.Weekday()) + 6) % 7))
		end = start.AddDate(0, 0, 6)
	case "MONTH":
		start = time.Date(day.Year(), day.Month(), 1, 0, 0, 0, 0, time.UTC)
		end = start.AddDate(0, 1, -1)
	default:
		return Anomaly{}, false
	}
	inPeriod := int(day.Sub(start)/(24*time.Hour)) + 1
	var used, recent float64
	for i := max(0, len(u)-inPeriod); i < len(u); i++ {
		used += u[i]
	}
	k := min(7, len(u))
	for i := len(u) - k; i < len(u); i++ {
		recent += u[i]
	}
	rate := recent / float64(k)
	left := float64(end.Sub(day) / (24 * time.Hour))
	projected := used + rate*left
	if used >= limit || projected <= limit || rate <= 0 {
		return Anomaly{}, false
	}
	daysToLimit := math.Ceil((limit - used) / rate)
	a.Observed, a.Expected, a.PeriodEnd = used, round(projected), end.Format(time.DateOnly)
	a.ExhaustedBy = day.AddDate(0, 0, int(daysToLimit)).Format(time.DateOnly)
	return a, true
}
