package auth

import (
	"errors"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Credential errors (all mean 401).
var (
	ErrNoCredentials        = errors.New("no credentials")
	ErrAmbiguousCredentials = errors.New("ambiguous credentials: both an API key and a token, or a header sent twice")
	ErrMalformedCredentials = errors.New("malformed credentials")
)

// CredentialKind says which credential a request carries.
type CredentialKind uint8

// Credential kinds.
const (
	CredentialNone CredentialKind = iota
	CredentialAPIKey
	CredentialJWT
)

// Credentials is what a request presents. Never log Value.
type Credentials struct {
	Kind CredentialKind
	// Value is the API key or the bare JWT (without "Bearer ").
	Value string
}

// HeaderNames are the headers credentials are read from.
type HeaderNames struct {
	APIKey    string // e.g. "x-api-key"
	Token     string // e.g. "authorization"
	PreferJWT bool   // both present: use the token instead of failing
}

// ParseCredentials extracts the one credential a request carries. Header
// names match case-insensitively; a header sent more than once (several
// values, or several spellings of its name) is ambiguous. It does not
// allocate.
//
// API Gateway builds an event's two header maps from the same request:
// MultiValueHeaders holds every value of every header, Headers the last
// one. So when MultiValueHeaders is present it is the one searched (one
// pass over its names), and Headers must agree with it under the names that
// matched; an event with Headers alone is searched in Headers.
func ParseCredentials(req *events.APIGatewayCustomAuthorizerRequestTypeRequest, names HeaderNames) (Credentials, error) {
	keyHdr, authHdr := findHeaders(req, names.APIKey, names.Token)
	key, hasKey, err := keyHdr.value()
	if err != nil {
		return Credentials{}, err
	}
	auth, hasAuth, err := authHdr.value()
	if err != nil {
		return Credentials{}, err
	}
	switch {
	case hasAuth && (!hasKey || names.PreferJWT):
		tok, ok := bearer(auth)
		if !ok {
			return Credentials{}, ErrMalformedCredentials
		}
		return Credentials{Kind: CredentialJWT, Value: tok}, nil
	case hasAuth && hasKey:
		return Credentials{}, ErrAmbiguousCredentials
	case hasKey:
		if key == "" {
			return Credentials{}, ErrMalformedCredentials
		}
		return Credentials{Kind: CredentialAPIKey, Value: key}, nil
	}
	return Credentials{}, ErrNoCredentials
}

// headerHits collects what one header name matched in both maps.
type headerHits struct {
	mv, sv         string // last value seen in MultiValueHeaders / Headers
	mvSeen, svSeen int    // values seen
}

// findHeaders looks for two header names (case-insensitively) in one pass
// over one header map (see ParseCredentials).
func findHeaders(req *events.APIGatewayCustomAuthorizerRequestTypeRequest, a, b string) (ha, hb headerHits) {
	if len(req.MultiValueHeaders) == 0 {
		for k, v := range req.Headers {
			if headerIs(k, a) {
				ha.sv, ha.svSeen = v, ha.svSeen+1
			}
			if headerIs(k, b) {
				hb.sv, hb.svSeen = v, hb.svSeen+1
			}
		}
		return ha, hb
	}
	var keyA, keyB string // the names that matched
	for k, vs := range req.MultiValueHeaders {
		if headerIs(k, a) {
			ha.addMulti(vs)
			keyA = k
		}
		if headerIs(k, b) {
			hb.addMulti(vs)
			keyB = k
		}
	}
	ha.agree(req.Headers, keyA)
	hb.agree(req.Headers, keyB)
	return ha, hb
}

// agree records Headers' value under the name MultiValueHeaders matched,
// if any, so that value can check the two maps say the same.
func (h *headerHits) agree(headers map[string]string, name string) {
	if h.mvSeen == 0 {
		return
	}
	if v, ok := headers[name]; ok {
		h.sv, h.svSeen = v, 1
	}
}

func headerIs(k, name string) bool { return len(k) == len(name) && strings.EqualFold(k, name) }

func (h *headerHits) addMulti(vs []string) {
	for _, v := range vs {
		h.mv = v
		h.mvSeen++
	}
}

// value is the header's single value: sent more than once, or different
// in the two maps, it is ambiguous.
func (h *headerHits) value() (string, bool, error) {
	switch {
	case h.mvSeen > 1 || h.svSeen > 1:
		return "", false, ErrAmbiguousCredentials
	case h.mvSeen == 1 && h.svSeen == 1 && h.mv != h.sv:
		return "", false, ErrAmbiguousCredentials
	case h.mvSeen == 1:
		return h.mv, true, nil
	case h.svSeen == 1:
		return h.sv, true, nil
	}
	return "", false, nil
}

// bearer extracts the token from "Bearer <token>" (scheme case-insensitive).
// The token must be non-empty and hold no whitespace or control characters.
func bearer(v string) (string, bool) {
	const scheme = "bearer"
	if len(v) <= len(scheme)+1 || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	tok := strings.TrimLeft(v[len(scheme):], " ")
	tok = strings.TrimRight(tok, " ")
	if tok == "" || !visibleASCII(tok) {
		return "", false
	}
	return tok, true
}

// visibleASCII reports whether every byte of s is in '!'..'~'. A token is
// up to 8 KiB, so it checks eight bytes at a time: a word has a byte below
// 0x21 if subtracting 0x21 from every byte borrows into a byte's top bit
// that was clear, and a byte above 0x7e if adding 1 sets a top bit (or one
// was already set). A borrow or carry across bytes only starts at a byte
// that is itself out of range, so the answer is exact.
func visibleASCII(s string) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	i := 0
	for ; i+8 <= len(s); i += 8 {
		w := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		below := (w - ones*0x21) &^ w
		above := (w + ones) | w
		if (below|above)&high != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}
