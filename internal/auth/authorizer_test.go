package auth

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// outcome of one request as API Gateway would see it.
type outcome int

const (
	allow     outcome = iota // 200 path: policy allows the requested route
	forbidden                // authenticated, policy does not allow the route: 403
	deny401                  // error "Unauthorized": 401
)

func (o outcome) String() string { return [...]string{"allow", "403", "401"}[o] }

// policyAllows evaluates resp's policy for methodArn the way API Gateway
// does: an explicit Deny wins, else some Allow must match.
func policyAllows(resp events.APIGatewayCustomAuthorizerResponse, methodArn string) bool {
	allowed := false
	for _, st := range resp.PolicyDocument.Statement {
		for _, r := range st.Resource {
			if globMatch(r, methodArn) {
				if st.Effect == "Deny" {
					return false
				}
				allowed = true
			}
		}
	}
	return allowed
}

// run sends ev through Handle and classifies the result.
func run(t *testing.T, a *Authorizer, ev events.APIGatewayCustomAuthorizerRequestTypeRequest) (outcome, events.APIGatewayCustomAuthorizerResponse) {
	t.Helper()
	resp, err := a.Handle(context.Background(), ev)
	switch {
	case err != nil:
		if err.Error() != "Unauthorized" {
			t.Fatalf("Handle error %q, want exactly \"Unauthorized\"", err)
		}
		return deny401, resp
	case policyAllows(resp, ev.MethodArn):
		return allow, resp
	}
	return forbidden, resp
}

var allKeyRoutes = []string{"GET/orders/*", "POST/orders", "GET/", "GET/health"}

func TestHandleFixtures(t *testing.T) {
	tests := []struct {
		name      string
		fixture   string
		preferJWT bool
		key       func(k *registry.Key) // nil: default active key
		want      outcome
		wantResp  func(keyID string) *events.APIGatewayCustomAuthorizerResponse
	}{
		{name: "api key GET order", fixture: "apikey-get-order", want: allow,
			wantResp: func(id string) *events.APIGatewayCustomAuthorizerResponse {
				r := allowResponse(AuthMethodAPIKey, id, "orders:read orders:write", "", allKeyRoutes...)
				return &r
			}},
		{name: "api key header in other case, POST", fixture: "apikey-post-orders", want: allow},
		{name: "api key without admin scope on admin route", fixture: "apikey-admin", want: forbidden,
			wantResp: func(id string) *events.APIGatewayCustomAuthorizerResponse {
				r := allowResponse(AuthMethodAPIKey, id, "orders:read orders:write", "", allKeyRoutes...)
				return &r
			}},
		{name: "api key with admin scope on admin route", fixture: "apikey-admin", want: allow,
			key: func(k *registry.Key) { k.Scopes = []string{"admin"} }},
		{name: "api key with no scopes gets only open routes", fixture: "apikey-root", want: allow,
			key: func(k *registry.Key) { k.Scopes = nil },
			wantResp: func(id string) *events.APIGatewayCustomAuthorizerResponse {
				r := allowResponse(AuthMethodAPIKey, id, "", "", "GET/", "GET/health")
				return &r
			}},
		{name: "api key from IPv6 inside allowlist", fixture: "apikey-ipv6", want: allow,
			key: func(k *registry.Key) { k.AllowedCIDRs = []string{"203.0.113.0/24", "2001:db8:1234::/48"} }},
		{name: "api key from IPv6 outside allowlist", fixture: "apikey-ipv6", want: deny401,
			key: func(k *registry.Key) { k.AllowedCIDRs = []string{"203.0.113.0/24", "2001:db8:1235::/48"} }},
		{name: "api key sent twice", fixture: "apikey-twice", want: deny401},
		{name: "jwt GET order", fixture: "jwt-get-order", want: allow,
			wantResp: func(string) *events.APIGatewayCustomAuthorizerResponse {
				r := allowResponse(AuthMethodJWT, "", "orders:read orders:write", testClientID, allKeyRoutes...)
				return &r
			}},
		{name: "jwt lowercase bearer on admin route without scope", fixture: "jwt-admin-lowercase", want: forbidden},
		{name: "both credentials", fixture: "both-credentials", want: deny401},
		{name: "both credentials, preferJwt", fixture: "both-credentials", preferJWT: true, want: allow},
		{name: "no credentials", fixture: "no-credentials", want: deny401},
		{name: "basic auth is not a credential we accept", fixture: "basic-auth", want: deny401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(s *Settings) { s.PreferJWT = tc.preferJWT })
			secret := h.reg.addKey(t, tc.key)
			token := mint(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", claimsAt(t0))
			ev := loadEvent(t, tc.fixture, secret.Plaintext, token)
			got, resp := run(t, h.a, ev)
			if got != tc.want {
				t.Fatalf("outcome %v, want %v; logs:\n%s", got, tc.want, h.logText())
			}
			if tc.wantResp != nil {
				if diff := cmp.Diff(*tc.wantResp(secret.ID), resp); diff != "" {
					t.Errorf("response (-want +got):\n%s", diff)
				}
			}
			if logs := h.logText(); strings.Contains(logs, secret.Plaintext) || strings.Contains(logs, token) {
				t.Errorf("logs contain a credential:\n%s", logs)
			}
		})
	}
}

