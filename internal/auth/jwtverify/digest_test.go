package jwtverify

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestDigestKey: the key is SHA-256(SHA-256(s) || r) with s the token
// before its second dot, and any change to a token changes it.
func TestDigestKey(t *testing.T) {
	tests := []struct {
		name, token, s string
	}{
		{name: "no dot", token: "abc", s: "abc"},
		{name: "one dot", token: "abc.def", s: "abc.def"},
		{name: "a JWS", token: "h.p.sig", s: "h.p"},
		{name: "three dots", token: "h.p.sig.x", s: "h.p"},
		{name: "empty", token: "", s: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inner := sha256.Sum256([]byte(tc.s))
			want := sha256.Sum256(append(inner[:], tc.token[len(tc.s):]...))
			if got := DigestOf(tc.token).Key; got != want {
				t.Fatalf("Key = %x, want %x", got, want)
			}
		})
	}
	t.Run("every byte counts", func(t *testing.T) {
		tok := token(t, rsaKeys()[0], "k1")
		seen := map[[sha256.Size]byte]string{DigestOf(tok).Key: tok}
		for i := range len(tok) {
			for _, c := range []byte{'.', 'A', '_'} {
				if tok[i] == c {
					continue
				}
				mut := tok[:i] + string(c) + tok[i+1:]
				k := DigestOf(mut).Key
				if prev, dup := seen[k]; dup {
					t.Fatalf("tokens %q and %q share a key", prev, mut)
				}
				seen[k] = mut
			}
		}
		// A signature longer than the inline buffer (an allocation, same key
		// rule) and one byte dropped at either end.
		long := tok + strings.Repeat("A", maxInlineRest)
		for _, mut := range []string{long, tok[1:], tok[:len(tok)-1]} {
			if _, dup := seen[DigestOf(mut).Key]; dup {
				t.Fatalf("token %q shares a key", mut)
			}
		}
	})
}

// TestVerifyDigestedUsesOnlyItsOwnToken: a Digest speeds up the RS256 check
// only for the token it was computed from; with another token's Digest the
// verifier hashes the token itself, so a digest cannot vouch for a forgery.
func TestVerifyDigestedUsesOnlyItsOwnToken(t *testing.T) {
	v, good := verifierWithKey(t)
	ctx := context.Background()
	// Other claims (sub c2), same kid, signed with another key.
	ot := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": iss, "aud": aud, "sub": "c2", "iat": t0.Unix(), "exp": t0.Add(time.Hour).Unix(),
	})
	ot.Header["kid"] = "k1"
	other, err := ot.SignedString(rsaKeys()[1])
	if err != nil {
		t.Fatal(err)
	}

	// The forgery: good's header and signature around other's claims, or
	// good's signing input with other's signature.
	g, o := strings.Split(good, "."), strings.Split(other, ".")
	forgeries := []string{g[0] + "." + o[1] + "." + g[2], g[0] + "." + g[1] + "." + o[2], other}
	for _, f := range forgeries {
		if _, err := v.VerifyDigested(ctx, f, DigestOf(good)); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Errorf("forgery %q with the good token's digest: error %v, want ErrTokenSignatureInvalid", f, err)
		}
		if _, err := v.VerifyDigested(ctx, f, DigestOf(f)); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			t.Errorf("forgery %q with its own digest: error %v, want ErrTokenSignatureInvalid", f, err)
		}
	}
	for _, d := range []Digest{DigestOf(good), DigestOf(other), {}} {
		if _, err := v.VerifyDigested(ctx, good, d); err != nil {
			t.Errorf("good token with digest of %q: %v", d.token, err)
		}
	}
}

// TestVerifyDigestedChecksTheDigest: for RS256 the signature is checked
// against the Digest's hash of the signing input (the call the benchmarks
// rely on), so a corrupted digest of the same token fails.
func TestVerifyDigestedChecksTheDigest(t *testing.T) {
	v, good := verifierWithKey(t)
	d := DigestOf(good)
	d.signed[0] ^= 1
	if _, err := v.VerifyDigested(context.Background(), good, d); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Fatalf("corrupted digest: error %v, want ErrTokenSignatureInvalid", err)
	}
}
