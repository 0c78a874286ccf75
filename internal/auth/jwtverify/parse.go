package jwtverify

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/golang-jwt/jwt/v5"
)

// The verifier's own parsing of a compact JWS. golang-jwt's
// Parser.ParseWithClaims decodes the header into a map[string]any, runs
// encoding/json over the claims twice (validate, then decode), joins the
// signing input into a new string and decodes the signature into a new
// slice: together about a fifth of an RS256 verification. verifyToken does
// the same checks, in the same order, in one pass over each segment
// (jsonvalid.go checks the JSON as it finds the members), and still leaves
// the signature to golang-jwt's signing methods (jwt.GetSigningMethod(alg)
// .Verify; for RS256 with a Digest, the rsa.VerifyPKCS1v15 call that method
// makes, see digest.go). golang-jwt's Validator explains any exp, nbf or
// iat failure.
//
// It accepts exactly the tokens ParseWithClaims (configured as the verifier
// configured it before: RawURLEncoding with strict decoding, the algorithm
// allowlist, the same keyfunc and validator options) accepts, except two
// kinds that it rejects on purpose:
//
//   - a header naming a member twice (golang-jwt keeps the last one; two
//     JSON parsers may disagree on which one counts, so neither does);
//   - a token holding a CR or LF (Go's base64 decoder skips them, so
//     golang-jwt accepts a signature segment with line breaks in it: the
//     same token in many spellings);
//   - a header or payload that is not UTF-8 (RFC 8259 §8.1), or whose
//     strings escape a lone surrogate (\ud800 to \udfff unpaired):
//     encoding/json turns each such byte or escape into U+FFFD, so "x\xff"
//     and "x\xfe" would be one client id (issue 12 item 6).
//
// FuzzVerifyMatchesGolangJWT checks this against ParseWithClaims on
// arbitrary input, with and without a Digest.

// b64 is golang-jwt's decoding with WithStrictDecoding: unpadded base64url,
// padding and any other character rejected, non-zero trailing bits rejected.
var b64 = base64.RawURLEncoding.Strict()

// Sentinel errors of the verifier's own (stricter) checks.
var (
	ErrDuplicateHeader = errors.New("token header names a member twice")
	ErrLineBreak       = errors.New("token contains a line break")
	ErrNotUTF8         = errors.New("token header or payload is not valid UTF-8")
)

// validText reports whether b is UTF-8 whose JSON escapes, if any, name no
// lone surrogate. b is JSON already checked, or about to be: a backslash
// only occurs in a string, where it starts an escape.
func validText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for i := bytes.IndexByte(b, '\\'); i >= 0; {
		if i+1 >= len(b) {
			return true // broken JSON: the JSON checks reject it
		}
		if b[i+1] != 'u' {
			i += 2
		} else {
			r, ok := hex4(b, i+2)
			switch {
			case !ok:
				return true // broken JSON, as above
			case r >= 0xdc00 && r <= 0xdfff:
				return false // a low surrogate with no high one before it
			case r >= 0xd800 && r <= 0xdbff:
				lo, ok := rune(0), i+11 < len(b) && b[i+6] == '\\' && b[i+7] == 'u'
				if ok {
					lo, ok = hex4(b, i+8)
				}
				if !ok || lo < 0xdc00 || lo > 0xdfff {
					return false // a high surrogate not followed by a low one
				}
				i += 12
			default:
				i += 6
			}
		}
		j := bytes.IndexByte(b[min(i, len(b)):], '\\')
		if j < 0 {
			return true
		}
		i += j
	}
	return true
}

// hex4 decodes the four hex digits at b[i:i+4].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// jwsHeader is what the verifier reads from a token's protected header.
type jwsHeader struct {
	alg   string // empty unless algOK
	algOK bool   // "alg" is present and a JSON string
	kid   string // empty when absent or not a string
	typ   string // empty when absent or not a string
	crit  bool   // "crit" is present (any value)
}

