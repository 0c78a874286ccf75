package billing_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/billing"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

var day = time.Date(2026, 6, 10, 0, 0, 0, 0, time.UTC)

// fakeS3 is an in-process S3-compatible endpoint for PutObject and
// GetObject, path-style (PUT /<bucket>/<key>), signed requests only.
type fakeS3 struct {
	mu      sync.Mutex
	objects map[string][]byte
	puts    int
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		http.Error(w, "<Error><Code>AccessDenied</Code></Error>", http.StatusForbidden)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.Method {
	case http.MethodPut:
		b, _ := io.ReadAll(r.Body)
		f.objects[r.URL.Path] = b
		f.puts++
		w.Header().Set("ETag", `"x"`)
	case http.MethodGet:
		b, ok := f.objects[r.URL.Path]
		if !ok {
			http.Error(w, "<Error><Code>NoSuchKey</Code></Error>", http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	default:
		http.Error(w, "", http.StatusMethodNotAllowed)
	}
}

func newS3(t *testing.T) (*fakeS3, *s3.Client) {
	f := &fakeS3{objects: map[string][]byte{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c := s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")}, func(o *s3.Options) {
		o.BaseEndpoint, o.UsePathStyle = aws.String(srv.URL), true
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	return f, c
}

type events struct {
	mu   sync.Mutex
	got  []registry.BillingRecord
	fail error
}

func (e *events) Publish(_ context.Context, r registry.BillingRecord) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.fail != nil {
		return e.fail
	}
	e.got = append(e.got, r)
	return nil
}

// newStore: customers a, b, c subscribed in dev; a and b used the API on day.
func newStore(t *testing.T) *registry.Store {
	t.Helper()
	ctx := context.Background()
	db, table := ddbtest.NewTable(t)
	s := registry.New(db, table, registry.WithClock(clock.NewVirtual(day.AddDate(0, 0, 2).Add(3*time.Hour))))
	if _, err := s.PutPlan(ctx, registry.Plan{Env: "dev", Name: "basic"}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"a", "b", "c"} {
		if _, err := s.CreateCustomer(ctx, registry.Customer{ID: c, Name: c}, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Subscribe(ctx, registry.Subscription{CustomerID: c, Env: "dev", Plan: "basic", UsageKeyID: "k" + c, UsageKeyValue: "v"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for c, n := range map[string]int64{"a": 1234, "b": 5} {
		if err := s.PutUsageDay(ctx, registry.UsageDay{CustomerID: c, Env: "dev", Date: day.Format(time.DateOnly), Used: n}, 400*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestRunBillsOnceAndExports(t *testing.T) {
	ctx := context.Background()
	store := newStore(t)
	objects, client := newS3(t)
	fail := &events{fail: errors.New("EventBridge unavailable")}
	rep, err := billing.NewJob(store, fail, billing.WithExport(client, "exports", "billing")).Run(ctx, "dev", day)
	if err == nil || rep.Created != 2 || rep.Failed != 2 {
		t.Fatalf("with events failing: %v, %+v; want 2 records created, 2 events failed", err, rep)
	}
	ev := &events{}
	job := billing.NewJob(store, ev, billing.WithExport(client, "exports", "billing"))
	for run := range 2 {
		rep, err := job.Run(ctx, "dev", day)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Created != 0 || rep.Existed != 2 {
			t.Errorf("run %d: %+v; want the records found, none created", run, rep)
		}
	}
	if len(ev.got) != 2 {
		t.Errorf("%d Usage Recorded events, want 2 (the failed ones, once)", len(ev.got))
	}
	recs, err := store.ListBillingRecords(ctx, "dev", "2026-06-10")
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].ID != "dev/2026-06-10/a/v1" || recs[0].Quantity != 1234 || recs[1].Quantity != 5 {
		t.Errorf("records %+v", recs)
	}
	rows, err := csv.NewReader(bytes.NewReader(objects.objects["/exports/billing/dev/2026-06-10/records.csv"])).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{billing.CSVHeader,
		{"dev/2026-06-10/a/v1", "dev", "2026-06-10", "a", "basic", "1", "1234", "requests", "2026-06-12T03:00:00Z"},
		{"dev/2026-06-10/b/v1", "dev", "2026-06-10", "b", "basic", "1", "5", "requests", "2026-06-12T03:00:00Z"},
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("CSV export (-want +got):\n%s", diff)
	}
	if js := string(objects.objects["/exports/billing/dev/2026-06-10/records.json"]); !strings.Contains(js, `"id": "dev/2026-06-10/b/v1"`) || !strings.Contains(js, `"quantity": 1234`) {
		t.Errorf("JSON export:\n%s", js)
	}
}

func TestRenderIsDeterministic(t *testing.T) {
	at := time.Date(2026, 6, 12, 3, 0, 0, 0, time.UTC)
	r := []registry.BillingRecord{
		{ID: "dev/d/b/v1", Env: "dev", Date: "d", CustomerID: "b", Version: 1, Quantity: 2, Unit: "requests", CreatedAt: at},
		{ID: "dev/d/a/v2", Env: "dev", Date: "d", CustomerID: "a", Version: 2, Quantity: 1, Unit: "requests", CreatedAt: at},
		{ID: "dev/d/a/v1", Env: "dev", Date: "d", CustomerID: "a", Version: 1, Quantity: 3, Unit: "requests", CreatedAt: at},
	}
	c1, j1, err := billing.Render(r)
	if err != nil {
		t.Fatal(err)
	}
	c2, j2, _ := billing.Render([]registry.BillingRecord{r[2], r[0], r[1]})
	if !bytes.Equal(c1, c2) || !bytes.Equal(j1, j2) {
		t.Error("the same records in another order render differently")
	}
	if got := strings.Split(string(c1), "\n")[1]; !strings.HasPrefix(got, "dev/d/a/v1,") {
		t.Errorf("first row %q, want a's version 1", got)
	}
}
