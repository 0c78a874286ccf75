package stacks_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigateway"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// keyAdminAPIs returns an environment's key-admin REST APIs by the
// authorization their methods must use: AWS_IAM always, NONE for the JWT
// route when the config has one.
func keyAdminAPIs(env *stacks.Environment) map[string]awsapigateway.RestApi {
	apis := map[string]awsapigateway.RestApi{"AWS_IAM": env.Shared.KeyAdminAPI}
	if env.Config.KeyAdmin.JWT != nil {
		apis["NONE"] = env.Shared.KeyAdminJWTAPI
	}
	return apis
}

// methodsOf returns the methods of the REST API with logical id api.
func methodsOf(t *testing.T, env *stacks.Environment, api string) []resource {
	t.Helper()
	var out []resource
	for _, m := range resources(t, env.Shared.Stack, "AWS::ApiGateway::Method") {
		if render(m.Props["RestApiId"]) == "${"+api+"}" {
			out = append(out, m)
		}
	}
	return out
}

func TestKeyAdminMethodsAreIAMAuthorizedLambdaProxies(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			// given the environment's configuration (qa has the JWT route)
			env := envs[name]
			sh := env.Shared
			if got, want := sh.KeyAdminJWTAPI != nil, env.Config.KeyAdmin.JWT != nil; got != want {
				t.Fatalf("JWT route API present = %v, configured = %v", got, want)
			}
			fn := "${" + logicalID(t, sh.Stack, sh.KeyAdmin) + ".Arn}"
			seen := 0
			for auth, api := range keyAdminAPIs(env) {
				// when the methods of that API are read back
				methods := methodsOf(t, env, logicalID(t, sh.Stack, api))
				seen += len(methods)
				if len(methods) != 2 {
					t.Fatalf("%s API: got %d methods, want 2 (ANY / and ANY /{proxy+})", auth, len(methods))
				}
				// then each takes the API's authorization and hands the
				// request to the key-admin function unchanged
				for _, m := range methods {
					integ := m.Props["Integration"].(map[string]any)
					uri := render(integ["Uri"])
					got := []string{render(m.Props["HttpMethod"]), render(m.Props["AuthorizationType"]),
						render(integ["Type"]), render(integ["IntegrationHttpMethod"]), render(strings.Contains(uri, fn))}
					want := []string{"ANY", auth, "AWS_PROXY", "POST", "true"}
					if diff := cmp.Diff(want, got); diff != "" {
						t.Errorf("%s API method %s (-want +got):\n%s", auth, m.ID, diff)
					}
				}
			}
			// and no other method of the shared stack escapes these checks
			all := 0
			for _, m := range resources(t, sh.Stack, "AWS::ApiGateway::Method") {
				if !strings.HasPrefix(m.ID, "PortalApi") { // checked by TestPortalStack
					all++
				}
			}
			if all != seen {
				t.Errorf("shared stack has %d methods, the key-admin APIs %d", all, seen)
			}
		})
	}
}

func TestKeyAdminResourcePolicyFollowsVpcEndpoints(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			sh := env.Shared
			ids := env.Config.KeyAdmin.VPCEndpointIDs
			for auth, api := range keyAdminAPIs(env) {
				// when the API's endpoint and policy are read back
				props := resourceByID(t, sh.Stack, logicalID(t, sh.Stack, api)).Props
				gotTypes := strs(get(props, "EndpointConfiguration", "Types"))
				gotIDs := strs(get(props, "EndpointConfiguration", "VpcEndpointIds"))
				if len(ids) == 0 {
					// then without endpoints it is regional and IAM is its only gate
					if diff := cmp.Diff([]string{"REGIONAL"}, gotTypes); diff != "" {
						t.Errorf("%s API endpoint types (-want +got):\n%s", auth, diff)
					}
					if p, ok := props["Policy"]; ok {
						t.Errorf("%s API has a resource policy without configured VPC endpoints: %v", auth, p)
					}
					continue
				}
				// then with endpoints it is private to them: the policy
				// allows the caller class and denies any other source
				wantIDs := append([]string{}, ids...)
				sort.Strings(wantIDs)
				if diff := cmp.Diff([]string{"PRIVATE"}, gotTypes); diff != "" {
					t.Errorf("%s API endpoint types (-want +got):\n%s", auth, diff)
				}
				if diff := cmp.Diff(wantIDs, gotIDs); diff != "" {
					t.Errorf("%s API endpoint ids (-want +got):\n%s", auth, diff)
				}
				principal := "arn:aws:iam::" + env.Config.Account + ":root" // qa pins its account
				if auth == "NONE" {
					principal = "*" // bearer-token callers have no IAM identity
				}
				vpce := make([]any, len(ids))
				for i, id := range ids {
					vpce[i] = id
				}
				want := map[string]any{
					"Version": "2012-10-17",
					"Statement": []any{
						map[string]any{"Effect": "Allow", "Principal": map[string]any{"AWS": principal},
							"Action": "execute-api:Invoke", "Resource": "execute-api:/*"},
						map[string]any{"Effect": "Deny", "Principal": map[string]any{"AWS": "*"},
							"Action": "execute-api:Invoke", "Resource": "execute-api:/*",
							"Condition": map[string]any{"StringNotEquals": map[string]any{"aws:SourceVpce": vpce}}},
					},
				}
				if diff := cmp.Diff(want, props["Policy"]); diff != "" {
					t.Errorf("%s API resource policy (-want +got):\n%s", auth, diff)
				}
			}
		})
	}
}

