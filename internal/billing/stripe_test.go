package billing_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/billing"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// stripeMock starts Stripe's official mock server (the stripe-mock Go tool
// pinned in go.mod's tool block) on a free loopback port for the test and
// returns its URL. It fails the test if the server cannot start.
func stripeMock(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "tool", "-n", "stripe-mock").Output()
	if err != nil {
		t.Fatalf("stripe-mock: cannot build the go tool (go.mod's tool block): %v", err)
	}
	bin := strings.TrimSpace(string(out))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	var stderr bytes.Buffer
	cmd := exec.Command(bin, "-http-addr", addr)
	cmd.Stderr, cmd.Stdout = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("stripe-mock: cannot start %s: %v", bin, err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	base := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodGet, base+"/v1/customers", nil)
		req.Header.Set("Authorization", "Bearer sk_test_123")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stripe-mock did not answer on %s within 30s: %v\n%s", addr, err, stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// recordingProxy forwards to target and records each request's method,
// path and Idempotency-Key; for the next failNext meter-event requests it
// forwards, then drops the connection instead of answering.
type recordingProxy struct {
	mu       sync.Mutex
	requests []string
	failNext int
	proxy    *httputil.ReverseProxy
}

func (p *recordingProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.requests = append(p.requests, r.Method+" "+r.URL.Path+" "+r.Header.Get("Idempotency-Key"))
	fail := p.failNext > 0 && r.URL.Path == "/v1/billing/meter_events"
	if fail {
		p.failNext--
	}
	p.mu.Unlock()
	if fail {
		// The request reaches Stripe, the answer is lost: the connection
		// drops. stripe-go retries network errors with the same key.
		p.proxy.ServeHTTP(httptest.NewRecorder(), r)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	p.proxy.ServeHTTP(w, r)
}

func (p *recordingProxy) meterEvents() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, r := range p.requests {
		if strings.HasPrefix(r, "POST /v1/billing/meter_events ") {
			out = append(out, strings.TrimPrefix(r, "POST /v1/billing/meter_events "))
		}
	}
	return out
}

func TestStripeSinkSendsEachRecordOnce(t *testing.T) {
	ctx := context.Background()
	target, _ := url.Parse(stripeMock(t))
	rec := &recordingProxy{proxy: httputil.NewSingleHostReverseProxy(target)}
	proxy := httptest.NewServer(rec)
	defer proxy.Close()

	store := newStore(t)
	if err := store.PutBillingAccount(ctx, registry.BillingAccount{CustomerID: "a", System: billing.StripeSystem, AccountID: "cus_A"}); err != nil {
		t.Fatal(err)
	}
	client := billing.NewStripeClient("sk_test_123", proxy.URL, 2)
	sink := billing.NewStripeSink(client.V1BillingMeterEvents, store, "api_requests")
	job := billing.NewJob(store, &events{}, billing.WithSink(sink))

	// Run 1: a is sent (its first answer lost on the wire, retried by
	// stripe-go with the same key); b has no Stripe customer yet and fails.
	rec.failNext = 1
	rep, err := job.Run(ctx, "dev", day)
	if err == nil || rep.Sent[billing.StripeSystem] != 1 || rep.Failed != 1 {
		t.Fatalf("run 1: %v, %+v; want a sent, b failed (no Stripe customer); requests %q", err, rep, rec.requests)
	}
	if got := rec.meterEvents(); len(got) != 2 || got[0] != got[1] || got[0] != "stagehand:dev/2026-06-10/a/v1" {
		t.Errorf("run 1 meter event requests %q; want a's, retried once with the same key", got)
	}
	// Run 2: b is mapped now; only b is sent.
	if err := store.PutBillingAccount(ctx, registry.BillingAccount{CustomerID: "b", System: billing.StripeSystem, AccountID: "cus_B"}); err != nil {
		t.Fatal(err)
	}
	if rep, err := job.Run(ctx, "dev", day); err != nil || rep.Sent[billing.StripeSystem] != 1 {
		t.Fatalf("run 2: %v, %+v; want b sent", err, rep)
	}
	// Run 3: nothing left to send, and nothing is.
	if rep, err := job.Run(ctx, "dev", day); err != nil || rep.Sent[billing.StripeSystem] != 0 {
		t.Fatalf("run 3: %v, %+v", err, rep)
	}
	want := []string{"stagehand:dev/2026-06-10/a/v1", "stagehand:dev/2026-06-10/a/v1", "stagehand:dev/2026-06-10/b/v1"}
	if got := rec.meterEvents(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("meter event requests over three runs\n got %q\nwant %q", got, want)
	}
	recs, _ := store.ListBillingRecords(ctx, "dev", "2026-06-10")
	for _, r := range recs {
		if _, ok := r.Sent[billing.StripeSystem]; !ok {
			t.Errorf("record %s not marked sent", r.ID)
		}
	}
}

func TestStripeSinkErrors(t *testing.T) {
	store := newStore(t)
	sink := billing.NewStripeSink(nil, store, "api_requests")
	err := sink.Send(context.Background(), registry.BillingRecord{ID: "dev/2026-06-10/c/v1", CustomerID: "c", Date: "2026-06-10"})
	if !errors.Is(err, billing.ErrNoStripeCustomer) {
		t.Errorf("unmapped customer: %v, want ErrNoStripeCustomer", err)
	}
}
