// Package eventbus is a small EventBridge emulator for end-to-end tests: it
// answers PutEvents (awsJson 1.1, as the real aws-sdk-go-v2 client sends it)
// and delivers each event to the rules whose source and detail-type match,
// asynchronously and at least once, as EventBridge does: a target that
// returns an error is retried up to a limit, then the event goes to the
// rule's dead-letter list with the reason.
package eventbus

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
)

// Target handles one delivered event (a Lambda handler).
type Target func(ctx context.Context, ev events.CloudWatchEvent) error

// Rule routes events with a source and any of the detail-types to a target.
type Rule struct {
	Name        string
	Source      string
	DetailTypes []string
	Target      Target
	// MaxAttempts is how many times a failing delivery is tried (default 3).
	MaxAttempts int
	// Duplicates delivers every event this many extra times (at-least-once).
	Duplicates int
	// BeforeRetry, when set, runs before each retry of a failed delivery:
	// EventBridge backs off before retrying; a test on a virtual clock
	// advances it here.
	BeforeRetry func()
}

// DeadLetter is an event a rule gave up on.
type DeadLetter struct {
	Rule   string
	Event  events.CloudWatchEvent
	Reason string
}

// Bus is the emulator. It is an http.Handler.
type Bus struct {
	mu      sync.Mutex
	rules   []Rule
	put     []events.CloudWatchEvent
	dead    []DeadLetter
	wg      sync.WaitGroup
	counter atomic.Int64
}

// New returns an empty bus.
func New() *Bus { return &Bus{} }

// AddRule registers a rule.
func (b *Bus) AddRule(r Rule) {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 3
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.rules = append(b.rules, r)
}

// Start serves the bus on loopback until the test ends, and returns its URL.
func (b *Bus) Start(t testing.TB) string {
	srv := httptest.NewServer(b)
	t.Cleanup(func() { b.Wait(); srv.Close() })
	return srv.URL
}

// Client returns an EventBridge client for url.
func Client(url string) *eventbridge.Client {
	return eventbridge.New(eventbridge.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

// Wait blocks until every delivery so far has finished.
func (b *Bus) Wait() { b.wg.Wait() }

// Put returns every event accepted so far.
func (b *Bus) Put() []events.CloudWatchEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]events.CloudWatchEvent(nil), b.put...)
}

// DeadLetters returns the events rules gave up on.
func (b *Bus) DeadLetters() []DeadLetter {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]DeadLetter(nil), b.dead...)
}

type putEntry struct {
	Source       string
	DetailType   string
	Detail       string
	EventBusName string
	Resources    []string
	Time         *float64
}

func (b *Bus) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if target := r.Header.Get("X-Amz-Target"); target != "AWSEvents.PutEvents" {
		writeErr(w, http.StatusBadRequest, "UnknownOperationException", "operation "+target+" is not emulated")
		return
	}
	var in struct{ Entries []putEntry }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		writeErr(w, http.StatusBadRequest, "ValidationException", err.Error())
		return
	}
	if len(in.Entries) == 0 || len(in.Entries) > 10 {
		writeErr(w, http.StatusBadRequest, "ValidationException", "Entries must hold 1 to 10 entries")
		return
	}
	type result struct {
		EventId      string `json:",omitempty"`
		ErrorCode    string `json:",omitempty"`
		ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedEntryCount int
		Entries          []result
	}{}
	for _, e := range in.Entries {
		if e.Source == "" || e.DetailType == "" || !json.Valid([]byte(e.Detail)) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, result{ErrorCode: "MalformedDetail", ErrorMessage: "Source, DetailType and a JSON Detail are required"})
			continue
		}
		ev := events.CloudWatchEvent{
			Version: "0", ID: "ev-" + strconv.FormatInt(b.counter.Add(1), 10), DetailType: e.DetailType, Source: e.Source,
			AccountID: "123456789012", Region: "us-east-1", Resources: e.Resources, Detail: json.RawMessage(e.Detail), Time: time.Now().UTC(),
		}
		if e.Time != nil {
			ev.Time = time.Unix(int64(*e.Time), 0).UTC()
		}
		b.deliver(ev)
		out.Entries = append(out.Entries, result{EventId: ev.ID})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func (b *Bus) deliver(ev events.CloudWatchEvent) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.put = append(b.put, ev)
	for _, r := range b.rules {
		if r.Source != ev.Source || !slices.Contains(r.DetailTypes, ev.DetailType) {
			continue
		}
		for range 1 + r.Duplicates {
			b.wg.Add(1)
			go b.run(r, ev)
		}
	}
}

func (b *Bus) run(r Rule, ev events.CloudWatchEvent) {
	defer b.wg.Done()
	var err error
	for attempt := range r.MaxAttempts {
		if attempt > 0 && r.BeforeRetry != nil {
			r.BeforeRetry()
		}
		if err = r.Target(context.Background(), ev); err == nil {
			return
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.dead = append(b.dead, DeadLetter{Rule: r.Name, Event: ev, Reason: fmt.Sprint(err)})
}

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}
