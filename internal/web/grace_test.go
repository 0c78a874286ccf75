package web

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// rotateRoute is a rotation form of one UI, for a key of acme.
type rotateRoute struct {
	area string
	sess Session
	csrf string
	path func(keyID string) string
}

var rotateRoutes = []rotateRoute{
	{"console", operator, "csrf-op-1", func(id string) string { return "/console/customers/acme/keys/" + id + "/rotate" }},
	{"portal", acme, "csrf-user-acme", func(id string) string { return "/portal/keys/" + id + "/rotate" }},
}

func TestGraceChoicesAreBounded(t *testing.T) {
	seen := map[string]bool{}
	for _, c := range graceChoices {
		if c.Grace < 0 || c.Grace > keys.MaxRotationGrace {
			t.Errorf("%s = %s is outside [0, %s]", c.Value, c.Grace, keys.MaxRotationGrace)
		}
		if seen[c.Value] || c.Value == "" || c.Label == "" {
			t.Errorf("choice %+v: empty or repeated", c)
		}
		seen[c.Value] = true
	}
	if _, ok := graceFor(keys.DefaultRotationGrace); !ok {
		t.Errorf("the default grace %s is not offered", keys.DefaultRotationGrace)
	}
}

// Each offered grace, through each UI: the old key expires at exactly
// now+grace on the injected clock, and the secret page says when.
func TestRotateWithEachGrace(t *testing.T) {
	clk := clock.NewVirtual(time.Now().UTC().Truncate(time.Second))
	f := newFixtureWith(t, clk, Config{})
	ctx := context.Background()
	tests := []struct {
		value string
		grace time.Duration
		says  string
	}{
		{"none", 0, "stopped working at"},
		{"1h", time.Hour, "grace period chosen: 1 hour"},
		{"24h", 24 * time.Hour, "grace period chosen: 24 hours"},
		{"7d", 7 * 24 * time.Hour, "grace period chosen: 7 days"},
		{"30d", 30 * 24 * time.Hour, "grace period chosen: 30 days"},
	}
	for _, rt := range rotateRoutes {
		for _, tc := range tests {
			t.Run(rt.area+"/"+tc.value, func(t *testing.T) {
				k, _, err := f.svc.CreateKey(ctx, service.CreateKeyInput{CustomerID: "acme", Env: "dev", Name: rt.area + "-" + tc.value}, "test")
				if err != nil {
					t.Fatal(err)
				}
				res, body := f.do(t, "POST", rt.path(k.ID), f.session(t, rt.sess), form(rt.csrf, "grace", tc.value))
				if res.StatusCode != http.StatusOK {
					t.Fatalf("rotate = %d: %s", res.StatusCode, body)
				}
				want := clk.Now().Add(tc.grace).UTC()
				old, err := f.svc.Store().GetKey(ctx, k.ID)
				if err != nil {
					t.Fatal(err)
				}
				if old.ExpiresAt == nil || !old.ExpiresAt.Equal(want) {
					t.Errorf("old key expires %v, want %v (now + %s)", old.ExpiresAt, want, tc.grace)
				}
				if old.RotatedTo == "" {
					t.Error("the old key does not name its successor")
				}
				next, err := f.svc.LookupKey(ctx, keyPattern.FindString(body))
				if err != nil || next.ID != old.RotatedTo {
					t.Errorf("the shown secret is not the successor: %v", err)
				}
				for _, s := range []string{`datetime="` + want.Format(time.RFC3339) + `"`, want.Format("2006-01-02 15:04") + " UTC", tc.says} {
					if !strings.Contains(body, s) {
						t.Errorf("the secret page lacks %q", s)
					}
				}
			})
		}
	}
}

