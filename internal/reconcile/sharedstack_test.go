package reconcile_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/plans"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// A Shared-stack update must never take a key out of a plan that includes
// the live stage. These tests drive sequences of Shared-stack changes (a
// tier's quota, rate or description, a method throttle, a stack-wide tag, a
// redeploy of the same template) through the emulator's model of
// CloudFormation (apigw.CloudFormationStack: an update sets a plan's stages
// to the template's list) and check the data-plane decision for every
// customer after each step.
//
// With registry-owned plans the Shared stack's template has no usage plan
// (cdk/stacks TestNoUsagePlanInShippedTemplates), so a stack update touches
// none; the plan change reaches API Gateway through `plans apply` and the
// reconciler's paced UpdateUsagePlan, which never removes a desired stage.
// The same sequence on the old design (usage plans in the template, no
// ApiStages) takes keys out, which shows the check can fail.

// sharedDesign says what the Shared stack's template holds for tiers.
type sharedDesign struct {
	name     string
	template func(tiers []registry.Plan) map[string]apigw.UsagePlanResource
}

var (
	registryOwned = sharedDesign{name: "registry-owned", template: func([]registry.Plan) map[string]apigw.UsagePlanResource { return nil }}
	// cloudFormationOwned is the design before: cdk/stacks newUsagePlans.
	cloudFormationOwned = sharedDesign{name: "cloudformation-owned", template: func(tiers []registry.Plan) map[string]apigw.UsagePlanResource {
		out := map[string]apigw.UsagePlanResource{}
		for _, p := range tiers {
			r := apigw.UsagePlanResource{UsagePlanName: reconcile.PlanName(envName, p.Name), Description: p.Description,
				Throttle: &apigw.Throttle{RateLimit: p.RateLimit, BurstLimit: p.BurstLimit},
				Tags:     map[string]string{reconcile.TagEnv: envName, reconcile.TagPlan: p.Name}}
			if p.QuotaPeriod != "" {
				r.Quota = &apigw.Quota{Limit: p.QuotaLimit, Period: p.QuotaPeriod}
			}
			out["UsagePlan-"+p.Name] = r
		}
		return out
	}}
)

// sharedStackRun is one sequence's world.
type sharedStackRun struct {
	w         *world
	design    sharedDesign
	stack     *apigw.CloudFormationStack
	tiers     []registry.Plan
	stackTags map[string]string
	// violations counts (step, customer) pairs where a key was outside a
	// plan that includes the live stage.
	violations int
	steps      int
}

func newSharedStackRun(t *testing.T, design sharedDesign) *sharedStackRun {
	w := newWorld(t, worldConfig{})
	r := &sharedStackRun{w: w, design: design, stack: apigw.NewCloudFormationStack(w.emu), stackTags: map[string]string{"app": "stagehand"}}
	for i := 0; i < 3; i++ {
		r.tiers = append(r.tiers, registry.Plan{Env: envName, Name: fmt.Sprintf("tier%d", i), Description: "tier",
			RateLimit: 100, BurstLimit: 200, QuotaLimit: 10000, QuotaPeriod: "MONTH"})
	}
	// The first deploy of the Shared stack, then the plans file applied.
	if err := r.stack.Deploy(design.template(r.tiers), r.stackTags); err != nil {
		t.Fatal(err)
	}
	r.apply()
	var subs []registry.Subscription
	for i := 0; i < 6; i++ {
		c := customer{id: fmt.Sprintf("cust%d", i), tier: r.tiers[i%3].Name, status: registry.CustomerActive}
		var err error
		if c.keyID, c.keyValue, err = w.emu.SeedAPIKey(apigw.SeedKey{Name: c.id, Enabled: true}); err != nil {
			t.Fatal(err)
		}
		w.customers = append(w.customers, c)
		subs = append(subs, registry.Subscription{CustomerID: c.id, Env: envName, Plan: c.tier, CustomerStatus: c.status,
			UsageKeyID: c.keyID, UsageKeyValue: c.keyValue, CreatedAt: t0, UpdatedAt: t0, Version: 1})
	}
	w.seedSubscriptions(subs)
	w.deployed(1, "blue")
	r.reconcile()
	r.steps, r.violations = 0, 0
	r.check("start")
	if r.violations > 0 {
		t.Fatalf("%s: keys outside the live stage before any change", design.name)
	}
	return r
}

func (r *sharedStackRun) apply() {
	r.w.t.Helper()
	if _, err := plans.Apply(r.w.ctx, r.w.store, envName, r.tiers, "ci"); err != nil {
		r.w.t.Fatal(err)
	}
}

func (r *sharedStackRun) reconcile() {
	r.w.t.Helper()
	r.w.clk.Advance(time.Minute)
	if _, err := r.w.runner.Repair(r.w.ctx, time.Time{}); err != nil {
		r.w.t.Fatal(err)
	}
	for _, p := range r.tiers {
		rec, err := r.w.store.GetPlan(r.w.ctx, envName, p.Name)
		if err != nil {
			r.w.t.Fatal(err)
		}
		r.w.planOf[p.Name] = rec.UsagePlanID
	}
}

// check counts the customers whose key API Gateway would reject on the
// live stage now.
func (r *sharedStackRun) check(step string) {
	r.steps++
	live := r.w.ref("blue")
	for _, c := range r.w.customers {
		if _, _, _, ok := r.w.emu.UsagePlanForKeyValue(c.keyValue, live.APIID, live.Stage); !ok {
			r.violations++
			r.w.t.Logf("%s: after %s, customer %s's key is in no plan that includes %s", r.design.name, step, c.id, live)
		}
	}
}

