package jwtverify

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"

	"github.com/golang-jwt/jwt/v5"
)

// Digest is a token hashed once for both of the authorizer's uses: a key
// for its cache of verified tokens, and the SHA-256 of the JWS signing
// input that an RS256 signature signs. Computing them separately would hash
// the signing input twice (about 0.4 µs for a typical RS256 token).
type Digest struct {
	// Key identifies the whole token: SHA-256(SHA-256(s) || r), where s is
	// the token before its second '.' (the JWS signing input of a
	// well-formed token; the whole token if it has fewer dots) and r the
	// rest.
	// Two tokens share a Key only through a SHA-256 collision: equal outer
	// inputs mean equal r (the inner digest has a fixed length) and equal
	// inner digests.
	Key [sha256.Size]byte

	token     string            // what was hashed (not copied)
	signed    [sha256.Size]byte // SHA-256(s)
	signedLen int               // len(s)
}

// maxInlineRest: r (a '.' and the signature) is copied next to the inner
// digest in a stack buffer up to this size, which covers RSA keys up to
// 4096 bits; a longer r costs an allocation.
const maxInlineRest = 704

// DigestOf hashes token.
func DigestOf(token string) Digest {
	s, r := token, ""
	if _, dot2 := firstDots(token); dot2 >= 0 {
		s, r = token[:dot2], token[dot2:]
	}
	d := Digest{token: token, signed: sha256.Sum256(readOnlyBytes(s)), signedLen: len(s)}
	var buf [sha256.Size + maxInlineRest]byte
	d.Key = sha256.Sum256(append(append(buf[:0], d.signed[:]...), r...))
	return d
}

// verifySignature is method.Verify(token[:dot], sig, key), except for
// RS256 with a digest of this very token and signing input: then it makes
// the call golang-jwt's SigningMethodRSA.Verify makes after hashing the
// input, with the digest already computed. d is nil when there is none.
func verifySignature(method jwt.SigningMethod, token string, dot int, sig []byte, key any, d *Digest) error {
	if d == nil || method != jwt.SigningMethodRS256 || d.signedLen != dot || d.token != token {
		return method.Verify(token[:dot], sig, key)
	}
	pub, ok := key.(*rsa.PublicKey)
	if !ok {
		return jwt.ErrInvalidKeyType
	}
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, d.signed[:], sig)
}
