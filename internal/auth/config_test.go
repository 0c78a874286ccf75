package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

func TestParseSettingsExample(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "config-example.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSettings(raw)
	if err != nil {
		t.Fatalf("ParseSettings: %v", err)
	}
	leeway, unknownTTL := 30, 5
	want := Settings{
		Mode: ModeStrict, CacheTTLSeconds: 30, CacheMaxEntries: 10000, MaxStalenessSeconds: 300,
		APIKeyHeader: "x-api-key", TokenHeader: "authorization", LeewaySeconds: &leeway,
		MaxTokenLifetimeSeconds: 86400, ClientIDClaims: []string{"client_id", "azp"},
		JWKSRefreshSeconds: 300, JWKSUnknownKIDSeconds: 30, UnknownKeyCacheSeconds: &unknownTTL,
		Issuers: []IssuerConfig{{Issuer: "https://auth.example.com/", JWKSURL: "https://auth.example.com/.well-known/jwks.json", Audiences: []string{"https://api.example.com"}}},
		Routes: []RouteConfig{
			{Method: "GET", Path: "/orders/*", Scopes: []string{"orders:read"}, Claims: []ClaimCheck{{Claim: "tenant_tier", OneOf: []any{"gold", "silver"}}}},
			{Method: "*", Path: "/admin/*", Scopes: []string{"admin"}},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("settings (-want +got):\n%s", diff)
	}
}

func TestParseSettingsDefaults(t *testing.T) {
	got, err := ParseSettings([]byte(`{"routes":[{"method":"GET","path":"/health"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Mode != ModeStrict || got.CacheTTL().Seconds() != 30 || got.CacheMaxEntries != 10000 ||
		got.MaxStaleness().Seconds() != 300 || got.Leeway().Seconds() != 30 || got.MaxTokenLifetime().Hours() != 24 ||
		got.APIKeyHeader != "x-api-key" || got.TokenHeader != "authorization" {
		t.Errorf("defaults not applied: %+v", got)
	}
	zero, err := ParseSettings([]byte(`{"leewaySeconds":0,"routes":[{"method":"GET","path":"/health"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if zero.Leeway() != 0 {
		t.Errorf("explicit leewaySeconds 0 became %v", zero.Leeway())
	}
}

func TestParseSettingsErrors(t *testing.T) {
	route := `"routes":[{"method":"GET","path":"/x","scopes":["a"]}]`
	tests := []struct {
		name string
		json string
		want string // substring of the error
	}{
		{"not JSON", `{`, "decode"},
		{"unknown field (typo)", `{"cacheTtlSecond":5,` + route + `}`, "unknown field"},
		{"trailing document", `{` + route + `} {}`, "trailing"},
		{"bad mode", `{"mode":"lenient",` + route + `}`, "mode"},
		{"ttl too long", `{"cacheTtlSeconds":7200,` + route + `}`, "cacheTtlSeconds"},
		{"staleness below ttl", `{"cacheTtlSeconds":60,"maxStalenessSeconds":30,` + route + `}`, "maxStalenessSeconds"},
		{"negative leeway", `{"leewaySeconds":-1,` + route + `}`, "leewaySeconds"},
		{"bad header name", `{"apiKeyHeader":"x api key",` + route + `}`, "apiKeyHeader"},
		{"same header twice", `{"apiKeyHeader":"Authorization",` + route + `}`, "must differ"},
		{"issuer without audiences", `{"issuers":[{"issuer":"https://i/","jwksUrl":"https://i/jwks"}],` + route + `}`, "audiences"},
		{"issuer without keys", `{"issuers":[{"issuer":"https://i/","audiences":["a"]}],` + route + `}`, "jwksUrl"},
		{"plain http jwks", `{"issuers":[{"issuer":"https://i/","jwksUrl":"http://i.example.com/jwks","audiences":["a"]}],` + route + `}`, "https"},
		{"issuer twice", `{"issuers":[{"issuer":"https://i/","jwksUrl":"https://i/j","audiences":["a"]},{"issuer":"https://i/","jwksUrl":"https://i/j","audiences":["a"]}],` + route + `}`, "twice"},
		{"no routes", `{}`, "at least one route"},
		{"bad method", `{"routes":[{"method":"FETCH","path":"/x"}]}`, "method"},
		{"path without slash", `{"routes":[{"method":"GET","path":"x"}]}`, "start with /"},
		{"path parameter syntax", `{"routes":[{"method":"GET","path":"/orders/{id}"}]}`, "use * for path parameters"},
		{"duplicate route", `{"routes":[{"method":"GET","path":"/x"},{"method":"get","path":"/x"}]}`, "same method and path"},
		{"scope with space", `{"routes":[{"method":"GET","path":"/x","scopes":["a b"]}]}`, "scope"},
		{"claim with two operators", `{"routes":[{"method":"GET","path":"/x","claims":[{"claim":"c","equals":"a","oneOf":["a"]}]}]}`, "exactly one"},
		{"claim with object value", `{"routes":[{"method":"GET","path":"/x","claims":[{"claim":"c","equals":{"a":1}}]}]}`, "string, number or boolean"},
		{"claim without name", `{"routes":[{"method":"GET","path":"/x","claims":[{"equals":"a"}]}]}`, "claim name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseSettings([]byte(tc.json))
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q, want ErrConfig mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadConfig(t *testing.T) {
	const arnA = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/hs/a-AbC123"
	const arnB = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/hs/b-XyZ789"
	hs := func(arn1, arn2 string) string {
		return `{"issuers":[{"issuer":"https://i/","hs256":true,"hs256SecretArn":"` + arn1 + `","audiences":["a"]},` +
			`{"issuer":"https://j/","hs256":true,"hs256SecretArn":"` + arn2 + `","audiences":["a"]}],"routes":[{"method":"GET","path":"/x"}]}`
	}
	good := hs(arnA, arnB)
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{name: "complete", env: map[string]string{EnvStage: "prod", EnvTable: "stagehand", EnvAuthorizerConfig: good}},
		{name: "nothing set", env: map[string]string{}, wantErr: "STAGEHAND_ENV"},
		{name: "bad env name", env: map[string]string{EnvStage: "Prod", EnvTable: "t", EnvAuthorizerConfig: `{"routes":[{"method":"GET","path":"/x"}]}`}, wantErr: "STAGEHAND_ENV"},
		{name: "no table", env: map[string]string{EnvStage: "prod", EnvAuthorizerConfig: `{"routes":[{"method":"GET","path":"/x"}]}`}, wantErr: "STAGEHAND_TABLE"},
		{name: "no config", env: map[string]string{EnvStage: "prod", EnvTable: "t"}, wantErr: "AUTHORIZER_CONFIG is not set"},
		// Issue 12 item 7: one secret per HS256 issuer.
		{name: "two issuers share one secret", env: map[string]string{EnvStage: "prod", EnvTable: "t", EnvAuthorizerConfig: hs(arnA, arnA)}, wantErr: "shares its HS256 secret with issuers[0]"},
		{name: "hs256 issuer without its secret ARN", env: map[string]string{EnvStage: "prod", EnvTable: "t", EnvAuthorizerConfig: hs(arnA, "")}, wantErr: "hs256 needs hs256SecretArn"},
		{name: "secret ARN not a complete secret ARN", env: map[string]string{EnvStage: "prod", EnvTable: "t", EnvAuthorizerConfig: hs(arnA, "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/hs/*")}, wantErr: "hs256 needs hs256SecretArn"},
		{name: "the old shared secret variable", env: map[string]string{EnvStage: "prod", EnvTable: "t", EnvHS256SecretARN: arnA, EnvAuthorizerConfig: good}, wantErr: "no longer read"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := LoadConfig(func(k string) string { return tc.env[k] })
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadConfig: %v", err)
				}
				if c.Env != "prod" || c.Table != "stagehand" || len(c.Settings.Routes) != 1 {
					t.Errorf("config %+v", c)
				}
				if diff := cmp.Diff([]string{arnA, arnB}, c.Settings.HS256SecretARNs()); diff != "" {
					t.Errorf("HS256SecretARNs (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want ErrConfig mentioning %q", err, tc.wantErr)
			}
		})
	}
}

// bigRoutes returns n routes with paths of pathLen characters.
func bigRoutes(n, pathLen int) []RouteConfig {
	out := make([]RouteConfig, n)
	for i := range out {
		p := fmt.Sprintf("/r%03d/", i)
		p += strings.Repeat("p", max(pathLen-len(p)-1, 0)) + "*"
		out[i] = RouteConfig{Method: "GET", Path: p, Scopes: []string{fmt.Sprintf("s%03d", i)}}
	}
	return out
}

// TestPolicySizeLimit: the largest route table that passes validation
// yields responses under 8 KiB with every route allowed; one more route is
// a clear configuration error.
func TestPolicySizeLimit(t *testing.T) {
	const pathLen = 40
	n := 0
	for ; n <= MaxRoutes; n++ {
		if _, err := newRouteTable(bigRoutes(n+1, pathLen)); err != nil {
			if !strings.Contains(err.Error(), "8192-byte limit") {
				t.Fatalf("error for %d routes: %v", n+1, err)
			}
			break
		}
	}
	if n < 20 || n >= MaxRoutes {
		t.Fatalf("largest valid table has %d routes of %d characters; expected the size limit to bind between 20 and %d", n, pathLen, MaxRoutes)
	}
	routes := bigRoutes(n, pathLen)
	h := newHarness(t, func(s *Settings) { s.Routes = routes })
	scopes := make([]string, n)
	for i := range scopes {
		scopes[i] = fmt.Sprintf("s%03d", i)
	}
	secret := h.reg.addKey(t, func(k *registry.Key) { k.Scopes = scopes })
	ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
	// A realistic stage of MaxStageNameLen characters.
	stage := strings.Repeat("s", MaxStageNameLen)
	ev.MethodArn = "arn:aws:execute-api:ap-southeast-2:123456789012:a1b2c3d4e5/" + stage + "/GET/r000/x"
	resp, err := h.a.Authorize(context.Background(), &ev)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	if got := len(resp.PolicyDocument.Statement[0].Resource); got != n {
		t.Fatalf("policy lists %d routes, want %d", got, n)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxPolicyBytes {
		t.Fatalf("response is %d bytes, over %d", len(b), MaxPolicyBytes)
	}
	t.Logf("largest valid table: %d routes; response %d bytes", n, len(b))
	// A stage name far longer than assumed is caught at run time.
	ev.MethodArn = "arn:aws:execute-api:ap-southeast-2:123456789012:a1b2c3d4e5/" + strings.Repeat("s", 128) + "/GET/r000/x"
	if _, err := h.a.Authorize(context.Background(), &ev); !errors.Is(err, ErrPolicyTooLarge) {
		t.Fatalf("oversized policy: error %v, want ErrPolicyTooLarge", err)
	}
}
