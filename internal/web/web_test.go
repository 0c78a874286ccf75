package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

const (
	testIssuer   = "https://issuer.example"
	operatorsGrp = "stagehand-operators"
)

// meteringKeys stands in for API Gateway's metering keys.
type meteringKeys struct {
	mu sync.Mutex
	n  int
}

func (m *meteringKeys) CreateUsageKey(context.Context, string, string) (string, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	return fmt.Sprintf("ak%d", m.n), fmt.Sprintf("value%d", m.n), nil
}
func (m *meteringKeys) DeleteUsageKey(context.Context, string) error         { return nil }
func (m *meteringKeys) AttachUsageKey(context.Context, string, string) error { return nil }
func (m *meteringKeys) DetachUsageKey(context.Context, string, string) error { return nil }

// fixedUsage reports 120 requests a day.
type fixedUsage struct{}

func (fixedUsage) Usage(_ context.Context, customerID, env string, start, end time.Time) (service.UsageReport, error) {
	rep := service.UsageReport{CustomerID: customerID, Env: env, Plan: "basic", Start: start.Format(service.DateLayout), End: end.Format(service.DateLayout)}
	for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
		rep.Days = append(rep.Days, service.DayUsage{Date: d.Format(service.DateLayout), Used: 120, Remaining: 880})
	}
	return rep, nil
}

type events struct{ got []service.PlanChangeDecided }

func (e *events) PlanChangeDecided(_ context.Context, d service.PlanChangeDecided) error {
	e.got = append(e.got, d)
	return nil
}

// fakeAuth is an Authenticator whose codes name the identity to sign in;
// the real OIDC flow is tested against a real provider in
// test/oidcissuer.
type fakeAuth struct{ ids map[string]Identity }

func (f fakeAuth) AuthCodeURL(state, nonce, verifier string) string {
	return "https://issuer.example/auth?state=" + url.QueryEscape(state)
}

func (f fakeAuth) Exchange(_ context.Context, code, verifier, nonce string) (Identity, error) {
	id, ok := f.ids[code]
	if !ok || verifier == "" || nonce == "" {
		return Identity{}, ErrBadToken
	}
	return id, nil
}

type fixture struct {
	srv    *Server
	h      http.Handler
	svc    *service.Service
	events *events
	keys   map[string]registry.Key // customer id -> its key
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	return newFixtureWith(t, clock.System{}, Config{})
}

// newFixtureWith is newFixture with clk in the store, the service and the
// web UIs, and cfg's RotateGrace.
func newFixtureWith(t testing.TB, clk clock.Clock, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	client, table := ddbtest.NewTable(t)
	store := registry.New(client, table, registry.WithClock(clk))
	for _, p := range []registry.Plan{
		{Env: "dev", Name: "basic", UsagePlanID: "up-basic", RateLimit: 10, BurstLimit: 20, QuotaLimit: 1000, QuotaPeriod: "DAY"},
		{Env: "dev", Name: "gold", UsagePlanID: "up-gold", RateLimit: 100, BurstLimit: 200},
	} {
		if _, err := store.PutPlan(ctx, p, "test"); err != nil {
			t.Fatal(err)
		}
	}
	svc := service.New(store, &meteringKeys{}, service.WithClock(clk))
	f := &fixture{svc: svc, events: &events{}, keys: map[string]registry.Key{}}
	for _, c := range []string{"acme", "globex"} {
		if _, err := svc.CreateCustomer(ctx, c, strings.ToUpper(c), "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Subscribe(ctx, c, "dev", "basic", nil, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.PutBinding(ctx, registry.ClientBinding{Env: "dev", Issuer: testIssuer, Subject: "user-" + c, CustomerID: c}, "test"); err != nil {
			t.Fatal(err)
		}
		k, _, err := svc.CreateKey(ctx, service.CreateKeyInput{CustomerID: c, Env: "dev", Name: "main"}, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.keys[c] = k
	}
	doc, err := os.ReadFile("testdata/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	auth := fakeAuth{ids: map[string]Identity{
		"op":      {Issuer: testIssuer, Subject: "op-1", Name: "alice@example.com", Groups: []string{operatorsGrp}},
		"notop":   {Issuer: testIssuer, Subject: "user-x", Name: "mallory"},
		"acme":    {Issuer: testIssuer, Subject: "user-acme", Name: "ann@acme"},
		"globex":  {Issuer: testIssuer, Subject: "user-globex", Name: "gil@globex"},
		"unbound": {Issuer: testIssuer, Subject: "nobody", Name: "nobody"},
	}}
	key := []byte("0123456789abcdef0123456789abcdef")
	f.srv, err = New(Config{Env: "dev", OperatorGroup: operatorsGrp, HashKey: key, BlockKey: key, OpenAPI: doc, RotateGrace: cfg.RotateGrace},
		svc, fixedUsage{}, f.events, auth, WithClock(clk))
	if err != nil {
		t.Fatal(err)
	}
	f.h = f.srv.Handler()
	return f
}

