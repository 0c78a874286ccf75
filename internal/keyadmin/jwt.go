package keyadmin

import (
	"context"
	"strings"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
)

// TokenVerifier verifies a bearer token and returns its subject and
// scopes. Its errors must never contain the token.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (subject string, scopes []string, err error)
}

// JWTTokens is the part of the authorizer's verifier (jwtverify.Verifier)
// that JWTVerifier uses.
type JWTTokens interface {
	Verify(ctx context.Context, token string) (jwtverify.Token, error)
}

var _ JWTTokens = (*jwtverify.Verifier)(nil)

// JWTVerifier is a TokenVerifier over the authorizer's JWT verifier: the
// same algorithm allowlist, issuers, JWKS handling and claim checks. Scopes
// are read from "scope" (space-separated) and "scp" (array or string).
type JWTVerifier struct{ tokens JWTTokens }

var _ TokenVerifier = (*JWTVerifier)(nil)

// NewJWTVerifier adapts a jwtverify verifier.
func NewJWTVerifier(t JWTTokens) *JWTVerifier { return &JWTVerifier{tokens: t} }

// Verify verifies token and returns its subject and scopes.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (string, []string, error) {
	tok, err := v.tokens.Verify(ctx, token)
	if err != nil {
		return "", nil, err
	}
	var scopes []string
	if s, ok := tok.Claims["scope"].(string); ok {
		scopes = strings.Fields(s)
	}
	switch s := tok.Claims["scp"].(type) {
	case string:
		scopes = append(scopes, strings.Fields(s)...)
	case []any:
		for _, e := range s {
			if str, ok := e.(string); ok {
				scopes = append(scopes, str)
			}
		}
	}
	return tok.Subject, scopes, nil
}
