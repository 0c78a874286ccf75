// Package billing turns collected usage into billing records (one per
// customer and day, written once), exports each day's records as CSV and
// JSON to S3, announces them as "Usage Recorded" events, and delivers them
// to billing systems through Sinks (Stripe's billing meter events is one).
// Every step is idempotent and resumable: a record is a conditional put
// keyed by environment, day, customer and version; each delivery is marked
// on the record once it succeeded, so a rerun sends nothing twice.
package billing

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Event source and detail type.
const (
	Source         = "stagehand.billing"
	DetailRecorded = "Usage Recorded"
	// deliveryEvent is the Sent marker of the Usage Recorded event.
	deliveryEvent = "event"
)

// RecordID is a record's id and idempotency key: env/date/customer/vN.
func RecordID(env, date, customerID string, version int) string {
	return fmt.Sprintf("%s/%s/%s/v%d", env, date, customerID, version)
}

// Sink is a billing system. Send must be idempotent on r.ID (the job may
// call it again for a record whose delivery it could not mark).
type Sink interface {
	Name() string
	Send(ctx context.Context, r registry.BillingRecord) error
}

// Publisher sends a Usage Recorded event.
type Publisher interface {
	Publish(ctx context.Context, r registry.BillingRecord) error
}

// PutEventsAPI is the part of the EventBridge client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridgePublisher publishes Usage Recorded events.
type EventBridgePublisher struct {
	Client PutEventsAPI
	Bus    string
}