// session mints the cookie a successful sign-in would set.
func (f *fixture) session(t testing.TB, s Session) *http.Cookie {
	t.Helper()
	s.CSRF, s.Expires = "csrf-"+s.Subject, time.Now().Add(time.Hour).Unix()
	v, err := f.srv.cookies.codec.Encode(sessionCookie, s)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Cookie{Name: sessionCookie, Value: v}
}

var (
	operator = Session{Role: RoleOperator, Issuer: testIssuer, Subject: "op-1", Name: "alice@example.com"}
	acme     = Session{Role: RoleCustomer, Issuer: testIssuer, Subject: "user-acme", Name: "ann", CustomerID: "acme"}
	globex   = Session{Role: RoleCustomer, Issuer: testIssuer, Subject: "user-globex", Name: "gil", CustomerID: "globex"}
)

func (f *fixture) do(t *testing.T, method, target string, ck *http.Cookie, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req := httptest.NewRequest(method, "https://portal.example"+target, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	if ck != nil {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, req)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

func form(csrf string, kv ...string) url.Values {
	v := url.Values{"csrf": {csrf}}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Set(kv[i], kv[i+1])
	}
	return v
}

// snapshot is everything a request could change about a customer.
func (f *fixture) snapshot(t *testing.T, customer string) string {
	t.Helper()
	ctx := context.Background()
	st := f.svc.Store()
	c, err := st.GetCustomer(ctx, customer)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := st.GetSubscription(ctx, customer, "dev")
	ks, _ := st.ListKeysByCustomer(ctx, customer, "", "", 100)
	audit, _ := st.ListAudit(ctx, customer, "", 100)
	reqs, _ := st.ListPlanRequests(ctx, customer, 100)
	bs, _ := st.ListBindings(ctx, customer)
	return fmt.Sprintf("%+v\n%+v\n%+v\n%d audit\n%+v\n%+v", c, sub, ks.Items, len(audit.Items), reqs, bs)
}

// Every portal route, with a second customer's session, aimed at the first
// customer's data: 403 or 404, and nothing of the first customer changes.
func TestPortalIsolation(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t, globex)
	acmeKey := f.keys["acme"].ID
	before := f.snapshot(t, "acme")
	tests := []struct {
		name, method, path string
		form               url.Values
	}{
		{"rotate another customer's key", "POST", "/portal/keys/" + acmeKey + "/rotate", form("csrf-user-globex", "grace", "1h")},
		{"rotate another customer's key with a refused grace", "POST", "/portal/keys/" + acmeKey + "/rotate", form("csrf-user-globex", "grace", "-1h")},
		{"revoke another customer's key", "POST", "/portal/keys/" + acmeKey + "/revoke", form("csrf-user-globex")},
		{"console home", "GET", "/console/", nil},
		{"console customer page", "GET", "/console/customers/acme", nil},
		{"console usage chart", "GET", "/console/customers/acme/usage.svg", nil},
		{"console audit", "GET", "/console/audit?subject=acme", nil},
		{"console plans", "GET", "/console/plans", nil},
		{"console deployments", "GET", "/console/deployments", nil},
		{"console create customer", "POST", "/console/customers", form("csrf-user-globex", "id", "evil", "name", "Evil", "plan", "gold")},
		{"console suspend", "POST", "/console/customers/acme/status", form("csrf-user-globex", "status", "suspended")},
		{"console change plan", "POST", "/console/customers/acme/plan", form("csrf-user-globex", "plan", "gold")},
		{"console issue key", "POST", "/console/customers/acme/keys", form("csrf-user-globex", "name", "x")},
		{"console rotate key", "POST", "/console/customers/acme/keys/" + acmeKey + "/rotate", form("csrf-user-globex", "grace", "1h")},
		{"console revoke key", "POST", "/console/customers/acme/keys/" + acmeKey + "/status", form("csrf-user-globex", "status", "revoked")},
		{"console add binding", "POST", "/console/customers/acme/bindings", form("csrf-user-globex", "issuer", testIssuer, "subject", "user-globex2")},
		{"console remove binding", "POST", "/console/customers/acme/bindings/delete", form("csrf-user-globex", "issuer", testIssuer, "subject", "user-acme")},
		{"console decide request", "POST", "/console/plan-requests/x/approve", form("csrf-user-globex")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := f.do(t, tc.method, tc.path, ck, tc.form)
			if res.StatusCode != http.StatusForbidden && res.StatusCode != http.StatusNotFound {
				t.Errorf("status = %d, want 403 or 404", res.StatusCode)
			}
			if strings.Contains(body, acmeKey) || strings.Contains(body, f.keys["acme"].DisplayPrefix) {
				t.Error("the response shows the other customer's key")
			}
		})
	}
	// The portal's own pages show only the session's customer.
	for _, path := range []string{"/portal/", "/portal/usage", "/portal/docs"} {
		res, body := f.do(t, "GET", path, ck, nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", path, res.StatusCode)
		}
		if strings.Contains(body, f.keys["acme"].DisplayPrefix) || strings.Contains(body, "ACME") {
			t.Errorf("GET %s shows acme's data", path)
		}
	}
	if d := cmp.Diff(before, f.snapshot(t, "acme")); d != "" {
		t.Errorf("acme changed (-before +after):\n%s", d)
	}
	if _, err := f.svc.Store().GetCustomer(context.Background(), "evil"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("a customer session created a customer: %v", err)
	}
}

