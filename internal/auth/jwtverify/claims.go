package jwtverify

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
)

// errNotObject: the claims segment is JSON, but not an object.
var errNotObject = errors.New("claims are not a JSON object")

// claimSet is the jwt.Claims value the verifier hands golang-jwt. Instead of
// building a map of every claim (jwt.MapClaims: a string and a boxed value
// per claim), it keeps the decoded payload and where each top-level claim's
// JSON value sits in it, and decodes a value only when asked.
//
// It is observably the same as jwt.MapClaims: the same payloads are
// rejected (anything but an object; a number that does not fit a float64,
// at any depth), a claim named twice takes its last value, names are
// compared after JSON unescaping, values decode to the same Go values, and
// the getters accept the same types and return the same errors. The tests
// compare the two on every claim shape and fuzz the comparison.
//
// The time getters memoise, so a claimSet is used by one goroutine while a
// token is verified; afterwards (Token.Claim) it is only read.
type claimSet struct {
	payload []byte     // a copy of the decoded claims segment
	members []member   // in payload order; lookups scan from the end (last wins)
	inline  [16]member // members' first backing array: no allocation for typical tokens
	// registered holds, for each claim registeredIndex numbers, its last
	// value, found while scanning; an empty span means absent.
	registered [numIndexed]span

	// The registered time claims, decoded once: golang-jwt's validator and
	// the verifier's own checks both read them.
	exp, nbf, iat dateMemo
}

var _ jwt.Claims = (*claimSet)(nil)

// member is one top-level "name": value pair, as offsets in payload.
type member struct {
	name  span // between the quotes, still escaped
	value span
	// unquote: name holds an escape or invalid UTF-8, so it must be decoded
	// (as encoding/json would) before it is compared.
	unquote bool
}

// span is payload[start:end].
type span struct{ start, end int32 }

func (s span) of(b []byte) []byte { return b[s.start:s.end] }

// dateMemo is a decoded time claim, kept small and pointer-free (a
// claimSet is allocated per verification): the time as Unix seconds and
// nanoseconds, and what the claim held.
type dateMemo struct {
	sec   int64
	nsec  int32
	state dateState
}

type dateState uint8

const (
	dateUnread  dateState = iota
	dateNone              // absent, or 0
	dateSet               // a non-zero number
	dateInvalid           // not a number
)

// UnmarshalJSON records the members of the claims object (golang-jwt and
// the tests decode into a claimSet through encoding/json).
func (c *claimSet) UnmarshalJSON(b []byte) error {
	// The Unmarshaler contract: b may not be kept after returning.
	return c.parse(bytes.Clone(b))
}

// parse records the members of the claims object in b, which the claimSet
// keeps: it rejects exactly what json.Unmarshal into a map[string]any
// rejects (invalid JSON, a number too large for a float64) and anything
// that is not an object or null.
func (c *claimSet) parse(b []byte) error {
	if len(b) > math.MaxInt32 { // offsets are int32 (a token is at most 8 KiB)
		return errSyntax
	}
	c.payload, c.members = b, c.inline[:0]
	i := skipSpace(b, 0)
	if bytes.HasPrefix(b[i:], []byte("null")) {
		// As for a map, null leaves the claims empty.
		c.payload = nil
		return checkEnd(b, i+len("null"))
	}
	if i >= len(b) || b[i] != '{' {
		return errNotObject
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return checkEnd(b, i+1)
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return errSyntax
		}
		ns, ne, vs, end, esc, ok := scanMember(b, i)
		if !ok {
			return errSyntax
		}
		name, value := span{int32(ns), int32(ne)}, span{int32(vs), int32(end)}
		i = end
		m := member{name: name, value: value, unquote: esc || !utf8.Valid(name.of(b))}
		c.members = append(c.members, m)
		n := name.of(b)
		if m.unquote {
			n = []byte(unquoteName(n))
		}
		if r := registeredIndex(n); r >= 0 {
			c.registered[r] = value
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return errSyntax
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return checkEnd(b, i+1)
		default:
			return errSyntax
		}
	}
}

// registeredIndex numbers the claims read from every token: the registered
// claims the verifier checks, and the authorizer's scopes and usual client
// ids. They are found in one lookup, the others by a scan. -1 for any other
// name.
func registeredIndex(name []byte) int {
	switch string(name) {
	case "iss":
		return 0
	case "sub":
		return 1
	case "aud":
		return 2
	case "exp":
		return 3
	case "nbf":
		return 4
	case "iat":
		return 5
	case "jti":
		return 6
	case "scope":
		return 7
	case "scp":
		return 8
	case "client_id":
		return 9
	case "azp":
		return 10
	}
	return -1
}

// numIndexed is how many names registeredIndex numbers.
const numIndexed = 11

// named reports whether m is the claim called name.
func (c *claimSet) named(m *member, name string) bool {
	n := m.name.of(c.payload)
	if m.unquote {
		return unquoteName(n) == name
	}
	return string(n) == name
}

