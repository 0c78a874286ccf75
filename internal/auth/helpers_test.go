package auth

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

const (
	testEnv      = "test"
	testIssuer   = "https://auth.example.com/"
	testAudience = "https://api.example.com"
	testCustomer = "cust_acme"
	testUsageKey = "usage-key-value-acme-0123456789"
	testClientID = "client-acme-1"
	testStagePfx = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/"
)

// t0 is the virtual "now" of every test.
var t0 = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

// Signing keys, generated once per test binary.
type signingKeys struct {
	rsa   *rsa.PrivateKey
	rsa2  *rsa.PrivateKey
	ec    *ecdsa.PrivateKey
	ec384 *ecdsa.PrivateKey
	ed    ed25519.PrivateKey
}

var testKeys = sync.OnceValue(func() signingKeys {
	must := func(err error) {
		if err != nil {
			panic(err) // test setup only
		}
	}
	r1, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	r2, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	ec384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	return signingKeys{rsa: r1, rsa2: r2, ec: ec, ec384: ec384, ed: ed}
})

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func rsaJWK(kid string, pub *rsa.PublicKey) map[string]any {
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes())}
}

func ecJWK(kid string, pub *ecdsa.PublicKey) map[string]any {
	size := (pub.Curve.Params().BitSize + 7) / 8
	crv := "P-256"
	if size == 48 {
		crv = "P-384"
	}
	raw, err := pub.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	return map[string]any{"kty": "EC", "kid": kid, "use": "sig", "crv": crv, "x": b64(raw[1 : 1+size]), "y": b64(raw[1+size:])}
}

func edJWK(kid string, pub ed25519.PublicKey) map[string]any {
	return map[string]any{"kty": "OKP", "kid": kid, "use": "sig", "crv": "Ed25519", "x": b64(pub)}
}

// jwksServer serves a JWKS on loopback; tests change it.
type jwksServer struct {
	srv     *httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int32
}

func newJWKSServer(t testing.TB, jwks ...map[string]any) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(jwks...)
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *jwksServer) set(jwks ...map[string]any) {
	b, err := json.Marshal(map[string]any{"keys": jwks})
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) url() string { return s.srv.URL + "/.well-known/jwks.json" }

// defaultJWKS publishes the RSA, EC and Ed25519 test keys.
func defaultJWKS() []map[string]any {
	k := testKeys()
	return []map[string]any{
		rsaJWK("rsa-1", &k.rsa.PublicKey),
		ecJWK("ec-1", &k.ec.PublicKey),
		ecJWK("ec384-1", &k.ec384.PublicKey),
		edJWK("ed-1", k.ed.Public().(ed25519.PublicKey)),
	}
}

// claimsAt are valid claims for the test client at now.
func claimsAt(now time.Time) jwt.MapClaims {
	return jwt.MapClaims{
		"iss":         testIssuer,
		"aud":         testAudience,
		"sub":         testClientID + "@clients",
		"client_id":   testClientID,
		"iat":         now.Unix(),
		"nbf":         now.Unix(),
		"exp":         now.Add(time.Hour).Unix(),
		"jti":         "jti-0001",
		"scope":       "orders:read orders:write",
		"tenant_tier": "gold",
	}
}

// mint signs claims with method and key, setting kid when non-empty.
func mint(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign token: %v", err)
	}
	return s
}

// fakeRegistry is an in-memory Registry with fault injection.
type fakeRegistry struct {
	mu       sync.Mutex
	keys     map[string]registry.Key
	subs     map[string]registry.Subscription
	bindings map[bindKey]registry.ClientBinding
	fail     error // returned by every call when set
	panics   bool
	calls    map[string]int
}

func newFakeRegistry() *fakeRegistry {
	return &fakeRegistry{
		keys:     map[string]registry.Key{},
		subs:     map[string]registry.Subscription{},
		bindings: map[bindKey]registry.ClientBinding{},
		calls:    map[string]int{},
	}
}

func (f *fakeRegistry) enter(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[op]++
	if f.panics {
		panic("registry exploded")
	}
	return f.fail
}

