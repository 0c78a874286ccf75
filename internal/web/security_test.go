package web

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// wantSessionTTL is the session lifetime a sign-in with code gets: operators
// 1h (group membership is checked only at sign-in), customers 8h (their
// binding is re-checked on every request).
func wantSessionTTL(code string) time.Duration {
	if code == "op" {
		return time.Hour
	}
	return 8 * time.Hour
}

// signIn runs the real sign-in (login redirect, callback) for the fake
// identity code and returns the session cookie and its form token.
func (f *fixture) signIn(t *testing.T, login, code string) (*http.Cookie, string) {
	t.Helper()
	res, _ := f.do(t, "GET", login, nil, nil)
	loc, _ := url.Parse(res.Header.Get("Location"))
	var state *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == loginCookie {
			state = c
		}
	}
	if state == nil {
		t.Fatal("no login cookie")
	}
	res, body := f.do(t, "GET", "/auth/callback?code="+code+"&state="+url.QueryEscape(loc.Query().Get("state")), state, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("callback = %d: %s", res.StatusCode, body)
	}
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie && c.MaxAge > 0 {
			var s Session
			if err := f.srv.cookies.codec.Decode(sessionCookie, c.Value, &s); err != nil {
				t.Fatal(err)
			}
			return c, s.CSRF
		}
	}
	t.Fatal("no session cookie")
	return nil, ""
}

// A customer session ends as soon as its binding is deleted or points at
// another customer: access is re-checked on every request.
func TestCustomerSessionEndsWithBinding(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f *fixture)
	}{
		{"binding deleted", func(t *testing.T, f *fixture) {
			if err := f.svc.DeleteBinding(context.Background(), "acme", "dev", testIssuer, "user-acme", "test"); err != nil {
				t.Fatal(err)
			}
		}},
		{"binding moved to another customer", func(t *testing.T, f *fixture) {
			ctx := context.Background()
			if err := f.svc.DeleteBinding(ctx, "acme", "dev", testIssuer, "user-acme", "test"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.PutBinding(ctx, registry.ClientBinding{Env: "dev", Issuer: testIssuer, Subject: "user-acme", CustomerID: "globex"}, "test"); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			ck, csrf := f.signIn(t, "/portal/login", "acme")
			if res, _ := f.do(t, "GET", "/portal/", ck, nil); res.StatusCode != http.StatusOK {
				t.Fatalf("GET /portal/ before = %d", res.StatusCode)
			}
			tc.change(t, f)
			before := f.snapshot(t, "acme")
			beforeGlobex := f.snapshot(t, "globex")
			res, _ := f.do(t, "POST", "/portal/keys", ck, form(csrf, "name", "late"))
			if res.StatusCode != http.StatusUnauthorized && res.StatusCode != http.StatusForbidden {
				t.Errorf("POST /portal/keys after the change = %d, want 401 or 403", res.StatusCode)
			}
			cleared := false
			for _, c := range res.Cookies() {
				cleared = cleared || (c.Name == sessionCookie && c.MaxAge < 0)
			}
			if !cleared {
				t.Error("the refused session's cookie is not cleared")
			}
			if res, _ := f.do(t, "GET", "/portal/", ck, nil); res.StatusCode != http.StatusUnauthorized {
				t.Errorf("GET /portal/ after the change = %d, want 401", res.StatusCode)
			}
			if before != f.snapshot(t, "acme") || beforeGlobex != f.snapshot(t, "globex") {
				t.Error("a request of the unbound session changed something")
			}
		})
	}
}

// An operator session lasts OperatorSessionTTL (1h by default), and logout
// clears it.
func TestOperatorSessionTTLAndLogout(t *testing.T) {
	f := newFixture(t)
	ck, csrf := f.signIn(t, "/console/login", "op")
	if ck.MaxAge != int(time.Hour/time.Second) {
		t.Errorf("operator session MaxAge = %d, want 3600", ck.MaxAge)
	}
	var s Session
	if err := f.srv.cookies.codec.Decode(sessionCookie, ck.Value, &s); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(time.Unix(s.Expires, 0)); d > time.Hour || d < 59*time.Minute {
		t.Errorf("operator session expires in %v, want 1h", d)
	}
	res, _ := f.do(t, "POST", "/logout", ck, form(csrf))
	cleared := false
	for _, c := range res.Cookies() {
		cleared = cleared || (c.Name == sessionCookie && c.MaxAge < 0 && c.Value == "")
	}
	if res.StatusCode != http.StatusSeeOther || !cleared {
		t.Errorf("logout = %d, cookie cleared %v", res.StatusCode, cleared)
	}
}

