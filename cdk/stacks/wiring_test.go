package stacks_test

import (
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// ssmParam returns "${<logical id>}" of st's template parameter that
// resolves the SSM parameter name at deploy time.
func ssmParam(t *testing.T, st interface{ StackName() *string }, name string) string {
	t.Helper()
	for _, s := range allStacks() {
		if *s.StackName() != *st.StackName() {
			continue
		}
		params, _ := templateJSON(t, s)["Parameters"].(map[string]any)
		for _, id := range sortedKeys(params) {
			p := params[id].(map[string]any)
			if p["Type"] == "AWS::SSM::Parameter::Value<String>" && p["Default"] == name {
				return "${" + id + "}"
			}
		}
		t.Fatalf("%s: no SSM parameter %s", *st.StackName(), name)
	}
	t.Fatalf("no stack %s", *st.StackName())
	return ""
}

// TestNoStackImportsAnAutomaticExport: every cross-stack value goes through
// a stable SSM parameter, so Network and Shared can replace any resource
// while a colour is live (an automatic export in use blocks the update that
// changes or removes it).
func TestNoStackImportsAnAutomaticExport(t *testing.T) {
	for _, st := range allStacks() {
		t.Run(*st.StackName(), func(t *testing.T) {
			for _, imp := range importsOf(templateJSON(t, st)) {
				if strings.Contains(imp, "ExportsOutput") {
					t.Errorf("template imports an automatic export: %s", imp)
				} else {
					// Named exports lock too (an export in use cannot
					// change value): nothing is imported at all.
					t.Errorf("template imports %s", imp)
				}
			}
		})
	}
}

// importsOf lists every Fn::ImportValue operand in v.
func importsOf(v any) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		if i, ok := x["Fn::ImportValue"]; ok {
			out = append(out, render(i))
		}
		for _, e := range x {
			out = append(out, importsOf(e)...)
		}
	case []any:
		for _, e := range x {
			out = append(out, importsOf(e)...)
		}
	}
	return out
}

// TestWiringParametersArePublishedAndRead: what a reader resolves is what
// the owner publishes, under the stable name.
func TestWiringParametersArePublishedAndRead(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		env := envs[name]
		e := env.Config.Env
		published := map[string]string{}
		for _, st := range []interface{ StackName() *string }{env.Shared.Stack, env.Network.Stack} {
			for _, s := range allStacks() {
				if *s.StackName() != *st.StackName() {
					continue
				}
				for _, r := range resources(t, s, "AWS::SSM::Parameter") {
					published[render(r.Props["Name"])] = *s.StackName() + " " + render(r.Props["Type"]) + " " + render(r.Props["Value"])
				}
			}
		}
		want := map[string]string{
			stacks.ParameterName(e, stacks.ParamAuthorizerArn):         "Shared-" + e + " String ${" + logicalID(t, env.Shared.Stack, env.Shared.Authorizer) + ".Arn}",
			stacks.ParameterName(e, stacks.ParamOriginVerifySecretArn): "Shared-" + e + " String ${" + logicalID(t, env.Shared.Stack, env.Shared.OriginVerifySecret) + "}",
			stacks.ParameterName(e, stacks.ParamVpcLinkID):             "Network-" + e + " String ${" + logicalID(t, env.Network.Stack, env.Network.VpcLink) + "}",
			stacks.ParameterName(e, stacks.ParamNlbDNS):                "Network-" + e + " String ${" + logicalID(t, env.Network.Stack, env.Network.LoadBalancer) + ".DNSName}",
		}
		for k, v := range want {
			if published[k] != v {
				t.Errorf("%s: parameter %s = %q, want %q", name, k, published[k], v)
			}
		}
		// Readers: each colour reads the three it needs, Network the secret.
		for _, c := range stacks.Colours {
			for _, key := range []string{stacks.ParamAuthorizerArn, stacks.ParamVpcLinkID, stacks.ParamNlbDNS} {
				ssmParam(t, env.Apis[c].Stack, stacks.ParameterName(e, key))
			}
		}
		ssmParam(t, env.Network.Stack, stacks.ParameterName(e, stacks.ParamOriginVerifySecretArn))
	}
}

// TestLegacyExportsAreKeptForOlderStacks: with legacyColourExports, Shared
// and Network still publish the automatic exports stacks deployed before
// the SSM wiring import (Shared can then be deployed while they are live);
// no stack imports them.
func TestLegacyExportsAreKeptForOlderStacks(t *testing.T) {
	for _, name := range sortedKeys(envs) {
		env := envs[name]
		e := env.Config.Env
		want := map[string][]string{}
		if env.Config.LegacyColourExports {
			want["Shared-"+e] = []string{
				"${" + logicalID(t, env.Shared.Stack, env.Shared.Authorizer) + ".Arn}",
				"${" + logicalID(t, env.Shared.Stack, env.Shared.OriginVerifySecret) + "}",
			}
			want["Network-"+e] = []string{
				"${" + logicalID(t, env.Network.Stack, env.Network.LoadBalancer) + ".DNSName}",
				"${" + logicalID(t, env.Network.Stack, env.Network.VpcLink) + "}",
			}
		}
		got := map[string][]string{}
		for _, st := range env.Stacks() {
			outputs, _ := templateJSON(t, st)["Outputs"].(map[string]any)
			for _, id := range sortedKeys(outputs) {
				o := outputs[id].(map[string]any)
				if exp := render(get(o, "Export", "Name")); strings.HasPrefix(exp, *st.StackName()+":ExportsOutput") {
					got[*st.StackName()] = append(got[*st.StackName()], render(o["Value"]))
				}
			}
		}
		for k := range got {
			sort.Strings(got[k])
		}
		for k := range want {
			sort.Strings(want[k])
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: automatic exports (-want +got):\n%s", name, diff)
		}
	}
}