func TestAPIKeyStatuses(t *testing.T) {
	past, future := t0.Add(-time.Second), t0.Add(time.Hour)
	tests := []struct {
		name    string
		key     func(k *registry.Key)
		sub     func(s *registry.Subscription)
		wantErr error // nil: allowed
	}{
		{name: "active", key: func(*registry.Key) {}},
		{name: "suspended", key: func(k *registry.Key) { k.Status = registry.KeySuspended }, wantErr: ErrKeySuspended},
		{name: "revoked", key: func(k *registry.Key) { k.Status = registry.KeyRevoked }, wantErr: ErrKeyRevoked},
		{name: "stored expired", key: func(k *registry.Key) { k.Status = registry.KeyExpired }, wantErr: ErrKeyExpired},
		{name: "unknown status", key: func(k *registry.Key) { k.Status = "limbo" }, wantErr: ErrKeyInactive},
		{name: "expiry passed", key: func(k *registry.Key) { k.ExpiresAt = &past }, wantErr: ErrKeyExpired},
		{name: "expiry exactly now", key: func(k *registry.Key) { e := t0; k.ExpiresAt = &e }, wantErr: ErrKeyExpired},
		{name: "rotation grace: old key still inside its grace period", key: func(k *registry.Key) {
			k.ExpiresAt, k.RotatedTo = &future, "key_successor00000"
		}},
		{name: "registered for another environment", key: func(k *registry.Key) { k.Env = "prod" }, wantErr: ErrWrongEnvironment},
		{name: "stored hash differs", key: func(k *registry.Key) { k.Hash = strings.Repeat("ab", 32) }, wantErr: ErrInvalidKey},
		{name: "stored hash corrupt", key: func(k *registry.Key) { k.Hash = "zz" }, wantErr: ErrCorruptRecord},
		{name: "corrupt allowlist fails closed", key: func(k *registry.Key) { k.AllowedCIDRs = []string{"10.0.0.0/33"} }, wantErr: ErrCorruptRecord},
		{name: "customer suspended", sub: func(s *registry.Subscription) { s.CustomerStatus = registry.CustomerSuspended }, wantErr: ErrCustomerSuspended},
		{name: "subscription has no usage key yet", sub: func(s *registry.Subscription) { s.UsageKeyValue = "" }, wantErr: ErrNoUsageKey},
		{name: "not subscribed in this environment", sub: func(s *registry.Subscription) { s.Env = "prod" }, wantErr: ErrNotSubscribed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			secret := h.reg.addKey(t, tc.key)
			if tc.sub != nil {
				h.reg.update(func(f *fakeRegistry) {
					s := f.subs[testCustomer]
					tc.sub(&s)
					f.subs[testCustomer] = s
				})
			}
			ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
			_, err := h.a.Authorize(context.Background(), &ev)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Authorize error %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRotationGraceEndsWithoutRegistryRead(t *testing.T) {
	h := newHarness(t)
	grace := t0.Add(10 * time.Second)
	secret := h.reg.addKey(t, func(k *registry.Key) { k.ExpiresAt = &grace })
	ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
	if got, _ := run(t, h.a, ev); got != allow {
		t.Fatalf("inside grace: %v, want allow", got)
	}
	h.clk.Advance(10 * time.Second) // still within the cache TTL
	_, err := h.a.Authorize(context.Background(), &ev)
	if !errors.Is(err, ErrKeyExpired) {
		t.Fatalf("after grace: %v, want ErrKeyExpired", err)
	}
	if n := h.reg.callCount("GetKey"); n != 1 {
		t.Errorf("GetKey calls = %d, want 1 (expiry is re-checked on the cached record)", n)
	}
}

func TestAPIKeyFormatRejectedWithoutRegistryRead(t *testing.T) {
	h := newHarness(t)
	secret := h.reg.addKey(t, nil)
	valid := secret.Plaintext
	other, err := keys.New("prod")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		key     string
		wantErr error
	}{
		{name: "empty value", key: "", wantErr: ErrMalformedCredentials},
		{name: "garbage", key: "not-a-key", wantErr: ErrInvalidKey},
		{name: "truncated", key: valid[:len(valid)-1], wantErr: ErrInvalidKey},
		{name: "key for another environment", key: other.Plaintext, wantErr: ErrWrongEnvironment},
	}
	// Flip every character of the key: the checksum (or the format) must
	// catch each one.
	for i := range valid {
		b := []byte(valid)
		switch {
		case b[i] == 'a':
			b[i] = 'b'
		case b[i] == '_':
			b[i] = '-'
		default:
			b[i] = 'a'
		}
		tests = append(tests, struct {
			name    string
			key     string
			wantErr error
		}{name: "flip char " + string(rune('A'+i%26)) + "@" + itoa(i), key: string(b)})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := loadEvent(t, "apikey-get-order", tc.key, "")
			_, err := h.a.Authorize(context.Background(), &ev)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
		})
	}
	if n := h.reg.callCount("GetKey"); n != 0 {
		t.Errorf("GetKey calls = %d, want 0: malformed keys must not reach the registry", n)
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func TestIPAllowlist(t *testing.T) {
	tests := []struct {
		name  string
		cidrs []string
		ip    string
		want  bool
	}{
		{name: "empty allowlist allows any", cidrs: nil, ip: "198.51.100.1", want: true},
		{name: "v4 inside /8 upper edge", cidrs: []string{"10.0.0.0/8"}, ip: "10.255.255.255", want: true},
		{name: "v4 inside /8 lower edge", cidrs: []string{"10.0.0.0/8"}, ip: "10.0.0.0", want: true},
		{name: "v4 just above /8", cidrs: []string{"10.0.0.0/8"}, ip: "11.0.0.0", want: false},
		{name: "v4 just below /8", cidrs: []string{"10.0.0.0/8"}, ip: "9.255.255.255", want: false},
		{name: "v4 /32 exact", cidrs: []string{"203.0.113.7/32"}, ip: "203.0.113.7", want: true},
		{name: "v4 /32 neighbour", cidrs: []string{"203.0.113.7/32"}, ip: "203.0.113.8", want: false},
		{name: "bare v4 address", cidrs: []string{"203.0.113.7"}, ip: "203.0.113.7", want: true},
		{name: "v4 /0 any v4", cidrs: []string{"0.0.0.0/0"}, ip: "198.51.100.1", want: true},
		{name: "v4 /0 does not admit v6", cidrs: []string{"0.0.0.0/0"}, ip: "2001:db8::1", want: false},
		{name: "v6 /32 upper edge", cidrs: []string{"2001:db8::/32"}, ip: "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", want: true},
		{name: "v6 /32 just above", cidrs: []string{"2001:db8::/32"}, ip: "2001:db9::", want: false},
		{name: "v6 /128 exact", cidrs: []string{"2001:db8::42/128"}, ip: "2001:db8::42", want: true},
		{name: "v6 /128 neighbour", cidrs: []string{"2001:db8::42/128"}, ip: "2001:db8::43", want: false},
		{name: "v6 ::/0 any v6", cidrs: []string{"::/0"}, ip: "2001:db8::1", want: true},
		{name: "v4-mapped v6 source matches v4 prefix", cidrs: []string{"10.0.0.0/8"}, ip: "::ffff:10.1.2.3", want: true},
		{name: "v4 source vs v6-only list", cidrs: []string{"2001:db8::/32"}, ip: "10.1.2.3", want: false},
		{name: "mixed list, second entry matches", cidrs: []string{"10.0.0.0/8", "2001:db8::/32"}, ip: "2001:db8::5", want: true},
		{name: "missing source IP with allowlist", cidrs: []string{"10.0.0.0/8"}, ip: "", want: false},
		{name: "unparsable source IP", cidrs: []string{"10.0.0.0/8"}, ip: "10.1.2", want: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			secret := h.reg.addKey(t, func(k *registry.Key) { k.AllowedCIDRs = tc.cidrs })
			ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
			ev.RequestContext.Identity.SourceIP = tc.ip
			_, err := h.a.Authorize(context.Background(), &ev)
			if got := err == nil; got != tc.want {
				t.Fatalf("allowed=%v (err %v), want %v", got, err, tc.want)
			}
			if !tc.want && !errors.Is(err, ErrSourceIPNotAllowed) {
				t.Fatalf("error %v, want ErrSourceIPNotAllowed", err)
			}
		})
	}
}

func TestDecisionCacheAndRevocationBound(t *testing.T) {
	h := newHarness(t)
	secret := h.reg.addKey(t, nil)
	ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
	for range 3 {
		if got, _ := run(t, h.a, ev); got != allow {
			t.Fatalf("outcome %v, want allow", got)
		}
	}
	if n := h.reg.callCount("GetKey"); n != 1 {
		t.Fatalf("GetKey calls = %d, want 1 (cached)", n)
	}
	// Revoke: the cached decision stands until the TTL runs out.
	h.reg.update(func(f *fakeRegistry) {
		k := f.keys[secret.ID]
		k.Status = registry.KeyRevoked
		f.keys[secret.ID] = k
	})
	h.clk.Advance(29 * time.Second)
	if got, _ := run(t, h.a, ev); got != allow {
		t.Fatalf("within TTL: %v, want allow (cached)", got)
	}
	h.clk.Advance(time.Second)
	if got, _ := run(t, h.a, ev); got != deny401 {
		t.Fatalf("after TTL: %v, want 401", got)
	}
	if n := h.reg.callCount("GetKey"); n != 2 {
		t.Errorf("GetKey calls = %d, want 2", n)
	}
}

// TestUnknownKeyNegativeCache (issue 12 item 8): a key the registry lacks
// is answered 401 without another registry read for unknownKeyCacheSeconds
// (5 s by default); a key created just after a failed try works once that
// bound has passed; the cache is bounded by cacheMaxEntries.
func TestUnknownKeyNegativeCache(t *testing.T) {
	h := newHarness(t, func(s *Settings) { s.CacheMaxEntries = 3 })
	s, err := keys.New(testEnv)
	if err != nil {
		t.Fatal(err)
	}
	ev := loadEvent(t, "apikey-get-order", s.Plaintext, "")
	for range 5 {
		if got, _ := run(t, h.a, ev); got != deny401 {
			t.Fatalf("outcome %v, want 401", got)
		}
	}
	if n := h.reg.callCount("GetKey"); n != 1 {
		t.Errorf("GetKey calls for one unknown key tried 5 times = %d, want 1", n)
	}
	// The key is created right after the failed tries.
	h.reg.update(func(f *fakeRegistry) {
		f.keys[s.ID] = registry.Key{ID: s.ID, Hash: s.Hash.String(), CustomerID: testCustomer, Env: testEnv,
			Status: registry.KeyActive, Scopes: []string{"orders:read"}}
	})
	h.clk.Advance(4999 * time.Millisecond)
	if got, _ := run(t, h.a, ev); got != deny401 {
		t.Fatalf("inside the negative TTL: %v, want 401 (cached)", got)
	}
	h.clk.Advance(time.Millisecond)
	if got, _ := run(t, h.a, ev); got != allow {
		t.Fatalf("5 s after the failed try: %v, want allow", got)
	}
	// Bounded: many distinct unknown keys keep at most cacheMaxEntries.
	for range 10 {
		other, err := keys.New(testEnv)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = run(t, h.a, loadEvent(t, "apikey-get-order", other.Plaintext, ""))
	}
	if n := h.a.unknown.cache.Len(); n != 3 {
		t.Errorf("negative cache holds %d keys, want 3 (cacheMaxEntries)", n)
	}
}

// TestUnknownKeyNegativeCacheOff: unknownKeyCacheSeconds 0 reads the
// registry for every try, as before.
func TestUnknownKeyNegativeCacheOff(t *testing.T) {
	h := newHarness(t, func(s *Settings) { zero := 0; s.UnknownKeyCacheSeconds = &zero })
	s, err := keys.New(testEnv)
	if err != nil {
		t.Fatal(err)
	}
	ev := loadEvent(t, "apikey-get-order", s.Plaintext, "")
	for range 3 {
		_, _ = run(t, h.a, ev)
	}
	if n := h.reg.callCount("GetKey"); n != 3 {
		t.Errorf("GetKey calls = %d, want 3", n)
	}
}

// TestUnknownKeyMetric: the number of requests with an unknown key is
// emitted in CloudWatch's embedded metric format once a minute has passed.
func TestUnknownKeyMetric(t *testing.T) {
	h := newHarness(t)
	for i := range 7 {
		s, err := keys.New(testEnv)
		if err != nil {
			t.Fatal(err)
		}
		ev := loadEvent(t, "apikey-get-order", s.Plaintext, "")
		_, _ = run(t, h.a, ev)
		if i == 3 {
			_, _ = run(t, h.a, ev) // the same key again: served by the negative cache, still counted
		}
	}
	if strings.Contains(h.logText(), MetricUnknownAPIKeys) {
		t.Fatalf("metric emitted before a minute passed:\n%s", h.logText())
	}
	h.clk.Advance(time.Minute)
	s, err := keys.New(testEnv)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = run(t, h.a, loadEvent(t, "apikey-get-order", s.Plaintext, ""))
	var found []map[string]any
	for _, line := range strings.Split(h.logText(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["_aws"] != nil {
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("EMF records: %d, want 1; logs:\n%s", len(found), h.logText())
	}
	m := found[0]
	want := map[string]any{
		"Timestamp": float64(t0.Add(time.Minute).UnixMilli()),
		"CloudWatchMetrics": []any{map[string]any{
			"Namespace":  "stagehand/authorizer",
			"Dimensions": []any{[]any{"Environment"}},
			"Metrics":    []any{map[string]any{"Name": "UnknownApiKeys", "Unit": "Count"}},
		}},
	}
	if diff := cmp.Diff(want, m["_aws"]); diff != "" {
		t.Errorf("_aws (-want +got):\n%s", diff)
	}
	if m["Environment"] != testEnv || m["UnknownApiKeys"] != float64(9) {
		t.Errorf("Environment %v, UnknownApiKeys %v; want %q, 9", m["Environment"], m["UnknownApiKeys"], testEnv)
	}
}

func TestRegistryOutageModes(t *testing.T) {
	outage := errors.New("dial tcp 127.0.0.1:8000: connection refused")
	tests := []struct {
		name        string
		mode        Mode
		advance     time.Duration // after the first, successful request
		knownKey    bool
		want        outcome
		wantErrLog  bool
		wantWarnLog bool
	}{
		{name: "strict: known key after TTL", mode: ModeStrict, advance: 31 * time.Second, knownKey: true, want: deny401, wantErrLog: true},
		{name: "strict: within TTL still cached", mode: ModeStrict, advance: 10 * time.Second, knownKey: true, want: allow},
		{name: "resilient: known key, stale within maxStaleness", mode: ModeResilient, advance: 200 * time.Second, knownKey: true, want: allow, wantWarnLog: true},
		{name: "resilient: known key, beyond maxStaleness", mode: ModeResilient, advance: 301 * time.Second, knownKey: true, want: deny401, wantErrLog: true},
		{name: "resilient: unknown key", mode: ModeResilient, advance: 31 * time.Second, knownKey: false, want: deny401, wantErrLog: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(s *Settings) { s.Mode = tc.mode })
			secret := h.reg.addKey(t, nil)
			ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
			if tc.knownKey {
				if got, _ := run(t, h.a, ev); got != allow {
					t.Fatalf("before outage: %v", got)
				}
			}
			h.reg.setFail(outage)
			h.clk.Advance(tc.advance)
			if got, _ := run(t, h.a, ev); got != tc.want {
				t.Fatalf("during outage: %v, want %v; logs:\n%s", got, tc.want, h.logText())
			}
			logs := h.logText()
			if got := strings.Contains(logs, `"level":"ERROR"`) && strings.Contains(logs, "registry unavailable"); got != tc.wantErrLog {
				t.Errorf("error log present=%v, want %v:\n%s", got, tc.wantErrLog, logs)
			}
			if got := strings.Contains(logs, `"level":"WARN"`); got != tc.wantWarnLog {
				t.Errorf("warn log present=%v, want %v:\n%s", got, tc.wantWarnLog, logs)
			}
		})
	}
}

func TestResilientOutageDoesNotRetryEveryRequest(t *testing.T) {
	h := newHarness(t, func(s *Settings) { s.Mode = ModeResilient })
	secret := h.reg.addKey(t, nil)
	ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
	if got, _ := run(t, h.a, ev); got != allow {
		t.Fatal(got)
	}
	h.reg.setFail(errors.New("timeout"))
	h.clk.Advance(31 * time.Second)
	for range 5 {
		if got, _ := run(t, h.a, ev); got != allow {
			t.Fatalf("stale decision not served: %v", got)
		}
	}
	if n := h.reg.callCount("GetKey"); n != 2 {
		t.Errorf("GetKey calls = %d, want 2 (one success, one failure, then stale without retry)", n)
	}
}

func TestPanicBecomes401(t *testing.T) {
	h := newHarness(t)
	secret := h.reg.addKey(t, nil)
	h.reg.update(func(f *fakeRegistry) { f.panics = true })
	ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
	if got, _ := run(t, h.a, ev); got != deny401 {
		t.Fatalf("outcome %v, want 401", got)
	}
	logs := h.logText()
	if !strings.Contains(logs, "authorizer panic recovered") || !strings.Contains(logs, `"level":"ERROR"`) {
		t.Errorf("no panic error log:\n%s", logs)
	}
	if strings.Contains(logs, secret.Plaintext) {
		t.Errorf("panic log contains the key")
	}
}

func TestMalformedMethodARN(t *testing.T) {
	h := newHarness(t)
	secret := h.reg.addKey(t, nil)
	for _, arn := range []string{"", "arn:aws:lambda:eu-west-1:1:function:x", "arn:aws:execute-api:eu-west-1:123:api", "arn:aws:execute-api:eu-west-1:123:api/prod"} {
		ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
		ev.MethodArn = arn
		if _, err := h.a.Authorize(context.Background(), &ev); !errors.Is(err, ErrBadRequest) {
			t.Errorf("methodArn %q: error %v, want ErrBadRequest", arn, err)
		}
	}
}

// JWT client mapping.

func TestJWTClientMapping(t *testing.T) {
	tests := []struct {
		name       string
		claims     func(c jwt.MapClaims)
		binding    func(b *registry.ClientBinding)
		sub        func(s *registry.Subscription)
		clientIDs  []string // nil: config default (client_id, azp)
		fixture    string
		want       outcome
		wantErr    error
		wantScopes string
	}{
		{name: "client_id claim", fixture: "jwt-get-order", want: allow, wantScopes: "orders:read orders:write"},
		{name: "azp when no client_id", fixture: "jwt-get-order", want: allow,
			claims: func(c jwt.MapClaims) { delete(c, "client_id"); c["azp"] = testClientID }},
		{name: "no client claim", fixture: "jwt-get-order", want: deny401, wantErr: ErrNoClientID,
			claims: func(c jwt.MapClaims) { delete(c, "client_id") }},
		{name: "sub when configured", fixture: "jwt-get-order", want: allow, clientIDs: []string{"sub"},
			claims: func(c jwt.MapClaims) { c["sub"] = testClientID }},
		{name: "unbound client", fixture: "jwt-get-order", want: deny401, wantErr: ErrUnknownClient,
			claims: func(c jwt.MapClaims) { c["client_id"] = "stranger" }},
		{name: "binding caps scopes", fixture: "jwt-get-order", want: allow, wantScopes: "orders:read",
			binding: func(b *registry.ClientBinding) { b.Scopes = []string{"orders:read", "admin"} }},
		{name: "binding cap removes the needed scope", fixture: "jwt-get-order", want: forbidden,
			binding: func(b *registry.ClientBinding) { b.Scopes = []string{"orders:write"} }},
		{name: "scp array", fixture: "jwt-admin-lowercase", want: allow,
			claims: func(c jwt.MapClaims) { delete(c, "scope"); c["scp"] = []string{"admin"} }},
		{name: "claim check fails: tier not allowed", fixture: "jwt-get-order", want: forbidden,
			claims: func(c jwt.MapClaims) { c["tenant_tier"] = "bronze" }},
		{name: "claim check fails: claim missing", fixture: "jwt-get-order", want: forbidden,
			claims: func(c jwt.MapClaims) { delete(c, "tenant_tier") }},
		{name: "customer suspended", fixture: "jwt-get-order", want: deny401, wantErr: ErrCustomerSuspended,
			sub: func(s *registry.Subscription) { s.CustomerStatus = registry.CustomerSuspended }},
		{name: "binding for another environment", fixture: "jwt-get-order", want: deny401, wantErr: ErrUnknownClient,
			binding: func(b *registry.ClientBinding) { b.Env = "prod" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(s *Settings) {
				if tc.clientIDs != nil {
					s.ClientIDClaims = tc.clientIDs
				}
			})
			h.reg.update(func(f *fakeRegistry) {
				k := bindKey{testIssuer, testClientID}
				b := f.bindings[k]
				if tc.binding != nil {
					tc.binding(&b)
				}
				f.bindings[k] = b
				s := f.subs[testCustomer]
				if tc.sub != nil {
					tc.sub(&s)
				}
				f.subs[testCustomer] = s
			})
			c := claimsAt(t0)
			if tc.claims != nil {
				tc.claims(c)
			}
			ev := loadEvent(t, tc.fixture, "", mint(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", c))
			got, resp := run(t, h.a, ev)
			if got != tc.want {
				t.Fatalf("outcome %v, want %v; logs:\n%s", got, tc.want, h.logText())
			}
			if tc.wantErr != nil {
				if _, err := h.a.Authorize(context.Background(), &ev); !errors.Is(err, tc.wantErr) {
					t.Errorf("error %v, want %v", err, tc.wantErr)
				}
			}
			if tc.wantScopes != "" && resp.Context["scopes"] != tc.wantScopes {
				t.Errorf("context scopes %q, want %q", resp.Context["scopes"], tc.wantScopes)
			}
		})
	}
}

// countingVerifier counts full verifications.
type countingVerifier struct {
	TokenVerifier
	n int
}

func (c *countingVerifier) VerifyDigested(ctx context.Context, tok string, d jwtverify.Digest) (jwtverify.Token, error) {
	c.n++
	return c.TokenVerifier.VerifyDigested(ctx, tok, d)
}

func TestVerifiedTokenCache(t *testing.T) {
	t.Run("hit skips verification, entry ends at exp", func(t *testing.T) {
		h := newHarness(t)
		cv := &countingVerifier{TokenVerifier: h.v}
		h.a.verifier = cv
		c := claimsAt(t0)
		c["exp"] = t0.Add(90 * time.Second).Unix()
		ev := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", c))
		for range 3 {
			if got, _ := run(t, h.a, ev); got != allow {
				t.Fatalf("outcome %v", got)
			}
		}
		if cv.n != 1 {
			t.Fatalf("verifications = %d, want 1", cv.n)
		}
		h.clk.Advance(90 * time.Second) // exactly exp: the cache entry is gone
		_, _ = h.a.Authorize(context.Background(), &ev)
		if cv.n != 2 {
			t.Fatalf("verifications = %d, want 2 (entry must not outlive exp)", cv.n)
		}
		h.clk.Advance(31 * time.Second) // past exp + leeway
		if got, _ := run(t, h.a, ev); got != deny401 {
			t.Fatalf("expired token: %v, want 401", got)
		}
	})
	t.Run("dropped when its kid leaves the JWKS", func(t *testing.T) {
		h := newHarness(t)
		k := testKeys()
		ev := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claimsAt(t0)))
		if got, _ := run(t, h.a, ev); got != allow {
			t.Fatalf("before rotation: %v", got)
		}
		// The issuer rotates: rsa-1 is withdrawn, rsa-2 published. A token
		// with the new kid makes the verifier refetch the JWKS.
		// The first such token fails fast; the refetch lands in the
		// background.
		h.jwks.set(rsaJWK("rsa-2", &k.rsa2.PublicKey))
		ev2 := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, k.rsa2, "rsa-2", claimsAt(t0)))
		eventually(t, "new kid allowed", func() bool { got, _ := run(t, h.a, ev2); return got == allow })
		if got, _ := run(t, h.a, ev); got != deny401 {
			t.Fatalf("cached token of withdrawn kid: %v, want 401", got)
		}
	})
	t.Run("bounded", func(t *testing.T) {
		h := newHarness(t, func(s *Settings) { s.CacheMaxEntries = 2 })
		for i := range 5 {
			c := claimsAt(t0)
			c["jti"] = "jti-" + itoa(i)
			ev := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodES256, testKeys().ec, "ec-1", c))
			if got, _ := run(t, h.a, ev); got != allow {
				t.Fatalf("token %d: %v", i, got)
			}
		}
		if n := h.a.tokens.Len(); n != 2 {
			t.Errorf("token cache holds %d entries, want 2", n)
		}
	})
	t.Run("registry-derived part refreshed after TTL", func(t *testing.T) {
		h := newHarness(t)
		ev := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", claimsAt(t0)))
		if got, _ := run(t, h.a, ev); got != allow {
			t.Fatal(got)
		}
		h.reg.update(func(f *fakeRegistry) { delete(f.bindings, bindKey{testIssuer, testClientID}) })
		h.clk.Advance(29 * time.Second)
		if got, _ := run(t, h.a, ev); got != allow {
			t.Fatalf("within TTL: %v", got)
		}
		h.clk.Advance(time.Second)
		if got, _ := run(t, h.a, ev); got != deny401 {
			t.Fatalf("binding deleted, after TTL: %v, want 401", got)
		}
	})
}