// An operator session cannot use the portal (no customer id to act as).
func TestOperatorCannotUsePortal(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t, operator)
	before := f.snapshot(t, "acme")
	for _, tc := range []struct{ method, path string }{
		{"GET", "/portal/"}, {"GET", "/portal/usage.svg"}, {"POST", "/portal/keys"},
		{"POST", "/portal/keys/" + f.keys["acme"].ID + "/revoke"}, {"POST", "/portal/plan-requests"},
	} {
		var fm url.Values
		if tc.method == "POST" {
			fm = form("csrf-op-1", "plan", "gold")
		}
		if res, _ := f.do(t, tc.method, tc.path, ck, fm); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s %s = %d, want 403", tc.method, tc.path, res.StatusCode)
		}
	}
	if d := cmp.Diff(before, f.snapshot(t, "acme")); d != "" {
		t.Errorf("acme changed:\n%s", d)
	}
}

// State-changing requests without a valid session, without the session's
// form token, or from another origin are refused and write nothing.
func TestSessionAndCSRF(t *testing.T) {
	f := newFixture(t)
	good := f.session(t, acme)
	forged := &http.Cookie{Name: sessionCookie, Value: strings.Replace(good.Value, "a", "b", 1)}
	expired := func() *http.Cookie {
		s := acme
		s.CSRF, s.Expires = "csrf-user-acme", time.Now().Add(-time.Minute).Unix()
		v, _ := f.srv.cookies.codec.Encode(sessionCookie, s)
		return &http.Cookie{Name: sessionCookie, Value: v}
	}()
	before := f.snapshot(t, "acme")
	tests := []struct {
		name   string
		ck     *http.Cookie
		form   url.Values
		hdr    []string
		status int
	}{
		{"no session", nil, form("csrf-user-acme"), nil, http.StatusUnauthorized},
		{"forged cookie", forged, form("csrf-user-acme"), nil, http.StatusUnauthorized},
		{"expired session", expired, form("csrf-user-acme"), nil, http.StatusUnauthorized},
		{"no form token", good, form(""), nil, http.StatusForbidden},
		{"another session's token", good, form("csrf-user-globex"), nil, http.StatusForbidden},
		{"cross-site request", good, form("csrf-user-acme"), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"cross-origin request", good, form("csrf-user-acme"), []string{"Origin", "https://evil.example"}, http.StatusForbidden},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := f.do(t, "POST", "/portal/keys/"+f.keys["acme"].ID+"/revoke", tc.ck, tc.form, tc.hdr...)
			if res.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.status)
			}
		})
	}
	if d := cmp.Diff(before, f.snapshot(t, "acme")); d != "" {
		t.Errorf("acme changed:\n%s", d)
	}
	res, _ := f.do(t, "GET", "/portal/", nil, nil)
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/portal/login" {
		t.Errorf("GET without a session = %d to %q, want a redirect to /portal/login", res.StatusCode, res.Header.Get("Location"))
	}
}

