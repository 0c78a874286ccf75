package stacks_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/cxapi"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/cdk/stacks"
)

// One app holds every environment: the three shipped ones (dev, staging,
// prod, loaded exactly as `cdk synth -c env=...` loads them) and qa
// (testdata/qa.json: pinned account, no NAT, private ECR image, authorizer
// caching with one identity source, WAF, a custom domain). It is built and
// synthesized once in TestMain; jsii start-up and synthesis cost seconds.
var (
	app      awscdk.App
	assembly cxapi.CloudAssembly
	envs     = map[string]*stacks.Environment{}
	tmpRoot  string
	// lambdaRoot holds placeholder bootstrap files; the tests never need
	// the real binaries.
	lambdaRoot string
)

// shippedEnvs are the embedded configurations.
var shippedEnvs = []string{"dev", "staging", "prod"}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	// Node 20 banners from the jsii runtime are noise in test output.
	os.Setenv("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
	os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

	var err error
	tmpRoot, err = os.MkdirTemp("", "stagehand-cdk-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmpRoot)
	// jsii.Close() stops the node process and removes the runtime it
	// extracted to /tmp. In jsii-runtime-go v1.127.0 it also waits for the
	// process from two goroutines at once, a benign data race that -race
	// reports; under -race the node process ends with this one instead
	// (its stdin closes), leaving the extracted runtime (about 2 MB).
	if !raceEnabled {
		defer jsii.Close()
	}
	lambdaRoot = filepath.Join(tmpRoot, "lambda")
	for _, name := range append([]string{stacks.FnAuthorizer, stacks.FnDeployment, stacks.FnReconcile, stacks.FnKeyAdmin, stacks.FnPortal}, stacks.JobFunctionNames...) {
		dir := filepath.Join(lambdaRoot, name)
		err := os.MkdirAll(dir, 0o755)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("placeholder "+name+"\n"), 0o755)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}

	if err := buildApp(); err != nil {
		fmt.Fprintln(os.Stderr, "build test app:", err)
		return 1
	}
	return m.Run()
}

// buildApp synthesizes every environment into one app, with the feature
// flags of cdk.json so the templates are the ones `cdk synth` produces.
func buildApp() (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("synth panicked: %v", r)
		}
	}()
	ctx, err := cdkContext()
	if err != nil {
		return err
	}
	app = awscdk.NewApp(&awscdk.AppProps{
		Outdir:  jsii.String(filepath.Join(tmpRoot, "cdk.out")),
		Context: &ctx,
	})
	stacks.AddNagChecks(app, false)
	for _, name := range append(append([]string{}, shippedEnvs...), "qa") {
		var cfg *config.Config
		if name == "qa" {
			cfg, err = config.LoadFile("testdata/qa.json")
		} else {
			cfg, err = config.Load(name)
		}
		if err != nil {
			return err
		}
		cfg.LambdaAssetRoot = lambdaRoot
		env, err := stacks.BuildEnvironment(app, cfg)
		if err != nil {
			return err
		}
		envs[name] = env
	}
	assembly = app.Synth(nil)
	return nil
}

// cdkContext reads the context (feature flags) from the repository's
// cdk.json, as the CDK CLI passes it to the app.
func cdkContext() (map[string]interface{}, error) {
	data, err := os.ReadFile("../../cdk.json")
	if err != nil {
		return nil, err
	}
	var doc struct {
		App     string                 `json:"app"`
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("cdk.json: %w", err)
	}
	if doc.App != "go run ./cdk" {
		return nil, fmt.Errorf("cdk.json: app is %q, want \"go run ./cdk\"", doc.App)
	}
	return doc.Context, nil
}

