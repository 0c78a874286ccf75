package reconcile_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// The registry owns usage plans: these tests drive the runner against the
// emulator and read the result back through the SDK.

var petsThrottle = map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: 5, BurstLimit: 10}, "/pets/POST": {RateLimit: 1}}

func (w *world) usagePlan(id string) *apigateway.GetUsagePlanOutput {
	w.t.Helper()
	out, err := w.gw.GetUsagePlan(w.ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(id)})
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

func (w *world) registryPlan(name string) registry.Plan {
	w.t.Helper()
	p, err := w.store.GetPlan(w.ctx, envName, name)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) putPlan(p registry.Plan) {
	w.t.Helper()
	p.Env = envName
	if _, err := w.store.PutPlan(w.ctx, p, "test"); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) repair() reconcile.Outcome {
	w.t.Helper()
	w.clk.Advance(time.Minute)
	out, err := w.runner.Repair(w.ctx, time.Time{})
	return mustOutcome(w.t.(*testing.T), out, err, reconcile.StatusConverged)
}

func stageThrottles(out *apigateway.GetUsagePlanOutput, apiID string) map[string]registry.MethodThrottle {
	for _, s := range out.ApiStages {
		if aws.ToString(s.ApiId) == apiID {
			got := map[string]registry.MethodThrottle{}
			for k, t := range s.Throttle {
				got[k] = registry.MethodThrottle{RateLimit: t.RateLimit, BurstLimit: t.BurstLimit}
			}
			return got
		}
	}
	return nil
}

// TestRegistryCreatesPlan: a registry plan with no usage plan gets one,
// named and tagged, with the live stage, its limits and per-method
// throttles; its id is recorded; a subscriber's key joins it. A second run
// changes nothing.
func TestRegistryCreatesPlan(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 2, customers: 4, live: true})
	w.putPlan(registry.Plan{Name: "gold", Description: "Gold tier", RateLimit: 300, BurstLimit: 600, QuotaLimit: 5, QuotaPeriod: "DAY", MethodThrottles: petsThrottle})
	w.customers[0].tier = "gold"
	if _, _, err := w.store.ChangePlan(w.ctx, w.customers[0].id, envName, "gold", "test"); err != nil {
		t.Fatal(err)
	}
	w.repair()

	rec := w.registryPlan("gold")
	if rec.UsagePlanID == "" {
		t.Fatal("usage plan id not recorded")
	}
	w.planOf["gold"] = rec.UsagePlanID
	got := w.usagePlan(rec.UsagePlanID)
	if aws.ToString(got.Name) != "stagehand-prod-gold" || aws.ToString(got.Description) != "Gold tier" ||
		got.Tags[reconcile.TagEnv] != envName || got.Tags[reconcile.TagPlan] != "gold" {
		t.Errorf("created plan name %q description %q tags %v", aws.ToString(got.Name), aws.ToString(got.Description), got.Tags)
	}
	if got.Throttle == nil || got.Throttle.RateLimit != 300 || got.Throttle.BurstLimit != 600 || got.Quota == nil || got.Quota.Limit != 5 || got.Quota.Period != types.QuotaPeriodTypeDay {
		t.Errorf("created plan limits %+v %+v", got.Throttle, got.Quota)
	}
	if d := cmp.Diff(petsThrottle, stageThrottles(got, w.apis["blue"])); d != "" {
		t.Errorf("method throttles on the live stage (-want +got):\n%s", d)
	}
	w.callable("blue")

	w.emu.ResetCounters()
	w.repair()
	for _, op := range []string{"CreateUsagePlan", "UpdateUsagePlan", "CreateUsagePlanKey", "DeleteUsagePlanKey"} {
		if n := w.emu.Applied(op); n != 0 {
			t.Errorf("second run applied %d %s, want 0", n, op)
		}
	}
}

// TestRegistryUpdatesPlan: limits and per-method throttles changed in the
// registry reach the usage plan in exactly one UpdateUsagePlan per plan
// (paced), throttles no longer declared are removed, and a wiped plan
// (stages and throttles gone, as a CloudFormation update does) gets both
// back.
func TestRegistryUpdatesPlan(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 2, customers: 4, live: true})
	w.deployed(2, "green")
	w.repair() // adopt; green joins every plan
	w.emu.ResetCounters()

	w.putPlan(registry.Plan{Name: "tier000", RateLimit: 50, BurstLimit: 70, MethodThrottles: petsThrottle})
	w.repair()
	if n := w.emu.Applied("UpdateUsagePlan"); n != 1 {
		t.Errorf("UpdateUsagePlan applied %d times, want 1", n)
	}
	got := w.usagePlan(w.planOf["tier000"])
	if got.Throttle.RateLimit != 50 || got.Throttle.BurstLimit != 70 || got.Quota != nil {
		t.Errorf("limits %+v quota %+v", got.Throttle, got.Quota)
	}
	for _, c := range []string{"blue", "green"} {
		if d := cmp.Diff(petsThrottle, stageThrottles(got, w.apis[c])); d != "" {
			t.Errorf("%s throttles (-want +got):\n%s", c, d)
		}
	}

	w.putPlan(registry.Plan{Name: "tier000", RateLimit: 50, BurstLimit: 70, MethodThrottles: map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: 6, BurstLimit: 10}}})
	w.emu.ResetCounters()
	w.repair()
	got = w.usagePlan(w.planOf["tier000"])
	want := map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: 6, BurstLimit: 10}}
	if d := cmp.Diff(want, stageThrottles(got, w.apis["green"])); d != "" || w.emu.Applied("UpdateUsagePlan") != 1 {
		t.Errorf("after narrowing, %d updates; throttles (-want +got):\n%s", w.emu.Applied("UpdateUsagePlan"), d)
	}

	if err := w.emu.WipeAPIStages(w.planOf["tier000"]); err != nil {
		t.Fatal(err)
	}
	w.repair()
	got = w.usagePlan(w.planOf["tier000"])
	for _, c := range []string{"blue", "green"} {
		if d := cmp.Diff(want, stageThrottles(got, w.apis[c])); d != "" {
			t.Errorf("after the wipe, %s throttles (-want +got):\n%s", c, d)
		}
	}
	w.callable("green")
}