// raw returns the JSON value of the claim called name (its last occurrence).
func (c *claimSet) raw(name string) ([]byte, bool) {
	if r := registeredIndex([]byte(name)); r >= 0 {
		v := c.registered[r]
		return v.of(c.payload), v.end > v.start
	}
	for i := len(c.members) - 1; i >= 0; i-- {
		if m := &c.members[i]; c.named(m, name) {
			return m.value.of(c.payload), true
		}
	}
	return nil, false
}

// Claim returns the value of the claim called name as jwt.MapClaims would
// hold it: string, float64, bool, nil, []any or map[string]any.
func (c *claimSet) Claim(name string) (any, bool) {
	raw, ok := c.raw(name)
	if !ok {
		return nil, false
	}
	return decodeValue(raw), true
}

// stringBytes returns the claim's decoded bytes if it is a JSON string,
// without copying when it holds no escape (the common case). The result
// must not be modified or kept: it may alias the payload.
func (c *claimSet) stringBytes(name string) ([]byte, bool) {
	raw, ok := c.raw(name)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return nil, false
	}
	return decodeStringBytes(raw), true
}

// stringClaim returns the claim if it is a JSON string.
func (c *claimSet) stringClaim(name string) (string, bool) {
	raw, ok := c.raw(name)
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	return decodeString(raw), true
}

// Map decodes every claim into a jwt.MapClaims, exactly as golang-jwt
// would have.
func (c *claimSet) Map() (jwt.MapClaims, error) {
	m := jwt.MapClaims{}
	if c.payload == nil {
		return m, nil
	}
	if err := json.Unmarshal(c.payload, &m); err != nil {
		return nil, err
	}
	if m == nil { // payload "null"
		m = jwt.MapClaims{}
	}
	return m, nil
}

// The jwt.Claims getters, with jwt.MapClaims's semantics.

// GetExpirationTime implements jwt.Claims.
func (c *claimSet) GetExpirationTime() (*jwt.NumericDate, error) {
	return numericDate(c.expires())
}

// GetNotBefore implements jwt.Claims.
func (c *claimSet) GetNotBefore() (*jwt.NumericDate, error) { return numericDate(c.notBefore()) }

// GetIssuedAt implements jwt.Claims.
func (c *claimSet) GetIssuedAt() (*jwt.NumericDate, error) { return numericDate(c.issuedAt()) }

// expires, notBefore and issuedAt are the time getters without the
// *jwt.NumericDate allocation: ok is false when the claim is absent or 0.
func (c *claimSet) expires() (time.Time, bool, error)   { return c.date(&c.exp, "exp") }
func (c *claimSet) notBefore() (time.Time, bool, error) { return c.date(&c.nbf, "nbf") }
func (c *claimSet) issuedAt() (time.Time, bool, error)  { return c.date(&c.iat, "iat") }

func numericDate(t time.Time, ok bool, err error) (*jwt.NumericDate, error) {
	if !ok {
		return nil, err
	}
	return &jwt.NumericDate{Time: t}, nil
}

// eachAudience calls f with each audience "aud" names (decoded; f must not
// keep the bytes): a string is one audience, an array of strings several,
// any other type none, and an array holding a non-string is an error
// (wherever it sits), as jwt.MapClaims has it.
func (c *claimSet) eachAudience(f func(aud []byte)) error {
	raw, ok := c.raw("aud")
	if !ok || len(raw) == 0 {
		return nil
	}
	switch raw[0] {
	case '"':
		f(decodeStringBytes(raw))
	case '[':
		return eachElement(raw, func(e []byte) error {
			if e[0] != '"' {
				return invalidType("aud")
			}
			f(decodeStringBytes(e))
			return nil
		})
	}
	return nil
}

// audienceHas reports whether "aud" names one of want, without building
// GetAudience's list.
func (c *claimSet) audienceHas(want []string) (bool, error) {
	found := false
	err := c.eachAudience(func(aud []byte) { found = found || containsBytes(want, aud) })
	return found && err == nil, err
}

// GetAudience implements jwt.Claims (see eachAudience).
func (c *claimSet) GetAudience() (jwt.ClaimStrings, error) {
	var cs jwt.ClaimStrings
	if err := c.eachAudience(func(aud []byte) { cs = append(cs, string(aud)) }); err != nil {
		return nil, err
	}
	return cs, nil
}

// GetIssuer implements jwt.Claims.
func (c *claimSet) GetIssuer() (string, error) { return c.stringOrError("iss") }

// GetSubject implements jwt.Claims.
func (c *claimSet) GetSubject() (string, error) { return c.stringOrError("sub") }

