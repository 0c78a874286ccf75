package auth

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/usage"
)

// emfLines returns the log lines that are EMF records of metric name.
func emfLines(t *testing.T, logs, name string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(logs, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["_aws"] != nil && m[name] != nil {
			delete(m, "time")
			delete(m, "level")
			delete(m, "msg")
			out = append(out, m)
		}
	}
	return out
}

// TestDenialMetric: 401s of a registered key and 403s are counted per
// customer, key and status, written as usage.DenialEMF lines once a minute
// has passed; allowed requests and keys the registry lacks are not counted,
// and no line holds a secret.
func TestDenialMetric(t *testing.T) {
	h := newHarness(t)
	revoked := h.reg.addKey(t, func(k *registry.Key) { k.Status = registry.KeyRevoked })
	active := h.reg.addKey(t, nil)
	unknown, err := keys.New(testEnv)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		fixture string
		key     keys.Secret
		want    outcome
	}{
		{"apikey-get-order", revoked, deny401},
		{"apikey-get-order", revoked, deny401},
		{"apikey-admin", active, forbidden},
		{"apikey-get-order", active, allow},
		{"apikey-get-order", unknown, deny401},
		{"apikey-get-order", revoked, deny401},
		{"apikey-admin", active, forbidden},
	}
	for _, s := range steps {
		if got, _ := run(t, h.a, loadEvent(t, s.fixture, s.key.Plaintext, "")); got != s.want {
			t.Fatalf("%s with %s: outcome %v, want %v", s.fixture, s.key.ID, got, s.want)
		}
	}
	if got := emfLines(t, h.logText(), MetricDenied); len(got) != 0 {
		t.Fatalf("denial metric written before a minute passed: %v", got)
	}
	h.clk.Advance(time.Minute)
	if got, _ := run(t, h.a, loadEvent(t, "apikey-get-order", revoked.Plaintext, "")); got != deny401 {
		t.Fatalf("outcome %v, want 401", got)
	}
	at := t0.Add(time.Minute)
	want := map[string]map[string]any{}
	for _, w := range []struct {
		key    string
		status int
		n      int64
	}{{revoked.ID, 401, 4}, {active.ID, 403, 2}} {
		var m map[string]any
		if err := json.Unmarshal(usage.DenialEMF(at, testEnv, testCustomer, w.key, w.status, w.n), &m); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprint(w.key, w.status)] = m
	}
	got := map[string]map[string]any{}
	for _, m := range emfLines(t, h.logText(), MetricDenied) {
		got[fmt.Sprint(m["KeyId"], m["Status"])] = m
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("denial lines (-usage.DenialEMF +authorizer):\n%s", diff)
	}
	for _, s := range []keys.Secret{revoked, active, unknown} {
		if strings.Contains(h.logText(), s.Plaintext) {
			t.Fatalf("a key secret was logged")
		}
	}
	// The window starts again: nothing more until the next minute.
	before := len(emfLines(t, h.logText(), MetricDenied))
	run(t, h.a, loadEvent(t, "apikey-admin", active.Plaintext, ""))
	if n := len(emfLines(t, h.logText(), MetricDenied)); n != before {
		t.Errorf("%d new lines within the next window, want 0", n-before)
	}
}

// TestDenialMetricJWTForbidden: a JWT client's 403 is counted under its
// customer with the client id as the key.
func TestDenialMetricJWTForbidden(t *testing.T) {
	h := newHarness(t)
	token := mint(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", claimsAt(t0))
	ev := loadEvent(t, "jwt-admin-lowercase", "", token)
	if got, _ := run(t, h.a, ev); got != forbidden {
		t.Fatalf("outcome %v, want 403", got)
	}
	h.clk.Advance(time.Minute)
	run(t, h.a, ev)
	lines := emfLines(t, h.logText(), MetricDenied)
	if len(lines) != 1 || lines[0]["CustomerId"] != testCustomer || lines[0]["KeyId"] != testClientID ||
		lines[0]["Status"] != float64(403) || lines[0][MetricDenied] != float64(2) {
		t.Errorf("lines %v, want one for %s/%s status 403 count 2", lines, testCustomer, testClientID)
	}
	if strings.Contains(h.logText(), token) {
		t.Error("the token was logged")
	}
}

// TestDenialCountBound: a window holds at most maxDenialsEntries distinct
// entries; the rest is one overflow count, and nothing is lost.
func TestDenialCountBound(t *testing.T) {
	var dn denials
	for i := range maxDenialsEntries + 5 {
		if f, _ := dn.counted(denialKey{customerID: "c", keyID: fmt.Sprint(i), status: 401}, t0); f != nil {
			t.Fatal("flushed within the window")
		}
	}
	dn.counted(denialKey{customerID: "c", keyID: "0", status: 401}, t0) // known entry: still counted
	flush, overflow := dn.counted(denialKey{customerID: "c", keyID: "new", status: 401}, t0.Add(time.Minute))
	var sum int64
	for _, n := range flush {
		sum += n
	}
	if len(flush) != maxDenialsEntries || overflow != 6 || sum+overflow != maxDenialsEntries+7 {
		t.Errorf("entries %d overflow %d total %d; want %d, 6, %d", len(flush), overflow, sum+overflow, maxDenialsEntries, maxDenialsEntries+7)
	}
}
