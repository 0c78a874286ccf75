package usage_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/usage"
)

// logsFake is a loopback CloudWatch Logs endpoint speaking the service's
// wire protocol (awsJson1_1, X-Amz-Target Logs_20140328.<Operation>;
// https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html,
// API_GetQueryResults.html) for StartQuery and GetQueryResults: a query is
// "Running" on its first GetQueryResults, then "Complete" (or final) with
// the rows rows returns for its start time, values as Logs Insights
// prints them (strings, sums as "12.0" or "12").
type logsFake struct {
	rows  func(start time.Time) [][2]string // CustomerId, denied
	final string                            // status after Running; "" = Complete

	mu      sync.Mutex
	starts  []map[string]any
	polls   map[string]int
	targets []string
}

func newLogsFake(t *testing.T, rows func(time.Time) [][2]string) (*logsFake, string) {
	t.Helper()
	f := &logsFake{rows: rows, polls: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return f, srv.URL
}

func (f *logsFake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	target := r.Header.Get("X-Amz-Target")
	f.targets = append(f.targets, target)
	var in map[string]any
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-amz-json-1.1" ||
		!strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256") || json.NewDecoder(r.Body).Decode(&in) != nil {
		f.fail(w, "SerializationException", "bad request")
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	switch target {
	case "Logs_20140328.StartQuery":
		f.starts = append(f.starts, in)
		id := "q" + string(rune('0'+len(f.starts)))
		_ = json.NewEncoder(w).Encode(map[string]any{"queryId": id})
	case "Logs_20140328.GetQueryResults":
		id, _ := in["queryId"].(string)
		n := int(id[1] - '1')
		if n < 0 || n >= len(f.starts) {
			f.fail(w, "ResourceNotFoundException", "no such query")
			return
		}
		f.polls[id]++
		if f.polls[id] == 1 {
			_ = json.NewEncoder(w).Encode(map[string]any{"status": "Running", "results": []any{}})
			return
		}
		if f.final != "" {
			_ = json.NewEncoder(w).Encode(map[string]any{"status": f.final, "results": []any{}})
			return
		}
		start := time.Unix(int64(f.starts[n]["startTime"].(float64)), 0).UTC()
		results := []any{}
		for _, row := range f.rows(start) {
			results = append(results, []any{
				map[string]string{"field": "CustomerId", "value": row[0]},
				map[string]string{"field": "denied", "value": row[1]},
			})
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "Complete", "results": results,
			"statistics": map[string]float64{"recordsMatched": float64(len(results)), "recordsScanned": 100, "bytesScanned": 1000}})
	default:
		f.fail(w, "UnknownOperationException", target)
	}
}

func (f *logsFake) fail(w http.ResponseWriter, typ, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "message": msg})
}