// stringOrError: absent is "", a string is itself, anything else (null
// included) is an ErrInvalidType error.
func (c *claimSet) stringOrError(name string) (string, error) {
	raw, ok := c.raw(name)
	if !ok {
		return "", nil
	}
	if len(raw) == 0 || raw[0] != '"' {
		return "", invalidType(name)
	}
	return decodeString(raw), nil
}

// date: absent or 0 is no date, a number is seconds since the epoch,
// anything else is an ErrInvalidType error.
func (c *claimSet) date(m *dateMemo, name string) (time.Time, bool, error) {
	if m.state == dateUnread {
		m.state = dateNone
		if raw, ok := c.raw(name); ok {
			if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
				m.state = dateInvalid
			} else if f := parseNumber(raw); f != 0 {
				// jwt.NewNumericDate's rounding.
				t := numericTime(f).Truncate(jwt.TimePrecision)
				m.sec, m.nsec, m.state = t.Unix(), int32(t.Nanosecond()), dateSet
			}
		}
	}
	switch m.state {
	case dateSet:
		return time.Unix(m.sec, int64(m.nsec)), true, nil
	case dateInvalid:
		return time.Time{}, false, invalidType(name)
	}
	return time.Time{}, false, nil
}

func invalidType(name string) error {
	return fmt.Errorf("%w: %s is invalid", jwt.ErrInvalidType, name)
}

// JSON helpers. The scanner (jsonvalid.go) checks and finds values;
// decoding is left to encoding/json wherever it is not trivial, so values
// are exactly what json.Unmarshal produces.

var errSyntax = errors.New("claims: invalid JSON")

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// checkEnd: only white space may follow the object.
func checkEnd(b []byte, i int) error {
	if skipSpace(b, i) != len(b) {
		return errSyntax
	}
	return nil
}

// eachElement calls f with each element of the JSON array raw, in order,
// and stops at f's first error.
func eachElement(raw []byte, f func(elem []byte) error) error {
	i := skipSpace(raw, 1)
	if i < len(raw) && raw[i] == ']' {
		return nil
	}
	for i < len(raw) {
		end := validValue(raw, i, true)
		if end < 0 {
			return errSyntax
		}
		if err := f(raw[i:end]); err != nil {
			return err
		}
		i = skipSpace(raw, end)
		if i >= len(raw) || raw[i] != ',' {
			return nil
		}
		i = skipSpace(raw, i+1)
	}
	return nil
}

// numericTime is golang-jwt's conversion of a NumericDate from seconds.
func numericTime(f float64) time.Time {
	round, frac := math.Modf(f)
	return time.Unix(int64(round), int64(frac*1e9))
}

// decodeValue decodes one JSON value as json.Unmarshal into an any would,
// with fast paths for the common scalars.
func decodeValue(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	switch c := raw[0]; {
	case c == '"':
		return decodeString(raw)
	case c == '-' || c >= '0' && c <= '9':
		return parseNumber(raw)
	case c == 't':
		return true
	case c == 'f':
		return false
	case c == 'n':
		return nil
	case c == '[':
		list := make([]any, 0) // [] decodes to an empty, non-nil slice
		_ = eachElement(raw, func(e []byte) error {
			list = append(list, decodeValue(e))
			return nil
		})
		return list
	}
	var v any
	_ = json.Unmarshal(raw, &v) // valid: checked when the claims were parsed
	return v
}

// parseNumber converts a JSON number (its range checked by validNumber) as
// encoding/json does; integers of up to 15 digits, exact in a float64, skip
// strconv.
func parseNumber(raw []byte) float64 {
	digits := raw
	if digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) > 0 && len(digits) <= 15 {
		var n int64
		for _, d := range digits {
			if d < '0' || d > '9' {
				n = -1
				break
			}
			n = n*10 + int64(d-'0')
		}
		if n >= 0 {
			if raw[0] == '-' {
				return -float64(n)
			}
			return float64(n)
		}
	}
	f, _ := strconv.ParseFloat(string(raw), 64)
	return f
}

// containsBytes is slices.Contains(list, string(b)) without converting b.
func containsBytes(list []string, b []byte) bool {
	for _, s := range list {
		if s == string(b) {
			return true
		}
	}
	return false
}

// decodeString decodes a JSON string; the common case (no escape, valid
// UTF-8) is the bytes between the quotes.
func decodeString(raw []byte) string { return string(decodeStringBytes(raw)) }

// decodeStringBytes is decodeString's bytes, the bytes between the quotes
// themselves (not a copy) in the common case.
func decodeStringBytes(raw []byte) []byte {
	body := raw[1 : len(raw)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return body
	}
	var s string
	_ = json.Unmarshal(raw, &s)
	return []byte(s)
}

// unquoteName decodes an escaped member name.
func unquoteName(name []byte) string {
	quoted := make([]byte, 0, len(name)+2)
	quoted = append(append(append(quoted, '"'), name...), '"')
	var s string
	_ = json.Unmarshal(quoted, &s)
	return s
}