// maxInlineNames: headers with more members switch duplicate detection from
// a linear scan to a map (a token of 8 KiB can name over a thousand).
const maxInlineNames = 16

// parseHeader decodes a protected header as json.Unmarshal into a
// map[string]any would (names and strings unescaped the same way), and
// rejects anything that is not a JSON object and any member named twice.
func parseHeader(b []byte) (jwsHeader, error) {
	var h jwsHeader
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return h, errors.New("header is not a JSON object")
	}
	var (
		// names holds each member's name as decoded bytes: a slice of b
		// when it needs no unescaping (no allocation), a copy otherwise.
		inline [maxInlineNames][]byte
		names  = inline[:0]
		seen   map[string]struct{}
	)
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return h, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return h, errSyntax
		}
		ns, ne, vs, end, esc, ok := scanMember(b, i)
		if !ok {
			return h, errSyntax
		}
		name, value := b[ns:ne], b[vs:end]
		if esc || !utf8.Valid(name) {
			name = []byte(unquoteName(name))
		}
		if seen == nil && len(names) == maxInlineNames {
			seen = make(map[string]struct{}, 2*maxInlineNames)
			for _, n := range names {
				seen[string(n)] = struct{}{}
			}
		}
		if seen != nil {
			if _, dup := seen[string(name)]; dup {
				return h, ErrDuplicateHeader
			}
			seen[string(name)] = struct{}{}
		} else {
			for _, n := range names {
				if bytes.Equal(n, name) {
					return h, ErrDuplicateHeader
				}
			}
			names = append(names, name)
		}
		isString := len(value) > 0 && value[0] == '"'
		switch string(name) {
		case "alg":
			h.alg, h.algOK = "", isString
			if isString {
				h.alg = decodeString(value)
			}
		case "typ":
			h.typ = ""
			if isString {
				h.typ = decodeString(value)
			}
		case "kid":
			h.kid = ""
			if isString {
				h.kid = decodeString(value)
			}
		case "crit":
			h.crit = true
		}
		i = skipSpace(b, end)
		if i >= len(b) {
			return h, errSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return h, checkEnd(b, i+1)
		default:
			return h, errSyntax
		}
	}
}

// splitJWS returns the positions of the two dots of a compact JWS, and
// false unless there are exactly two.
func splitJWS(token string) (dot1, dot2 int, ok bool) {
	dot1, dot2 = firstDots(token)
	if dot2 < 0 || strings.IndexByte(token[dot2+1:], '.') >= 0 {
		return 0, 0, false
	}
	return dot1, dot2, true
}

// firstDots returns the positions of the first two dots of token, -1 for
// each one missing.
func firstDots(token string) (dot1, dot2 int) {
	dot1 = strings.IndexByte(token, '.')
	if dot1 < 0 {
		return -1, -1
	}
	j := strings.IndexByte(token[dot1+1:], '.')
	if j < 0 {
		return dot1, -1
	}
	return dot1, dot1 + 1 + j
}

// readOnlyBytes is s's bytes without a copy, for functions that only read
// their input (base64 decoding, hashing); nothing may write to them.
func readOnlyBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func malformed(what string, err error) error {
	if err == nil {
		return fmt.Errorf("%w: %s", jwt.ErrTokenMalformed, what)
	}
	return fmt.Errorf("%w: %s: %w", jwt.ErrTokenMalformed, what, err)
}

// headerMemo is the last header segment that parsed, and what it holds.
// An issuer signs every token with the same few headers, so most tokens
// skip decoding theirs; parsing depends on the segment's bytes alone.
type headerMemo struct {
	seg string
	hdr jwsHeader
}

