package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/keys"
)

// Environment variables read by LoadConfig (set by the CDK stack).
const (
	EnvStage = "STAGEHAND_ENV"
	EnvTable = "STAGEHAND_TABLE"
	// EnvHS256SecretARN is no longer read: each HS256 issuer names its own
	// secret (issuers[].hs256SecretArn). Setting it is a configuration
	// error, so a deployment that relied on it fails loudly.
	EnvHS256SecretARN   = "JWT_HS256_SECRET_ARN"
	EnvAuthorizerConfig = "AUTHORIZER_CONFIG"
)

// ErrConfig wraps every configuration error.
var ErrConfig = errors.New("invalid authorizer configuration")

// Mode is how the authorizer behaves when the registry cannot be reached.
type Mode string

// Modes.
const (
	// ModeStrict: registry unreachable → 401 and an error log.
	ModeStrict Mode = "strict"
	// ModeResilient: registry unreachable → serve the last known decision
	// for this credential if it is at most maxStalenessSeconds old; unknown
	// credentials get 401.
	ModeResilient Mode = "resilient"
)

// Limits checked at load time.
const (
	// MaxRoutes is the largest route table (a route set is a 128-bit mask).
	MaxRoutes = 128
	// MaxPolicyBytes is API Gateway's authorizer response limit.
	MaxPolicyBytes = 8 << 10
	// MaxStageNameLen is the longest stage name assumed when checking at
	// load time that the largest policy fits; a longer stage is still
	// checked at run time and fails closed.
	MaxStageNameLen = 64
)

// Settings is the AUTHORIZER_CONFIG JSON document (the "authorizer" section
// of cdk/config/<env>.json, passed through verbatim). Zero values take the
// documented defaults.
type Settings struct {
	Mode                    Mode           `json:"mode"`                    // strict (default) or resilient
	CacheTTLSeconds         int            `json:"cacheTtlSeconds"`         // default 30
	CacheMaxEntries         int            `json:"cacheMaxEntries"`         // default 10000
	MaxStalenessSeconds     int            `json:"maxStalenessSeconds"`     // default 300 (resilient only)
	APIKeyHeader            string         `json:"apiKeyHeader"`            // default x-api-key
	TokenHeader             string         `json:"tokenHeader"`             // default authorization
	PreferJWT               bool           `json:"preferJwt"`               // both credentials sent: use the JWT instead of 401
	LeewaySeconds           *int           `json:"leewaySeconds"`           // default 30; 0 allowed
	MaxTokenLifetimeSeconds int            `json:"maxTokenLifetimeSeconds"` // default 86400
	ClientIDClaims          []string       `json:"clientIdClaims"`          // default none: the client is "sub"
	JWKSRefreshSeconds      int            `json:"jwksRefreshSeconds"`      // default 300
	JWKSUnknownKIDSeconds   int            `json:"jwksUnknownKidSeconds"`   // default 30
	UnknownKeyCacheSeconds  *int           `json:"unknownKeyCacheSeconds"`  // default 5; 0 turns the negative cache off
	Issuers                 []IssuerConfig `json:"issuers"`
	Routes                  []RouteConfig  `json:"routes"`
}

// IssuerConfig is one trusted JWT issuer.
type IssuerConfig struct {
	Issuer    string   `json:"issuer"`
	JWKSURL   string   `json:"jwksUrl,omitempty"`
	Audiences []string `json:"audiences"`
	// HS256 lets this issuer sign with HS256, with its own secret: the
	// Secrets Manager secret HS256SecretARN names (full ARN, read once at
	// cold start; the CDK stack grants secretsmanager:GetSecretValue on
	// exactly these ARNs). Two issuers may not share a secret: whoever
	// holds it could mint tokens for either issuer's client bindings.
	HS256          bool   `json:"hs256,omitempty"`
	HS256SecretARN string `json:"hs256SecretArn,omitempty"`
	// Typ, when set, is the "typ" header every token of this issuer must
	// carry, e.g. "at+jwt" (RFC 9068): ID tokens of the same issuer and
	// audience are then refused as access tokens.
	Typ string `json:"typ,omitempty"`
}

