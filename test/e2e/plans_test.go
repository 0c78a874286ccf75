package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// Plans as code in the proof: the environment's config file declares the
// plans, `stagehand plans apply` puts them into the registry, and the
// reconciler creates the usage plans. Their throttles leave headroom over
// what ~5 clients per customer can send on a fast machine: this test counts
// rejections by association, not by rate (the gateway package tests
// throttling).

// declarePlans writes the config file (a copy of cdk/config/dev.json with
// the test's plans): basic, enterprise and extra extra0.. plans without
// customers.
func (w *world) declarePlans(extra int) {
	w.t.Helper()
	w.declared = []map[string]any{
		{"name": "basic", "description": "Basic", "rateLimit": 20000, "burstLimit": 40000, "quotaLimit": 0},
		{"name": "enterprise", "description": "Enterprise", "rateLimit": 50000, "burstLimit": 100000, "quotaLimit": 0},
	}
	for i := range extra {
		w.declared = append(w.declared, map[string]any{"name": fmt.Sprintf("extra%d", i), "rateLimit": 100, "burstLimit": 200, "quotaLimit": 0})
	}
	w.writePlansFile()
}

func (w *world) writePlansFile() {
	w.t.Helper()
	data, err := os.ReadFile("../../cdk/config/dev.json")
	if err != nil {
		w.t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(data, &cfg); err != nil {
		w.t.Fatal(err)
	}
	cfg["plans"] = w.declared
	out, err := json.Marshal(cfg)
	if err != nil {
		w.t.Fatal(err)
	}
	if w.plansFile == "" {
		w.plansFile = filepath.Join(w.t.TempDir(), envName+".json")
	}
	if err := os.WriteFile(w.plansFile, out, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// loadPlans reads each tier's usage plan id from the registry.
func (w *world) loadPlans() {
	w.t.Helper()
	plans, err := w.store.ListPlans(w.ctx, envName)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, p := range plans {
		if p.UsagePlanID == "" {
			w.t.Fatalf("plan %s has no usage plan after reconcile", p.Name)
		}
		w.plans[p.Name] = p.UsagePlanID
	}
}

// sharedStack is the Shared stack's usage plan resources in the emulator's
// model of CloudFormation.
type sharedStack struct {
	design string // "registry" or "cloudformation"
	stack  *apigw.CloudFormationStack
}

// template is what the Shared stack declares: nothing with registry-owned
// plans (cdk/stacks TestNoUsagePlanInShippedTemplates); one plan per tier
// without ApiStages with the old design.
func (s *sharedStack) template(declared []map[string]any) map[string]apigw.UsagePlanResource {
	if s.design != "cloudformation" {
		return nil
	}
	out := map[string]apigw.UsagePlanResource{}
	for _, p := range declared {
		name := p["name"].(string)
		out["UsagePlan-"+name] = apigw.UsagePlanResource{UsagePlanName: reconcile.PlanName(envName, name),
			Description: description(p),
			Throttle:    &apigw.Throttle{RateLimit: toFloat(p["rateLimit"]), BurstLimit: int32(toFloat(p["burstLimit"]))},
			Tags:        map[string]string{reconcile.TagEnv: envName, reconcile.TagPlan: name}}
	}
	return out
}

func description(p map[string]any) string {
	d, _ := p["description"].(string)
	return d
}

func toFloat(v any) float64 {
	switch n := v.(type) {
	case int:
		return float64(n)
	case float64:
		return n
	}
	return 0
}

// newSharedStack deploys the Shared stack's first template.
func (w *world) newSharedStack(design string) *sharedStack {
	w.t.Helper()
	s := &sharedStack{design: design, stack: apigw.NewCloudFormationStack(w.emu)}
	if err := s.stack.Deploy(s.template(w.declared), map[string]string{"app": "stagehand"}); err != nil {
		w.t.Fatal(err)
	}
	return s
}

// updateSharedMidTraffic is a Shared-stack release while blue serves
// traffic: basic's rate and enterprise's method throttles change in the
// config file, the stack is deployed with a new stack-wide tag, the file is
// applied, and the reconciler (the scheduled function's runner, on the
// world's clock) makes the usage plans match, through the pacer.
func (w *world) updateSharedMidTraffic(dep *deployment, s *sharedStack) {
	w.t.Helper()
	w.declared[0]["rateLimit"] = 30000
	w.declared[1]["methodThrottles"] = map[string]any{"/orders/GET": map[string]any{"rateLimit": 40000, "burstLimit": 80000}}
	w.writePlansFile()
	if err := s.stack.Deploy(s.template(w.declared), map[string]string{"app": "stagehand", "release": "2"}); err != nil {
		w.t.Fatal(err)
	}
	if s.stack.Updates > 0 {
		// The old design: stages are gone until the reconciler runs; the
		// scheduled run comes minutes later, here a moment later.
		time.Sleep(300 * time.Millisecond)
	}
	w.mustStagehand("plans", "apply", "--file", w.plansFile)
	if _, err := dep.runner.Repair(w.ctx, time.Time{}); err != nil {
		w.t.Fatal(err)
	}
	basic, err := w.gw.GetUsagePlan(w.ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(w.plans["basic"])})
	if err != nil {
		w.t.Fatal(err)
	}
	if basic.Throttle == nil || basic.Throttle.RateLimit != 30000 {
		w.t.Errorf("basic throttle after the change: %+v", basic.Throttle)
	}
	ent, err := w.gw.GetUsagePlan(w.ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(w.plans["enterprise"])})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, st := range ent.ApiStages {
		if t, ok := st.Throttle["/orders/GET"]; !ok || t.RateLimit != 40000 {
			w.t.Errorf("enterprise stage %s method throttle: %+v", aws.ToString(st.ApiId), st.Throttle)
		}
	}
}

// newRepairRunner is the scheduled reconcile function's runner, on the
// world's clock (the handler's registry shares it, so leases and the
// pacer agree).
func (w *world) newRepairRunner() *reconcile.Runner {
	w.t.Helper()
	store := registry.New(ddbtest.Client(w.t), w.table, registry.WithClock(w.vclock))
	r, err := reconcile.NewRunner(envName, store, w.gw, reconcile.WithClock(w.vclock),
		reconcile.WithLogger(slog.New(slog.NewJSONHandler(io.Discard, nil))), reconcile.WithLeaseTTL(leaseTTL))
	if err != nil {
		w.t.Fatal(err)
	}
	return r
}
