package auth

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// rawToken assembles a token from a header and claims, signed with method
// and key (nil method: empty signature).
func rawToken(t *testing.T, header map[string]any, claims jwt.MapClaims, method jwt.SigningMethod, key any) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	input := b64(hb) + "." + b64(cb)
	if method == nil {
		return input + "."
	}
	sig, err := method.Sign(input, key)
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64(sig)
}

func TestJWTAcceptedAlgorithms(t *testing.T) {
	k := testKeys()
	tests := []struct {
		name   string
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{"RS256", jwt.SigningMethodRS256, k.rsa, "rsa-1"},
		{"RS384", jwt.SigningMethodRS384, k.rsa, "rsa-1"},
		{"RS512", jwt.SigningMethodRS512, k.rsa, "rsa-1"},
		{"PS256", jwt.SigningMethodPS256, k.rsa, "rsa-1"},
		{"ES256", jwt.SigningMethodES256, k.ec, "ec-1"},
		{"ES384", jwt.SigningMethodES384, k.ec384, "ec384-1"},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, "ed-1"},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := loadEvent(t, "jwt-get-order", "", mint(t, tc.method, tc.key, tc.kid, claimsAt(t0)))
			if got, _ := run(t, h.a, ev); got != allow {
				t.Fatalf("outcome %v, want allow; logs:\n%s", got, h.logText())
			}
		})
	}
}

