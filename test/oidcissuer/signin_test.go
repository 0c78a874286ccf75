package oidcissuer_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/internal/web"
	"github.com/stagehand-dev/stagehand/test/oidcissuer"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

type noKeys struct{}

func (noKeys) CreateUsageKey(context.Context, string, string) (string, string, error) {
	return "ak1", "v1", nil
}
func (noKeys) DeleteUsageKey(context.Context, string) error         { return nil }
func (noKeys) AttachUsageKey(context.Context, string, string) error { return nil }
func (noKeys) DetachUsageKey(context.Context, string, string) error { return nil }

type noUsage struct{}

func (noUsage) Usage(_ context.Context, c, env string, _, _ time.Time) (service.UsageReport, error) {
	return service.UsageReport{CustomerID: c, Env: env}, nil
}

var hiddenID = regexp.MustCompile(`name="id" value="([^"]+)"`)

// signIn follows the browser's path: the app's login route, the provider's
// login form, the provider's redirect back with a code, the app's session.
func signIn(t *testing.T, app, login, user, password string) (*http.Client, *http.Response, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second}
	res, err := c.Get(app + login)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := hiddenID.FindSubmatch(body)
	if m == nil {
		t.Fatalf("no login form at %s (%d): %.300s", res.Request.URL, res.StatusCode, body)
	}
	form := url.Values{"id": {string(m[1])}, "username": {user}, "password": {password}}
	loginURL := res.Request.URL.ResolveReference(&url.URL{Path: "/login/username"})
	res, err = c.PostForm(loginURL.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(res.Body)
	res.Body.Close()
	return c, res, string(body)
}

func TestSignInThroughARealProvider(t *testing.T) {
	ctx := context.Background()
	client, table := ddbtest.NewTable(t)
	store := registry.New(client, table)
	svc := service.New(store, noKeys{})
	if _, err := store.PutPlan(ctx, registry.Plan{Env: "dev", Name: "basic"}, "test"); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	app := "http://" + ln.Addr().String()
	iss, err := oidcissuer.Start("127.0.0.1:0", []oidcissuer.User{
		{ID: "u-op", Username: "operator@demo", Password: "operator-pass", Name: "Olive", Groups: []string{"stagehand-operators"}},
		{ID: "u-acme", Username: "ann@acme", Password: "acme-pass", Name: "Ann"},
		{ID: "u-stranger", Username: "sam@nowhere", Password: "sam-pass", Name: "Sam"},
	}, []oidcissuer.Client{{ID: "stagehand-web", Secret: "web-secret", RedirectURIs: []string{app + "/auth/callback"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer iss.Close()
	if _, err := svc.CreateCustomer(ctx, "acme", "Acme Corp", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Subscribe(ctx, "acme", "dev", "basic", nil, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutBinding(ctx, registry.ClientBinding{Env: "dev", Issuer: iss.URL, Subject: "u-acme", CustomerID: "acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	auth, err := web.NewOIDC(ctx, iss.URL, "stagehand-web", "web-secret", app+"/auth/callback", oidcissuer.GroupsClaim)
	if err != nil {
		t.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	srv, err := web.New(web.Config{Env: "dev", OperatorGroup: "stagehand-operators", HashKey: key, BlockKey: key, InsecureCookies: true},
		svc, noUsage{}, nil, auth)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	hs.Listener = ln
	hs.Start()
	defer hs.Close()

	tests := []struct {
		name, login, user, password string
		status                      int
		path, want                  string
	}{
		{"operator to the console", "/console/login", "operator@demo", "operator-pass", http.StatusOK, "/console/", "Customers in dev"},
		{"customer to the portal", "/portal/login", "ann@acme", "acme-pass", http.StatusOK, "/portal/", "Acme Corp"},
		{"customer to the console", "/console/login", "ann@acme", "acme-pass", http.StatusForbidden, "/auth/callback", "not an operator"},
		{"unbound user to the portal", "/portal/login", "sam@nowhere", "sam-pass", http.StatusForbidden, "/auth/callback", "not linked to a customer"},
		{"operator to the portal", "/portal/login", "operator@demo", "operator-pass", http.StatusForbidden, "/auth/callback", "not linked"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, res, body := signIn(t, app, tc.login, tc.user, tc.password)
			if res.StatusCode != tc.status || res.Request.URL.Path != tc.path || !strings.Contains(body, tc.want) {
				t.Fatalf("ended at %s with %d, want %s with %d containing %q: %.400s", res.Request.URL, res.StatusCode, tc.path, tc.status, tc.want, body)
			}
			if tc.status != http.StatusOK {
				return
			}
			// The other area refuses this session.
			other := "/portal/"
			if tc.path == "/portal/" {
				other = "/console/"
			}
			res, err := c.Get(app + other)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusForbidden {
				t.Errorf("GET %s with a %s session = %d, want 403", other, tc.path, res.StatusCode)
			}
		})
	}
	t.Run("wrong password stays at the provider", func(t *testing.T) {
		_, res, body := signIn(t, app, "/portal/login", "ann@acme", "nope")
		if res.Request.URL.Host != strings.TrimPrefix(iss.URL, "http://") || !strings.Contains(body, "username or password wrong") {
			t.Errorf("ended at %s: %.200s", res.Request.URL, body)
		}
	})
}
