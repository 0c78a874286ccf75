package web

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Environment variables of the portal function (lambdas/portal).
const (
	EnvStage          = "STAGEHAND_ENV"
	EnvTable          = "STAGEHAND_TABLE"
	EnvPublicURL      = "STAGEHAND_PUBLIC_URL" // https://console.example.com (the OIDC redirect is <it>/auth/callback)
	EnvIssuer         = "STAGEHAND_OIDC_ISSUER"
	EnvClientID       = "STAGEHAND_OIDC_CLIENT_ID"
	EnvGroupsClaim    = "STAGEHAND_OIDC_GROUPS_CLAIM" // default "cognito:groups"
	EnvOperatorGroup  = "STAGEHAND_OPERATOR_GROUP"    // default "stagehand-operators"
	EnvSecretARN      = "STAGEHAND_PORTAL_SECRET_ARN" // Secrets Manager: {"clientSecret","hashKey","blockKey"}
	EnvSecretJSON     = "STAGEHAND_PORTAL_SECRET"     // the same JSON inline: local runs only
	EnvEventBus       = "STAGEHAND_EVENT_BUS"
	EnvEventSource    = "STAGEHAND_EVENT_SOURCE" // default "stagehand.portal"
	EnvAPIURL         = "STAGEHAND_API_URL"
	EnvOpenAPIPath    = "STAGEHAND_OPENAPI_PATH"
	EnvInsecureCookie = "STAGEHAND_INSECURE_COOKIES" // "1": plain-http loopback only
	// EnvOperatorSessionTTL bounds an operator session (Go duration, 5m-8h,
	// default 1h): removing someone from the operator group takes effect
	// within it.
	EnvOperatorSessionTTL = "STAGEHAND_OPERATOR_SESSION_TTL"
	// Endpoint overrides, for local servers.
	EnvDynamoDBEndpoint       = "STAGEHAND_DYNAMODB_ENDPOINT"
	EnvAPIGatewayEndpoint     = "STAGEHAND_APIGATEWAY_ENDPOINT"
	EnvEventBridgeEndpoint    = "STAGEHAND_EVENTBRIDGE_ENDPOINT"
	EnvSecretsManagerEndpoint = "STAGEHAND_SECRETSMANAGER_ENDPOINT"
)

// ErrConfig marks a configuration error.
var ErrConfig = errors.New("portal configuration")

// Settings is the portal function's configuration, read once at start.
type Settings struct {
	Env, Table, PublicURL                  string
	Issuer, ClientID, GroupsClaim          string
	OperatorGroup                          string
	SecretARN, SecretJSON                  string
	EventBus, EventSource, APIURL, OpenAPI string
	InsecureCookies                        bool
	OperatorSessionTTL                     time.Duration // 0: the default (1h)
	DynamoDBEndpoint, APIGatewayEndpoint   string
	EventBridgeEndpoint, SecretsEndpoint   string
}

// SettingsFromEnv reads and validates the settings.
func SettingsFromEnv(getenv func(string) string) (Settings, error) {
	s := Settings{
		Env: getenv(EnvStage), Table: getenv(EnvTable), PublicURL: strings.TrimRight(getenv(EnvPublicURL), "/"),
		Issuer: getenv(EnvIssuer), ClientID: getenv(EnvClientID), GroupsClaim: getenv(EnvGroupsClaim),
		OperatorGroup: getenv(EnvOperatorGroup), SecretARN: getenv(EnvSecretARN), SecretJSON: getenv(EnvSecretJSON),
		EventBus: getenv(EnvEventBus), EventSource: getenv(EnvEventSource), APIURL: getenv(EnvAPIURL), OpenAPI: getenv(EnvOpenAPIPath),
		InsecureCookies:  getenv(EnvInsecureCookie) == "1",
		DynamoDBEndpoint: getenv(EnvDynamoDBEndpoint), APIGatewayEndpoint: getenv(EnvAPIGatewayEndpoint),
		EventBridgeEndpoint: getenv(EnvEventBridgeEndpoint), SecretsEndpoint: getenv(EnvSecretsManagerEndpoint),
	}
	if s.GroupsClaim == "" {
		s.GroupsClaim = "cognito:groups"
	}
	if s.OperatorGroup == "" {
		s.OperatorGroup = "stagehand-operators"
	}
	if s.EventSource == "" {
		s.EventSource = "stagehand.portal"
	}
	for name, v := range map[string]string{EnvStage: s.Env, EnvTable: s.Table, EnvPublicURL: s.PublicURL, EnvIssuer: s.Issuer, EnvClientID: s.ClientID} {
		if v == "" {
			return Settings{}, fmt.Errorf("%w: %s is required", ErrConfig, name)
		}
	}
	if (s.SecretARN == "") == (s.SecretJSON == "") {
		return Settings{}, fmt.Errorf("%w: set exactly one of %s and %s", ErrConfig, EnvSecretARN, EnvSecretJSON)
	}
	if v := getenv(EnvOperatorSessionTTL); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 5*time.Minute || d > 8*time.Hour {
			return Settings{}, fmt.Errorf("%w: %s %q must be a duration from 5m to 8h", ErrConfig, EnvOperatorSessionTTL, v)
		}
		s.OperatorSessionTTL = d
	}
	u, err := url.Parse(s.PublicURL)
	if err != nil || u.Host == "" {
		return Settings{}, fmt.Errorf("%w: %s %q is not a URL", ErrConfig, EnvPublicURL, s.PublicURL)
	}
	loopback := u.Hostname() == "127.0.0.1" || u.Hostname() == "localhost" || u.Hostname() == "::1"
	if u.Scheme != "https" && !loopback {
		return Settings{}, fmt.Errorf("%w: %s must be https outside loopback", ErrConfig, EnvPublicURL)
	}
	if s.InsecureCookies && !loopback {
		return Settings{}, fmt.Errorf("%w: %s=1 is for a loopback %s only", ErrConfig, EnvInsecureCookie, EnvPublicURL)
	}
	return s, nil
}

// Secrets are the portal's secrets, one Secrets Manager secret as JSON:
// {"clientSecret": "...", "sessionKey": "..."}. The CDK app generates
// sessionKey (a random string of at least 32 characters); clientSecret is
// empty for a public client with PKCE (the Cognito app client), or the
// external issuer's client secret.
type Secrets struct {
	ClientSecret string `json:"clientSecret"`
	SessionKey   string `json:"sessionKey"`
	// HashKey signs and BlockKey encrypts session cookies, both derived
	// from SessionKey (SHA-256 with distinct labels).
	HashKey, BlockKey []byte `json:"-"`
}

// ParseSecrets decodes and checks the secret's JSON; the error never
// contains the secret.
func ParseSecrets(raw string) (Secrets, error) {
	var s Secrets
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		return Secrets{}, fmt.Errorf("%w: the portal secret is not the expected JSON", ErrConfig)
	}
	if len(s.SessionKey) < 32 {
		return Secrets{}, fmt.Errorf("%w: the portal secret's sessionKey must be at least 32 characters", ErrConfig)
	}
	h := sha256.Sum256([]byte("stagehand session signing\x00" + s.SessionKey))
	b := sha256.Sum256([]byte("stagehand session encryption\x00" + s.SessionKey))
	s.HashKey, s.BlockKey = h[:], b[:]
	return s, nil
}

// NewSecretsJSON makes a fresh secret value (a random session key) for
// clientSecret.
func NewSecretsJSON(clientSecret string) string {
	b, _ := json.Marshal(Secrets{ClientSecret: clientSecret, SessionKey: randomToken()})
	return string(b)
}
