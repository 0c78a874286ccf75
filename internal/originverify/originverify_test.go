package originverify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/originverify"
)

const secretID = "arn:aws:secretsmanager:us-east-1:111111111111:secret:stagehand/dev/origin-verify-AbCdEf"

// fakeSM is Secrets Manager's staging-label behaviour for one secret:
// Put moves AWSCURRENT to a new version and AWSPREVIOUS to the old one
// (PutSecretValue without VersionStages).
type fakeSM struct {
	mu       sync.Mutex
	versions map[string]version // by stage
	fail     error
	calls    int
}

type version struct {
	value   string
	created time.Time
}

func newFake(value string, created time.Time) *fakeSM {
	return &fakeSM{versions: map[string]version{originverify.StageCurrent: {value, created}}}
}

func (f *fakeSM) Put(value string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[originverify.StagePrevious] = f.versions[originverify.StageCurrent]
	f.versions[originverify.StageCurrent] = version{value, at}
}

func (f *fakeSM) SetPending(value string, at time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.versions[originverify.StagePending] = version{value, at}
}

func (f *fakeSM) SetFail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail = err
}

func (f *fakeSM) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *fakeSM) GetSecretValue(_ context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.fail != nil {
		return nil, f.fail
	}
	if aws.ToString(in.SecretId) != secretID {
		return nil, &types.ResourceNotFoundException{Message: aws.String("no such secret")}
	}
	v, ok := f.versions[aws.ToString(in.VersionStage)]
	if !ok {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Secrets Manager can't find the specified secret value for staging label: " + aws.ToString(in.VersionStage))}
	}
	return &secretsmanager.GetSecretValueOutput{SecretString: aws.String(v.value), CreatedDate: aws.Time(v.created)}, nil
}