func TestNeverLogsCredentials(t *testing.T) {
	h := newHarness(t)
	secret := h.reg.addKey(t, func(k *registry.Key) { k.Status = registry.KeyRevoked })
	good := mint(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", claimsAt(t0))
	bad := good[:len(good)-4] + "AAAA"
	for _, ev := range []events.APIGatewayCustomAuthorizerRequestTypeRequest{
		loadEvent(t, "apikey-get-order", secret.Plaintext, ""),
		loadEvent(t, "apikey-get-order", secret.Plaintext[:len(secret.Plaintext)-1]+"x", ""),
		loadEvent(t, "jwt-get-order", "", bad),
		loadEvent(t, "jwt-admin-lowercase", "", good),
		loadEvent(t, "both-credentials", secret.Plaintext, good),
	} {
		_, _ = h.a.Handle(context.Background(), ev)
	}
	logs := h.logText()
	sig := good[strings.LastIndexByte(good, '.')+1:]
	for name, secretText := range map[string]string{"key": secret.Plaintext, "key body": secret.Plaintext[8:], "token": good, "payload": strings.Split(good, ".")[1], "signature": sig, "bad signature": bad[strings.LastIndexByte(bad, '.')+1:]} {
		if strings.Contains(logs, secretText) {
			t.Errorf("logs contain the %s:\n%s", name, logs)
		}
	}
	if !strings.Contains(logs, secret.ID) {
		t.Errorf("logs should name the key id %s:\n%s", secret.ID, logs)
	}
}
