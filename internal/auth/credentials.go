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
// names match case-insensitively in both Headers and MultiValueHeaders; a
// header sent more than once (or disagreeing between the two maps) is
// ambiguous. It does not allocate.
func ParseCredentials(req *events.APIGatewayCustomAuthorizerRequestTypeRequest, names HeaderNames) (Credentials, error) {
	key, hasKey, err := header(req, names.APIKey)
	if err != nil {
		return Credentials{}, err
	}
	auth, hasAuth, err := header(req, names.Token)
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

// header finds name (case-insensitively) in both header maps.
func header(req *events.APIGatewayCustomAuthorizerRequestTypeRequest, name string) (string, bool, error) {
	var (
		mv     string
		mvSeen int
	)
	for k, vs := range req.MultiValueHeaders {
		if len(k) != len(name) || !strings.EqualFold(k, name) {
			continue
		}
		for _, v := range vs {
			mv = v
			mvSeen++
		}
	}
	if mvSeen > 1 {
		return "", false, ErrAmbiguousCredentials
	}
	var (
		sv     string
		svSeen int
	)
	for k, v := range req.Headers {
		if len(k) != len(name) || !strings.EqualFold(k, name) {
			continue
		}
		sv = v
		svSeen++
	}
	switch {
	case svSeen > 1:
		return "", false, ErrAmbiguousCredentials
	case mvSeen == 1 && svSeen == 1 && mv != sv:
		return "", false, ErrAmbiguousCredentials
	case mvSeen == 1:
		return mv, true, nil
	case svSeen == 1:
		return sv, true, nil
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
	if tok == "" {
		return "", false
	}
	for i := 0; i < len(tok); i++ {
		if tok[i] <= ' ' || tok[i] >= 0x7f {
			return "", false
		}
	}
	return tok, true
}