// header decodes and parses a header segment, or reads the memo.
func (v *Verifier) header(seg string) (jwsHeader, error) {
	if m := v.lastHeader.Load(); m != nil && m.seg == seg {
		return m.hdr, nil
	}
	hb, err := b64.DecodeString(seg)
	if err != nil {
		return jwsHeader{}, malformed("could not base64 decode header", err)
	}
	if !validText(hb) {
		return jwsHeader{}, malformed("header", ErrNotUTF8)
	}
	hdr, err := parseHeader(hb)
	if err != nil {
		return jwsHeader{}, malformed("could not JSON decode header", err)
	}
	if len(seg) <= maxMemoHeader {
		v.lastHeader.Store(&headerMemo{seg: strings.Clone(seg), hdr: hdr})
	}
	return hdr, nil
}

// maxMemoHeader: longer headers are not memoised.
const maxMemoHeader = 512

// verifyToken is VerifyLazy's work: see the comment at the top of this file.
func (v *Verifier) verifyToken(ctx context.Context, token string, d *Digest) (Token, error) {
	if len(token) > MaxTokenBytes {
		return Token{}, ErrTokenTooLarge
	}
	if strings.IndexByte(token, '\n') >= 0 || strings.IndexByte(token, '\r') >= 0 {
		return Token{}, malformed("", ErrLineBreak)
	}
	dot1, dot2, ok := splitJWS(token)
	if !ok {
		return Token{}, malformed("token contains an invalid number of segments", nil)
	}

	hdr, err := v.header(token[:dot1])
	if err != nil {
		return Token{}, err
	}

	// One buffer holds the decoded claims and signature.
	pseg, sseg := token[dot1+1:dot2], token[dot2+1:]
	buf := make([]byte, b64.DecodedLen(len(pseg))+b64.DecodedLen(len(sseg)))
	n, err := b64.Decode(buf, readOnlyBytes(pseg))
	payload := buf[:n:n]
	claims := &claimSet{}
	if err != nil {
		return Token{}, malformed("could not base64 decode claim", err)
	}
	if !validText(payload) {
		return Token{}, malformed("claims", ErrNotUTF8)
	}
	if err := claims.parse(payload); err != nil { // payload is ours: no copy
		return Token{}, malformed("could not JSON decode claim", err)
	}

	if !hdr.algOK {
		return Token{}, fmt.Errorf("%w: signing method (alg) is unspecified", jwt.ErrTokenUnverifiable)
	}
	method := jwt.GetSigningMethod(hdr.alg)
	if method == nil {
		return Token{}, fmt.Errorf("%w: signing method (alg) is unavailable", jwt.ErrTokenUnverifiable)
	}
	m, err := b64.Decode(buf[n:], readOnlyBytes(sseg))
	sig := buf[n : n+m : n+m]
	if err != nil {
		return Token{}, malformed("could not base64 decode signature", err)
	}
	alg := method.Alg()
	if !slices.Contains(v.methods, alg) {
		return Token{}, fmt.Errorf("%w: signing method %v is invalid", jwt.ErrTokenSignatureInvalid, alg)
	}

	ik, ref, key, err := v.keyFor(ctx, hdr, alg, claims)
	if err != nil {
		err = fmt.Errorf("%w: error while executing keyfunc: %w", jwt.ErrTokenUnverifiable, err)
		if ref.kid != "" {
			err = fmt.Errorf("kid %q: %w", ref.kid, err)
		}
		return Token{}, err
	}
	wrap := func(err error) error {
		if ref.kid != "" {
			return fmt.Errorf("kid %q: %w", ref.kid, err)
		}
		return err
	}
	if err := verifySignature(method, token, dot2, sig, key, d); err != nil {
		return Token{}, wrap(fmt.Errorf("%w: %w", jwt.ErrTokenSignatureInvalid, err))
	}
	exp, ok := v.timesValid(claims)
	if !ok {
		// golang-jwt's Validator says why (and decides, should the two
		// ever disagree: it is the reference).
		if err := v.validator.Validate(claims); err != nil {
			return Token{}, wrap(fmt.Errorf("%w: %w", jwt.ErrTokenInvalidClaims, err))
		}
		ed, _ := claims.GetExpirationTime() // required: not nil once validated
		exp = ed.Time
	}
	if err := v.checkAudience(ik, claims); err != nil {
		return Token{}, err
	}
	if err := v.checkLifetime(claims, exp); err != nil {
		return Token{}, err
	}
	sub, err := claims.GetSubject()
	if err != nil {
		return Token{}, fmt.Errorf("%w: %w", ErrBadSubject, err)
	}
	jti, _ := claims.stringClaim("jti")
	return Token{
		Issuer:  ik.cfg.Issuer,
		Subject: sub,
		Alg:     alg,
		KID:     ref.kid,
		JTI:     jti,
		Expires: exp,
		Key:     ref,
		claims:  claims,
	}, nil
}

