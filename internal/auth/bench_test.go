package auth

// Benchmarks. Compare each Authorize* result with its floor from the same
// run (go test -run '^$' -bench . -benchmem ./internal/auth):
//
//   - BenchmarkAuthorizeAPIKeyCached: Handle on a pre-decoded event whose
//     key decision is cached (header lookup, checksum, SHA-256, LRU hit,
//     status/expiry/IP checks, route check, cached policy).
//   - BenchmarkAuthorizeJWTRS256 / ES256: a fresh decision on every
//     iteration. A pool of distinct tokens is cycled through a one-entry
//     token cache, so every iteration misses it and pays the full path:
//     parse, keyset lookup, signature verification, claim validation,
//     claim checks, client mapping (binding and subscription served from
//     their warm caches, as in steady state) and the cached policy.
//   - BenchmarkRSAVerifyFloor / ECDSAVerifyFloor: the standard library alone
//     verifying the same token's signature: SHA-256 of the signing input
//     plus rsa.VerifyPKCS1v15 / ecdsa.Verify (the signature already decoded).
//   - BenchmarkAuthorizeJWTCached: the same token again (verified-token
//     cache hit).
//   - BenchmarkParseCredentials: finding the credential in a real event's
//     headers (ten headers, an RS256 token), part of every decision.
//   - BenchmarkAuthorizeJWTStream10 vs BenchmarkAuthorizeJWTStreamAlwaysVerify:
//     a stream where each token arrives 10 times in a row, 64 distinct
//     tokens cycling so every token is evicted before it comes back (one
//     verification per 10 requests), against the same stream with the
//     token cache off (verify every time, like aws-jwt-verify).

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"
)

func BenchmarkAuthorizeAPIKeyCached(b *testing.B) {
	h := newHarness(b)
	secret := h.reg.addKey(b, nil)
	ev := loadEvent(b, "apikey-get-order", secret.Plaintext, "")
	ctx := context.Background()
	if _, err := h.a.Handle(ctx, ev); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.a.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseCredentials(b *testing.B) {
	_, evs := tokenPool(b, 1, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1")
	names := HeaderNames{APIKey: "x-api-key", Token: "authorization"}
	b.ReportAllocs()
	for b.Loop() {
		if c, err := ParseCredentials(&evs[0], names); err != nil || c.Kind != CredentialJWT {
			b.Fatal(c.Kind, err)
		}
	}
}

// tokenPool mints n distinct tokens (different jti) and their events.
func tokenPool(b *testing.B, n int, method jwt.SigningMethod, key any, kid string) ([]string, []events.APIGatewayCustomAuthorizerRequestTypeRequest) {
	b.Helper()
	toks := make([]string, n)
	evs := make([]events.APIGatewayCustomAuthorizerRequestTypeRequest, n)
	for i := range toks {
		c := claimsAt(t0)
		c["jti"] = "jti-" + itoa(100000+i)
		toks[i] = mint(b, method, key, kid, c)
		evs[i] = loadEvent(b, "jwt-get-order", "", toks[i])
	}
	return toks, evs
}

func benchFresh(b *testing.B, method jwt.SigningMethod, key any, kid string) {
	h := newHarness(b)
	_, evs := tokenPool(b, 64, method, key, kid)
	h.a.tokens, _ = lru.New[[sha256.Size]byte, *tokenEntry](1)
	ctx := context.Background()
	for _, ev := range evs[:2] { // warm binding, subscription and policy caches
		if _, err := h.a.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		if _, err := h.a.Handle(ctx, evs[i%len(evs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkAuthorizeJWTRS256(b *testing.B) {
	benchFresh(b, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1")
}

func BenchmarkAuthorizeJWTES256(b *testing.B) {
	benchFresh(b, jwt.SigningMethodES256, testKeys().ec, "ec-1")
}

// splitToken returns the signing input and the decoded signature.
func splitToken(b *testing.B, tok string) (string, []byte) {
	b.Helper()
	i := strings.LastIndexByte(tok, '.')
	sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
	if err != nil {
		b.Fatal(err)
	}
	return tok[:i], sig
}

func BenchmarkRSAVerifyFloor(b *testing.B) {
	k := testKeys()
	toks, _ := tokenPool(b, 1, jwt.SigningMethodRS256, k.rsa, "rsa-1")
	input, sig := splitToken(b, toks[0])
	pub := &k.rsa.PublicKey
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := sha256.Sum256([]byte(input))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, d[:], sig); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkECDSAVerifyFloor(b *testing.B) {
	k := testKeys()
	toks, _ := tokenPool(b, 1, jwt.SigningMethodES256, k.ec, "ec-1")
	input, sig := splitToken(b, toks[0])
	r, s := new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])
	pub := &k.ec.PublicKey
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d := sha256.Sum256([]byte(input))
		if !ecdsa.Verify(pub, d[:], r, s) {
			b.Fatal("ecdsa verify failed")
		}
	}
}

func BenchmarkAuthorizeJWTCached(b *testing.B) {
	h := newHarness(b)
	_, evs := tokenPool(b, 1, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1")
	ctx := context.Background()
	if _, err := h.a.Handle(ctx, evs[0]); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.a.Handle(ctx, evs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchStream replays 64 RS256 tokens, each 10 times in a row, cyclically.
// With cache on, an 8-entry token cache evicts every token before it comes
// back: exactly one verification per 10 requests.
func benchStream(b *testing.B, cache bool) {
	h := newHarness(b)
	_, evs := tokenPool(b, 64, jwt.SigningMethodRS256, testKeys().rsa, "rsa-1")
	if cache {
		h.a.tokens, _ = lru.New[[sha256.Size]byte, *tokenEntry](8)
	} else {
		h.a.tokens, _ = lru.New[[sha256.Size]byte, *tokenEntry](1)
	}
	ctx := context.Background()
	stream := make([]int, 0, 10*len(evs))
	for i := range evs {
		for range 10 {
			stream = append(stream, i)
		}
	}
	for _, ev := range evs[:2] {
		if _, err := h.a.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		ev := evs[stream[i%len(stream)]]
		if !cache {
			// Always verify: drop whatever the previous request cached.
			h.a.tokens.Purge()
		}
		if _, err := h.a.Handle(ctx, ev); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkAuthorizeJWTStream10(b *testing.B)           { benchStream(b, true) }
func BenchmarkAuthorizeJWTStreamAlwaysVerify(b *testing.B) { benchStream(b, false) }
