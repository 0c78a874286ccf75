package keyadmin

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/keys"
)

// Environment variables lambdas/keyadmin reads.
const (
	EnvStage      = "STAGEHAND_ENV"   // the environment served (required)
	EnvTable      = "STAGEHAND_TABLE" // the registry table (required)
	EnvJWTIssuer  = "KEYADMIN_JWT_ISSUER"
	EnvJWTJWKSURL = "KEYADMIN_JWT_JWKS_URL"
	EnvJWTAud     = "KEYADMIN_JWT_AUDIENCE" // comma-separated
	EnvJWTScope   = "KEYADMIN_JWT_SCOPE"
	// The REST APIs the function serves and their stage (required; the
	// JWT route's API id with, and only with, the JWT issuer). Requests
	// from anywhere else are refused (see Origin).
	EnvAPIID    = "KEYADMIN_API_ID"
	EnvJWTAPIID = "KEYADMIN_JWT_API_ID"
	EnvAPIStage = "KEYADMIN_API_STAGE"
	// EnvRotationKMSKey, when set, enables secret pickup of automatically
	// rotated keys (the KMS key the rotation job seals them under).
	EnvRotationKMSKey = "STAGEHAND_ROTATION_KMS_KEY"
	EnvKMSEndpoint    = "STAGEHAND_KMS_ENDPOINT"
	// Endpoint overrides, for running the function against local servers.
	EnvDynamoDBEndpoint   = "STAGEHAND_DYNAMODB_ENDPOINT"
	EnvAPIGatewayEndpoint = "STAGEHAND_APIGATEWAY_ENDPOINT"
)

// ErrConfig marks an invalid configuration.
var ErrConfig = errors.New("invalid key-admin configuration")

// Config is the function's configuration, read once at cold start.
type Config struct {
	Env   string
	Table string
	// Origin is the APIs and stage requests must come from.
	Origin Origin
	// JWT, when Issuer is set, enables bearer-token callers.
	JWT JWTConfig
	// RotationKMSKey enables POST /keys/{keyId}/secret (optional).
	RotationKMSKey string
	// Local endpoint overrides (empty in AWS).
	DynamoDBEndpoint   string
	APIGatewayEndpoint string
	KMSEndpoint        string
}

// JWTConfig configures the optional JWT route.
type JWTConfig struct {
	Issuer    string
	JWKSURL   string
	Audiences []string
	Scope     string
}

// Enabled reports whether JWT callers are configured.
func (c JWTConfig) Enabled() bool { return c.Issuer != "" }

// Issuers returns the verifier's issuer list.
func (c JWTConfig) Issuers() []jwtverify.Issuer {
	return []jwtverify.Issuer{{Issuer: c.Issuer, JWKSURL: c.JWKSURL, Audiences: c.Audiences}}
}

// ConfigFromEnv reads and validates the configuration; getenv is usually
// os.Getenv.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		Env: getenv(EnvStage), Table: getenv(EnvTable),
		DynamoDBEndpoint: getenv(EnvDynamoDBEndpoint), APIGatewayEndpoint: getenv(EnvAPIGatewayEndpoint),
		JWT:            JWTConfig{Issuer: getenv(EnvJWTIssuer), JWKSURL: getenv(EnvJWTJWKSURL), Scope: getenv(EnvJWTScope)},
		Origin:         Origin{APIID: getenv(EnvAPIID), JWTAPIID: getenv(EnvJWTAPIID), Stage: getenv(EnvAPIStage)},
		RotationKMSKey: getenv(EnvRotationKMSKey), KMSEndpoint: getenv(EnvKMSEndpoint),
	}
	for _, a := range strings.Split(getenv(EnvJWTAud), ",") {
		if a = strings.TrimSpace(a); a != "" {
			c.JWT.Audiences = append(c.JWT.Audiences, a)
		}
	}
	var errs []error
	if !keys.ValidEnv(c.Env) {
		errs = append(errs, fmt.Errorf("%s=%q: must match [a-z][a-z0-9]{1,15}", EnvStage, c.Env))
	}
	if c.Table == "" {
		errs = append(errs, fmt.Errorf("%s is required", EnvTable))
	}
	for name, v := range map[string]string{EnvDynamoDBEndpoint: c.DynamoDBEndpoint, EnvAPIGatewayEndpoint: c.APIGatewayEndpoint} {
		if u, err := url.Parse(v); v != "" && (err != nil || u.Scheme == "" || u.Host == "") {
			errs = append(errs, fmt.Errorf("%s=%q: not an absolute URL", name, v))
		}
	}
	if err := c.Origin.validate(); err != nil {
		errs = append(errs, fmt.Errorf("%s, %s, %s: %w", EnvAPIID, EnvJWTAPIID, EnvAPIStage, err))
	}
	if c.JWT.Enabled() != (c.Origin.JWTAPIID != "") {
		errs = append(errs, fmt.Errorf("%s is required with %s, and only with it", EnvJWTAPIID, EnvJWTIssuer))
	}
	if c.JWT.Enabled() {
		if err := jwtverify.CheckJWKSURL(c.JWT.JWKSURL); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvJWTJWKSURL, err))
		}
		if len(c.JWT.Audiences) == 0 {
			errs = append(errs, fmt.Errorf("%s is required with %s", EnvJWTAud, EnvJWTIssuer))
		}
		if c.JWT.Scope == "" {
			c.JWT.Scope = DefaultAdminScope
		}
	} else if c.JWT.JWKSURL != "" || len(c.JWT.Audiences) > 0 || c.JWT.Scope != "" {
		errs = append(errs, fmt.Errorf("%s, %s and %s need %s", EnvJWTJWKSURL, EnvJWTAud, EnvJWTScope, EnvJWTIssuer))
	}
	if err := errors.Join(errs...); err != nil {
		return Config{}, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return c, nil
}