// RouteConfig is one row of the route → scopes table.
type RouteConfig struct {
	// Method is an HTTP method or "*" (any).
	Method string `json:"method"`
	// Path is the request path; "*" matches any characters, "/" included
	// (IAM wildcard semantics): "/orders/*".
	Path string `json:"path"`
	// Scopes: the caller needs at least one of them; empty means any
	// authenticated caller.
	Scopes []string `json:"scopes"`
	// Claims are extra checks on JWT callers (API-key callers have no
	// claims and are authorized by scopes alone).
	Claims []ClaimCheck `json:"claims,omitempty"`
}

// ClaimCheck is one JWT claim requirement; exactly one of Equals, Contains
// and OneOf is set. Values are JSON strings, numbers or booleans.
type ClaimCheck struct {
	Claim string `json:"claim"`
	// Equals: the claim equals this value.
	Equals any `json:"equals,omitempty"`
	// Contains: the claim is an array holding this value, or a
	// space-separated string holding it as one word.
	Contains any `json:"contains,omitempty"`
	// OneOf: the claim equals one of these values.
	OneOf []any `json:"oneOf,omitempty"`
}

// Config is the authorizer's whole configuration, resolved and validated.
type Config struct {
	Env      string
	Table    string
	Settings Settings
}

// Durations derived from Settings.

// CacheTTL is how long a decision is served without asking the registry.
func (s Settings) CacheTTL() time.Duration { return time.Duration(s.CacheTTLSeconds) * time.Second }

// UnknownKeyCacheTTL is how long a key the registry lacks is answered 401
// without another read (default 5 s).
func (s Settings) UnknownKeyCacheTTL() time.Duration {
	if s.UnknownKeyCacheSeconds == nil {
		return 5 * time.Second
	}
	return time.Duration(*s.UnknownKeyCacheSeconds) * time.Second
}

// MaxStaleness is how old a decision resilient mode may serve.
func (s Settings) MaxStaleness() time.Duration {
	return time.Duration(s.MaxStalenessSeconds) * time.Second
}

// Leeway is the clock-skew allowance for exp, nbf and iat.
func (s Settings) Leeway() time.Duration { return time.Duration(*s.LeewaySeconds) * time.Second }

// MaxTokenLifetime is the longest accepted token lifetime.
func (s Settings) MaxTokenLifetime() time.Duration {
	return time.Duration(s.MaxTokenLifetimeSeconds) * time.Second
}

// LoadConfig reads and validates the configuration from getenv (os.Getenv
// in main). The error names every problem found.
func LoadConfig(getenv func(string) string) (Config, error) {
	c := Config{
		Env:   getenv(EnvStage),
		Table: getenv(EnvTable),
	}
	var errs []error
	if !keys.ValidEnv(c.Env) {
		errs = append(errs, fmt.Errorf("%s=%q: must match [a-z][a-z0-9]{1,15}", EnvStage, c.Env))
	}
	if c.Table == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvTable))
	}
	if getenv(EnvHS256SecretARN) != "" {
		errs = append(errs, fmt.Errorf("%s is no longer read: give each HS256 issuer its own secret (issuers[].hs256SecretArn)", EnvHS256SecretARN))
	}
	raw := getenv(EnvAuthorizerConfig)
	if raw == "" {
		errs = append(errs, fmt.Errorf("%s is not set", EnvAuthorizerConfig))
	} else {
		s, err := ParseSettings([]byte(raw))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvAuthorizerConfig, err))
		}
		c.Settings = s
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}