// TestDeletedPlanIsRecreated: a usage plan deleted by hand is created again
// from the registry, throttles included, and its customers' keys join it.
func TestDeletedPlanIsRecreated(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 2, customers: 4, live: true})
	w.putPlan(registry.Plan{Name: "tier001", RateLimit: 100, BurstLimit: 200, QuotaLimit: 10000, QuotaPeriod: "MONTH", MethodThrottles: petsThrottle})
	w.repair()
	old := w.planOf["tier001"]
	if err := w.emu.WipeAPIStages(old); err != nil {
		t.Fatal(err)
	}
	if _, err := w.gw.DeleteUsagePlan(w.ctx, &apigateway.DeleteUsagePlanInput{UsagePlanId: aws.String(old)}); err != nil {
		t.Fatal(err)
	}
	w.repair()
	rec := w.registryPlan("tier001")
	if rec.UsagePlanID == "" || rec.UsagePlanID == old {
		t.Fatalf("recorded usage plan %q after deleting %s", rec.UsagePlanID, old)
	}
	w.planOf["tier001"] = rec.UsagePlanID
	if d := cmp.Diff(petsThrottle, stageThrottles(w.usagePlan(rec.UsagePlanID), w.apis["blue"])); d != "" {
		t.Errorf("re-created plan throttles (-want +got):\n%s", d)
	}
	w.callable("blue")
}

// TestAdoptCloudFormationPlan: a plan CloudFormation created (tagged, with
// hand-set method throttles, keys attached) is adopted in place: its id and
// throttles are recorded, nothing is sent to API Gateway, and every key
// stays callable throughout.
func TestAdoptCloudFormationPlan(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 2, customers: 6, live: true})
	ops := []types.PatchOperation{
		{Op: types.OpReplace, Path: aws.String("/apiStages/" + w.ref("blue").String() + "/throttle/~1pets/GET/rateLimit"), Value: aws.String("5")},
		{Op: types.OpReplace, Path: aws.String("/apiStages/" + w.ref("blue").String() + "/throttle/~1pets/GET/burstLimit"), Value: aws.String("10")},
	}
	if _, err := w.gw.UpdateUsagePlan(w.ctx, &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(w.planOf["tier000"]), PatchOperations: ops}); err != nil {
		t.Fatal(err)
	}
	w.callable("blue")
	w.emu.ResetCounters()
	w.repair()
	for _, op := range []string{"CreateUsagePlan", "UpdateUsagePlan", "CreateUsagePlanKey", "DeleteUsagePlanKey"} {
		if n := w.emu.Applied(op); n != 0 {
			t.Errorf("adoption applied %d %s, want 0", n, op)
		}
	}
	w.callable("blue")
	for _, tier := range w.tiers {
		rec := w.registryPlan(tier)
		if rec.UsagePlanID != w.planOf[tier] {
			t.Errorf("%s: recorded %q, want %s", tier, rec.UsagePlanID, w.planOf[tier])
		}
		want := map[string]registry.MethodThrottle{}
		if tier == "tier000" {
			want["/pets/GET"] = registry.MethodThrottle{RateLimit: 5, BurstLimit: 10}
		}
		if d := cmp.Diff(want, rec.MethodThrottles); d != "" || rec.MethodThrottles == nil {
			t.Errorf("%s adopted throttles (-want +got):\n%s", tier, d)
		}
	}
	// The next deploy gives the adopted throttles to the new stage.
	w.clk.Advance(time.Minute)
	out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
	mustOutcome(t, out, err, reconcile.StatusAssociated)
	if got, ok := w.emu.MethodThrottle(w.planOf["tier000"], w.apis["green"], "prod", "/pets", "GET"); !ok || got != (apigw.Throttle{RateLimit: 5, BurstLimit: 10}) {
		t.Errorf("green /pets GET = %+v, %v", got, ok)
	}
	w.callable("green")
}

// TestOrphanPlanGainsNoStage: a usage plan whose tier left the registry
// gains no new stage and loses retired ones, so it drains.
func TestOrphanPlanGainsNoStage(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 2, customers: 0, live: true})
	w.repair()
	if err := w.store.DeletePlan(w.ctx, envName, "tier001", "test"); err != nil {
		t.Fatal(err)
	}
	w.clk.Advance(time.Minute)
	out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
	mustOutcome(t, out, err, reconcile.StatusAssociated)
	stages := w.readBack().Stages
	if d := cmp.Diff([]string{w.ref("blue").String()}, stages["tier001"]); d != "" {
		t.Errorf("orphan stages (-want +got):\n%s", d)
	}
	if len(stages["tier000"]) != 2 {
		t.Errorf("owned plan stages %v", stages["tier000"])
	}
	w.clk.Advance(time.Minute)
	if _, err := w.runner.Retire(w.ctx, w.event(1, "blue"), time.Time{}); err != nil {
		t.Fatal(err)
	}
	if got := w.readBack().Stages["tier001"]; len(got) != 0 {
		t.Errorf("orphan kept %v after the retire", got)
	}
}