var keyPattern = regexp.MustCompile(keys.Pattern)

// The portal flow: create a key (secret shown once), rotate it (new secret
// once, old one in grace), revoke the old one, request a plan change that
// an operator approves; every change is in the audit trail as the customer
// or the operator.
func TestPortalAndConsoleFlow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ck := f.session(t, acme)
	res, body := f.do(t, "POST", "/portal/keys", ck, form("csrf-user-acme", "name", "ci"))
	secret := keyPattern.FindString(body)
	if res.StatusCode != http.StatusOK || secret == "" {
		t.Fatalf("create key: %d, secret found %v", res.StatusCode, secret != "")
	}
	if res.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the secret page may be cached: %q", res.Header.Get("Cache-Control"))
	}
	k, err := f.svc.LookupKey(ctx, secret)
	if err != nil {
		t.Fatalf("the shown secret is not the stored key: %v", err)
	}
	_, home := f.do(t, "GET", "/portal/", ck, nil)
	if strings.Contains(home, secret) || !strings.Contains(home, k.DisplayPrefix) {
		t.Error("the key list must show the prefix and never the secret")
	}
	_, body = f.do(t, "POST", "/portal/keys/"+k.ID+"/rotate", ck, form("csrf-user-acme", "grace", "24h"))
	next := keyPattern.FindString(body)
	if next == "" || next == secret {
		t.Fatal("rotation showed no new secret")
	}
	if _, err := f.svc.LookupKey(ctx, next); err != nil {
		t.Fatal(err)
	}
	old, _ := f.svc.Store().GetKey(ctx, k.ID)
	if old.EffectiveStatus(time.Now()) != registry.KeyActive || old.ExpiresAt == nil {
		t.Errorf("old key after rotation: %s, expires %v; want active with a grace expiry", old.Status, old.ExpiresAt)
	}
	if res, _ := f.do(t, "POST", "/portal/keys/"+k.ID+"/revoke", ck, form("csrf-user-acme")); res.StatusCode != http.StatusSeeOther {
		t.Errorf("revoke = %d", res.StatusCode)
	}
	if old, _ = f.svc.Store().GetKey(ctx, k.ID); old.Status != registry.KeyRevoked {
		t.Errorf("old key is %s, want revoked", old.Status)
	}
	if res, _ := f.do(t, "POST", "/portal/plan-requests", ck, form("csrf-user-acme", "plan", "gold")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("plan request = %d", res.StatusCode)
	}
	opck := f.session(t, operator)
	pending, _ := f.svc.Store().ListPendingPlanRequests(ctx, "dev", 10)
	if len(pending) != 1 {
		t.Fatalf("pending = %v", pending)
	}
	_, page := f.do(t, "GET", "/console/", opck, nil)
	if !strings.Contains(page, "/console/plan-requests/"+pending[0].ID+"/approve") {
		t.Error("the console does not offer the request for approval")
	}
	if res, _ := f.do(t, "POST", "/console/plan-requests/"+pending[0].ID+"/approve", opck, form("csrf-op-1")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("approve = %d", res.StatusCode)
	}
	if sub, _ := f.svc.Store().GetSubscription(ctx, "acme", "dev"); sub.Plan != "gold" {
		t.Errorf("plan = %s, want gold", sub.Plan)
	}
	if len(f.events.got) != 1 || f.events.got[0].Decision != "approved" {
		t.Errorf("events = %+v", f.events.got)
	}
	trail, _ := f.svc.Store().ListAudit(ctx, "acme", "", 50)
	var actors []string
	for _, e := range trail.Items {
		if e.Actor != "test" {
			actors = append(actors, e.Action+" by "+e.Actor)
		}
	}
	want := []string{
		"plan.request.approved by operator:" + testIssuer + "#op-1", "subscription.change-plan by operator:" + testIssuer + "#op-1",
		"plan.request by customer:acme:user-acme", "key.revoke by customer:acme:user-acme",
		"key.rotate by customer:acme:user-acme", "key.create by customer:acme:user-acme",
	}
	if d := cmp.Diff(want, actors); d != "" {
		t.Errorf("audit trail (-want +got):\n%s", d)
	}
}

func TestConsoleCustomerLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	ck := f.session(t, operator)
	if res, body := f.do(t, "POST", "/console/customers", ck, form("csrf-op-1", "id", "initech", "name", "Initech", "plan", "basic")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create = %d %s", res.StatusCode, body)
	}
	res, body := f.do(t, "POST", "/console/customers/initech/keys", ck, form("csrf-op-1", "name", "prod", "scopes", "orders:read orders:write"))
	secret := keyPattern.FindString(body)
	if res.StatusCode != http.StatusOK || secret == "" {
		t.Fatalf("issue key = %d", res.StatusCode)
	}
	k, err := f.svc.LookupKey(ctx, secret)
	if err != nil || k.CustomerID != "initech" || len(k.Scopes) != 2 {
		t.Fatalf("issued key %+v, %v", k, err)
	}
	steps := []struct {
		path string
		form url.Values
	}{
		{"/console/customers/initech/status", form("csrf-op-1", "status", "suspended")},
		{"/console/customers/initech/status", form("csrf-op-1", "status", "active")},
		{"/console/customers/initech/plan", form("csrf-op-1", "plan", "gold")},
		{"/console/customers/initech/keys/" + k.ID + "/status", form("csrf-op-1", "status", "suspended")},
		{"/console/customers/initech/keys/" + k.ID + "/status", form("csrf-op-1", "status", "revoked")},
		{"/console/customers/initech/bindings", form("csrf-op-1", "issuer", testIssuer, "subject", "svc-1")},
		{"/console/customers/initech/bindings/delete", form("csrf-op-1", "issuer", testIssuer, "subject", "svc-1")},
	}
	for _, s := range steps {
		if res, body := f.do(t, "POST", s.path, ck, s.form); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s %v = %d: %s", s.path, s.form, res.StatusCode, body)
		}
	}
	// A key of another customer through this customer's URL: 404.
	if res, _ := f.do(t, "POST", "/console/customers/initech/keys/"+f.keys["acme"].ID+"/status", ck, form("csrf-op-1", "status", "revoked")); res.StatusCode != http.StatusNotFound {
		t.Errorf("another customer's key through initech's URL = %d, want 404", res.StatusCode)
	}
	for _, p := range []string{"/console/", "/console/customers/initech", "/console/plans", "/console/deployments", "/console/audit?subject=initech"} {
		if res, _ := f.do(t, "GET", p, ck, nil); res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", p, res.StatusCode)
		}
	}
	trail, _ := f.svc.Store().ListAudit(ctx, "initech", "", 50)
	for _, e := range trail.Items {
		if e.Actor != "operator:"+testIssuer+"#op-1" {
			t.Errorf("audit entry %s by %q, want the operator", e.Action, e.Actor)
		}
	}
	if len(trail.Items) < 9 {
		t.Errorf("audit entries = %d, want every change", len(trail.Items))
	}
}