// timesValid is the accepting case of the golang-jwt Validator the verifier
// configures (exp required, nbf, iat, all with leeway), without its error
// building: exp is a valid date and now < exp + leeway; nbf and iat, when
// present, are valid dates and now >= date − leeway. false means "ask the
// Validator", which then names the failure.
func (v *Verifier) timesValid(c *claimSet) (exp time.Time, ok bool) {
	now := v.clock.Now()
	e, set, err := c.expires()
	if err != nil || !set || !now.Before(e.Add(v.leeway)) {
		return time.Time{}, false
	}
	if nbf, set, err := c.notBefore(); err != nil || set && now.Before(nbf.Add(-v.leeway)) {
		return time.Time{}, false
	}
	if iat, set, err := c.issuedAt(); err != nil || set && now.Before(iat.Add(-v.leeway)) {
		return time.Time{}, false
	}
	return e, true
}

// keyFor is the keyfunc: it picks the issuer (from "iss") and the key that
// must verify the token, or says why there is none. ref.kid is set once the
// kid has been accepted as a lookup key.
func (v *Verifier) keyFor(ctx context.Context, hdr jwsHeader, alg string, claims *claimSet) (*issuerKeys, KeyRef, any, error) {
	if hdr.crit {
		return nil, KeyRef{}, nil, ErrCritHeader
	}
	iss, _ := claims.stringBytes("iss")
	ik := v.issuers[string(iss)]
	if ik == nil {
		return nil, KeyRef{}, nil, ErrUnknownIssuer
	}
	if ik.cfg.Typ != "" && !TypMatches(hdr.typ, ik.cfg.Typ) {
		return nil, KeyRef{}, nil, fmt.Errorf("%w: want %q", ErrTyp, ik.cfg.Typ)
	}
	if alg == "HS256" {
		if !ik.cfg.HS256 || ik.hsSecret == nil {
			return nil, KeyRef{}, nil, ErrAlgNotAllowed
		}
		return ik, KeyRef{issuer: ik, cacheable: true}, ik.hsSecret, nil
	}
	if ik.store == nil {
		return nil, KeyRef{}, nil, ErrAlgNotAllowed
	}
	kid := hdr.kid
	if kid == "" || len(kid) > maxKIDLen {
		return nil, KeyRef{}, nil, ErrMissingKID
	}
	ref := KeyRef{kid: kid}
	key, fp, cacheable, err := v.key(ik, kid, alg)
	if err != nil {
		return nil, ref, nil, err
	}
	if err := keyFitsAlg(alg, key); err != nil {
		return nil, ref, nil, err
	}
	return ik, KeyRef{issuer: ik, kid: kid, fp: fp, cacheable: cacheable}, key, nil
}

// ErrTyp: the issuer requires a "typ" header (for example at+jwt, RFC 9068
// §2.1) and the token's is absent or another.
var ErrTyp = errors.New("token typ header is not the one this issuer requires")

// TypMatches compares a "typ" header with the required media type as RFC
// 7515 §4.1.9 says to: case-insensitively, the "application/" prefix
// optional on either side.
func TypMatches(got, want string) bool {
	trim := func(s string) string {
		if len(s) > len("application/") && strings.EqualFold(s[:len("application/")], "application/") {
			return s[len("application/"):]
		}
		return s
	}
	return got != "" && strings.EqualFold(trim(got), trim(want))
}
