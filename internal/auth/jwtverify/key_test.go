package jwtverify

import (
	"context"
	"errors"
	"testing"

	"github.com/MicahParks/keyfunc/v3"
)

// TestJWKAlgMustMatchToken: a JWK that names its algorithm only verifies
// tokens of that algorithm (the check keyfunc applies, kept on the direct
// kid-index path).
func TestJWKAlgMustMatchToken(t *testing.T) {
	k := rsaKeys()
	tests := []struct {
		name    string
		jwkAlg  string // "" leaves "alg" out of the JWK
		wantErr error
	}{
		{name: "no alg in the JWK"},
		{name: "same alg", jwkAlg: "RS256"},
		{name: "other alg", jwkAlg: "RS384", wantErr: keyfunc.ErrKeyfunc},
		{name: "alg of another key type", jwkAlg: "ES256", wantErr: keyfunc.ErrKeyfunc},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := jwk("k1", k[0])
			if tc.jwkAlg != "" {
				j["alg"] = tc.jwkAlg
			}
			s := newServer(t, j)
			v := newVerifier(t, s.URL)
			tok, err := v.VerifyLazy(context.Background(), token(t, k[0], "k1"))
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			if err == nil && (!tok.Key.Cacheable() || !v.KeyCurrent(tok.Key)) {
				t.Errorf("key of a published kid: cacheable %v, current %v; want both", tok.Key.Cacheable(), v.KeyCurrent(tok.Key))
			}
		})
	}
}

// TestVerifyAndVerifyLazyAgree: both verify the same way; Verify also fills
// Claims, and Claim reads the same values from either.
func TestVerifyAndVerifyLazyAgree(t *testing.T) {
	v, good := verifierWithKey(t)
	ctx := context.Background()
	full, err := v.Verify(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	lazy, err := v.VerifyLazy(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	if lazy.Claims != nil {
		t.Errorf("VerifyLazy filled Claims")
	}
	if len(full.Claims) != 5 {
		t.Errorf("Verify Claims = %v, want the token's 5 claims", full.Claims)
	}
	for name := range full.Claims {
		fv, _ := full.Claim(name)
		lv, ok := lazy.Claim(name)
		if !ok || fv != lv {
			t.Errorf("claim %q: Verify %v, VerifyLazy %v (present %v)", name, fv, lv, ok)
		}
		// StringClaim is Claim for strings, from either.
		want, isString := fv.(string)
		for _, tok := range []Token{full, lazy} {
			if s, ok := tok.StringClaim(name); ok != isString || s != want {
				t.Errorf("StringClaim(%q) = %q, %v; want %q, %v", name, s, ok, want, isString)
			}
		}
	}
	if s, ok := lazy.StringClaim("absent"); ok || s != "" {
		t.Errorf("StringClaim of an absent claim = %q, %v", s, ok)
	}
	if full.Subject != lazy.Subject || full.Issuer != lazy.Issuer || !full.Expires.Equal(lazy.Expires) || full.KID != lazy.KID {
		t.Errorf("tokens differ: %+v vs %+v", full, lazy)
	}
	bad := token(t, rsaKeys()[1], "k1") // signed by another key
	if _, err := v.Verify(ctx, bad); err == nil {
		t.Error("Verify accepted a bad signature")
	}
	if _, err := v.VerifyLazy(ctx, bad); err == nil {
		t.Error("VerifyLazy accepted a bad signature")
	}
}