// ParseSettings decodes and validates an AUTHORIZER_CONFIG document,
// filling defaults. Unknown fields are errors (a typo must not silently
// weaken authorization). The CDK app can call it at synth time.
func ParseSettings(raw []byte) (Settings, error) {
	var s Settings
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("%w: decode: %w", ErrConfig, err)
	}
	if dec.More() {
		return Settings{}, fmt.Errorf("%w: trailing data after the JSON document", ErrConfig)
	}
	s.applyDefaults()
	if err := s.validate(); err != nil {
		return Settings{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return s, nil
}

func (s *Settings) applyDefaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	if s.Mode == "" {
		s.Mode = ModeStrict
	}
	def(&s.CacheTTLSeconds, 30)
	def(&s.CacheMaxEntries, 10000)
	def(&s.MaxStalenessSeconds, 300)
	def(&s.MaxTokenLifetimeSeconds, 86400)
	def(&s.JWKSRefreshSeconds, 300)
	def(&s.JWKSUnknownKIDSeconds, 30)
	if s.LeewaySeconds == nil {
		l := 30
		s.LeewaySeconds = &l
	}
	if s.UnknownKeyCacheSeconds == nil {
		u := 5
		s.UnknownKeyCacheSeconds = &u
	}
	if s.APIKeyHeader == "" {
		s.APIKeyHeader = "x-api-key"
	}
	if s.TokenHeader == "" {
		s.TokenHeader = "authorization"
	}
}

func (s *Settings) validate() error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	if s.Mode != ModeStrict && s.Mode != ModeResilient {
		add("mode %q: want strict or resilient", s.Mode)
	}
	if s.CacheTTLSeconds < 1 || s.CacheTTLSeconds > 3600 {
		add("cacheTtlSeconds %d: want 1..3600", s.CacheTTLSeconds)
	}
	if s.CacheMaxEntries < 1 || s.CacheMaxEntries > 1_000_000 {
		add("cacheMaxEntries %d: want 1..1000000", s.CacheMaxEntries)
	}
	if s.MaxStalenessSeconds < s.CacheTTLSeconds || s.MaxStalenessSeconds > 86400 {
		add("maxStalenessSeconds %d: want cacheTtlSeconds..86400", s.MaxStalenessSeconds)
	}
	if *s.LeewaySeconds < 0 || *s.LeewaySeconds > 300 {
		add("leewaySeconds %d: want 0..300", *s.LeewaySeconds)
	}
	if s.MaxTokenLifetimeSeconds < 60 || s.MaxTokenLifetimeSeconds > 7*86400 {
		add("maxTokenLifetimeSeconds %d: want 60..604800", s.MaxTokenLifetimeSeconds)
	}
	if s.JWKSRefreshSeconds < 60 || s.JWKSRefreshSeconds > 86400 {
		add("jwksRefreshSeconds %d: want 60..86400", s.JWKSRefreshSeconds)
	}
	if *s.UnknownKeyCacheSeconds < 0 || *s.UnknownKeyCacheSeconds > 60 {
		add("unknownKeyCacheSeconds %d: want 0..60 (a key created just after a failed try works at the latest this long after it)", *s.UnknownKeyCacheSeconds)
	}
	if s.JWKSUnknownKIDSeconds < 1 || s.JWKSUnknownKIDSeconds > 3600 {
		add("jwksUnknownKidSeconds %d: want 1..3600", s.JWKSUnknownKIDSeconds)
	}
	for _, h := range []struct{ field, v string }{{"apiKeyHeader", s.APIKeyHeader}, {"tokenHeader", s.TokenHeader}} {
		if !validHeaderName(h.v) {
			add("%s %q is not a valid header name", h.field, h.v)
		}
	}
	if strings.EqualFold(s.APIKeyHeader, s.TokenHeader) {
		add("apiKeyHeader and tokenHeader must differ")
	}
	for i, c := range s.ClientIDClaims {
		if c == "" || slices.Contains(s.ClientIDClaims[:i], c) {
			add("clientIdClaims[%d] %q: empty or repeated", i, c)
		}
	}
	seen := map[string]bool{}
	secrets := map[string]int{}
	for i, is := range s.Issuers {
		switch {
		case is.HS256 && !secretARNPattern.MatchString(is.HS256SecretARN):
			add("issuers[%d] %q: hs256 needs hs256SecretArn, the full ARN of this issuer's own Secrets Manager secret (arn:aws:secretsmanager:<region>:<account>:secret:<name>-<6 characters>), got %q", i, is.Issuer, is.HS256SecretARN)
		case !is.HS256 && is.HS256SecretARN != "":
			add("issuers[%d] %q: hs256SecretArn without hs256", i, is.Issuer)
		case is.HS256:
			if j, dup := secrets[is.HS256SecretARN]; dup {
				add("issuers[%d] %q: shares its HS256 secret with issuers[%d]: each issuer needs its own (whoever holds a secret can mint tokens for every issuer that uses it)", i, is.Issuer, j)
			}
			secrets[is.HS256SecretARN] = i
		}
		switch {
		case is.Issuer == "":
			add("issuers[%d]: empty issuer", i)
		case seen[is.Issuer]:
			add("issuers[%d]: issuer %q listed twice", i, is.Issuer)
		case len(is.Audiences) == 0 || slices.Contains(is.Audiences, ""):
			add("issuers[%d] %q: audiences must be non-empty strings", i, is.Issuer)
		case is.JWKSURL == "" && !is.HS256:
			add("issuers[%d] %q: needs jwksUrl (or hs256)", i, is.Issuer)
		}
		seen[is.Issuer] = true
		if is.Typ != "" && (len(is.Typ) > 64 || !validHeaderName(strings.ReplaceAll(is.Typ, "/", ""))) {
			add("issuers[%d] %q: typ %q: want a media type such as at+jwt", i, is.Issuer, is.Typ)
		}
		if is.JWKSURL != "" {
			if err := jwtverify.CheckJWKSURL(is.JWKSURL); err != nil {
				add("issuers[%d]: %w", i, err)
			}
		}
	}
	if _, err := newRouteTable(s.Routes); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// secretARNPattern is a complete Secrets Manager secret ARN (with the