// allStacks lists every stack of every environment.
func allStacks() []awscdk.Stack {
	var out []awscdk.Stack
	for _, name := range sortedKeys(envs) {
		out = append(out, envs[name].Stacks()...)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var (
	templatesMu sync.Mutex
	templates   = map[string]assertions.Template{}
	jsonCache   = map[string]map[string]any{}
)

// template returns the synthesized template of st (cached).
func template(t *testing.T, st awscdk.Stack) assertions.Template {
	t.Helper()
	templatesMu.Lock()
	defer templatesMu.Unlock()
	name := *st.StackName()
	if tpl, ok := templates[name]; ok {
		return tpl
	}
	tpl := assertions.Template_FromStack(st, nil)
	templates[name] = tpl
	return tpl
}

// templateJSON returns the template of st as plain Go values (cached).
func templateJSON(t *testing.T, st awscdk.Stack) map[string]any {
	t.Helper()
	tpl := template(t, st)
	templatesMu.Lock()
	defer templatesMu.Unlock()
	name := *st.StackName()
	if j, ok := jsonCache[name]; ok {
		return j
	}
	// Round-trip through encoding/json for uniform types.
	raw, err := json.Marshal(*tpl.ToJSON())
	if err != nil {
		t.Fatalf("marshal %s: %v", name, err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("unmarshal %s: %v", name, err)
	}
	jsonCache[name] = out
	return out
}

// resource is one template resource.
type resource struct {
	ID    string
	Type  string
	Props map[string]any
	Raw   map[string]any
}

// resources returns the resources of st with the given type, sorted by id.
func resources(t *testing.T, st awscdk.Stack, typ string) []resource {
	t.Helper()
	res, _ := templateJSON(t, st)["Resources"].(map[string]any)
	var out []resource
	for _, id := range sortedKeys(res) {
		r := res[id].(map[string]any)
		if r["Type"] != typ {
			continue
		}
		props, _ := r["Properties"].(map[string]any)
		out = append(out, resource{ID: id, Type: typ, Props: props, Raw: r})
	}
	return out
}

// resourceByID returns the resource with the logical id.
func resourceByID(t *testing.T, st awscdk.Stack, id string) resource {
	t.Helper()
	res, _ := templateJSON(t, st)["Resources"].(map[string]any)
	r, ok := res[id].(map[string]any)
	if !ok {
		t.Fatalf("%s: no resource %s", *st.StackName(), id)
	}
	props, _ := r["Properties"].(map[string]any)
	return resource{ID: id, Type: r["Type"].(string), Props: props, Raw: r}
}

// logicalID returns the CloudFormation logical id of c's default child.
func logicalID(t *testing.T, st awscdk.Stack, c constructs.IConstruct) string {
	t.Helper()
	el, ok := c.Node().DefaultChild().(awscdk.CfnElement)
	if !ok {
		t.Fatalf("%s has no CloudFormation default child", *c.Node().Path())
	}
	return *st.GetLogicalId(el)
}

// render flattens CloudFormation intrinsics into a readable string:
// {"Ref": "X"} → ${X}, GetAtt → ${X.Attr}, ImportValue → ${Import:name},
// Fn::Join → the joined parts.
func render(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"]; ok {
			return "${" + render(r) + "}"
		}
		if g, ok := x["Fn::GetAtt"].([]any); ok && len(g) == 2 {
			return "${" + render(g[0]) + "." + render(g[1]) + "}"
		}
		if i, ok := x["Fn::ImportValue"]; ok {
			return "${Import:" + render(i) + "}"
		}
		if j, ok := x["Fn::Join"].([]any); ok && len(j) == 2 {
			sep, _ := j[0].(string)
			parts, _ := j[1].([]any)
			out := make([]string, len(parts))
			for i, p := range parts {
				out[i] = render(p)
			}
			return strings.Join(out, sep)
		}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// strs renders a CloudFormation string-or-list value as a sorted list.
func strs(v any) []string {
	var out []string
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			out = append(out, render(e))
		}
	case nil:
	default:
		out = append(out, render(x))
	}
	sort.Strings(out)
	return out
}

// noPanic runs an assertions-library call, turning its failure (a jsii
// panic) into a test error.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// get walks nested maps by keys.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}