func (f *fakeRegistry) GetKey(_ context.Context, id string) (registry.Key, error) {
	if err := f.enter("GetKey"); err != nil {
		return registry.Key{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	k, ok := f.keys[id]
	if !ok {
		return registry.Key{}, fmt.Errorf("key %s: %w", id, registry.ErrKeyNotFound)
	}
	return k, nil
}

func (f *fakeRegistry) GetSubscription(_ context.Context, customerID, env string) (registry.Subscription, error) {
	if err := f.enter("GetSubscription"); err != nil {
		return registry.Subscription{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.subs[customerID]
	if !ok || s.Env != env {
		return registry.Subscription{}, registry.ErrSubscriptionNotFound
	}
	return s, nil
}

func (f *fakeRegistry) GetBinding(_ context.Context, env, issuer, subject string) (registry.ClientBinding, error) {
	if err := f.enter("GetBinding"); err != nil {
		return registry.ClientBinding{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.bindings[bindKey{issuer, subject}]
	if !ok || b.Env != env {
		return registry.ClientBinding{}, registry.ErrBindingNotFound
	}
	return b, nil
}

func (f *fakeRegistry) callCount(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[op]
}

func (f *fakeRegistry) setFail(err error) {
	f.mu.Lock()
	f.fail = err
	f.mu.Unlock()
}

func (f *fakeRegistry) update(fn func(f *fakeRegistry)) {
	f.mu.Lock()
	fn(f)
	f.mu.Unlock()
}

// addKey registers a new key for the test customer and returns its secret.
func (f *fakeRegistry) addKey(t testing.TB, mutate func(k *registry.Key)) keys.Secret {
	t.Helper()
	s, err := keys.New(testEnv)
	if err != nil {
		t.Fatal(err)
	}
	k := registry.Key{
		ID: s.ID, Hash: s.Hash.String(), CustomerID: testCustomer, Env: testEnv,
		DisplayPrefix: s.DisplayPrefix, Status: registry.KeyActive,
		Scopes: []string{"orders:read", "orders:write"},
	}
	if mutate != nil {
		mutate(&k)
	}
	f.update(func(f *fakeRegistry) { f.keys[k.ID] = k })
	return s
}

// seed adds the test customer's subscription and JWT client binding.
func (f *fakeRegistry) seed() {
	f.update(func(f *fakeRegistry) {
		f.subs[testCustomer] = registry.Subscription{
			CustomerID: testCustomer, Env: testEnv, Plan: "standard",
			CustomerStatus: registry.CustomerActive, UsageKeyID: "uk1", UsageKeyValue: testUsageKey,
		}
		f.bindings[bindKey{testIssuer, testClientID}] = registry.ClientBinding{
			Env: testEnv, Issuer: testIssuer, Subject: testClientID, CustomerID: testCustomer,
		}
	})
}

// harness is an Authorizer with a fake registry, a virtual clock, a real
// JWT verifier and a loopback JWKS server.
type harness struct {
	a     *Authorizer
	reg   *fakeRegistry
	clk   *clock.Virtual
	jwks  *jwksServer
	v     *jwtverify.Verifier
	logs  *bytes.Buffer
	logMu *sync.Mutex
}

type harnessOpt func(*Settings)

func loadSettings(t testing.TB, jwksURL string, opts ...harnessOpt) Settings {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	raw = bytes.ReplaceAll(raw, []byte("${JWKS_URL}"), []byte(jwksURL))
	s, err := ParseSettings(raw)
	if err != nil {
		t.Fatalf("parse test settings: %v", err)
	}
	for _, o := range opts {
		o(&s)
	}
	return s
}

// lockedWriter lets the race detector accept concurrent log writes.
type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func newHarness(t testing.TB, opts ...harnessOpt) *harness {
	t.Helper()
	h := &harness{reg: newFakeRegistry(), clk: clock.NewVirtual(t0), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	h.reg.seed()
	h.jwks = newJWKSServer(t, defaultJWKS()...)
	s := loadSettings(t, h.jwks.url(), opts...)
	log := slog.New(slog.NewJSONHandler(lockedWriter{h.logMu, h.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := jwtverify.New(ctx, s.VerifierIssuers(),
		jwtverify.WithClock(h.clk), jwtverify.WithLeeway(s.Leeway()), jwtverify.WithMaxLifetime(s.MaxTokenLifetime()),
		jwtverify.WithLogger(log), jwtverify.WithUnknownKIDRefresh(time.Millisecond))
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	h.v = v
	h.a, err = New(Config{Env: testEnv, Table: "t", Settings: s}, h.reg,
		WithVerifier(v), WithClock(h.clk), WithLogger(log))
	if err != nil {
		t.Fatalf("authorizer: %v", err)
	}
	return h
}

func (h *harness) logText() string {
	h.logMu.Lock()
	defer h.logMu.Unlock()
	return h.logs.String()
}

// loadEvent reads testdata/events/<name>.json, substituting ${API_KEY} and
// ${TOKEN}.
func loadEvent(t testing.TB, name, apiKey, token string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "events", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("${API_KEY}", apiKey, "${TOKEN}", token).Replace(string(raw))
	var ev events.APIGatewayCustomAuthorizerRequestTypeRequest
	if err := json.Unmarshal([]byte(s), &ev); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
	return ev
}

// allowResponse is the expected response for the test customer.
func allowResponse(method, keyID, scopes, clientID string, patterns ...string) events.APIGatewayCustomAuthorizerResponse {
	res := make([]string, len(patterns))
	for i, p := range patterns {
		res[i] = testStagePfx + p
	}
	effect := "Allow"
	if len(patterns) == 0 {
		effect, res = "Deny", []string{testStagePfx + "*"}
	}
	ctx := map[string]any{
		"customerId": testCustomer, "keyId": keyID, "plan": "standard", "scopes": scopes, "authMethod": method,
	}
	if clientID != "" {
		ctx["clientId"] = clientID
	}
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID: testCustomer,
		PolicyDocument: events.APIGatewayCustomAuthorizerPolicy{Version: "2012-10-17", Statement: []events.IAMPolicyStatement{
			{Action: []string{"execute-api:Invoke"}, Effect: effect, Resource: res},
		}},
		Context:            ctx,
		UsageIdentifierKey: testUsageKey,
	}
}

// eventually polls cond (every 5 ms, for up to 20 s: a generous bound for a
// loaded machine, not a timing assertion) and fails the test if it never
// holds: for effects that land in the background (a JWKS refetch).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: never happened within 20 s", what)
}
