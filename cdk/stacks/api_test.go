package stacks_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// forEachApi runs f for every colour of every environment.
func forEachApi(t *testing.T, f func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack)) {
	for _, name := range sortedKeys(envs) {
		for _, colour := range stacks.Colours {
			t.Run(name+"/"+colour, func(t *testing.T) { f(t, envs[name], colour, envs[name].Apis[colour]) })
		}
	}
}

func TestRestApiUsesAuthorizerKeysAndRegionalEndpoint(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		noPanic(t, "RestApi properties", func() {
			template(t, api.Stack).HasResourceProperties(jsii.String("AWS::ApiGateway::RestApi"), map[string]any{
				"ApiKeySourceType":      "AUTHORIZER",
				"EndpointConfiguration": map[string]any{"Types": []any{"REGIONAL"}},
				"Name":                  "stagehand-" + env.Config.Env + "-" + colour,
			})
		})
		noPanic(t, "one RestApi", func() {
			template(t, api.Stack).ResourceCountIs(jsii.String("AWS::ApiGateway::RestApi"), jsii.Number(1))
		})
	})
}

func TestEveryMethodRequiresKeyAndAuthorizerAndProxiesOverVpcLink(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		st := api.Stack
		authorizerID := logicalID(t, st, api.Authorizer)
		nlb := ssmParam(t, st, stacks.ParameterName(env.Config.Env, stacks.ParamNlbDNS))
		vpcLink := ssmParam(t, st, stacks.ParameterName(env.Config.Env, stacks.ParamVpcLinkID))
		port := ""
		if env.Config.Service.ListenerPort != 80 {
			port = ":" + render(float64(env.Config.Service.ListenerPort))
		}

		methods := resources(t, st, "AWS::ApiGateway::Method")
		if len(methods) != 2 {
			t.Fatalf("got %d methods, want 2 (ANY / and ANY /{proxy+})", len(methods))
		}
		var paths []string
		for _, m := range methods {
			p := m.Props
			integ := p["Integration"].(map[string]any)
			got := []string{
				render(p["HttpMethod"]), render(p["ApiKeyRequired"]), render(p["AuthorizationType"]), render(p["AuthorizerId"]),
				render(integ["Type"]), render(integ["ConnectionType"]), render(integ["IntegrationHttpMethod"]),
			}
			want := []string{"ANY", "true", "CUSTOM", "${" + authorizerID + "}", "HTTP_PROXY", "VPC_LINK", "ANY"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("method %s (-want +got):\n%s", m.ID, diff)
			}
			if c := render(integ["ConnectionId"]); c != vpcLink {
				t.Errorf("method %s: connection %s is not the network stack's VPC link parameter %s", m.ID, c, vpcLink)
			}
			uri := render(integ["Uri"])
			if !strings.HasPrefix(uri, "http://"+nlb) {
				t.Errorf("method %s: uri %s does not target the NLB", m.ID, uri)
			}
			paths = append(paths, uri[strings.Index(uri, "}")+1:])

			// Backend headers: all from the authorizer context, the
			// origin-verify value included (never a secret in the
			// integration).
			params := map[string]string{}
			for k, v := range integ["RequestParameters"].(map[string]any) {
				params[k] = render(v)
			}
			wantParams := map[string]string{
				"integration.request.header.X-Customer-Id":     "context.authorizer.customerId",
				"integration.request.header.X-Customer-Plan":   "context.authorizer.plan",
				"integration.request.header.X-Customer-Scopes": "context.authorizer.scopes",
				"integration.request.header.X-Api-Key-Id":      "context.authorizer.keyId",
				"integration.request.header.X-Auth-Method":     "context.authorizer.authMethod",
				"integration.request.header.X-Origin-Verify":   "context.authorizer.originVerify",
			}
			if strings.Contains(uri, "{proxy}") {
				wantParams["integration.request.path.proxy"] = "method.request.path.proxy"
			}
			if diff := cmp.Diff(wantParams, params); diff != "" {
				t.Errorf("method %s request parameters (-want +got):\n%s", m.ID, diff)
			}
		}
		sort.Strings(paths)
		if diff := cmp.Diff([]string{port + "/", port + "/{proxy}"}, paths); diff != "" {
			t.Errorf("integration paths (-want +got):\n%s", diff)
		}
	})
}