// The operator's audit identity is issuer + subject: two users with the
// same (changeable) email are different actors, and a user cannot become
// another by taking their email.
func TestOperatorActorIsSubject(t *testing.T) {
	a := Session{Role: RoleOperator, Issuer: testIssuer, Subject: "sub-a", Name: "alice@example.com"}
	b := Session{Role: RoleOperator, Issuer: testIssuer, Subject: "sub-b", Name: "alice@example.com"}
	other := Session{Role: RoleOperator, Issuer: "https://other.example", Subject: "sub-a", Name: "alice@example.com"}
	if a.Actor() == b.Actor() || a.Actor() == other.Actor() {
		t.Errorf("actors %q, %q, %q: want all different", a.Actor(), b.Actor(), other.Actor())
	}
	if want := "operator:" + testIssuer + "#sub-a"; a.Actor() != want {
		t.Errorf("actor = %q, want %q", a.Actor(), want)
	}
}

func TestDisplayName(t *testing.T) {
	tests := []struct {
		name   string
		claims map[string]any
		want   string
	}{
		{"verified email", map[string]any{"email": "a@x", "email_verified": true, "name": "A"}, "a@x"},
		{"verified email, Cognito string", map[string]any{"email": "a@x", "email_verified": "true"}, "a@x"},
		{"unverified email", map[string]any{"email": "boss@x", "email_verified": false, "preferred_username": "mallory"}, "mallory"},
		{"no email_verified claim", map[string]any{"email": "boss@x", "name": "Mallory"}, "Mallory"},
		{"nothing", map[string]any{"email": "boss@x"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := displayName(tc.claims); got != tc.want {
				t.Errorf("displayName = %q, want %q", got, tc.want)
			}
		})
	}
}

// A second plan-change request while one is pending is 409 with a clear
// message, and records nothing.
func TestSecondPlanRequestConflict(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t, acme)
	if res, body := f.do(t, "POST", "/portal/plan-requests", ck, form("csrf-user-acme", "plan", "gold")); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("first request = %d: %s", res.StatusCode, body)
	}
	before := f.snapshot(t, "acme")
	res, body := f.do(t, "POST", "/portal/plan-requests", ck, form("csrf-user-acme", "plan", "gold"))
	if res.StatusCode != http.StatusConflict || !strings.Contains(body, "already have a pending plan-change request") {
		t.Errorf("second request = %d, want 409 with the pending message", res.StatusCode)
	}
	if d := cmp.Diff(before, f.snapshot(t, "acme")); d != "" {
		t.Errorf("acme changed:\n%s", d)
	}
}

// A ?done= confirmation shows only known codes' fixed messages, never the
// URL's text.
func TestFlashOnlyFixedCodes(t *testing.T) {
	f := newFixture(t)
	ck := f.session(t, acme)
	tests := []struct{ name, done, want, never string }{
		{"known code", "key+revoked", "Done: key revoked", ""},
		{"free text", "Your+account+is+locked%2C+call+%2B1-555-0100", "", "call +1-555-0100"},
		{"markup", "%3Cb%3Ephish%3C%2Fb%3E", "", "phish"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, body := f.do(t, "GET", "/portal/?done="+tc.done, ck, nil)
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status = %d", res.StatusCode)
			}
			if tc.want != "" && !strings.Contains(body, tc.want) {
				t.Errorf("page lacks %q", tc.want)
			}
			if tc.never != "" && (strings.Contains(body, tc.never) || strings.Contains(body, `class="flash"`)) {
				t.Errorf("page shows the URL's text %q", tc.never)
			}
		})
	}
	// Every code a handler redirects with has a message.
	for _, code := range []string{"created", "plan changed", "binding added", "binding removed", "plan change requested", "request approved", "request declined"} {
		if flash(code) == "" {
			t.Errorf("no message for %q", code)
		}
	}
}

