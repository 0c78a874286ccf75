package stacks_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
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
				"STAGEHAND_ENV":      name,
				"STAGEHAND_TABLE":    "${" + logicalID(t, sh.Stack, sh.Table) + "}",
				"KEYADMIN_API_ID":    "${" + logicalID(t, sh.Stack, sh.KeyAdminAPI) + "}",
				"KEYADMIN_API_STAGE": stacks.KeyAdminStage,
				// secret pickup of rotated keys (jobs.go)
				"STAGEHAND_ROTATION_KMS_KEY": "${" + rotationKeyID(t, sh) + ".Arn}",
			}
			if j := env.Config.KeyAdmin.JWT; j != nil {
				want["KEYADMIN_JWT_API_ID"] = "${" + logicalID(t, sh.Stack, sh.KeyAdminJWTAPI) + "}"
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

// Only the key-admin REST APIs can invoke the function: every
// resource-based permission on it, in any stack of the environment, is for
// apigateway.amazonaws.com with a source ARN on one of those APIs' stage
// (one per method, no test-invoke stage); it has no function URL, alias or
// event source; and no identity policy the app writes may invoke it. The
// function then refuses any event not naming those APIs and that stage
// (internal/keyadmin: Origin).
func TestKeyAdminInvokePermissions(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			// given the environment's stacks and its key-admin function
			env := envs[name]
			sh := env.Shared
			fnID := logicalID(t, sh.Stack, sh.KeyAdmin)
			refersToFn := func(v any) bool { return strings.Contains(render(v), fnID) }
			// A pinned environment has its account and region in the ARN.
			prefix := "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
			if env.Config.Pinned() {
				prefix = "arn:aws:execute-api:" + env.Config.Region + ":" + env.Config.Account
			}
			var want []string
			for _, api := range keyAdminAPIs(env) {
				base := "apigateway.amazonaws.com lambda:InvokeFunction " + prefix + ":${" +
					logicalID(t, sh.Stack, api) + "}/${" + logicalID(t, sh.Stack, api.DeploymentStage()) + "}/*/"
				want = append(want, base, base+"*")
			}
			var got []string
			for _, st := range env.Stacks() {
				// when every permission naming the function is read back
				for _, p := range resources(t, st, "AWS::Lambda::Permission") {
					if !refersToFn(p.Props["FunctionName"]) {
						continue
					}
					if st != sh.Stack {
						t.Errorf("%s: permission %s on the key-admin function outside the shared stack", *st.StackName(), p.ID)
					}
					for _, extra := range []string{"SourceAccount", "PrincipalOrgID", "FunctionUrlAuthType", "EventSourceToken"} {
						if _, ok := p.Props[extra]; ok {
							t.Errorf("permission %s sets %s", p.ID, extra)
						}
					}
					got = append(got, render(p.Props["Principal"])+" "+render(p.Props["Action"])+" "+render(p.Props["SourceArn"]))
				}
				// and nothing else can reach it
				for _, typ := range []string{"AWS::Lambda::Url", "AWS::Lambda::Alias", "AWS::Lambda::EventSourceMapping", "AWS::Lambda::EventInvokeConfig"} {
					for _, r := range resources(t, st, typ) {
						if refersToFn(r.Props) {
							t.Errorf("%s %s refers to the key-admin function", typ, r.ID)
						}
					}
				}
				for _, pol := range identityPolicies(t, st) {
					for _, stmt := range pol.statements {
						if stmt["Effect"] != "Allow" || !invokes(stmt["Action"]) {
							continue
						}
						for _, res := range strsOf(stmt["Resource"]) {
							if strings.Contains(res, fnID) || res == "*" || strings.HasSuffix(res, ":function:*") {
								t.Errorf("%s: %s allows lambda:InvokeFunction on %s", *st.StackName(), pol.id, res)
							}
						}
					}
				}
			}
			// then the only grants are API Gateway's, scoped to the APIs' stage
			sort.Strings(got)
			sort.Strings(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("permissions (-want +got):\n%s", diff)
			}
		})
	}
}

// policy is the statements of one identity policy in a template.
type policy struct {
	id         string
	statements []map[string]any
}

// identityPolicies returns the statements of every IAM policy, inline role
// policy and managed policy of st.
func identityPolicies(t *testing.T, st awscdk.Stack) []policy {
	t.Helper()
	var out []policy
	add := func(id string, doc any) {
		p := policy{id: id}
		list, _ := get(doc, "Statement").([]any)
		for _, s := range list {
			if m, ok := s.(map[string]any); ok {
				p.statements = append(p.statements, m)
			}
		}
		out = append(out, p)
	}
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, r := range resources(t, st, typ) {
			add(r.ID, r.Props["PolicyDocument"])
		}
	}
	for _, r := range resources(t, st, "AWS::IAM::Role") {
		inline, _ := r.Props["Policies"].([]any)
		for _, p := range inline {
			add(r.ID, get(p, "PolicyDocument"))
		}
	}
	return out
}

// invokes reports whether an Action value grants lambda:InvokeFunction.
func invokes(action any) bool {
	for _, a := range strsOf(action) {
		switch strings.ToLower(a) {
		case "*", "lambda:*", "lambda:invoke*", "lambda:invokefunction":
			return true
		}
	}
	return false
}

// strsOf renders a string-or-list value (unsorted, tokens rendered).
func strsOf(v any) []string {
	if l, ok := v.([]any); ok {
		out := make([]string, len(l))
		for i, x := range l {
			out[i] = render(x)
		}
		return out
	}
	return []string{render(v)}
}

// The function's environment names the APIs that integrate with it, and
// those APIs' methods name the function: no dependency cycle in the shared
// stack (CloudFormation refuses one only at deploy time).
func TestKeyAdminSharedStackHasNoDependencyCycle(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			res, _ := templateJSON(t, envs[name].Shared.Stack)["Resources"].(map[string]any)
			deps := map[string][]string{}
			for id, r := range res {
				deps[id] = references(r, res)
			}
			const (
				unseen = iota
				open
				done
			)
			state := map[string]int{}
			var visit func(id string, path []string)
			visit = func(id string, path []string) {
				switch state[id] {
				case open:
					t.Fatalf("dependency cycle: %s -> %s", strings.Join(path, " -> "), id)
				case done:
					return
				}
				state[id] = open
				for _, d := range deps[id] {
					visit(d, append(path, id))
				}
				state[id] = done
			}
			for _, id := range sortedKeys(res) {
				visit(id, nil)
			}
		})
	}
}

// references lists the resources v refers to (Ref, Fn::GetAtt, DependsOn,
// ${X} in Fn::Sub).
func references(v any, res map[string]any) []string {
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				switch k {
				case "Ref":
					if s, ok := e.(string); ok && res[s] != nil {
						out = append(out, s)
					}
				case "Fn::GetAtt":
					if l, ok := e.([]any); ok && len(l) > 0 {
						if s, ok := l[0].(string); ok && res[s] != nil {
							out = append(out, s)
						}
					}
				case "DependsOn":
					for _, d := range strsOf(e) {
						if res[d] != nil {
							out = append(out, d)
						}
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		case string:
			for rest := x; ; {
				i := strings.Index(rest, "${")
				if i < 0 {
					break
				}
				j := strings.IndexByte(rest[i:], '}')
				if j < 0 {
					break
				}
				name, _, _ := strings.Cut(rest[i+2:i+j], ".")
				if res[name] != nil {
					out = append(out, name)
				}
				rest = rest[i+j:]
			}
		}
	}
	walk(v)
	return out
}