func TestKeyAdminStageLogsTracesAndThrottles(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			sh := env.Shared
			k := env.Config.KeyAdmin
			for auth, api := range keyAdminAPIs(env) {
				stage := resourceByID(t, sh.Stack, logicalID(t, sh.Stack, api.DeploymentStage()))
				s := stage.Props
				// Stage logging needs the account's CloudWatch role, when
				// this stack sets it, before the stage is created.
				dependsOnAccount := false
				for _, d := range strs(stage.Raw["DependsOn"]) {
					if resourceByID(t, sh.Stack, d).Type == "AWS::ApiGateway::Account" {
						dependsOnAccount = true
					}
				}
				if dependsOnAccount != env.Config.API.ManageAccountCloudWatchRole {
					t.Errorf("%s API stage depends on the API Gateway account: %v, account role managed here: %v",
						auth, dependsOnAccount, env.Config.API.ManageAccountCloudWatchRole)
				}
				ms := s["MethodSettings"].([]any)
				if len(ms) != 1 {
					t.Fatalf("%s API: got %d method settings, want 1 (/*/*)", auth, len(ms))
				}
				m := ms[0].(map[string]any)
				logGroup := strings.TrimSuffix(strings.TrimPrefix(render(get(s, "AccessLogSetting", "DestinationArn")), "${"), ".Arn}")
				got := []string{
					render(s["StageName"]), render(s["TracingEnabled"]),
					render(m["HttpMethod"]) + " " + render(m["ResourcePath"]), render(m["LoggingLevel"]), render(m["DataTraceEnabled"]),
					render(m["ThrottlingRateLimit"]), render(m["ThrottlingBurstLimit"]),
					resourceByID(t, sh.Stack, logGroup).Type, render(resourceByID(t, sh.Stack, logGroup).Props["RetentionInDays"]),
				}
				want := []string{
					stacks.KeyAdminStage, "true",
					"* /*", "ERROR", "false",
					render(k.Throttle.RateLimit), render(float64(k.Throttle.BurstLimit)),
					"AWS::Logs::LogGroup", render(float64(k.AccessLogRetentionDays)),
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s API stage (-want +got):\n%s", auth, diff)
				}
				var format map[string]string
				if err := json.Unmarshal([]byte(get(s, "AccessLogSetting", "Format").(string)), &format); err != nil {
					t.Fatalf("access log format is not JSON: %v", err)
				}
				for _, f := range []string{"requestId", "status", "userArn", "vpceId", "integrationLatency"} {
					if !strings.HasPrefix(format[f], "$context.") {
						t.Errorf("%s API access log field %s = %q", auth, f, format[f])
					}
				}
				// Requests and responses carry tokens and key secrets.
				for f, v := range format {
					if strings.Contains(v, "$input") || strings.Contains(strings.ToLower(v), "header") {
						t.Errorf("%s API access log field %s = %q logs request content", auth, f, v)
					}
				}
			}
		})
	}
}

func TestKeyAdminFunctionGetsItsConfiguration(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			sh := env.Shared
			fn := resourceByID(t, sh.Stack, logicalID(t, sh.Stack, sh.KeyAdmin)).Props
			got := map[string]string{}
			for k, v := range get(fn, "Environment", "Variables").(map[string]any) {
				got[k] = render(v)
			}
			want := map[string]string{
				"STAGEHAND_ENV":   name,
				"STAGEHAND_TABLE": "${" + logicalID(t, sh.Stack, sh.Table) + "}",
			}
			if j := env.Config.KeyAdmin.JWT; j != nil {
				want["KEYADMIN_JWT_ISSUER"] = j.Issuer
				want["KEYADMIN_JWT_JWKS_URL"] = j.JWKSURL
				want["KEYADMIN_JWT_AUDIENCE"] = strings.Join(j.Audiences, ",")
				want["KEYADMIN_JWT_SCOPE"] = j.Scope
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("environment (-want +got):\n%s", diff)
			}
			size := []any{fn["MemorySize"], fn["Timeout"], fn["Runtime"], get(fn, "TracingConfig", "Mode")}
			wantSize := []any{float64(env.Config.Lambdas.KeyAdmin.MemoryMiB), float64(env.Config.Lambdas.KeyAdmin.TimeoutSeconds), "provided.al2023", "Active"}
			if diff := cmp.Diff(wantSize, size); diff != "" {
				t.Errorf("function (-want +got):\n%s", diff)
			}
		})
	}
}

// The Lambda permissions API Gateway needs: one per method, from this
// API's stage only (no test-invoke stage).
func TestKeyAdminInvokePermissions(t *testing.T) {
	env := envs["qa"]
	sh := env.Shared
	fn := "${" + logicalID(t, sh.Stack, sh.KeyAdmin) + ".Arn}"
	var got []string
	for _, p := range resources(t, sh.Stack, "AWS::Lambda::Permission") {
		if render(p.Props["FunctionName"]) != fn {
			continue
		}
		got = append(got, render(p.Props["Principal"])+" "+render(p.Props["SourceArn"]))
	}
	var want []string
	for _, api := range keyAdminAPIs(env) {
		base := "apigateway.amazonaws.com arn:aws:execute-api:eu-west-1:" + env.Config.Account + ":${" + logicalID(t, sh.Stack, api) + "}/${" +
			logicalID(t, sh.Stack, api.DeploymentStage()) + "}/*/"
		want = append(want, base, base+"*")
	}
	sort.Strings(got)
	sort.Strings(want)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("permissions (-want +got):\n%s", diff)
	}
}
