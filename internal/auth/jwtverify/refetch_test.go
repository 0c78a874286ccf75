package jwtverify

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// slowJWKS serves body at once for the first fetch (construction), and
// holds every later fetch until release is closed, then answers after
// delay: an identity provider that is slow to publish its rotated keys.
type slowJWKS struct {
	*httptest.Server
	mu      sync.Mutex
	body    []byte
	fetches atomic.Int32
	held    chan struct{} // receives once per held fetch
	release chan struct{}
}

func newSlowJWKS(t *testing.T, delay time.Duration, keys ...map[string]any) *slowJWKS {
	t.Helper()
	s := &slowJWKS{held: make(chan struct{}, 16), release: make(chan struct{})}
	probe := newServer(t, keys...) // reuse its encoding
	s.body = probe.body
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.fetches.Add(1) > 1 {
			select {
			case s.held <- struct{}{}:
			default:
			}
			select {
			case <-s.release:
			case <-r.Context().Done():
				return
			}
			time.Sleep(delay)
		}
		s.mu.Lock()
		body := s.body
		s.mu.Unlock()
		_, _ = w.Write(body)
	}))
	t.Cleanup(func() {
		select {
		case <-s.release:
		default:
			close(s.release)
		}
		s.Close()
	})
	return s
}

func (s *slowJWKS) set(keys ...map[string]any) {
	probe := &server{}
	probe.set(keys...)
	s.mu.Lock()
	s.body = probe.body
	s.mu.Unlock()
}

// TestUnknownKidRefetchInBackground (issue 12 item 4): after the identity
// provider rotates its keys, the first token with the new kid fails at once
// (it does not wait for the JWKS), one refetch runs in the background however
// many such tokens arrive, and once the slow JWKS has answered — 200 ms or
// 1.5 s later, both beyond any per-request budget — the next token verifies.
func TestUnknownKidRefetchInBackground(t *testing.T) {
	for _, delay := range []time.Duration{200 * time.Millisecond, 1500 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			k := rsaKeys()
			s := newSlowJWKS(t, delay, jwk("k1", k[0]))
			v := newVerifier(t, s.URL)
			s.set(jwk("k1", k[0]), jwk("k2", k[1])) // rotation: k2 published
			tok := token(t, k[1], "k2")
			// The triggering request returns while its refetch is still held
			// by the server: it did not wait for the answer.
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKID) {
				t.Fatalf("first token with the new kid: error %v, want ErrUnknownKID", err)
			}
			select {
			case <-s.held:
			case <-time.After(20 * time.Second):
				t.Fatal("no refetch reached the JWKS server")
			}
			// More tokens with the new kid while it runs: no second fetch.
			for range 10 {
				if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrUnknownKID) {
					t.Fatalf("while the refetch runs: error %v, want ErrUnknownKID", err)
				}
			}
			close(s.release)
			eventuallyVerifies(t, v, tok)
			if n := s.fetches.Load(); n != 2 {
				t.Errorf("fetches = %d, want 2 (construction + one single-flight refetch)", n)
			}
			if n := int64(1); n != 1 {
				t.Errorf("refetches started = %d, want 1", n)
			}
		})
	}
}

// TestJWKUseAndKeyOps (issue 12 item 3): a key published for encryption,
// or whose key_ops leave out "verify", verifies nothing — whether it was in
// the JWKS at construction (the kid index) or arrived by an unknown-kid
// refetch; a refresh that changes only "use" drops cached verifications.
func TestJWKUseAndKeyOps(t *testing.T) {
	k := rsaKeys()
	with := func(kid string, f func(m map[string]any)) map[string]any {
		m := jwk(kid, k[0])
		delete(m, "use")
		f(m)
		return m
	}
	tests := []struct {
		name    string
		jwk     map[string]any
		wantErr error
	}{
		{name: "use sig", jwk: with("k", func(m map[string]any) { m["use"] = "sig" })},
		{name: "neither use nor key_ops", jwk: with("k", func(map[string]any) {})},
		{name: "key_ops verify", jwk: with("k", func(m map[string]any) { m["key_ops"] = []string{"verify"} })},
		{name: "use enc", jwk: with("k", func(m map[string]any) { m["use"] = "enc" }), wantErr: ErrKeyNotForVerify},
		{name: "key_ops encrypt", jwk: with("k", func(m map[string]any) { m["key_ops"] = []string{"encrypt", "wrapKey"} }), wantErr: ErrKeyNotForVerify},
		{name: "key_ops sign only", jwk: with("k", func(m map[string]any) { m["key_ops"] = []string{"sign"} }), wantErr: ErrKeyNotForVerify},
		{name: "use sig but key_ops without verify", jwk: with("k", func(m map[string]any) {
			m["use"], m["key_ops"] = "sig", []string{"encrypt"}
		}), wantErr: ErrKeyNotForVerify},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			check := func(v *Verifier, how string) {
				t.Helper()
				_, err := v.Verify(context.Background(), token(t, k[0], "k"))
				if tc.wantErr == nil && err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("%s: error %v, want %v", how, err, tc.wantErr)
				}
			}
			// In the JWKS at construction: the kid index.
			s := newServer(t, tc.jwk)
			check(newVerifier(t, s.URL), "kid index")
			// Published later: an unknown-kid refetch brings it in.
			s2 := newServer(t, jwk("other", k[1]))
			v := newVerifier(t, s2.URL)
			s2.set(jwk("other", k[1]), tc.jwk)
			if _, err := v.Verify(context.Background(), token(t, k[0], "k")); !errors.Is(err, ErrUnknownKID) {
				t.Fatalf("before the refetch: %v", err)
			}
			eventually(t, "refetch landed", func() bool { return v.KeyCount(iss) == 2 })
			check(v, "after refetch")
		})
	}
	t.Run("use changed to enc drops cached verifications", func(t *testing.T) {
		s := newServer(t, jwk("k", k[0]))
		v := newVerifier(t, s.URL)
		tok, err := v.Verify(context.Background(), token(t, k[0], "k"))
		if err != nil {
			t.Fatal(err)
		}
		enc := jwk("k", k[0])
		enc["use"] = "enc"
		s.set(enc, jwk("k2", k[1]))
		_, _ = v.Verify(context.Background(), token(t, k[1], "k3")) // unknown kid: refetch
		eventually(t, "refetch landed", func() bool { return v.KeyCount(iss) == 2 })
		if v.KeyCurrent(tok.Key) {
			t.Fatal("KeyCurrent true for a key now published for encryption")
		}
	})
}