func TestAuthorizerCachingFollowsConfig(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		st := api.Stack
		a := resourceByID(t, st, logicalID(t, st, api.Authorizer)).Props
		identity, hasIdentity := a["IdentitySource"]
		got := []string{render(a["Type"]), render(a["AuthorizerResultTtlInSeconds"]), render(identity)}
		want := []string{"REQUEST", render(float64(env.Config.API.AuthorizerResultTTLSeconds)), strings.Join(env.Config.API.IdentitySources, ",")}
		if !hasIdentity {
			got[2] = "<absent>"
		}
		if len(env.Config.API.IdentitySources) == 0 {
			want[2] = "<absent>"
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("authorizer (-want +got):\n%s", diff)
		}
		// The shipped environments keep API Gateway's cache off.
		if env.Config.Env != "qa" && got[1] != "0" {
			t.Errorf("authorizer TTL = %s in a shipped environment, want 0", got[1])
		}

		// API Gateway assumes a role that may invoke exactly the shared
		// authorizer function.
		roleRef := render(a["AuthorizerCredentials"])
		var invoke []string
		for _, p := range resources(t, st, "AWS::IAM::Policy") {
			roles := strs(p.Props["Roles"])
			if len(roles) == 1 && strings.TrimSuffix(roleRef, ".Arn}") == strings.TrimSuffix(roles[0], "}") {
				for _, s := range get(p.Props, "PolicyDocument", "Statement").([]any) {
					invoke = append(invoke, strings.Join(strs(get(s, "Action")), ",")+" on "+strings.Join(strs(get(s, "Resource")), " "))
				}
			}
		}
		wantInvoke := "lambda:InvokeFunction on " + ssmParam(t, st, stacks.ParameterName(env.Config.Env, stacks.ParamAuthorizerArn))
		if len(invoke) != 1 || invoke[0] != wantInvoke {
			t.Errorf("authorizer invoke role statements = %q, want one: %s…", invoke, wantInvoke)
		}
	})
}

func TestStageLoggingTracingAndThrottles(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		st := api.Stack
		stages := resources(t, st, "AWS::ApiGateway::Stage")
		if len(stages) != 1 {
			t.Fatalf("got %d stages, want 1", len(stages))
		}
		s := stages[0].Props
		ms := s["MethodSettings"].([]any)
		if len(ms) != 1 {
			t.Fatalf("got %d method settings, want 1 (/*/*)", len(ms))
		}
		m := ms[0].(map[string]any)
		got := []string{
			render(s["StageName"]), render(s["TracingEnabled"]),
			render(get(s, "AccessLogSetting", "DestinationArn")),
			render(m["HttpMethod"]) + " " + render(m["ResourcePath"]), render(m["LoggingLevel"]), render(m["DataTraceEnabled"]),
			render(m["ThrottlingRateLimit"]), render(m["ThrottlingBurstLimit"]),
		}
		want := []string{
			env.Config.Env, "true",
			"${" + logicalID(t, st, api.AccessLogs) + ".Arn}",
			"* /*", env.Config.API.LoggingLevel, "false",
			render(env.Config.API.MethodThrottle.RateLimit), render(float64(env.Config.API.MethodThrottle.BurstLimit)),
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("stage (-want +got):\n%s", diff)
		}
		var format map[string]string
		if err := json.Unmarshal([]byte(get(s, "AccessLogSetting", "Format").(string)), &format); err != nil {
			t.Fatalf("access log format is not JSON: %v", err)
		}
		for _, k := range []string{"requestId", "status", "principalId", "keyId", "authorizerLatency", "integrationLatency"} {
			if !strings.HasPrefix(format[k], "$context.") {
				t.Errorf("access log field %s = %q", k, format[k])
			}
		}
		lg := resourceByID(t, st, logicalID(t, st, api.AccessLogs))
		if got, want := lg.Props["RetentionInDays"], float64(env.Config.API.AccessLogRetentionDays); got != want {
			t.Errorf("access log retention = %v, want %v", got, want)
		}
	})
}

func TestGatewayResponsesAreJSONWithCORS(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		got := map[string]string{}
		for _, r := range resources(t, api.Stack, "AWS::ApiGateway::GatewayResponse") {
			body := get(r.Props, "ResponseTemplates", "application/json").(string)
			var doc map[string]string
			if err := json.Unmarshal([]byte(body), &doc); err != nil {
				t.Errorf("%s body %q is not JSON: %v", r.ID, body, err)
			}
			origin := render(get(r.Props, "ResponseParameters", "gatewayresponse.header.Access-Control-Allow-Origin"))
			got[render(r.Props["ResponseType"])] = render(r.Props["StatusCode"]) + " " + doc["error"] + " " + origin
		}
		o := "'" + env.Config.API.CORSAllowOrigin + "'"
		want := map[string]string{
			"UNAUTHORIZED":   "401 UNAUTHORIZED " + o,
			"ACCESS_DENIED":  "403 ACCESS_DENIED " + o,
			"QUOTA_EXCEEDED": "429 QUOTA_EXCEEDED " + o,
			"THROTTLED":      "429 THROTTLED " + o,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("gateway responses (-want +got):\n%s", diff)
		}
	})
}

