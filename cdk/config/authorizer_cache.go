package config

import (
	"strings"

	"github.com/stagehand-dev/stagehand/internal/auth"
)

// identitySourceHeader is the mapping-expression prefix of a request header.
const identitySourceHeader = "method.request.header."

// validateAuthorizerCacheKey checks that API Gateway's authorizer result
// cache is keyed by the credential itself.
//
// With api.authorizerResultTtlSeconds above 0, API Gateway caches the
// authorizer's whole answer — the Allow policy, principalId, context and
// usageIdentifierKey — under the value of the identity source, and hands it
// to every later request with the same value without calling the
// authorizer. Any source that is not the credential (a stage variable, the
// source IP, User-Agent, a query string, an arbitrary header) lets whoever
// copies that non-secret value ride on another caller's access and usage
// plan. So with caching on, the only accepted identity source is the
// configured API-key header or the configured token header (header names
// compare case-insensitively, as HTTP's do). With the API-key header,
// preferJwt must be false: a request carrying both credentials would be
// decided on its JWT and cached under its key.
func (c *Config) validateAuthorizerCacheKey(v *validator) {
	if c.API.AuthorizerResultTTLSeconds <= 0 || len(c.API.IdentitySources) != 1 {
		return // caching off, or already reported by validateAPI
	}
	s, err := auth.ParseSettings(c.Authorizer)
	if err != nil {
		return // reported by validateAuthorizer
	}
	src := c.API.IdentitySources[0]
	header, isHeader := strings.CutPrefix(src, identitySourceHeader)
	switch {
	case isHeader && strings.EqualFold(header, s.TokenHeader):
	case isHeader && strings.EqualFold(header, s.APIKeyHeader):
		if s.PreferJWT {
			v.add("api.identitySources[0]", "is the API-key header %q but authorizer.preferJwt is true: a request with both credentials would be decided on its JWT and that answer cached under the key; set preferJwt to false or use the token header", s.APIKeyHeader)
		}
	default:
		v.add("api.identitySources[0]", "must be %s%s or %s%s (the credential) when api.authorizerResultTtlSeconds is above 0, got %q: API Gateway caches the authorizer's Allow, principal, context and usage key under this value and serves them to every request that sends the same value without calling the authorizer",
			identitySourceHeader, s.APIKeyHeader, identitySourceHeader, s.TokenHeader, src)
	}
}
