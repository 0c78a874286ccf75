package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/config"
)

func TestEnvironments(t *testing.T) {
	if diff := cmp.Diff([]string{"dev", "prod", "staging"}, config.Environments()); diff != "" {
		t.Errorf("environments (-want +got):\n%s", diff)
	}
}

func TestLoadShippedEnvironments(t *testing.T) {
	type summary struct {
		Env, Table, Source, Asset string
		TTL, Sources              int
		DeletionProtection, CMK   bool
		Reconcile                 int
	}
	tests := []struct {
		env  string
		want summary
	}{
		{"dev", summary{"dev", "stagehand-dev-registry", "stagehand.deployment", "build/lambda", 0, 0, false, false, 5}},
		{"staging", summary{"staging", "stagehand-staging-registry", "stagehand.deployment", "build/lambda", 0, 0, false, false, 5}},
		{"prod", summary{"prod", "stagehand-prod-registry", "stagehand.deployment", "build/lambda", 0, 0, true, true, 5}},
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			cfg, err := config.Load(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			got := summary{cfg.Env, cfg.Registry.TableName, cfg.Events.Source, cfg.LambdaAssetRoot,
				cfg.API.AuthorizerResultTTLSeconds, len(cfg.API.IdentitySources),
				cfg.Registry.DeletionProtection, cfg.Registry.CustomerManagedKey, cfg.Events.ReconcileRateMinutes}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadUnknownEnvironment(t *testing.T) {
	_, err := config.Load("qa")
	if !errors.Is(err, config.ErrUnknownEnvironment) {
		t.Fatalf("err = %v, want ErrUnknownEnvironment", err)
	}
	if !strings.Contains(err.Error(), "dev, prod, staging") {
		t.Errorf("error %q does not list the known environments", err)
	}
}

func TestDefaultsAreApplied(t *testing.T) {
	cfg, err := config.LoadFile("testdata/minimal.json")
	if err != nil {
		t.Fatal(err)
	}
	got := []any{cfg.LambdaAssetRoot, cfg.Service.Image, cfg.Service.CPUArchitecture, cfg.Registry.TableName,
		cfg.Events.Source, cfg.Events.ReconcileRateMinutes, cfg.Events.MaxEventAgeHours, cfg.Events.RetryAttempts,
		cfg.API.AuthorizerResultTTLSeconds, cfg.HasDomain(), cfg.Pinned()}
	want := []any{"build/lambda", "public.ecr.aws/nginx/nginx:stable", "X86_64", "stagehand-sandbox-registry",
		"stagehand.deployment", 5, 24, 185, 0, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
}

func TestKeyAdminEnv(t *testing.T) {
	tests := []struct {
		name string
		jwt  *config.KeyAdminJWT
		want map[string]string
	}{
		{"IAM only", nil, map[string]string{"STAGEHAND_ENV": "sandbox", "STAGEHAND_TABLE": "tbl"}},
		{"with the JWT route and the default scope", &config.KeyAdminJWT{Issuer: "https://idp/", JWKSURL: "https://idp/jwks", Audiences: []string{"a", "b"}},
			map[string]string{"STAGEHAND_ENV": "sandbox", "STAGEHAND_TABLE": "tbl",
				"KEYADMIN_JWT_ISSUER": "https://idp/", "KEYADMIN_JWT_JWKS_URL": "https://idp/jwks", "KEYADMIN_JWT_AUDIENCE": "a,b"}},
		{"with a scope", &config.KeyAdminJWT{Issuer: "https://idp/", JWKSURL: "https://idp/jwks", Audiences: []string{"a"}, Scope: "ops:admin"},
			map[string]string{"STAGEHAND_ENV": "sandbox", "STAGEHAND_TABLE": "tbl",
				"KEYADMIN_JWT_ISSUER": "https://idp/", "KEYADMIN_JWT_JWKS_URL": "https://idp/jwks", "KEYADMIN_JWT_AUDIENCE": "a", "KEYADMIN_JWT_SCOPE": "ops:admin"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.LoadFile("testdata/minimal.json")
			if err != nil {
				t.Fatal(err)
			}
			cfg.KeyAdmin.JWT = tc.jwt
			if diff := cmp.Diff(tc.want, cfg.KeyAdminEnv("tbl")); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuthorizerJSONIsPassedVerbatim(t *testing.T) {
	cfg, err := config.LoadFile("testdata/minimal.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := cfg.AuthorizerJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"mode":"strict","routes":[{"method":"*","path":"/*","scopes":[]}]}`
	if got != want {
		t.Errorf("AuthorizerJSON = %s, want %s", got, want)
	}
}

// mutate loads testdata/minimal.json as generic JSON, applies f and
// re-encodes it.
func mutate(t *testing.T, f func(m map[string]any)) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/minimal.json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestValidation(t *testing.T) {
	tests := []struct {
		name string
		edit func(m map[string]any)
		// want is "" for a valid config, else text the error must contain
		// (the JSON path of the field first).
		want []string
	}{
		{"minimal is valid", func(map[string]any) {}, nil},
		{"authorizer caching keyed by the API-key header is valid", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"method.request.header.X-Api-Key"}
		}, nil},
		{"authorizer caching keyed by the token header is valid", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"method.request.header.Authorization"}
		}, nil},
		// Issue 12 item 2: API Gateway's cache key must be the credential.
		{"authorizer caching keyed by a non-credential header", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"method.request.header.x-client"}
		}, []string{"api.identitySources[0]: must be method.request.header.x-api-key or method.request.header.authorization", "x-client"}},
		{"authorizer caching keyed by the source IP", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"context.identity.sourceIp"}
		}, []string{"api.identitySources[0]: must be", "the credential"}},
		{"authorizer caching keyed by a stage variable", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"stageVariables.colour"}
		}, []string{"api.identitySources[0]: must be"}},
		{"authorizer caching keyed by a query string", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"method.request.querystring.x-api-key"}
		}, []string{"api.identitySources[0]: must be"}},
		{"authorizer caching keyed by the API-key header with preferJwt", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"method.request.header.x-api-key"}
			obj(m, "authorizer")["preferJwt"] = true
		}, []string{"api.identitySources[0]: is the API-key header", "preferJwt"}},
		{"no caching: any identity source is only a presence check", func(m map[string]any) {
			obj(m, "api")["identitySources"] = []any{"method.request.header.x-client"}
		}, nil},
		{"authorizer caching with two identity sources", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 300
			obj(m, "api")["identitySources"] = []any{"method.request.header.x-api-key", "method.request.header.Authorization"}
		}, []string{"api.identitySources: must list exactly one identity source when api.authorizerResultTtlSeconds is above 0 (got 2)", "401"}},
		{"authorizer caching without identity source", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 60
		}, []string{"api.identitySources: must list exactly one", "(got 0)"}},
		{"two identity sources without caching", func(m map[string]any) {
			obj(m, "api")["identitySources"] = []any{"method.request.header.x-api-key", "method.request.header.Authorization"}
		}, []string{"api.identitySources: must list at most one"}},
		{"malformed identity source", func(m map[string]any) {
			obj(m, "api")["identitySources"] = []any{"header.x-api-key"}
		}, []string{"api.identitySources[0]: must be a mapping expression"}},
		{"authorizer TTL above the maximum", func(m map[string]any) {
			obj(m, "api")["authorizerResultTtlSeconds"] = 3601
			obj(m, "api")["identitySources"] = []any{"method.request.header.x-api-key"}
		}, []string{"api.authorizerResultTtlSeconds: must be between 0 and 3600"}},
		{"web ACL rate limit is valid", func(m map[string]any) { obj(m, "api")["webAclRateLimit"] = 2000 }, nil},
		{"web ACL rate limit too low", func(m map[string]any) { obj(m, "api")["webAclRateLimit"] = 50 }, []string{"api.webAclRateLimit: must be 0 (off) or between 100"}},
		{"web ACL rate limit with an external web ACL", func(m map[string]any) {
			obj(m, "api")["webAclRateLimit"] = 2000
			obj(m, "api")["webAclArn"] = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/x/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
		}, []string{"api.webAclRateLimit: cannot be combined with api.webAclArn"}},
		{"unknown field", func(m map[string]any) { obj(m, "api")["throttle"] = 5 }, []string{`unknown field "throttle"`}},
		{"upper-case env", func(m map[string]any) { m["env"] = "Dev" }, []string{"env: must match"}},
		{"env with a hyphen (not a valid key environment)", func(m map[string]any) { m["env"] = "pre-prod" }, []string{"env: must match"}},
		{"public image without NAT", func(m map[string]any) { obj(m, "network")["natGateways"] = 0 }, []string{"service.image:", "natGateways", "private ECR"}},
		{"private ECR image without NAT is valid", func(m map[string]any) {
			obj(m, "network")["natGateways"] = 0
			obj(m, "service")["image"] = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1"
		}, nil},
		{"quota period without a limit", func(m map[string]any) {
			m["plans"].([]any)[0].(map[string]any)["quotaPeriod"] = "DAY"
		}, []string{"plans[0].quotaPeriod: must be empty when quotaLimit is 0"}},
		{"quota limit with a bad period", func(m map[string]any) {
			p := m["plans"].([]any)[0].(map[string]any)
			p["quotaLimit"], p["quotaPeriod"] = 100, "YEAR"
		}, []string{`plans[0].quotaPeriod: must be DAY, WEEK or MONTH when quotaLimit is set, got "YEAR"`}},
		{"duplicate tier", func(m map[string]any) {
			m["plans"] = append(m["plans"].([]any), m["plans"].([]any)[0])
		}, []string{`plans[1].name: duplicate tier "basic"`}},
		{"method throttle without a method", func(m map[string]any) {
			m["plans"].([]any)[0].(map[string]any)["methodThrottles"] = map[string]any{"/pets": map[string]any{"rateLimit": 1, "burstLimit": 1}}
		}, []string{`plans[0].methodThrottles: method throttle key "/pets"`}},
		{"method throttles are valid", func(m map[string]any) {
			m["plans"].([]any)[0].(map[string]any)["methodThrottles"] = map[string]any{"/pets/GET": map[string]any{"rateLimit": 1, "burstLimit": 2}}
		}, nil},
		{"no tiers", func(m map[string]any) { m["plans"] = []any{} }, []string{"plans: must define at least one tier"}},
		// The rules shared with the CLI and the key-admin API (registry.Plan.Validate).
		{"negative quota", func(m map[string]any) {
			p := m["plans"].([]any)[0].(map[string]any)
			p["quotaLimit"], p["quotaPeriod"] = -5, "DAY"
		}, []string{"plans[0].quotaLimit: must be 0 (no quota) or more, got -5"}},
		{"negative rate and burst", func(m map[string]any) {
			p := m["plans"].([]any)[0].(map[string]any)
			p["rateLimit"], p["burstLimit"] = -1, -20
		}, []string{"plans[0].rateLimit: must be a number of requests per second, 0 or more, got -1"}},
		{"rate without burst", func(m map[string]any) {
			m["plans"].([]any)[0].(map[string]any)["burstLimit"] = 0
		}, []string{"plans[0].burstLimit: must be above 0 when rateLimit is set"}},
		{"tier without throttle", func(m map[string]any) {
			p := m["plans"].([]any)[0].(map[string]any)
			p["rateLimit"], p["burstLimit"] = 0, 0
		}, []string{"plans[0].rateLimit: a tier must throttle"}},
		{"plan name with upper case and underscore", func(m map[string]any) {
			m["plans"].([]any)[0].(map[string]any)["name"] = "Bad_Name"
		}, []string{`plans[0].name: "Bad_Name" must be a lower-case letter`}},
		{"account without region", func(m map[string]any) { m["account"] = "123456789012" }, []string{"account: account and region must be set together"}},
		{"pinned without zones", func(m map[string]any) {
			m["account"], m["region"] = "123456789012", "eu-west-1"
		}, []string{"availabilityZones: must list exactly 2 zones"}},
		{"zone outside the region", func(m map[string]any) {
			m["account"], m["region"] = "123456789012", "eu-west-1"
			m["availabilityZones"] = []any{"eu-west-1a", "us-east-1b"}
		}, []string{`availabilityZones[1]: must be a zone of region "eu-west-1"`}},
		{"domain without certificate", func(m map[string]any) { m["domainName"] = "api.example.com" }, []string{"domainName: domainName and certificateArn must be set together"}},
		{"certificate that is not an ACM ARN", func(m map[string]any) {
			m["domainName"], m["certificateArn"] = "api.example.com", "arn:aws:iam::123456789012:server-certificate/x"
		}, []string{"certificateArn: must be an ACM certificate ARN"}},
		{"authorizer is not an object", func(m map[string]any) { m["authorizer"] = []any{1} }, []string{"authorizer: must be a JSON object"}},
		{"authorizer too large for the Lambda environment", func(m map[string]any) {
			obj(m, "authorizer")["clientIdClaims"] = []any{strings.Repeat("x", 4000)}
		}, []string{"authorizer: is 40", "4 KB"}},
		{"authorizer setting the authorizer itself rejects", func(m map[string]any) { obj(m, "authorizer")["mode"] = "lenient" }, []string{"authorizer:", `mode "lenient"`}},
		{"authorizer field the authorizer does not know", func(m map[string]any) { obj(m, "authorizer")["cacheTTL"] = 5 }, []string{"authorizer:", `unknown field "cacheTTL"`}},
		{"retention CloudWatch does not offer", func(m map[string]any) { obj(m, "lambdas")["logRetentionDays"] = 10 }, []string{"lambdas.logRetentionDays: must be one of"}},
		{"memory that does not fit the CPU", func(m map[string]any) { obj(m, "service")["memoryMiB"] = 4096 }, []string{"service.memoryMiB: must be a multiple of 512 between 512 and 2048 for cpu 256"}},
		{"authorizer timeout above API Gateway's limit", func(m map[string]any) {
			obj(obj(m, "lambdas"), "authorizer")["timeoutSeconds"] = 30
		}, []string{"lambdas.authorizer.timeoutSeconds: must be at most 10"}},
		{"retry attempts above EventBridge's maximum", func(m map[string]any) { obj(m, "events")["retryAttempts"] = 186 }, []string{"events.retryAttempts: must be between 0 and 185"}},
		{"aws event source", func(m map[string]any) { obj(m, "events")["source"] = "aws.ecs" }, []string{"events.source: must be a custom event source"}},
		{"execution logging off", func(m map[string]any) { obj(m, "api")["loggingLevel"] = "OFF" }, []string{"api.loggingLevel: must be ERROR or INFO"}},
		{"CORS origin that would break the header", func(m map[string]any) { obj(m, "api")["corsAllowOrigin"] = "https://a.example.com'" }, []string{"api.corsAllowOrigin:"}},
		{"key-admin API private to two VPC endpoints with the JWT route is valid", func(m map[string]any) {
			obj(m, "keyAdmin")["vpcEndpointIds"] = []any{"vpce-0123456789abcdef0", "vpce-11112222"}
			obj(m, "keyAdmin")["jwt"] = map[string]any{"issuer": "https://idp.example.com/", "jwksUrl": "https://idp.example.com/jwks.json", "audiences": []any{"admin"}}
		}, nil},
		{"key-admin VPC endpoint id that is not one", func(m map[string]any) {
			obj(m, "keyAdmin")["vpcEndpointIds"] = []any{"vpc-0123456789abcdef0"}
		}, []string{`keyAdmin.vpcEndpointIds[0]: must be a VPC endpoint id`}},
		{"key-admin VPC endpoint listed twice", func(m map[string]any) {
			obj(m, "keyAdmin")["vpcEndpointIds"] = []any{"vpce-0123456789abcdef0", "vpce-0123456789abcdef0"}
		}, []string{`keyAdmin.vpcEndpointIds[1]: duplicate endpoint`}},
		{"key-admin throttle off", func(m map[string]any) {
			obj(m, "keyAdmin")["throttle"] = map[string]any{"rateLimit": 0, "burstLimit": 0}
		}, []string{"keyAdmin.throttle.rateLimit: must be above 0", "keyAdmin.throttle.burstLimit: must be at least 1"}},
		{"key-admin access log retention CloudWatch does not offer", func(m map[string]any) {
			obj(m, "keyAdmin")["accessLogRetentionDays"] = 2
		}, []string{"keyAdmin.accessLogRetentionDays: must be one of"}},
		{"key-admin function slower than API Gateway waits", func(m map[string]any) {
			obj(obj(m, "lambdas"), "keyAdmin")["timeoutSeconds"] = 60
		}, []string{"lambdas.keyAdmin.timeoutSeconds: must be at most 29"}},
		{"key-admin JWT route without audiences (the function refuses it at cold start)", func(m map[string]any) {
			obj(m, "keyAdmin")["jwt"] = map[string]any{"issuer": "https://idp.example.com/", "jwksUrl": "https://idp.example.com/jwks.json"}
		}, []string{"keyAdmin.jwt:", "KEYADMIN_JWT_AUDIENCE is required"}},
		{"key-admin JWT route with a plain-HTTP JWKS", func(m map[string]any) {
			obj(m, "keyAdmin")["jwt"] = map[string]any{"issuer": "https://idp.example.com/", "jwksUrl": "http://idp.example.com/jwks.json", "audiences": []any{"admin"}}
		}, []string{"keyAdmin.jwt:", "KEYADMIN_JWT_JWKS_URL"}},
		{"key-admin JWT route without issuer", func(m map[string]any) {
			obj(m, "keyAdmin")["jwt"] = map[string]any{"jwksUrl": "https://idp.example.com/jwks.json", "audiences": []any{"admin"}}
		}, []string{"keyAdmin.jwt.issuer: must be"}},
		{"key-admin section missing", func(m map[string]any) { delete(m, "keyAdmin") }, []string{"keyAdmin.throttle.rateLimit", "keyAdmin.accessLogRetentionDays"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.Parse(mutate(t, tc.edit), "test.json")
			if tc.want == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if cfg == nil {
					t.Fatal("nil config without error")
				}
				return
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			if !strings.HasPrefix(err.Error(), "test.json") && !strings.Contains(err.Error(), ": test.json:") {
				t.Errorf("error %q does not name the file", err)
			}
		})
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	_, err := config.Parse(mutate(t, func(m map[string]any) {
		m["env"] = "X"
		obj(m, "network")["cidr"] = "10.0.0.0/8"
		obj(m, "service")["desiredCount"] = 0
	}), "many.json")
	for _, w := range []string{"env: must match", "network.cidr: must be an IPv4 CIDR", "service.desiredCount: must be between 1 and 100"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("error %v does not contain %q", err, w)
		}
	}
}