// Publish sends one record as an event; its detail is the record (id,
// customer, day, quantity, unit, plan, version).
func (p EventBridgePublisher) Publish(ctx context.Context, r registry.BillingRecord) error {
	r.Sent = nil
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	e := ebtypes.PutEventsRequestEntry{Source: aws.String(Source), DetailType: aws.String(DetailRecorded), Detail: aws.String(string(b))}
	if p.Bus != "" {
		e.EventBusName = aws.String(p.Bus)
	}
	out, err := p.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{e}})
	if err != nil {
		return fmt.Errorf("put %s: %w", DetailRecorded, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		return fmt.Errorf("put %s: %s", DetailRecorded, aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}

// PutObjectAPI is the part of the S3 client the exporter uses.
type PutObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

var _ PutObjectAPI = (*s3.Client)(nil)

// Job bills one environment's days.
type Job struct {
	store  *registry.Store
	events Publisher
	s3     PutObjectAPI
	bucket string
	prefix string
	sinks  []Sink
	clock  clock.Clock
	log    *slog.Logger
}

// Option configures a Job.
type Option func(*Job)

// WithSink adds a billing system.
func WithSink(s Sink) Option { return func(j *Job) { j.sinks = append(j.sinks, s) } }

// WithExport exports each day's records to bucket under prefix.
func WithExport(api PutObjectAPI, bucket, prefix string) Option {
	return func(j *Job) { j.s3, j.bucket, j.prefix = api, bucket, prefix }
}

// WithClock and WithLogger set the clock and logger.
func WithClock(c clock.Clock) Option   { return func(j *Job) { j.clock = c } }
func WithLogger(l *slog.Logger) Option { return func(j *Job) { j.log = l } }

// NewJob returns a job.
func NewJob(store *registry.Store, events Publisher, opts ...Option) *Job {
	j := &Job{store: store, events: events, clock: clock.System{}, log: slog.New(slog.DiscardHandler), prefix: "billing"}
	for _, o := range opts {
		o(j)
	}
	return j
}

// Report sums up a run.
type Report struct {
	Env     string         `json:"env"`
	Date    string         `json:"date"`
	Created int            `json:"created"`
	Existed int            `json:"existed"`
	Events  int            `json:"events"`
	Sent    map[string]int `json:"sent"`
	Failed  int            `json:"failed"`
	Exports []string       `json:"exports,omitempty"`
}

// BillableDay is the last day a run may bill at now: two days back, so the
// usage job's re-collection of late requests has settled the day.
func BillableDay(now time.Time) time.Time { return now.UTC().Truncate(24*time.Hour).AddDate(0, 0, -2) }

// Run bills date: one version-1 record per subscribed customer with usage
// that day (a conditional put: a rerun finds them and creates nothing),
// then, for every record of the day, each delivery not yet marked (the
// event, each sink), then the export. A failed delivery is left unmarked
// for the next run and counted.
func (j *Job) Run(ctx context.Context, env string, date time.Time) (Report, error) {
	day := date.UTC().Format(time.DateOnly)
	rep := Report{Env: env, Date: day, Sent: map[string]int{}}
	for next := ""; ; {
		page, err := j.store.ListSubscriptions(ctx, env, next, 500)
		if err != nil {
			return rep, err
		}
		for _, sub := range page.Items {
			days, err := j.store.ListUsageDays(ctx, env, sub.CustomerID, day, day)
			if err != nil {
				return rep, err
			}
			if len(days) == 0 {
				continue
			}
			_, err = j.store.PutBillingRecord(ctx, registry.BillingRecord{
				Env: env, Date: day, CustomerID: sub.CustomerID, Version: 1, Plan: sub.Plan,
				Quantity: days[0].Used, Unit: "requests", ID: RecordID(env, day, sub.CustomerID, 1),
			})
			switch {
			case errors.Is(err, registry.ErrAlreadyExists):
				rep.Existed++
			case err != nil:
				return rep, err
			default:
				rep.Created++
			}
		}
		if next = page.Next; next == "" {
			break
		}
	}
	records, err := j.store.ListBillingRecords(ctx, env, day)
	if err != nil {
		return rep, err
	}
	for _, r := range records {
		if _, done := r.Sent[deliveryEvent]; !done {
			if j.deliver(ctx, r, deliveryEvent, func() error { return j.events.Publish(ctx, r) }) {
				rep.Events++
			} else {
				rep.Failed++
			}
		}
		for _, s := range j.sinks {
			if _, done := r.Sent[s.Name()]; done {
				continue
			}
			if j.deliver(ctx, r, s.Name(), func() error { return s.Send(ctx, r) }) {
				rep.Sent[s.Name()]++
			} else {
				rep.Failed++
			}
		}
	}
	if j.s3 != nil {
		keys, err := j.export(ctx, env, day, records)
		rep.Exports = keys
		if err != nil {
			return rep, err
		}
	}
	if rep.Failed > 0 {
		return rep, fmt.Errorf("%d deliveries failed (retried by the next run)", rep.Failed)
	}
	return rep, nil
}

// deliver runs send and marks the delivery; a mark that already exists
// (a concurrent run) is success too.
func (j *Job) deliver(ctx context.Context, r registry.BillingRecord, name string, send func() error) bool {
	if err := send(); err != nil {
		j.log.Error("billing: delivery failed", slog.String("record", r.ID), slog.String("to", name), slog.String("error", err.Error()))
		return false
	}
	if err := j.store.MarkBillingSent(ctx, r, name); err != nil && !errors.Is(err, registry.ErrAlreadyExists) {
		j.log.Error("billing: delivered but not marked (the next run sends again, idempotently)", slog.String("record", r.ID), slog.String("to", name), slog.String("error", err.Error()))
		return false
	}
	return true
}

// CSVHeader is the export's column order.
var CSVHeader = []string{"id", "env", "date", "customer_id", "plan", "version", "quantity", "unit", "created_at"}

// Render writes records as CSV and JSON, sorted by customer and version so
// that the same records always give the same bytes.
func Render(records []registry.BillingRecord) (csvOut, jsonOut []byte, err error) {
	rs := append([]registry.BillingRecord(nil), records...)
	sort.Slice(rs, func(a, b int) bool {
		if rs[a].CustomerID != rs[b].CustomerID {
			return rs[a].CustomerID < rs[b].CustomerID
		}
		return rs[a].Version < rs[b].Version
	})
	var c bytes.Buffer
	w := csv.NewWriter(&c)
	_ = w.Write(CSVHeader)
	type row struct {
		ID         string `json:"id"`
		Env        string `json:"env"`
		Date       string `json:"date"`
		CustomerID string `json:"customerId"`
		Plan       string `json:"plan"`
		Version    int    `json:"version"`
		Quantity   int64  `json:"quantity"`
		Unit       string `json:"unit"`
		CreatedAt  string `json:"createdAt"`
	}
	rows := make([]row, 0, len(rs))
	for _, r := range rs {
		created := r.CreatedAt.UTC().Format(time.RFC3339)
		_ = w.Write([]string{r.ID, r.Env, r.Date, r.CustomerID, r.Plan, strconv.Itoa(r.Version), strconv.FormatInt(r.Quantity, 10), r.Unit, created})
		rows = append(rows, row{r.ID, r.Env, r.Date, r.CustomerID, r.Plan, r.Version, r.Quantity, r.Unit, created})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, nil, err
	}
	j, err := json.MarshalIndent(map[string]any{"records": rows}, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	return c.Bytes(), append(j, '\n'), nil
}

// export writes <prefix>/<env>/<date>/records.csv and .json (overwriting:
// the same day gives the same content).
func (j *Job) export(ctx context.Context, env, day string, records []registry.BillingRecord) ([]string, error) {
	c, js, err := Render(records)
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, f := range []struct {
		ext, ctype string
		body       []byte
	}{{"csv", "text/csv", c}, {"json", "application/json", js}} {
		key := fmt.Sprintf("%s/%s/%s/records.%s", j.prefix, env, day, f.ext)
		if _, err := j.s3.PutObject(ctx, &s3.PutObjectInput{
			Bucket: aws.String(j.bucket), Key: aws.String(key), Body: bytes.NewReader(f.body), ContentType: aws.String(f.ctype),
		}); err != nil {
			return keys, fmt.Errorf("export %s: %w", key, err)
		}
		keys = append(keys, key)
	}
	return keys, nil
}