// vclock is a virtual clock.
type vclock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *vclock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *vclock) Advance(d time.Duration) { c.mu.Lock(); defer c.mu.Unlock(); c.now = c.now.Add(d) }

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestFetch(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name    string
		setup   func(*fakeSM)
		want    originverify.Versions
		wantErr error
	}{
		{
			name: "current only",
			want: originverify.Versions{Current: "v1-secret", CurrentCreated: t0},
		},
		{
			name:  "current, pending and previous",
			setup: func(f *fakeSM) { f.Put("v2-secret", t0.Add(time.Hour)); f.SetPending("v3-secret", t0.Add(2*time.Hour)) },
			want:  originverify.Versions{Current: "v2-secret", Previous: "v1-secret", Pending: "v3-secret", CurrentCreated: t0.Add(time.Hour)},
		},
		{
			name:    "no current value",
			setup:   func(f *fakeSM) { delete(f.versions, originverify.StageCurrent) },
			wantErr: &types.ResourceNotFoundException{},
		},
		{
			name:    "empty current value",
			setup:   func(f *fakeSM) { f.versions[originverify.StageCurrent] = version{"", t0} },
			wantErr: originverify.ErrNoValue,
		},
		{
			name:    "value with a space",
			setup:   func(f *fakeSM) { f.versions[originverify.StageCurrent] = version{"two words", t0} },
			wantErr: originverify.ErrBadValue,
		},
		{
			name:    "previous value with a quote",
			setup:   func(f *fakeSM) { f.Put("v2-secret", t0); f.versions[originverify.StagePrevious] = version{`a"b`, t0} },
			wantErr: originverify.ErrBadValue,
		},
		{
			name: "value too long",
			setup: func(f *fakeSM) {
				f.versions[originverify.StageCurrent] = version{strings.Repeat("x", originverify.MaxValueBytes+1), t0}
			},
			wantErr: originverify.ErrBadValue,
		},
		{
			name:    "service error",
			setup:   func(f *fakeSM) { f.SetFail(boom) },
			wantErr: boom,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake("v1-secret", t0)
			if tc.setup != nil {
				tc.setup(f)
			}
			got, err := originverify.Fetch(context.Background(), f, secretID)
			if tc.wantErr != nil {
				var nf *types.ResourceNotFoundException
				if _, isNF := tc.wantErr.(*types.ResourceNotFoundException); isNF {
					if !errors.As(err, &nf) {
						t.Fatalf("error = %v, want ResourceNotFoundException", err)
					}
				} else if !errors.Is(err, tc.wantErr) {
					t.Fatalf("error = %v, want %v", err, tc.wantErr)
				}
				if err != nil && strings.Contains(err.Error(), "secret\"") {
					t.Errorf("error quotes a value: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Fetch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestContextReserveCoversTheLongestValue: what Wrap adds to a response is
// never more than ContextReserve bytes of JSON.
func TestContextReserveCoversTheLongestValue(t *testing.T) {
	value := strings.Repeat("~", originverify.MaxValueBytes)
	s, err := originverify.NewSender(context.Background(), newFake(value, t0), secretID)
	if err != nil {
		t.Fatal(err)
	}
	inner := func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return events.APIGatewayCustomAuthorizerResponse{Context: map[string]any{"k": "v"}}, nil
	}
	bare, _ := inner(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{})
	wrapped, err := s.Wrap(inner)(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(bare)
	b, _ := json.Marshal(wrapped)
	if added := len(b) - len(a); added > originverify.ContextReserve {
		t.Fatalf("Wrap added %d bytes, ContextReserve is %d", added, originverify.ContextReserve)
	}
}

func TestSenderPromotesANewValueOnlyAfterTheDelay(t *testing.T) {
	clk := &vclock{now: t0.Add(24 * time.Hour)}
	f := newFake("old-value", t0)
	s, err := originverify.NewSender(context.Background(), f, secretID,
		originverify.WithClock(clk.Now), originverify.WithRefresh(5*time.Minute), originverify.WithPromoteAfter(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	steps := []struct {
		name    string
		advance time.Duration
		act     func()
		want    string
	}{
		{name: "before rotation", want: "old-value"},
		{name: "rotated, not yet refreshed", advance: time.Minute, act: func() { f.Put("new-value", clk.Now()) }, want: "old-value"},
		{name: "refreshed, new value younger than the delay: AWSPREVIOUS", advance: 5 * time.Minute, want: "old-value"},
		{name: "just before the delay", advance: 15*time.Minute - 5*time.Minute - time.Second, want: "old-value"},
		{name: "delay reached: AWSCURRENT", advance: time.Second, want: "new-value"},
		{name: "later", advance: time.Hour, want: "new-value"},
	}
	for _, st := range steps {
		clk.Advance(st.advance)
		if st.act != nil {
			st.act()
		}
		if got := s.Value(ctx); got != st.want {
			t.Fatalf("%s: Value = %q, want %q", st.name, got, st.want)
		}
	}
}

func TestSenderFirstVersionIsSentAtOnce(t *testing.T) {
	// A secret with no AWSPREVIOUS (just created) has nothing older to send.
	clk := &vclock{now: t0}
	f := newFake("only-value", t0)
	s, err := originverify.NewSender(context.Background(), f, secretID, originverify.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Value(context.Background()); got != "only-value" {
		t.Fatalf("Value = %q, want only-value", got)
	}
}

func TestRefreshFailureServesTheLastValueAndNeverLogsIt(t *testing.T) {
	clk := &vclock{now: t0.Add(time.Hour)}
	f := newFake("kept-value-123", t0)
	var logs bytes.Buffer
	s, err := originverify.NewSender(context.Background(), f, secretID, originverify.WithClock(clk.Now),
		originverify.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	f.SetFail(errors.New("throttled"))
	clk.Advance(originverify.DefaultRefresh)
	if got := s.Value(context.Background()); got != "kept-value-123" {
		t.Fatalf("Value after a failed refresh = %q, want the last good value", got)
	}
	calls := f.Calls()
	// The next try waits (no call per request while Secrets Manager fails).
	clk.Advance(10 * time.Second)
	s.Value(context.Background())
	if f.Calls() != calls {
		t.Errorf("refresh retried after 10 s: %d calls, want %d", f.Calls(), calls)
	}
	clk.Advance(30 * time.Second)
	f.SetFail(nil)
	f.Put("fresh-value-456", t0)
	if got := s.Value(context.Background()); got != "fresh-value-456" {
		t.Errorf("Value after recovery = %q, want fresh-value-456", got)
	}
	if !strings.Contains(logs.String(), "origin-verify refresh failed") {
		t.Errorf("failed refresh not logged: %s", logs.String())
	}
	for _, v := range []string{"kept-value-123", "fresh-value-456"} {
		if strings.Contains(logs.String(), v) {
			t.Errorf("log contains the secret value: %s", logs.String())
		}
	}
}

func TestColdStartFailsWithoutTheSecret(t *testing.T) {
	f := newFake("v", t0)
	f.SetFail(errors.New("AccessDeniedException"))
	if _, err := originverify.NewSender(context.Background(), f, secretID); err == nil {
		t.Fatal("NewSender succeeded without the secret")
	}
	if _, err := originverify.NewChecker(context.Background(), f, secretID); err == nil {
		t.Fatal("NewChecker succeeded without the secret")
	}
	if _, err := originverify.NewSender(context.Background(), nil, secretID); !errors.Is(err, originverify.ErrConfig) {
		t.Fatalf("nil client: err = %v, want ErrConfig", err)
	}
	if _, err := originverify.NewSender(context.Background(), newFake("v", t0), secretID, originverify.WithRefresh(0)); !errors.Is(err, originverify.ErrConfig) {
		t.Fatalf("zero refresh: err = %v, want ErrConfig", err)
	}
}

func TestCheckerAcceptsCurrentPendingAndPrevious(t *testing.T) {
	clk := &vclock{now: t0}
	f := newFake("v1", t0)
	c, err := originverify.NewChecker(context.Background(), f, secretID, originverify.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	check := func(step string, want map[string]bool) {
		t.Helper()
		got := map[string]bool{}
		for v := range want {
			got[v] = c.Valid(ctx, v)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", step, diff)
		}
	}
	check("start", map[string]bool{"v1": true, "v2": false, "": false, "v1 ": false})
	f.SetPending("v2", clk.Now())
	clk.Advance(originverify.DefaultRefresh)
	check("pending", map[string]bool{"v1": true, "v2": true, "v3": false})
	delete(f.versions, originverify.StagePending)
	f.Put("v2", clk.Now())
	clk.Advance(originverify.DefaultRefresh)
	check("rotated", map[string]bool{"v1": true, "v2": true})
	f.Put("v3", clk.Now())
	clk.Advance(originverify.DefaultRefresh)
	check("rotated twice", map[string]bool{"v1": false, "v2": true, "v3": true})
}

// TestRotationNeverSendsAValueTheBackendRejects runs the documented timing
// rule on a virtual timeline: Sender and Checker refresh every 5 min with
// any phase, the Sender promotes after 15 min, API Gateway caches the
// authorizer's context for up to cacheTTL, and rotations are at least
// promoteAfter + cacheTTL apart. Every second, the value a request carries
// (the cached one) must be accepted by the backend.
func TestRotationNeverSendsAValueTheBackendRejects(t *testing.T) {
	const (
		refresh      = 5 * time.Minute
		promoteAfter = 15 * time.Minute
		cacheTTL     = 5 * time.Minute
		step         = 10 * time.Second
	)
	for _, phase := range []time.Duration{0, 70 * time.Second, 150 * time.Second, 299 * time.Second} {
		t.Run(phase.String(), func(t *testing.T) {
			clk := &vclock{now: t0}
			f := newFake("v0", t0.Add(-48*time.Hour))
			s, err := originverify.NewSender(context.Background(), f, secretID, originverify.WithClock(clk.Now),
				originverify.WithRefresh(refresh), originverify.WithPromoteAfter(promoteAfter))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			// The gateway's cache fills on the Sender's refresh grid; the
			// backend's refresh grid is phase later.
			cached, cachedAt := s.Value(ctx), clk.Now()
			clk.Advance(phase)
			c, err := originverify.NewChecker(context.Background(), f, secretID, originverify.WithClock(clk.Now), originverify.WithRefresh(refresh))
			if err != nil {
				t.Fatal(err)
			}
			rotations, sent := 0, map[string]bool{}
			end := t0.Add(12 * time.Hour)
			nextRotation := t0.Add(20*time.Minute + 7*time.Second)
			for clk.Now().Before(end) {
				if !clk.Now().Before(nextRotation) {
					rotations++
					f.Put("v"+string(rune('0'+rotations)), clk.Now())
					// Not aligned with either refresh grid.
					nextRotation = clk.Now().Add(promoteAfter + cacheTTL + 47*time.Second)
				}
				if clk.Now().Sub(cachedAt) >= cacheTTL {
					cached, cachedAt = s.Value(ctx), clk.Now()
				}
				sent[cached] = true
				if !c.Valid(ctx, cached) {
					t.Fatalf("at %s (rotation %d) the backend rejects the value the gateway sends", clk.Now().Sub(t0), rotations)
				}
				clk.Advance(step)
			}
			if rotations < 10 || len(sent) < rotations {
				t.Fatalf("%d rotations, %d distinct values sent: the timeline did not exercise rotation", rotations, len(sent))
			}
		})
	}
}

func TestWrapAddsTheValueWithoutTouchingTheSharedContext(t *testing.T) {
	f := newFake("wrapped-value", t0)
	s, err := originverify.NewSender(context.Background(), f, secretID)
	if err != nil {
		t.Fatal(err)
	}
	shared := map[string]any{"customerId": "cus_1", "keyId": "key_1"}
	denied := errors.New("Unauthorized")
	inner := func(_ context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		if req.MethodArn == "bad" {
			return events.APIGatewayCustomAuthorizerResponse{}, denied
		}
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "cus_1", Context: shared}, nil
	}
	h := s.Wrap(inner)
	resp, err := h(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: "ok"})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"customerId": "cus_1", "keyId": "key_1", originverify.ContextKey: "wrapped-value"}
	if diff := cmp.Diff(want, resp.Context); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}
	if _, ok := shared[originverify.ContextKey]; ok {
		t.Error("Wrap wrote into the inner handler's (shared) context map")
	}
	resp, err = h(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: "bad"})
	if !errors.Is(err, denied) || resp.Context != nil {
		t.Errorf("rejection: resp %+v, err %v; want the inner rejection unchanged", resp, err)
	}
}

func TestMiddlewareExemptsOnlyTheHealthPath(t *testing.T) {
	c, err := originverify.NewChecker(context.Background(), newFake("good", t0), secretID)
	if err != nil {
		t.Fatal(err)
	}
	h := originverify.Middleware(c, []string{"/healthz"}, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	}))
	tests := []struct {
		name, method, target, header string
		want                         int
	}{
		{"health check without header", http.MethodGet, "/healthz", "", http.StatusOK},
		{"health check HEAD", http.MethodHead, "/healthz", "", http.StatusOK},
		{"health path POST without header", http.MethodPost, "/healthz", "", http.StatusForbidden},
		{"health path prefix is not exempt", http.MethodGet, "/healthz/x", "", http.StatusForbidden},
		{"route without header", http.MethodGet, "/orders", "", http.StatusForbidden},
		{"route with wrong header", http.MethodGet, "/orders", "bad", http.StatusForbidden},
		{"route with header", http.MethodGet, "/orders", "good", http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(tc.method, tc.target, nil)
			if tc.header != "" {
				req.Header.Set(originverify.Header, tc.header)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Errorf("status = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    originverify.Config
		wantErr bool
	}{
		{name: "unset: off, defaults", want: originverify.Config{Refresh: originverify.DefaultRefresh, PromoteAfter: originverify.DefaultPromoteAfter}},
		{
			name: "set",
			env: map[string]string{originverify.EnvSecretARN: secretID, originverify.EnvEndpoint: "http://127.0.0.1:4566",
				originverify.EnvRefreshSeconds: "60", originverify.EnvPromoteAfterSeconds: "120"},
			want: originverify.Config{SecretARN: secretID, Endpoint: "http://127.0.0.1:4566", Refresh: time.Minute, PromoteAfter: 2 * time.Minute},
		},
		{name: "not a number", env: map[string]string{originverify.EnvRefreshSeconds: "5m"}, wantErr: true},
		{name: "zero", env: map[string]string{originverify.EnvPromoteAfterSeconds: "0"}, wantErr: true},
		{name: "promote before refresh", env: map[string]string{originverify.EnvRefreshSeconds: "600", originverify.EnvPromoteAfterSeconds: "300"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := originverify.LoadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr {
				if !errors.Is(err, originverify.ErrConfig) {
					t.Fatalf("err = %v, want ErrConfig", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("LoadConfig (-want +got):\n%s", diff)
			}
			if got.Enabled() != (tc.want.SecretARN != "") {
				t.Errorf("Enabled = %v", got.Enabled())
			}
		})
	}
}