// The callback admits an operator to the console only with the operator
// group and a customer to the portal only through a client binding.
func TestCallbackRoles(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name, login, code string
		status            int
		location          string
	}{
		{"operator", "/console/login", "op", http.StatusSeeOther, "/console/"},
		{"not in the operator group", "/console/login", "notop", http.StatusForbidden, ""},
		{"bound customer", "/portal/login", "acme", http.StatusSeeOther, "/portal/"},
		{"no binding", "/portal/login", "unbound", http.StatusForbidden, ""},
		{"bad code", "/portal/login", "nope", http.StatusUnauthorized, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, _ := f.do(t, "GET", tc.login, nil, nil)
			loc, _ := url.Parse(res.Header.Get("Location"))
			var state *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == loginCookie {
					state = c
				}
			}
			if state == nil || !state.HttpOnly || !state.Secure || state.SameSite != http.SameSiteLaxMode {
				t.Fatalf("login cookie %+v: want HttpOnly, Secure, SameSite=Lax", state)
			}
			if res, _ := f.do(t, "GET", "/auth/callback?code="+tc.code+"&state=wrong", state, nil); res.StatusCode != http.StatusBadRequest {
				t.Errorf("wrong state = %d, want 400", res.StatusCode)
			}
			res, _ = f.do(t, "GET", "/auth/callback?code="+tc.code+"&state="+url.QueryEscape(loc.Query().Get("state")), state, nil)
			if res.StatusCode != tc.status || res.Header.Get("Location") != tc.location {
				t.Fatalf("callback = %d to %q, want %d to %q", res.StatusCode, res.Header.Get("Location"), tc.status, tc.location)
			}
			var sess *http.Cookie
			for _, c := range res.Cookies() {
				if c.Name == sessionCookie && c.MaxAge > 0 {
					sess = c
				}
			}
			if (sess != nil) != (tc.status == http.StatusSeeOther) {
				t.Fatalf("session cookie set = %v", sess != nil)
			}
			if sess != nil && (!sess.HttpOnly || !sess.Secure || sess.SameSite != http.SameSiteLaxMode || sess.MaxAge != int(wantSessionTTL(tc.code).Seconds())) {
				t.Errorf("session cookie %+v", sess)
			}
		})
	}
}

// Every page carries a strict CSP (no inline script or style) and weighs,
// with its stylesheet and script, at most 100 KB.
func TestSecurityHeadersAndPageWeight(t *testing.T) {
	f := newFixture(t)
	static := 0
	for _, p := range []string{"/static/app.css", "/static/app.js"} {
		res, body := f.do(t, "GET", p, nil, nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d", p, res.StatusCode)
		}
		static += len(body)
	}
	pages := []struct {
		path string
		s    Session
	}{
		{"/console/", operator}, {"/console/customers/acme", operator}, {"/console/plans", operator},
		{"/console/deployments", operator}, {"/console/audit?subject=acme", operator},
		{"/portal/", acme}, {"/portal/usage", acme}, {"/portal/docs", acme},
	}
	inline := regexp.MustCompile(`<script>|<style|\sstyle=|\son[a-z]+=`)
	for _, p := range pages {
		res, body := f.do(t, "GET", p.path, f.session(t, p.s), nil)
		if res.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", p.path, res.StatusCode)
			continue
		}
		if csp := res.Header.Get("Content-Security-Policy"); csp != contentSecurityPolicy || strings.Contains(csp, "unsafe") {
			t.Errorf("%s CSP = %q", p.path, csp)
		}
		if inline.MatchString(body) {
			t.Errorf("%s has inline script or style: %q", p.path, inline.FindString(body))
		}
		if w := len(body) + static; w > 100*1024 {
			t.Errorf("%s weighs %d bytes with CSS and JS, want ≤ 100 KB", p.path, w)
		}
		t.Logf("%s: %d bytes HTML + %d CSS/JS", p.path, len(body), static)
	}
	res, body := f.do(t, "GET", "/console/customers/acme/usage.svg", f.session(t, operator), nil)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "<svg") {
		t.Errorf("console usage chart: %d", res.StatusCode)
	}
	res, body = f.do(t, "GET", "/portal/usage.svg", f.session(t, acme), nil)
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "image/svg+xml" || !strings.Contains(body, "<svg") {
		t.Errorf("usage chart: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	if strings.Contains(body, "<script") {
		t.Error("the chart has a script")
	}
	_, docs := f.do(t, "GET", "/portal/docs", f.session(t, acme), nil)
	for _, want := range []string{"curl -X POST &#39;https://api.example.com/v1/orders&#39;", "requests.request(", "http.NewRequest(", "await fetch(", KeyPlaceholder} {
		if !strings.Contains(docs, want) {
			t.Errorf("docs lack %q", want)
		}
	}
}
