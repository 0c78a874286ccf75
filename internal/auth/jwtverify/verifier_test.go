package jwtverify

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

const (
	iss = "https://issuer.example.com/"
	aud = "api"
)

var t0 = time.Date(2026, 1, 10, 12, 0, 0, 0, time.UTC)

var rsaKeys = sync.OnceValue(func() [3]*rsa.PrivateKey {
	var out [3]*rsa.PrivateKey
	for i := range out {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		out[i] = k
	}
	return out
})

func jwk(kid string, k *rsa.PrivateKey) map[string]any {
	b := base64.RawURLEncoding.EncodeToString
	return map[string]any{"kty": "RSA", "kid": kid, "use": "sig", "n": b(k.N.Bytes()), "e": b(big.NewInt(int64(k.E)).Bytes())}
}

type server struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	down    bool
	fetches atomic.Int32
}

func newServer(t testing.TB, keys ...map[string]any) *server {
	s := &server{}
	s.set(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.down {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) set(keys ...map[string]any) {
	b, _ := json.Marshal(map[string]any{"keys": keys})
	s.mu.Lock()
	s.body, s.down = b, false
	s.mu.Unlock()
}

func (s *server) setDown() {
	s.mu.Lock()
	s.down = true
	s.mu.Unlock()
}

func token(t *testing.T, k *rsa.PrivateKey, kid string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": iss, "aud": aud, "sub": "c1", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// verifierWithKey returns a verifier whose issuer publishes rsaKeys()[0]
// as kid "k1", and a token it accepts.
func verifierWithKey(t *testing.T) (*Verifier, string) {
	t.Helper()
	k := rsaKeys()
	s := newServer(t, jwk("k1", k[0]))
	return newVerifier(t, s.URL), token(t, k[0], "k1")
}

func newVerifier(t *testing.T, url string, opts ...Option) *Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts = append([]Option{WithClock(clock.NewVirtual(t0)), WithUnknownKIDRefresh(time.Millisecond)}, opts...)
	v, err := New(ctx, []Issuer{{Issuer: iss, JWKSURL: url, Audiences: []string{aud}}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestPrefetchAtConstruction(t *testing.T) {
	k := rsaKeys()
	s := newServer(t, jwk("k1", k[0]), jwk("k2", k[1]))
	v := newVerifier(t, s.URL)
	if n := s.fetches.Load(); n != 1 {
		t.Fatalf("fetches after New = %d, want 1", n)
	}
	if n := v.KeyCount(iss); n != 2 {
		t.Fatalf("KeyCount = %d, want 2", n)
	}
	if _, err := v.Verify(context.Background(), token(t, k[0], "k1")); err != nil {
		t.Fatal(err)
	}
	if n := s.fetches.Load(); n != 1 {
		t.Errorf("a known kid caused a fetch: %d", n)
	}
}

func TestRotationNewKidRefetches(t *testing.T) {
	k := rsaKeys()
	s := newServer(t, jwk("k1", k[0]))
	v := newVerifier(t, s.URL)
	old, err := v.Verify(context.Background(), token(t, k[0], "k1"))
	if err != nil {
		t.Fatal(err)
	}
	s.set(jwk("k1", k[0]), jwk("k2", k[1])) // the issuer publishes a new key
	// The first token with the new kid fails and starts a background
	// refetch; a later one verifies once it has landed.
	if _, err := v.Verify(context.Background(), token(t, k[1], "k2")); !errors.Is(err, ErrUnknownKID) {
		t.Fatalf("new kid before the refetch: error %v, want ErrUnknownKID", err)
	}
	tok := eventuallyVerifies(t, v, token(t, k[1], "k2"))
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2", n)
	}
	if !v.KeyCurrent(tok.Key) || !v.KeyCurrent(old.Key) {
		t.Errorf("both keys published, KeyCurrent must be true (refetch of identical keys keeps cached tokens)")
	}
	s.set(jwk("k2", k[1])) // k1 withdrawn
	if _, err := v.Verify(context.Background(), token(t, k[2], "k3")); err == nil {
		t.Fatal("unknown kid verified")
	}
	eventually(t, "k1 withdrawn", func() bool { return !v.KeyCurrent(old.Key) })
	s.set(jwk("k2", k[2])) // kid reused for a different key
	eventually(t, "k2 replaced", func() bool {
		if _, err := v.Verify(context.Background(), token(t, k[2], "k4")); err == nil {
			t.Fatal("unknown kid verified")
		}
		return !v.KeyCurrent(tok.Key)
	})
}

// eventually polls cond (every 5 ms, for up to 20 s: generous bounds for a
// loaded machine, not a timing assertion) and fails the test if it never
// holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("%s: never happened within 20 s", what)
}

// eventuallyVerifies retries token until it verifies (a background
// refetch has landed).
func eventuallyVerifies(t *testing.T, v *Verifier, token string) Token {
	t.Helper()
	var (
		tok Token
		err error
	)
	eventually(t, "token verifies", func() bool {
		tok, err = v.Verify(context.Background(), token)
		return err == nil
	})
	return tok
}

func TestUnknownKidRefetchIsRateLimited(t *testing.T) {
	k := rsaKeys()
	s := newServer(t, jwk("k1", k[0]))
	v := newVerifier(t, s.URL, WithUnknownKIDRefresh(time.Hour))
	for range 5 {
		_, err := v.Verify(context.Background(), token(t, k[1], "nope"))
		if err == nil {
			t.Fatal("unknown kid verified")
		}
	}
	ik := v.issuers[iss]
	eventually(t, "refetch done", func() bool { return !ik.refetching.Load() })
	for range 5 {
		if _, err := v.Verify(context.Background(), token(t, k[1], "nope")); err == nil {
			t.Fatal("unknown kid verified")
		}
	}
	if n := ik.refetches.Load(); n != 1 {
		t.Errorf("refetches = %d, want 1 (rate-limited)", n)
	}
	if n := s.fetches.Load(); n != 2 {
		t.Errorf("fetches = %d, want 2 (prefetch + one rate-limited refetch)", n)
	}
}

func TestOutageKeepsCachedKeys(t *testing.T) {
	k := rsaKeys()
	s := newServer(t, jwk("k1", k[0]))
	v := newVerifier(t, s.URL)
	s.setDown()
	// An unknown kid forces a refetch, which fails: the old keys stay.
	if _, err := v.Verify(context.Background(), token(t, k[1], "k2")); err == nil {
		t.Fatal("unknown kid verified during outage")
	}
	eventually(t, "refetch done", func() bool { return s.fetches.Load() == 2 && !v.issuers[iss].refetching.Load() })
	if _, err := v.Verify(context.Background(), token(t, k[0], "k1")); err != nil {
		t.Fatalf("cached key during JWKS outage: %v", err)
	}
}

func TestColdStartWithJWKSDown(t *testing.T) {
	k := rsaKeys()
	s := newServer(t, jwk("k1", k[0]))
	s.setDown()
	v := newVerifier(t, s.URL)
	if n := v.KeyCount(iss); n != 0 {
		t.Fatalf("KeyCount = %d, want 0", n)
	}
	s.set(jwk("k1", k[0])) // the issuer recovers
	eventuallyVerifies(t, v, token(t, k[0], "k1"))
}

func TestHS256(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	hs := func(s []byte, issuer string) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
			"iss": issuer, "aud": aud, "sub": "c1", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
		}).SignedString(s)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	ctx := context.Background()
	s := newServer(t, jwk("k1", rsaKeys()[0]))
	v, err := New(ctx, []Issuer{
		{Issuer: "https://hs.example.com/", Audiences: []string{aud}, HS256: true},
		{Issuer: iss, JWKSURL: s.URL, Audiences: []string{aud}},
	}, WithClock(clock.NewVirtual(t0)), WithHS256Secret(secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, hs(secret, "https://hs.example.com/")); err != nil {
		t.Fatalf("HS256 issuer: %v", err)
	}
	if _, err := v.Verify(ctx, hs(secret, iss)); !errors.Is(err, ErrAlgNotAllowed) {
		t.Fatalf("HS256 for a JWKS-only issuer: %v, want ErrAlgNotAllowed", err)
	}
	if _, err := v.Verify(ctx, hs([]byte("another-secret-of-32-bytes-......"), "https://hs.example.com/")); err == nil {
		t.Fatal("HS256 with the wrong secret verified")
	}
	if _, err := New(ctx, []Issuer{{Issuer: "x", Audiences: []string{aud}, HS256: true}}, WithHS256Secret([]byte("short"))); err == nil {
		t.Fatal("weak secret accepted")
	}
	if _, err := New(ctx, []Issuer{{Issuer: "x", Audiences: []string{aud}, HS256: true}}); err == nil {
		t.Fatal("HS256 issuer without a secret accepted")
	}
}

func TestHTTPTimeoutCapped(t *testing.T) {
	s := newServer(t, jwk("k1", rsaKeys()[0]))
	v := newVerifier(t, s.URL, WithHTTPClient(&http.Client{Timeout: time.Minute}))
	if v.httpClient.Timeout != MaxHTTPTimeout {
		t.Errorf("timeout %v, want %v", v.httpClient.Timeout, MaxHTTPTimeout)
	}
}

func TestCheckJWKSURL(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://idp.example.com/jwks": true,
		"http://127.0.0.1:8080/jwks":   true,
		"http://localhost/jwks":        true,
		"http://idp.example.com/jwks":  false,
		"ftp://idp.example.com/jwks":   false,
		"/jwks":                        false,
	} {
		if got := CheckJWKSURL(url) == nil; got != ok {
			t.Errorf("CheckJWKSURL(%q) ok=%v, want %v", url, got, ok)
		}
	}
}