// Anything but one offered value is refused with 400 and a message naming
// the field, and nothing is written (no key, no expiry, no audit entry).
func TestRotateRefusesOtherGraces(t *testing.T) {
	f := newFixture(t)
	key := f.keys["acme"].ID
	tests := []struct {
		name string
		form url.Values
	}{
		{"missing", url.Values{}},
		{"empty", url.Values{"grace": {""}}},
		{"forged duration", url.Values{"grace": {"12h"}}},
		{"Go duration of an offered choice", url.Values{"grace": {"168h"}}},
		{"zero as a duration", url.Values{"grace": {"0s"}}},
		{"compound duration", url.Values{"grace": {"1h30m"}}},
		{"negative", url.Values{"grace": {"-1h"}}},
		{"negative days", url.Values{"grace": {"-7d"}}},
		{"over the maximum", url.Values{"grace": {"31d"}}},
		{"just over the maximum", url.Values{"grace": {"720h1s"}}},
		{"huge", url.Values{"grace": {"9223372036854775807ns"}}},
		{"overflowing", url.Values{"grace": {"99999999999999999999h"}}},
		{"different case", url.Values{"grace": {"NONE"}}},
		{"padded", url.Values{"grace": {" 24h"}}},
		{"markup", url.Values{"grace": {`<script>alert(1)</script>`}}},
		{"two values", url.Values{"grace": {"1h", "24h"}}},
	}
	for _, rt := range rotateRoutes {
		for _, tc := range tests {
			t.Run(rt.area+"/"+tc.name, func(t *testing.T) {
				before := f.snapshot(t, "acme")
				fm := url.Values{"csrf": {rt.csrf}}
				for k, v := range tc.form {
					fm[k] = v
				}
				res, body := f.do(t, "POST", rt.path(key), f.session(t, rt.sess), fm)
				if res.StatusCode != http.StatusBadRequest {
					t.Errorf("status = %d, want 400", res.StatusCode)
				}
				if !strings.Contains(body, "grace: choose one of the offered grace periods (none, 1h, 24h, 7d, 30d)") {
					t.Errorf("the error does not say what grace is accepted:\n%s", body)
				}
				if strings.Contains(body, "<script>alert") {
					t.Error("the refused value is echoed unescaped")
				}
				if d := cmp.Diff(before, f.snapshot(t, "acme")); d != "" {
					t.Errorf("a refused rotation wrote (-before +after):\n%s", d)
				}
			})
		}
	}
	if k, _ := f.svc.Store().GetKey(context.Background(), key); k.RotatedTo != "" || k.ExpiresAt != nil {
		t.Errorf("the key was rotated: %+v", k)
	}
}

var graceSelect = regexp.MustCompile(`<label for="grace-([^"]+)">Grace<span class="vh"> for ([^<]+)</span></label> <select id="grace-([^"]+)" name="grace">(.*?)</select>`)
var graceOption = regexp.MustCompile(`<option value="([^"]+)"( selected)?>`)

// Both rotation forms offer every choice in a labelled select with the
// configured default preselected; a default that is not offered is a
// configuration error.
func TestRotateFormsOfferGrace(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  time.Duration
		want string
	}{
		{"default", 0, "24h"},
		{"configured", 7 * 24 * time.Hour, "7d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, clock.System{}, Config{RotateGrace: tc.cfg})
			for _, p := range []struct {
				path string
				s    Session
			}{{"/console/customers/acme", operator}, {"/portal/", acme}} {
				res, body := f.do(t, "GET", p.path, f.session(t, p.s), nil)
				if res.StatusCode != http.StatusOK {
					t.Fatalf("GET %s = %d", p.path, res.StatusCode)
				}
				m := graceSelect.FindStringSubmatch(body)
				if m == nil {
					t.Fatalf("%s has no labelled grace select", p.path)
				}
				if m[1] != f.keys["acme"].ID || m[3] != m[1] || m[2] != f.keys["acme"].DisplayPrefix {
					t.Errorf("%s: label for %q (%s), select %q", p.path, m[1], m[2], m[3])
				}
				var values []string
				selected := ""
				for _, o := range graceOption.FindAllStringSubmatch(m[4], -1) {
					values = append(values, o[1])
					if o[2] != "" {
						selected += o[1]
					}
				}
				if d := cmp.Diff([]string{"none", "1h", "24h", "7d", "30d"}, values); d != "" {
					t.Errorf("%s options (-want +got):\n%s", p.path, d)
				}
				if selected != tc.want {
					t.Errorf("%s preselects %q, want %q", p.path, selected, tc.want)
				}
			}
		})
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, d := range []time.Duration{2 * time.Hour, -time.Hour, 31 * 24 * time.Hour} {
		if _, err := New(Config{Env: "dev", OperatorGroup: operatorsGrp, HashKey: key, BlockKey: key, RotateGrace: d}, nil, nil, nil, nil); err == nil || !strings.Contains(err.Error(), "RotateGrace") {
			t.Errorf("RotateGrace %s: error %v, want a configuration error naming RotateGrace", d, err)
		}
	}
}

// A key rotated in the console is in grace, not rotatable again: its row
// offers no second rotation.
func TestConsoleHidesRotateOfRotatedKey(t *testing.T) {
	f := newFixture(t)
	id := f.keys["acme"].ID
	if res, body := f.do(t, "POST", "/console/customers/acme/keys/"+id+"/rotate", f.session(t, operator), form("csrf-op-1", "grace", "1h")); res.StatusCode != http.StatusOK {
		t.Fatalf("rotate = %d: %s", res.StatusCode, body)
	}
	_, page := f.do(t, "GET", "/console/customers/acme", f.session(t, operator), nil)
	if strings.Contains(page, "/keys/"+id+"/rotate") {
		t.Error("the console offers to rotate a key already rotated")
	}
	if !strings.Contains(page, "/keys/"+id+"/status") {
		t.Error("the rotated key can no longer be revoked from the console")
	}
	if k, _ := f.svc.Store().GetKey(context.Background(), id); k.EffectiveStatus(time.Now()) != registry.KeyActive {
		t.Errorf("old key is %s during its grace, want active", k.EffectiveStatus(time.Now()))
	}
}