// sharedChanges are the edits a Shared-stack release makes.
var sharedChanges = []struct {
	name string
	edit func(r *sharedStackRun, tier int)
}{
	{"quota change", func(r *sharedStackRun, i int) { r.tiers[i].QuotaLimit += 1000 }},
	{"rate change", func(r *sharedStackRun, i int) { r.tiers[i].RateLimit += 10 }},
	{"description change", func(r *sharedStackRun, i int) { r.tiers[i].Description += "!" }},
	{"method throttle", func(r *sharedStackRun, i int) {
		m := maps.Clone(r.tiers[i].MethodThrottles)
		if m == nil {
			m = map[string]registry.MethodThrottle{}
		}
		m[fmt.Sprintf("/r%d/GET", len(m))] = registry.MethodThrottle{RateLimit: 5, BurstLimit: 10}
		r.tiers[i].MethodThrottles = m
	}},
	{"stack-wide tag", func(r *sharedStackRun, _ int) { r.stackTags["release"] = fmt.Sprint(r.steps) }},
	{"redeploy unchanged", func(*sharedStackRun, int) {}},
}

// step makes one change: the Shared stack deploys its new template, then CI
// applies the plans file, then the reconciler runs; the live stage is
// checked after each.
func (r *sharedStackRun) step(change, tier int) {
	c := sharedChanges[change]
	c.edit(r, tier)
	if err := r.stack.Deploy(r.design.template(r.tiers), r.stackTags); err != nil {
		r.w.t.Fatal(err)
	}
	r.check(c.name + " (Shared stack deployed)")
	r.apply()
	r.check(c.name + " (plans applied)")
	r.reconcile()
	r.check(c.name + " (reconciled)")
}

func TestSharedStackUpdatesNeverDetachTheLiveStage(t *testing.T) {
	const sequences, length = 6, 5
	total := 0
	for seq := 0; seq < sequences; seq++ {
		t.Run(fmt.Sprintf("sequence %d", seq), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seq), 11))
			r := newSharedStackRun(t, registryOwned)
			for i := 0; i < length; i++ {
				r.step(rng.IntN(len(sharedChanges)), rng.IntN(len(r.tiers)))
			}
			if r.violations != 0 {
				t.Errorf("%d key rejections on the live stage over %d checks", r.violations, r.steps)
			}
			if r.stack.Updates != 0 {
				t.Errorf("the Shared stack updated %d usage plans; it must own none", r.stack.Updates)
			}
			// The registry's limits reached API Gateway.
			for _, p := range r.tiers {
				got := r.w.usagePlan(r.w.planOf[p.Name])
				if got.Throttle.RateLimit != p.RateLimit || got.Quota.Limit != p.QuotaLimit || *got.Description != p.Description {
					t.Errorf("%s: usage plan %+v %+v %q, registry %+v", p.Name, got.Throttle, got.Quota, *got.Description, p)
				}
			}
			total += r.steps
		})
	}
	t.Logf("%d sequences of %d Shared-stack changes, %d live-stage checks of 6 customers: 0 rejections", sequences, length, total)
}

// TestSharedStackUpdatesDetachOnTheOldDesign: the check above fails on the
// design it replaces: a quota change or a stack-wide tag resets the plan's
// stages and its customers are rejected until the next reconcile.
func TestSharedStackUpdatesDetachOnTheOldDesign(t *testing.T) {
	for _, change := range []int{0, 4} {
		t.Run(sharedChanges[change].name, func(t *testing.T) {
			r := newSharedStackRun(t, cloudFormationOwned)
			r.step(change, 0)
			if r.violations == 0 {
				t.Errorf("no rejection: the CloudFormation model no longer resets stages, so the test above proves nothing")
			}
		})
	}
}

// TestMigrationFromCloudFormationPlans: an environment whose usage plans
// CloudFormation created moves to registry-owned plans without a moment in
// which a key is in no plan that includes the live stage (docs/cdk.md,
// "Migrating usage plans to the registry"): the plans' DeletionPolicy
// becomes Retain (no update), the reconciler adopts them by tag (same ids,
// throttles recorded), the next release drops them from the template
// (CloudFormation leaves them), and from then on stack updates touch none.
func TestMigrationFromCloudFormationPlans(t *testing.T) {
	r := newSharedStackRun(t, cloudFormationOwned)
	before := maps.Clone(r.w.planOf)

	// Release N: the same plans, retained.
	retained := sharedDesign{name: "retained", template: func(tiers []registry.Plan) map[string]apigw.UsagePlanResource {
		out := cloudFormationOwned.template(tiers)
		for id, res := range out {
			res.Retain = true
			out[id] = res
		}
		return out
	}}
	r.design = retained
	r.step(5, 0) // redeploy: only DeletionPolicy changes
	if r.stack.Updates != 0 {
		t.Fatalf("setting Retain updated %d plans", r.stack.Updates)
	}
	// Release N+1: no usage plan in the template.
	r.design = registryOwned
	r.step(5, 0)
	if d := before; !maps.Equal(d, r.w.planOf) {
		t.Errorf("usage plan ids changed in the migration: %v -> %v", before, r.w.planOf)
	}
	for name, id := range r.w.planOf {
		if got := r.w.usagePlan(id); got.Tags[reconcile.TagPlan] != name {
			t.Errorf("%s: retained plan %s tags %v", name, id, got.Tags)
		}
		if rec, _ := r.w.store.GetPlan(r.w.ctx, envName, name); rec.MethodThrottles == nil {
			t.Errorf("%s: adoption recorded no method throttles (nil)", name)
		}
	}
	// From now on, stack-wide tags and plan changes detach nothing.
	r.step(4, 0)
	r.step(0, 1)
	r.step(3, 2)
	if r.violations != 0 {
		t.Errorf("%d key rejections on the live stage during the migration (%d checks)", r.violations, r.steps)
	}
}
