package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// fakeEvents is a loopback EventBridge endpoint that records PutEvents
// entries (AWS JSON 1.1 protocol, as the SDK sends it).
type fakeEvents struct {
	mu      sync.Mutex
	entries []map[string]string
	url     string
}

func newFakeEvents(t *testing.T) *fakeEvents {
	t.Helper()
	f := &fakeEvents{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
			http.Error(w, "unexpected operation", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var in struct{ Entries []map[string]string }
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f.mu.Lock()
		f.entries = append(f.entries, in.Entries...)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = w.Write([]byte(`{"FailedEntryCount":0,"Entries":[{"EventId":"e-1"}]}`))
	}))
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func (f *fakeEvents) all() []map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]map[string]string(nil), f.entries...)
}

// deployWorld is an environment "prod" with tiers basic and pro (usage
// plans tagged for stagehand), REST APIs blue and green, and customers a
// (basic), b (pro) and s (basic, suspended) subscribed with emulator keys.
type deployWorld struct {
	table  string
	emu    *apigw.Emulator
	gw     *apigateway.Client
	store  *registry.Store
	plans  map[string]string
	apis   map[string]string
	keys   map[string]string
	events *fakeEvents
}

func newDeployWorld(t *testing.T) *deployWorld {
	t.Helper()
	ctx := context.Background()
	db, table := ddbtest.NewTable(t)
	emu := apigw.New(apigw.WithoutQuotas())
	gateways.Store(table, emu.Start(t))
	w := &deployWorld{table: table, emu: emu, gw: emu.Client(t), store: registry.New(db, table),
		plans: map[string]string{}, apis: map[string]string{}, keys: map[string]string{}, events: newFakeEvents(t)}
	for _, c := range []string{"blue", "green"} {
		w.apis[c] = emu.SeedRestAPI("api-"+c, "prod")
	}
	for _, tier := range []string{"basic", "pro"} {
		id, err := emu.SeedUsagePlan(apigw.SeedPlan{Name: "prod-" + tier, Tags: map[string]string{reconcile.TagEnv: "prod", reconcile.TagPlan: tier}})
		if err != nil {
			t.Fatal(err)
		}
		w.plans[tier] = id
		if _, err := w.store.PutPlan(ctx, registry.Plan{Env: "prod", Name: tier, UsagePlanID: id}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ id, tier string }{{"a", "basic"}, {"b", "pro"}, {"s", "basic"}} {
		keyID, value, err := emu.SeedAPIKey(apigw.SeedKey{Name: c.id, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		w.keys[c.id] = keyID
		if _, err := w.store.CreateCustomer(ctx, registry.Customer{ID: c.id, Name: c.id}, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.store.Subscribe(ctx, registry.Subscription{CustomerID: c.id, Env: "prod", Plan: c.tier, UsageKeyID: keyID, UsageKeyValue: value}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.store.SetCustomerStatus(ctx, "s", registry.CustomerSuspended, "test"); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *deployWorld) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	return run(t, w.table, append([]string{"--events-endpoint", w.events.url, "--env", "prod"}, args...)...)
}

func (w *deployWorld) addStage(t *testing.T, tier, colour string) {
	t.Helper()
	_, err := w.gw.UpdateUsagePlan(context.Background(), &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(w.plans[tier]),
		PatchOperations: []types.PatchOperation{{Op: types.OpAdd, Path: aws.String("/apiStages"), Value: aws.String(w.apis[colour] + ":prod")}}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeployPublishAndRetire(t *testing.T) {
	w := newDeployWorld(t)
	tests := []struct {
		name       string
		args       []string
		detailType string
		colour     string
	}{
		{name: "publish", args: []string{"deploy", "publish"}, detailType: deployevent.DeploymentCompleted, colour: "green"},
		{name: "retire", args: []string{"deploy", "retire"}, detailType: deployevent.StackRetiring, colour: "blue"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--api-id", w.apis[tc.colour], "--stage", "prod", "--colour", tc.colour,
				"--stack-name", "Api-prod-"+tc.colour, "--sequence", "42", "--git-sha", "abcdef1")
			out, errOut, code := w.run(t, args...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			if !strings.Contains(out, "published") {
				t.Errorf("output %q", out)
			}
			entries := w.events.all()
			if len(entries) != i+1 {
				t.Fatalf("%d events", len(entries))
			}
			e := entries[i]
			if e["Source"] != deployevent.DefaultSource || e["DetailType"] != tc.detailType {
				t.Errorf("entry %v", e)
			}
			d, err := deployevent.ParseDetail([]byte(e["Detail"]))
			if err != nil {
				t.Fatalf("published detail does not validate: %v", err)
			}
			want := deployevent.Detail{Version: "1", Environment: "prod", APIID: w.apis[tc.colour], Stage: "prod", Colour: tc.colour,
				StackName: "Api-prod-" + tc.colour, Sequence: 42, GitSHA: "abcdef1", Time: d.Time}
			if diff := cmp.Diff(want, d); diff != "" || d.Time.IsZero() {
				t.Errorf("detail (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("an invalid flag is a usage error naming the field", func(t *testing.T) {
		_, errOut, code := w.run(t, "deploy", "publish", "--api-id", "NOPE", "--stage", "prod", "--colour", "purple",
			"--stack-name", "Api-prod-x", "--sequence", "1")
		if code != 2 || !strings.Contains(errOut, "apiId:") || !strings.Contains(errOut, "colour: must be") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("exit %d, stderr %q", code, errOut)
		}
		if n := len(w.events.all()); n != 2 {
			t.Errorf("an invalid event was published (%d events)", n)
		}
	})
}

func TestDeployVerify(t *testing.T) {
	w := newDeployWorld(t)
	green := []string{"deploy", "verify", "--api-id", "", "--stage", "prod"}
	green[3] = w.apis["green"]

	out, _, code := w.run(t, green...)
	if code != 1 || !strings.Contains(out, "NOT READY: 0/2 tiers ready, 0/2 active customers") || !strings.Contains(out, "basic") {
		t.Fatalf("nothing attached: exit %d\n%s", code, out)
	}

	// The reconciler gave up on pro: verify names it from the record.
	ctx := context.Background()
	if _, _, err := w.store.RecordDeployment(ctx, registry.Deployment{Env: "prod", Sequence: 7, APIID: w.apis["green"], Stage: "prod", Colour: "green"}, "test"); err != nil {
		t.Fatal(err)
	}
	reason := "usage plan " + w.plans["pro"] + " (tier pro) did not take the stage update"
	if _, err := w.store.FinishDeployment(ctx, "prod", 7, registry.DeploymentFailed, reason,
		registry.DeploymentCounts{FailingPlans: []string{w.plans["pro"]}}, "test"); err != nil {
		t.Fatal(err)
	}
	out, _, code = w.run(t, green...)
	if want := "FAILING usage plans (their update kept failing; deployment 7): " + w.plans["pro"]; code != 1 || !strings.Contains(out, want) || !strings.Contains(out, reason) {
		t.Errorf("failing plan not named: exit %d, want %q and the reason in\n%s", code, want, out)
	}

	// Stage in both plans, key a in basic; b missing from pro.
	w.addStage(t, "basic", "green")
	w.addStage(t, "pro", "green")
	if err := w.emu.AttachKeyDirectly(w.plans["basic"], w.keys["a"]); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := w.run(t, append(green, "--wait", "600ms", "--interval", "200ms")...)
	if code != 1 || !strings.Contains(errOut, "1/2 tiers ready, 1/2 active customers; waiting") {
		t.Fatalf("b missing: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(out, w.plans["pro"]) || !strings.Contains(out, "b") {
		t.Errorf("table does not name the missing customer:\n%s", out)
	}

	if err := w.emu.AttachKeyDirectly(w.plans["pro"], w.keys["b"]); err != nil {
		t.Fatal(err)
	}
	// A usage plan whose tier left the registry (an orphan: the reconciler
	// adds no stage to it) and a stray duplicate of basic do not hold the
	// verification back.
	for _, tier := range []string{"gone", "basic"} {
		if _, err := w.emu.SeedUsagePlan(apigw.SeedPlan{Name: "prod-extra-" + tier, Tags: map[string]string{reconcile.TagEnv: "prod", reconcile.TagPlan: tier}}); err != nil {
			t.Fatal(err)
		}
	}
	out, errOut, code = w.run(t, append(green, "-o", "json")...)
	if code != 0 {
		t.Fatalf("ready: exit %d: %s\n%s", code, errOut, out)
	}
	var rep reconcile.VerifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	want := reconcile.VerifyReport{Stage: registry.StageRef{APIID: w.apis["green"], Stage: "prod"}, OK: true, Deployment: 7,
		FailingPlans: []string{w.plans["pro"]}, Reason: reason, Rows: []reconcile.VerifyRow{
			{Tier: "basic", PlanID: w.plans["basic"], HasStage: true, Expected: 1, OK: 1},
			{Tier: "pro", PlanID: w.plans["pro"], HasStage: true, Expected: 1, OK: 1},
		}}
	if d := cmp.Diff(want, rep); d != "" {
		t.Errorf("report (-want +got):\n%s", d)
	}
}

func TestDeployStatus(t *testing.T) {
	w := newDeployWorld(t)
	ctx := context.Background()
	out, _, code := w.run(t, "deploy", "status", "-o", "json")
	if code != 0 || !strings.Contains(out, `"inactiveColour": "blue"`) || !strings.Contains(out, `"liveColour": ""`) {
		t.Fatalf("no deployments: exit %d\n%s", code, out)
	}
	for _, d := range []registry.Deployment{
		{Env: "prod", Sequence: 1, APIID: w.apis["blue"], Stage: "prod", Colour: "blue"},
		{Env: "prod", Sequence: 2, APIID: w.apis["green"], Stage: "prod", Colour: "green"},
	} {
		if _, _, err := w.store.RecordDeployment(ctx, d, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.store.FinishDeployment(ctx, "prod", 1, registry.DeploymentAssociated, "", registry.DeploymentCounts{}, "test"); err != nil {
		t.Fatal(err)
	}
	out, _, code = w.run(t, "deploy", "status", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v struct {
		Latest     registry.Deployment `json:"latest"`
		Live       registry.Deployment `json:"live"`
		LiveColour string              `json:"liveColour"`
		Inactive   string              `json:"inactiveColour"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	if v.Latest.Sequence != 2 || v.Latest.State != registry.DeploymentReceived || v.Live.Sequence != 1 || v.Live.Colour != "blue" || v.LiveColour != "blue" || v.Inactive != "green" {
		t.Errorf("status = %+v", v)
	}
	out, _, _ = w.run(t, "deploy", "status")
	for _, want := range []string{"latest", "live", "inactive colour", "green"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestDeployStatusWithDomain: with --domain the live colour is the one the
// domain's mapping serves, even when the registry's newest associated
// deployment is the other colour (a cut-back).
func TestDeployStatusWithDomain(t *testing.T) {
	t.Setenv("STAGEHAND_DOMAIN", "") // the flag's default: no domain
	w := newDeployWorld(t)
	ctx := context.Background()
	for _, domain := range []string{"api.example.com", "unmapped.example.com"} {
		if _, err := w.gw.CreateDomainName(ctx, &apigateway.CreateDomainNameInput{
			DomainName:             aws.String(domain),
			RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/abc"),
			EndpointConfiguration:  &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	for i, colour := range []string{"blue", "green"} { // sequences 1 and 2
		seq := int64(i + 1)
		d := registry.Deployment{Env: "prod", Sequence: seq, APIID: w.apis[colour], Stage: "prod", Colour: colour}
		if _, _, err := w.store.RecordDeployment(ctx, d, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.store.FinishDeployment(ctx, "prod", seq, registry.DeploymentAssociated, "", registry.DeploymentCounts{}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// Green (2) was cut over to, then the domain was cut back to blue.
	if _, err := w.gw.CreateBasePathMapping(ctx, &apigateway.CreateBasePathMappingInput{
		DomainName: aws.String("api.example.com"), RestApiId: aws.String(w.apis["blue"]), Stage: aws.String("prod"),
	}); err != nil {
		t.Fatal(err)
	}
	type status struct {
		Live       registry.Deployment `json:"live"`
		LiveColour string              `json:"liveColour"`
		Inactive   string              `json:"inactiveColour"`
		LiveFrom   string              `json:"liveFrom"`
	}
	tests := []struct {
		name string
		args []string
		want status
	}{
		{"registry: newest associated", nil, status{LiveColour: "green", Inactive: "blue", LiveFrom: "registry"}},
		{"domain: what it serves", []string{"--domain", "api.example.com"}, status{LiveColour: "blue", Inactive: "green", LiveFrom: "domain"}},
		{"domain without a mapping: registry", []string{"--domain", "unmapped.example.com"}, status{LiveColour: "green", Inactive: "blue", LiveFrom: "registry"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := w.run(t, append([]string{"deploy", "status", "-o", "json"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			var got status
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if got.Live.Colour != tc.want.LiveColour {
				t.Errorf("live deployment is %s, want %s", got.Live.Colour, tc.want.LiveColour)
			}
			got.Live = registry.Deployment{}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("status (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("domain serving an API no deployment records", func(t *testing.T) {
		other := w.emu.SeedRestAPI("api-by-hand", "prod")
		if _, err := w.gw.UpdateBasePathMapping(ctx, &apigateway.UpdateBasePathMappingInput{
			DomainName: aws.String("api.example.com"), BasePath: aws.String("(none)"),
			PatchOperations: []types.PatchOperation{{Op: types.OpReplace, Path: aws.String("/restapiId"), Value: aws.String(other)}},
		}); err != nil {
			t.Fatal(err)
		}
		out, errOut, code := w.run(t, "deploy", "status", "--domain", "api.example.com")
		if code != 1 || !strings.Contains(errOut, "no deployment of this environment records") || !strings.Contains(errOut, other) {
			t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
		}
	})
}

func TestReconcileCommand(t *testing.T) {
	w := newDeployWorld(t)
	ctx := context.Background()
	st, err := w.store.GetEnvStages(ctx, "prod")
	if err != nil {
		t.Fatal(err)
	}
	st.Stages = []registry.EnvStage{{APIID: w.apis["blue"], Stage: "prod", Colour: "blue", Sequence: 1}}
	if _, err := w.store.PutEnvStages(ctx, st, "deploy", "test"); err != nil {
		t.Fatal(err)
	}
	// The pro plan already has the stage and its key; basic has neither.
	w.addStage(t, "pro", "blue")
	if err := w.emu.AttachKeyDirectly(w.plans["pro"], w.keys["b"]); err != nil {
		t.Fatal(err)
	}
	// gold is declared in the registry with no usage plan yet.
	if _, err := w.store.PutPlan(ctx, registry.Plan{Env: "prod", Name: "gold", RateLimit: 5, BurstLimit: 10}, "test"); err != nil {
		t.Fatal(err)
	}
	w.emu.ResetCounters()

	out, errOut, code := w.run(t, "reconcile", "--dry-run")
	if code != 0 {
		t.Fatalf("dry run: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"desired stages: " + w.apis["blue"] + ":prod",
		"basic  UpdateUsagePlan (1 ops): add stage " + w.apis["blue"] + ":prod",
		"attach key " + w.keys["a"], "attach key " + w.keys["s"],
		"1 usage plan update(s), 0 detach(es), 2 attach(es)",
		"create usage plan stagehand-prod-gold for tier gold",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if n := w.emu.Applied("UpdateUsagePlan") + w.emu.Applied("CreateUsagePlanKey") + w.emu.Applied("CreateUsagePlan"); n != 0 {
		t.Errorf("dry run applied %d writes", n)
	}

	out, errOut, code = w.run(t, "reconcile")
	if code != 0 {
		t.Fatalf("reconcile: exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "prod: converged: 1 usage plan(s) updated, 2 key(s) attached, 0 detached") {
		t.Errorf("output %q", out)
	}
	if n := w.emu.Applied("CreateUsagePlan"); n != 1 {
		t.Errorf("CreateUsagePlan applied %d times, want 1 (gold)", n)
	}
	out, _, code = w.run(t, "reconcile", "--dry-run")
	if code != 0 || !strings.Contains(out, "nothing to do") {
		t.Errorf("after the run: exit %d\n%s", code, out)
	}
	if n := w.emu.Applied("UpdateUsagePlan"); n != 1 {
		t.Errorf("%d updates applied, want 1", n)
	}
}