// TestJWTAttacks: every forged, broken or out-of-policy token gets a 401.
// Each case starts from a token that is accepted (checked first), so a case
// fails if the rejection comes from anything but the attack.
func TestJWTAttacks(t *testing.T) {
	k := testKeys()
	pubDER, err := x509.MarshalPKIXPublicKey(&k.rsa.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	rs := func(c jwt.MapClaims) string { return mint(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", c) }
	with := func(mut func(c jwt.MapClaims)) string {
		c := claimsAt(t0)
		mut(c)
		return rs(c)
	}
	hdr := func(extra map[string]any) map[string]any {
		h := map[string]any{"alg": "RS256", "typ": "JWT", "kid": "rsa-1"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	valid := rs(claimsAt(t0))
	parts := strings.Split(valid, ".")

	tests := []struct {
		name  string
		token string
	}{
		{"alg none", rawToken(t, map[string]any{"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claimsAt(t0), nil, nil)},
		{"alg None (case variant)", rawToken(t, map[string]any{"alg": "None", "kid": "rsa-1"}, claimsAt(t0), nil, nil)},
		{"HS256 keyed with the RSA public key PEM (alg confusion)", rawToken(t, hdr(map[string]any{"alg": "HS256"}), claimsAt(t0), jwt.SigningMethodHS256, pubPEM)},
		{"HS256 keyed with the RSA public key DER (alg confusion)", rawToken(t, hdr(map[string]any{"alg": "HS256"}), claimsAt(t0), jwt.SigningMethodHS256, pubDER)},
		{"HS256 without kid", rawToken(t, map[string]any{"alg": "HS256"}, claimsAt(t0), jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)))},
		{"unknown kid", mint(t, jwt.SigningMethodRS256, k.rsa2, "no-such-kid", claimsAt(t0))},
		{"kid with path traversal", mint(t, jwt.SigningMethodRS256, k.rsa, "../../../../etc/passwd", claimsAt(t0))},
		{"kid with SQL", mint(t, jwt.SigningMethodRS256, k.rsa, "rsa-1' OR '1'='1", claimsAt(t0))},
		{"kid with NUL", mint(t, jwt.SigningMethodRS256, k.rsa, "rsa-1\x00", claimsAt(t0))},
		{"kid of 300 bytes", mint(t, jwt.SigningMethodRS256, k.rsa, strings.Repeat("k", 300), claimsAt(t0))},
		{"kid is a number", rawToken(t, hdr(map[string]any{"kid": 1}), claimsAt(t0), jwt.SigningMethodRS256, k.rsa)},
		{"no kid", mint(t, jwt.SigningMethodRS256, k.rsa, "", claimsAt(t0))},
		{"RS256 naming the EC key's kid", mint(t, jwt.SigningMethodRS256, k.rsa, "ec-1", claimsAt(t0))},
		{"ES256 naming the P-384 key", mint(t, jwt.SigningMethodES384, k.ec384, "ec-1", claimsAt(t0))},
		{"signed by another key under a known kid", mint(t, jwt.SigningMethodRS256, k.rsa2, "rsa-1", claimsAt(t0))},
		{"expired beyond leeway", with(func(c jwt.MapClaims) {
			c["exp"] = t0.Add(-31 * time.Second).Unix()
			c["iat"] = t0.Add(-time.Hour).Unix()
		})},
		{"long expired", with(func(c jwt.MapClaims) {
			c["exp"] = t0.Add(-48 * time.Hour).Unix()
			c["iat"] = t0.Add(-49 * time.Hour).Unix()
		})},
		{"not yet valid (nbf)", with(func(c jwt.MapClaims) { c["nbf"] = t0.Add(time.Minute).Unix() })},
		{"issued in the future (iat)", with(func(c jwt.MapClaims) { c["iat"] = t0.Add(time.Minute).Unix() })},
		{"wrong issuer", with(func(c jwt.MapClaims) { c["iss"] = "https://evil.example.com/" })},
		{"issuer differs by a trailing slash", with(func(c jwt.MapClaims) { c["iss"] = strings.TrimSuffix(testIssuer, "/") })},
		{"no issuer", with(func(c jwt.MapClaims) { delete(c, "iss") })},
		{"wrong audience", with(func(c jwt.MapClaims) { c["aud"] = "https://other.example.com" })},
		{"audience list without ours", with(func(c jwt.MapClaims) { c["aud"] = []string{"a", "b"} })},
		{"no audience", with(func(c jwt.MapClaims) { delete(c, "aud") })},
		{"missing exp", with(func(c jwt.MapClaims) { delete(c, "exp") })},
		{"exp as a string", with(func(c jwt.MapClaims) { c["exp"] = "9999999999" })},
		{"lifetime over the maximum (iat)", with(func(c jwt.MapClaims) { c["exp"] = t0.Add(24*time.Hour + time.Second).Unix() })},
		{"lifetime over the maximum (no iat)", with(func(c jwt.MapClaims) { delete(c, "iat"); c["exp"] = t0.Add(25 * time.Hour).Unix() })},
		{"crit header", rawToken(t, hdr(map[string]any{"crit": []string{"exp"}}), claimsAt(t0), jwt.SigningMethodRS256, k.rsa)},
		{"empty crit header", rawToken(t, hdr(map[string]any{"crit": []string{}}), claimsAt(t0), jwt.SigningMethodRS256, k.rsa)},
		{"tampered payload", func() string {
			c := claimsAt(t0)
			c["scope"] = "admin orders:read"
			cb, _ := json.Marshal(c)
			return parts[0] + "." + b64(cb) + "." + parts[2]
		}()},
		{"tampered header", func() string {
			hb, _ := json.Marshal(hdr(map[string]any{"typ": "at+jwt"}))
			return b64(hb) + "." + parts[1] + "." + parts[2]
		}()},
		{"signature stripped", parts[0] + "." + parts[1] + "."},
		{"oversized token (> 8 KiB), validly signed", with(func(c jwt.MapClaims) { c["pad"] = strings.Repeat("p", 8<<10) })},
		{"standard base64 characters in payload", parts[0] + "." + strings.NewReplacer("-", "+", "_", "/").Replace(parts[1]) + "+/" + "." + parts[2]},
		{"padded segment", parts[0] + "=." + parts[1] + "." + parts[2]},
		{"non-base64 characters", parts[0] + "." + parts[1] + "!." + parts[2]},
		{"header is not JSON", b64([]byte("not json")) + "." + parts[1] + "." + parts[2]},
		{"trailing segment", valid + ".extra"},
		{"trailing garbage on the signature", valid + "AAAA"},
		{"two segments", parts[0] + "." + parts[1]},
		{"empty segments", ".."},
	}
	h := newHarness(t)
	if got, _ := run(t, h.a, loadEvent(t, "jwt-get-order", "", valid)); got != allow {
		t.Fatalf("control token rejected: %v; logs:\n%s", got, h.logText())
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev := loadEvent(t, "jwt-get-order", "", "")
			ev.Headers["Authorization"] = "Bearer " + tc.token
			ev.MultiValueHeaders["Authorization"] = []string{"Bearer " + tc.token}
			if got, _ := run(t, h.a, ev); got != deny401 {
				t.Fatalf("outcome %v, want 401", got)
			}
		})
	}
	if logs := h.logText(); strings.Contains(logs, parts[2]) || strings.Contains(logs, parts[1]) {
		t.Errorf("logs contain token material")
	}
}

func TestJWKSWithDuplicateKIDs(t *testing.T) {
	k := testKeys()
	h := newHarness(t)
	h.jwks.set(rsaJWK("dup", &k.rsa.PublicKey), rsaJWK("dup", &k.rsa2.PublicKey), rsaJWK("rsa-1", &k.rsa.PublicKey))
	// A token with an unknown kid makes the verifier refetch the new set.
	trigger := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, k.rsa, "not-there", claimsAt(t0)))
	if got, _ := run(t, h.a, trigger); got != deny401 {
		t.Fatalf("trigger: %v", got)
	}
	eventually(t, "refetch landed", func() bool { return h.v.KeyCount(testIssuer) == 2 })
	for _, key := range []any{k.rsa, k.rsa2} {
		ev := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, key, "dup", claimsAt(t0)))
		if got, _ := run(t, h.a, ev); got != deny401 {
			t.Fatalf("token under a duplicated kid: %v, want 401", got)
		}
	}
	ev := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", claimsAt(t0)))
	if got, _ := run(t, h.a, ev); got != allow {
		t.Fatalf("unique kid in the same set: %v, want allow", got)
	}
}

func TestJWTLeeway(t *testing.T) {
	tests := []struct {
		name string
		mut  func(c jwt.MapClaims)
		want outcome
	}{
		{"expired 29 s ago (inside 30 s leeway)", func(c jwt.MapClaims) {
			c["exp"] = t0.Add(-29 * time.Second).Unix()
			c["iat"] = t0.Add(-time.Hour).Unix()
		}, allow},
		{"nbf 29 s ahead (inside leeway)", func(c jwt.MapClaims) { c["nbf"] = t0.Add(29 * time.Second).Unix() }, allow},
		{"iat 29 s ahead (inside leeway)", func(c jwt.MapClaims) { c["iat"] = t0.Add(29 * time.Second).Unix() }, allow},
		{"lifetime exactly the maximum", func(c jwt.MapClaims) { c["exp"] = t0.Add(24 * time.Hour).Unix() }, allow},
	}
	h := newHarness(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := claimsAt(t0)
			tc.mut(c)
			ev := loadEvent(t, "jwt-get-order", "", mint(t, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1", c))
			if got, _ := run(t, h.a, ev); got != tc.want {
				t.Fatalf("outcome %v, want %v; logs:\n%s", got, tc.want, h.logText())
			}
		})
	}
}