func logsClient(url string) *cloudwatchlogs.Client {
	return cloudwatchlogs.New(cloudwatchlogs.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(url),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func TestLogsInsightsDenials(t *testing.T) {
	day := time.Date(2026, 6, 2, 0, 0, 0, 0, time.UTC)
	rows := func(time.Time) [][2]string {
		return [][2]string{{"leaky", "4000.0"}, {"acme", "12"}, {"", "3"}}
	}
	tests := []struct {
		name    string
		env     string
		rows    func(time.Time) [][2]string
		final   string
		want    map[string]int64
		wantErr error
	}{
		{name: "complete", env: "prod", rows: rows, want: map[string]int64{"leaky": 4000, "acme": 12}},
		{name: "no denials", env: "prod", rows: func(time.Time) [][2]string { return nil }, want: map[string]int64{}},
		{name: "failed query", env: "prod", rows: rows, final: "Failed", wantErr: usage.ErrDenialQuery},
		{name: "timed out query", env: "prod", rows: rows, final: "Timeout", wantErr: usage.ErrDenialQuery},
		{name: "not a count", env: "prod", rows: func(time.Time) [][2]string { return [][2]string{{"acme", "1.5"}} }, wantErr: usage.ErrDenialQuery},
		{name: "env that could escape the query", env: `prod" or Env = "x`, rows: rows, wantErr: usage.ErrDenialQuery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, url := newLogsFake(t, tc.rows)
			f.final = tc.final
			src := usage.LogsInsightsDenials{Client: logsClient(url), LogGroup: "/aws/lambda/authorizer", Poll: time.Millisecond}
			got, err := src.Denials(context.Background(), tc.env, day.Add(5*time.Hour))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("counts (-want +got):\n%s", diff)
			}
			if tc.name != "complete" {
				return
			}
			wantStart := map[string]any{
				"logGroupNames": []any{"/aws/lambda/authorizer"},
				"startTime":     float64(day.Unix()), "endTime": float64(day.AddDate(0, 0, 1).Unix() - 1),
				"queryString": usage.DenialQuery("prod"), "limit": float64(usage.MaxDenialRows),
			}
			if len(f.starts) != 1 {
				t.Fatalf("%d StartQuery calls, want 1", len(f.starts))
			}
			delete(f.starts[0], "queryLanguage")
			if diff := cmp.Diff(wantStart, f.starts[0]); diff != "" {
				t.Errorf("StartQuery (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLogsInsightsDenialsStartError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"__type":"LimitExceededException","message":"too many concurrent queries"}`))
	}))
	t.Cleanup(srv.Close)
	src := usage.LogsInsightsDenials{Client: logsClient(srv.URL), LogGroup: "g", Poll: time.Millisecond}
	_, err := src.Denials(context.Background(), "prod", time.Now())
	if err == nil || !strings.Contains(err.Error(), "LimitExceededException") {
		t.Errorf("err = %v, want the service's LimitExceededException", err)
	}
}

func TestDenialQuery(t *testing.T) {
	want := `filter Env = "prod" and ispresent(CustomerId) and ispresent(Denied) | stats sum(Denied) as denied by CustomerId | sort denied desc | limit 10000`
	if got := usage.DenialQuery("prod"); got != want {
		t.Errorf("query\n got %s\nwant %s", got, want)
	}
}

// TestDenialSurgeFromLogsInsights: the job reads denials through the real
// source and client from a Logs Insights endpoint; a day on which one
// customer's key is denied thousands of times against a baseline of a few
// a day is a denial surge for that customer, a steady customer is not, and
// the counts are stored in the registry.
func TestDenialSurgeFromLogsInsights(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 0, "leaky", "steady")
	surge := day0.AddDate(0, 0, 60)
	for _, c := range []string{"leaky", "steady"} {
		w.history(t, c, 50, day0, surge)
		for d := surge.AddDate(0, 0, -3); !d.After(surge); d = d.AddDate(0, 0, 1) {
			w.record(c, d, 50) // the days the job collects again
		}
		for d := day0; d.Before(surge.AddDate(0, 0, -1)); d = d.AddDate(0, 0, 1) {
			if err := w.store.PutDeniedCount(ctx, "dev", c, d.Format(time.DateOnly), int64(4+d.Day()%3), 400*24*time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, url := newLogsFake(t, func(start time.Time) [][2]string {
		if start.Equal(surge) {
			return [][2]string{{"leaky", "4000.0"}, {"steady", "6.0"}}
		}
		return [][2]string{{"steady", "5.0"}, {"leaky", "4.0"}}
	})
	src := usage.LogsInsightsDenials{Client: logsClient(url), LogGroup: "/aws/lambda/authorizer", Poll: time.Millisecond}
	ev := &published{}
	job := usage.NewJob(w.store, w.client, ev, usage.WithClock(w.clk), usage.WithDenials(src))
	// The day before: ordinary counts, nothing to report.
	if rep, err := job.Run(ctx, "dev", surge.AddDate(0, 0, -1)); err != nil || len(ev.got) != 0 {
		t.Fatalf("day before: %v, %+v, events %+v; want none", err, rep, ev.got)
	}
	rep, err := job.Run(ctx, "dev", surge)
	if err != nil || len(ev.got) != 1 {
		t.Fatalf("surge day: %v, %+v, events %+v; want one", err, rep, ev.got)
	}
	if a := ev.got[0]; a.Kind != usage.KindDenialSurge || a.CustomerID != "leaky" || a.Observed != 4000 {
		t.Errorf("anomaly %+v, want a denial surge of leaky at 4000", a)
	}
	days, err := w.store.ListUsageDays(ctx, "dev", "leaky", surge.Format(time.DateOnly), surge.Format(time.DateOnly))
	if err != nil || len(days) != 1 || days[0].Denied != 4000 {
		t.Errorf("stored day %+v (%v), want 4000 denied", days, err)
	}
}