// Cookies carry the __Host- prefix (Secure, Path=/, no Domain) unless
// InsecureCookies (plain-http loopback), where browsers refuse the prefix.
func TestCookieHostPrefix(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insecure bool
		session  string
		login    string
	}{
		{"secure", false, "__Host-stagehand_session", "__Host-stagehand_login"},
		{"insecure loopback", true, "stagehand_session", "stagehand_login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			if tc.insecure {
				cfg := f.srv.cfg
				cfg.InsecureCookies = true
				srv, err := New(cfg, f.svc, fixedUsage{}, f.events, f.srv.auth)
				if err != nil {
					t.Fatal(err)
				}
				f.srv, f.h = srv, srv.Handler()
			}
			res, _ := f.do(t, "GET", "/portal/login", nil, nil)
			loc, _ := url.Parse(res.Header.Get("Location"))
			var login *http.Cookie
			for _, c := range res.Cookies() {
				login = c
			}
			if login == nil || login.Name != tc.login || login.Path != "/" || login.Domain != "" || login.Secure == tc.insecure {
				t.Fatalf("login cookie %+v, want %s", login, tc.login)
			}
			res, _ = f.do(t, "GET", "/auth/callback?code=acme&state="+url.QueryEscape(loc.Query().Get("state")), login, nil)
			var names []string
			for _, c := range res.Cookies() {
				names = append(names, c.Name)
				if c.Name == tc.session && (c.Path != "/" || c.Domain != "" || c.Secure == tc.insecure) {
					t.Errorf("session cookie %+v", c)
				}
			}
			if d := cmp.Diff([]string{tc.login, tc.session}, names); d != "" {
				t.Errorf("callback cookies (-want +got):\n%s", d)
			}
			if res.StatusCode != http.StatusSeeOther {
				t.Errorf("callback = %d", res.StatusCode)
			}
		})
	}
}

// The usage chart renders whatever dates the usage source reports: a short
// or odd one is a label, never a panic.
func TestUsageChartOddDates(t *testing.T) {
	for _, date := range []string{"", "2026", "2026-12", "2026-12-03", "Dec 3 2026 (UTC)"} {
		t.Run(date, func(t *testing.T) {
			v := usageView{Report: service.UsageReport{Days: []service.DayUsage{{Date: date, Used: 5}}}}
			svg, err := usageChart(v)
			if err != nil || !strings.Contains(string(svg), "<svg") {
				t.Errorf("usageChart = %d bytes, %v", len(svg), err)
			}
		})
	}
	if got := dayLabel("2026-12-03"); got != "12-03" {
		t.Errorf("dayLabel = %q, want 12-03", got)
	}
}

// The console decides only its own environment's plan-change requests.
func TestConsoleDecideOtherEnv(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	st := f.svc.Store()
	if _, err := st.PutPlan(ctx, registry.Plan{Env: "prod", Name: "basic", UsagePlanID: "up-prod-basic", RateLimit: 1, BurstLimit: 1}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutPlan(ctx, registry.Plan{Env: "prod", Name: "gold", UsagePlanID: "up-prod-gold", RateLimit: 1, BurstLimit: 1}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Subscribe(ctx, "acme", "prod", "basic", nil, "test"); err != nil {
		t.Fatal(err)
	}
	req, err := f.svc.RequestPlanChange(ctx, "acme", "prod", "gold", "customer:acme")
	if err != nil {
		t.Fatal(err)
	}
	res, _ := f.do(t, "POST", "/console/plan-requests/"+req.ID+"/approve", f.session(t, operator), form("csrf-op-1"))
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("dev console approving a prod request = %d, want 404", res.StatusCode)
	}
	if got, _ := st.GetPlanRequest(ctx, req.ID); got.Status != registry.PlanRequestPending {
		t.Errorf("prod request is %s, want still pending", got.Status)
	}
	if sub, _ := st.GetSubscription(ctx, "acme", "prod"); sub.Plan != "basic" {
		t.Errorf("prod plan = %s, want basic", sub.Plan)
	}
}