func TestApiOutputsHaveStableExportNames(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		outputs, _ := templateJSON(t, api.Stack)["Outputs"].(map[string]any)
		got := map[string]string{}
		for id, o := range outputs {
			if name := get(o, "Export", "Name"); name != nil {
				got[id] = render(name)
			}
		}
		prefix := "stagehand-" + env.Config.Env + "-" + colour + "-"
		want := map[string]string{"ApiId": prefix + "apiId", "Stage": prefix + "stage", "Url": prefix + "url"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("outputs (-want +got):\n%s", diff)
		}
	})
}

func TestWebACLIsAssociatedOnlyWhenConfigured(t *testing.T) {
	forEachApi(t, func(t *testing.T, env *stacks.Environment, colour string, api *stacks.ApiStack) {
		assocs := resources(t, api.Stack, "AWS::WAFv2::WebACLAssociation")
		acls := resources(t, api.Stack, "AWS::WAFv2::WebACL")
		want, wantACLs := 0, 0
		if env.Config.API.WebACLArn != "" || env.Config.API.WebACLRateLimit > 0 {
			want = 1
		}
		if env.Config.API.WebACLRateLimit > 0 {
			wantACLs = 1
		}
		if len(assocs) != want || len(acls) != wantACLs {
			t.Fatalf("got %d web ACL associations and %d web ACLs, want %d and %d", len(assocs), len(acls), want, wantACLs)
		}
		if env.Config.API.WebACLArn != "" && render(assocs[0].Props["WebACLArn"]) != env.Config.API.WebACLArn {
			t.Errorf("web ACL = %s, want %s", render(assocs[0].Props["WebACLArn"]), env.Config.API.WebACLArn)
		}
		if wantACLs == 1 {
			// issue 12 item 8: the rate-based rule in front of the authorizer.
			if got, want := render(assocs[0].Props["WebACLArn"]), "${"+acls[0].ID+".Arn}"; got != want {
				t.Errorf("associated web ACL %s, want the stack's own %s", got, want)
			}
			rules := acls[0].Props["Rules"].([]any)
			if len(rules) != 1 {
				t.Fatalf("web ACL rules: %v", rules)
			}
			rule := rules[0].(map[string]any)
			gotRule := map[string]any{"Action": rule["Action"], "Statement": rule["Statement"], "Scope": acls[0].Props["Scope"], "Default": acls[0].Props["DefaultAction"]}
			wantRule := map[string]any{
				"Action":    map[string]any{"Block": map[string]any{}},
				"Statement": map[string]any{"RateBasedStatement": map[string]any{"Limit": float64(env.Config.API.WebACLRateLimit), "AggregateKeyType": "IP", "EvaluationWindowSec": float64(300)}},
				"Scope":     "REGIONAL",
				"Default":   map[string]any{"Allow": map[string]any{}},
			}
			if diff := cmp.Diff(wantRule, gotRule); diff != "" {
				t.Errorf("rate-based rule (-want +got):\n%s", diff)
			}
		}
	})
}

func TestDomainStackLeavesTheBasePathMappingToCutover(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		t.Run(name, func(t *testing.T) {
			env := envs[name]
			if !env.Config.HasDomain() {
				if env.Domain != nil {
					t.Fatalf("%s has no domain configured but a Domain stack", name)
				}
				return
			}
			if env.Domain == nil {
				t.Fatalf("%s has a domain configured but no Domain stack", name)
			}
			d := resources(t, env.Domain.Stack, "AWS::ApiGateway::DomainName")
			if len(d) != 1 {
				t.Fatalf("got %d domain names, want 1", len(d))
			}
			got := []string{render(d[0].Props["DomainName"]), render(get(d[0].Props, "EndpointConfiguration", "Types")),
				render(d[0].Props["RegionalCertificateArn"]), render(d[0].Props["SecurityPolicy"])}
			want := []string{env.Config.DomainName, `["REGIONAL"]`, env.Config.CertificateArn, "TLS_1_2"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("domain (-want +got):\n%s", diff)
			}
			for _, st := range env.Stacks() {
				for _, typ := range []string{"AWS::ApiGateway::BasePathMapping", "AWS::ApiGatewayV2::ApiMapping"} {
					n := 0
					for _, r := range resources(t, st, typ) {
						// The console/portal's own domain maps to its own API
						// (CloudFormation owns that one; it never cuts over).
						if !strings.HasPrefix(r.ID, "PortalApi") {
							n++
						}
					}
					if n != 0 {
						t.Errorf("%s declares %d %s; stagehand cutover owns the mapping", *st.StackName(), n, typ)
					}
				}
			}
		})
	}
	if envs["qa"].Domain == nil {
		t.Error("the qa fixture must exercise the Domain stack")
	}
}