// six-character suffix Secrets Manager adds), so an IAM grant on it names
// exactly that secret.
var secretARNPattern = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+-[A-Za-z0-9]{6}$`)

// HS256SecretARNs returns the HS256 issuers' secret ARNs, in order (for the
// CDK grant).
func (s Settings) HS256SecretARNs() []string {
	var out []string
	for _, is := range s.Issuers {
		if is.HS256 && is.HS256SecretARN != "" {
			out = append(out, is.HS256SecretARN)
		}
	}
	return out
}

// validHeaderName: an HTTP token (RFC 9110).
func validHeaderName(h string) bool {
	if h == "" {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// VerifierOptions are the jwtverify options these settings imply (leeway,
// maximum token lifetime, JWKS refresh and unknown-kid intervals), so that
// every place that builds the verifier builds the same one. HS256 secrets
// (jwtverify.WithIssuerHS256Secret) are added by the caller.
func (s Settings) VerifierOptions(logger *slog.Logger) []jwtverify.Option {
	return []jwtverify.Option{
		jwtverify.WithLeeway(s.Leeway()),
		jwtverify.WithMaxLifetime(s.MaxTokenLifetime()),
		jwtverify.WithRefreshInterval(time.Duration(s.JWKSRefreshSeconds) * time.Second),
		jwtverify.WithUnknownKIDRefresh(time.Duration(s.JWKSUnknownKIDSeconds) * time.Second),
		jwtverify.WithLogger(logger),
	}
}

// VerifierIssuers converts the issuers for jwtverify.New.
func (s Settings) VerifierIssuers() []jwtverify.Issuer {
	out := make([]jwtverify.Issuer, len(s.Issuers))
	for i, is := range s.Issuers {
		out[i] = jwtverify.Issuer{Issuer: is.Issuer, JWKSURL: is.JWKSURL, Audiences: is.Audiences, HS256: is.HS256, Typ: is.Typ}
	}
	return out
}
