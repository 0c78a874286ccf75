package e2echeck_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/e2echeck"
	"github.com/stagehand-dev/stagehand/internal/e2echeck/e2echecktest"
)

func config(env *e2echecktest.Env) e2echeck.Config {
	return e2echeck.Config{
		BaseURL:          env.GatewayURL,
		BackendURL:       env.BackendURL,
		EchoPath:         e2echecktest.EchoPath,
		ExpectCustomerID: e2echecktest.CustomerID,
		RateMaxRequests:  60,
		RateConcurrency:  4,
		Credentials:      e2echecktest.Creds,
	}
}

func newChecker(t *testing.T, cfg e2echeck.Config) *e2echeck.Checker {
	t.Helper()
	c, err := e2echeck.New(cfg, e2echeck.WithClock(clock.NewVirtual(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// assertNoSecret fails if any credential shows up in what a run reports.
func assertNoSecret(t *testing.T, rep e2echeck.Report, err error) {
	t.Helper()
	b, _ := json.Marshal(rep)
	out := string(b)
	if err != nil {
		out += err.Error()
	}
	c := e2echecktest.Creds
	for _, s := range []string{c.Key, c.JWT, c.RevokedKey, c.NoScopeKey, c.BasicKey, e2echecktest.OriginSecret} {
		if strings.Contains(out, s) {
			t.Errorf("the report or error holds a secret (%.8s…)", s)
		}
	}
}

// A healthy environment passes every check; the whole report is exact
// (one request at a time, so the burst stops at exactly Burst+1).
func TestRunAllPass(t *testing.T) {
	env := e2echecktest.Start(t, e2echecktest.Faults{})
	cfg := config(env)
	cfg.RateConcurrency = 1
	rep, err := newChecker(t, cfg).Run(context.Background())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := e2echeck.Report{
		BaseURL: env.GatewayURL, Passed: true, Failed: []string{}, Requests: 7 + e2echecktest.Burst + 1,
		Checks: []e2echeck.Result{
			{Name: "key", Passed: true, Want: "2xx", Got: "HTTP 200", Requests: 1},
			{Name: "jwt", Passed: true, Want: "2xx", Got: "HTTP 200", Requests: 1},
			{Name: "no-credentials", Passed: true, Want: "HTTP 401", Got: "HTTP 401 UnauthorizedException", Requests: 1},
			{Name: "revoked-key", Passed: true, Want: "HTTP 401", Got: "HTTP 401 UnauthorizedException", Requests: 1},
			{Name: "missing-scope", Passed: true, Want: "HTTP 403", Got: "HTTP 403 AccessDeniedException", Requests: 1},
			{Name: "customer-header", Passed: true, Want: "X-Customer-Id: acme reaches the backend", Got: "HTTP 200, X-Customer-Id: acme", Requests: 1},
			{Name: "origin-verify", Passed: true, Want: "HTTP 401 or 403", Got: "HTTP 403", Requests: 1},
			{Name: "rate-limit", Passed: true, Want: "HTTP 429 within 60 requests", Got: "20 accepted, 1 throttled", Requests: e2echecktest.Burst + 1},
		},
	}
	if diff := cmp.Diff(want, rep); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if got := env.Calls(); got != rep.Requests-1 { // origin-verify went to the backend
		t.Errorf("gateway saw %d requests, report says %d through it", got, rep.Requests-1)
	}
	assertNoSecret(t, rep, err)
}

// Each way a deployment can be wrong fails exactly the check that watches
// for it, and the run as a whole.
func TestRunDetectsEachFailure(t *testing.T) {
	tests := []struct {
		name       string
		faults     e2echecktest.Faults
		wantFailed []string
		wantDetail string // in the first failed check's detail
	}{
		{"gateway open without credentials", e2echecktest.Faults{OpenWithoutCredentials: true}, []string{"no-credentials"}, "without credentials"},
		{"revoked key still works", e2echecktest.Faults{AcceptRevoked: true}, []string{"revoked-key"}, "revoked key"},
		{"scopes not enforced", e2echecktest.Faults{IgnoreScopes: true}, []string{"missing-scope"}, "POST /"},
		{"JWT rejected", e2echecktest.Faults{RejectJWT: true}, []string{"jwt"}, "valid JWT"},
		{"key rejected", e2echecktest.Faults{RejectKey: true}, []string{"key", "customer-header"}, "valid API key"},
		{"403 where 401 is due", e2echecktest.Faults{ForbidInsteadOfUnauthorized: true}, []string{"no-credentials", "revoked-key"}, "401"},
		{"customer header not sent", e2echecktest.Faults{DropCustomerHeader: true}, []string{"customer-header"}, "did not receive X-Customer-Id"},
		{"another customer's id sent", e2echecktest.Faults{WrongCustomer: true}, []string{"customer-header"}, "another customer"},
		{"backend does not echo", e2echecktest.Faults{EchoHTML: true}, []string{"customer-header"}, "not JSON"},
		{"basic plan never throttles", e2echecktest.Faults{NoThrottle: true}, []string{"rate-limit"}, "no 429 after 60 requests"},
		{"server errors during the burst", e2echecktest.Faults{ServerErrorsInBurst: true}, []string{"rate-limit"}, "other than 2xx or 429"},
		{"backend reachable without origin-verify", e2echecktest.Faults{BackendOpen: true}, []string{"origin-verify"}, "X-Origin-Verify"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := e2echecktest.Start(t, tc.faults)
			rep, err := newChecker(t, config(env)).Run(context.Background())
			if !errors.Is(err, e2echeck.ErrChecksFailed) {
				t.Fatalf("err = %v, want ErrChecksFailed", err)
			}
			if rep.Passed {
				t.Error("report says passed")
			}
			if diff := cmp.Diff(tc.wantFailed, rep.Failed); diff != "" {
				t.Errorf("failed checks (-want +got):\n%s", diff)
			}
			if len(rep.Checks) != len(e2echeck.AllChecks) {
				t.Errorf("ran %d checks, want all %d (a failure must not stop the others)", len(rep.Checks), len(e2echeck.AllChecks))
			}
			for _, r := range rep.Checks {
				if r.Name == tc.wantFailed[0] && !strings.Contains(r.Detail, tc.wantDetail) {
					t.Errorf("%s detail = %q, want it to mention %q", r.Name, r.Detail, tc.wantDetail)
				}
			}
			assertNoSecret(t, rep, err)
		})
	}
}

// The burst is bounded: it stops at the first 429 (plus what was already in
// flight), and never goes past RateMaxRequests.
func TestRateLimitBurstIsBounded(t *testing.T) {
	tests := []struct {
		name    string
		faults  e2echecktest.Faults
		max     int
		conc    int
		atMost  int
		atLeast int
	}{
		{"stops at the first 429", e2echecktest.Faults{}, 300, 8, e2echecktest.Burst + 8, e2echecktest.Burst + 1},
		{"gives up after the maximum", e2echecktest.Faults{NoThrottle: true}, 45, 8, 45, 45},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := e2echecktest.Start(t, tc.faults)
			cfg := config(env)
			cfg.Checks, cfg.RateMaxRequests, cfg.RateConcurrency = []string{e2echeck.CheckRateLimit}, tc.max, tc.conc
			rep, _ := newChecker(t, cfg).Run(context.Background())
			got := env.BasicRequests()
			if got > tc.atMost || got < tc.atLeast {
				t.Errorf("basic key sent %d requests, want %d..%d", got, tc.atLeast, tc.atMost)
			}
			if rep.Requests != got {
				t.Errorf("report counts %d requests, the gateway saw %d", rep.Requests, got)
			}
		})
	}
}

// A selection runs only what it names, in the standard order.
func TestRunSelectedChecks(t *testing.T) {
	env := e2echecktest.Start(t, e2echecktest.Faults{})
	cfg := config(env)
	cfg.Checks = []string{"no-credentials", " jwt", "key", ""}
	cfg.Credentials = e2echeck.Credentials{Key: e2echecktest.Creds.Key, JWT: e2echecktest.Creds.JWT}
	c := newChecker(t, cfg)
	if diff := cmp.Diff([]string{"key", "jwt", "no-credentials"}, c.Checks()); diff != "" {
		t.Errorf("checks (-want +got):\n%s", diff)
	}
	rep, err := c.Run(context.Background())
	if err != nil || rep.Requests != 3 || env.Calls() != 3 {
		t.Errorf("Run = %v, %d requests, gateway saw %d; want nil, 3, 3", err, rep.Requests, env.Calls())
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	full := e2echeck.Config{BaseURL: "https://api.example.com", Credentials: e2echecktest.Creds}
	tests := []struct {
		name    string
		edit    func(c *e2echeck.Config)
		wantErr string
	}{
		{"missing base URL", func(c *e2echeck.Config) { c.BaseURL = "" }, `base URL "" is not an http(s) URL`},
		{"not http", func(c *e2echeck.Config) { c.BaseURL = "ftp://x" }, "not an http(s) URL"},
		{"credentials in the URL", func(c *e2echeck.Config) { c.BaseURL = "https://u:p@api.example.com" }, "must not hold credentials"},
		{"missing key for the default checks", func(c *e2echeck.Config) { c.Credentials.Key = "" }, "check customer-header needs STAGEHAND_E2E_KEY; check key needs STAGEHAND_E2E_KEY"},
		{"missing basic key", func(c *e2echeck.Config) { c.Credentials.BasicKey = "" }, "check rate-limit needs STAGEHAND_E2E_BASIC_KEY"},
		{"origin-verify asked without a backend", func(c *e2echeck.Config) { c.Checks = []string{"origin-verify"} }, "check origin-verify needs a backend URL"},
		{"unknown check", func(c *e2echeck.Config) { c.Checks = []string{"key", "teapot"} }, `unknown check "teapot"`},
		{"relative path", func(c *e2echeck.Config) { c.Path = "orders" }, `path "orders" must start with /`},
		{"unbounded burst", func(c *e2echeck.Config) { c.RateMaxRequests = 1 << 20 }, "rate max requests"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := full
			tc.edit(&cfg)
			_, err := e2echeck.New(cfg)
			if !errors.Is(err, e2echeck.ErrInvalidConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want ErrInvalidConfig mentioning %q", err, tc.wantErr)
			}
		})
	}
	// Without a backend URL the default selection leaves origin-verify out.
	c, err := e2echeck.New(full)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"key", "jwt", "no-credentials", "revoked-key", "missing-scope", "customer-header", "rate-limit"}
	if diff := cmp.Diff(want, c.Checks()); diff != "" {
		t.Errorf("default checks (-want +got):\n%s", diff)
	}
}

// An unreachable gateway fails every check with "no response", quickly and
// without a secret in the message.
func TestRunUnreachableGateway(t *testing.T) {
	cfg := e2echeck.Config{BaseURL: "http://127.0.0.1:9", Checks: []string{"key", "rate-limit"}, Credentials: e2echecktest.Creds, RateConcurrency: 2, RateMaxRequests: 10}
	rep, err := newChecker(t, cfg).Run(context.Background())
	if !errors.Is(err, e2echeck.ErrChecksFailed) || len(rep.Failed) != 2 {
		t.Fatalf("Run = %+v, %v; want both checks failed", rep, err)
	}
	if rep.Checks[0].Got != "no response" {
		t.Errorf("key check got %q, want no response", rep.Checks[0].Got)
	}
	assertNoSecret(t, rep, err)
}
