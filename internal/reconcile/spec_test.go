package reconcile

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// TestStageUpdateWithSpec: with a registry spec, a plan's one update also
// carries the minimal patch for its limits and per-method throttles, on
// every desired stage; an orphan gains no stage.
func TestStageUpdateWithSpec(t *testing.T) {
	pets := map[string]Throttle{"/pets/GET": {Rate: 5, Burst: 10}}
	base := PlanSpec{Tier: "basic", Description: "Basic", RateLimit: 10, BurstLimit: 20, QuotaLimit: 100, QuotaPeriod: "DAY", MethodThrottles: pets}
	live := UsagePlan{ID: "up1", Tier: "basic", Description: "Basic", RateLimit: 10, BurstLimit: 20, QuotaLimit: 100, QuotaPeriod: "DAY",
		Stages: []PlanStage{{Ref: blue, Throttles: map[string]Throttle{"/pets/GET": {Rate: 5, Burst: 10}}}}}
	with := func(f func(*PlanSpec)) PlanSpec {
		s := base
		f(&s)
		return s
	}
	bluePath := "/apiStages/" + blue.String() + "/throttle/"
	tests := []struct {
		name    string
		spec    PlanSpec
		orphan  bool
		stages  []registry.StageRef
		want    []PatchOp
		changed bool
	}{
		{"in step: nothing", base, false, []registry.StageRef{blue}, nil, false},
		{"rate only", with(func(s *PlanSpec) { s.RateLimit = 11 }), false, []registry.StageRef{blue},
			[]PatchOp{{Op: "replace", Path: "/throttle/rateLimit", Value: "11"}}, true},
		{"quota and description", with(func(s *PlanSpec) { s.QuotaLimit, s.QuotaPeriod, s.Description = 7, "WEEK", "B" }), false, []registry.StageRef{blue},
			[]PatchOp{{Op: "replace", Path: "/description", Value: "B"}, {Op: "replace", Path: "/quota/limit", Value: "7"}, {Op: "replace", Path: "/quota/period", Value: "WEEK"}}, true},
		{"quota dropped", with(func(s *PlanSpec) { s.QuotaLimit, s.QuotaPeriod = 0, "" }), false, []registry.StageRef{blue},
			[]PatchOp{{Op: "remove", Path: "/quota"}}, true},
		{"throttle dropped", with(func(s *PlanSpec) { s.RateLimit, s.BurstLimit = 0, 0 }), false, []registry.StageRef{blue},
			[]PatchOp{{Op: "remove", Path: "/throttle"}}, true},
		{"method throttle changed and one added", with(func(s *PlanSpec) {
			s.MethodThrottles = map[string]Throttle{"/pets/GET": {Rate: 6, Burst: 10}, "//POST": {Rate: 1}}
		}), false, []registry.StageRef{blue}, []PatchOp{
			{Op: "replace", Path: bluePath + "~1/POST/rateLimit", Value: "1"},
			{Op: "replace", Path: bluePath + "~1pets/GET/rateLimit", Value: "6"},
		}, false},
		{"undeclared method throttle removed", with(func(s *PlanSpec) { s.MethodThrottles = map[string]Throttle{} }), false, []registry.StageRef{blue},
			[]PatchOp{{Op: "remove", Path: bluePath + "~1pets/GET"}}, false},
		{"new stage gets the declared throttles", base, false, []registry.StageRef{blue, green}, []PatchOp{
			{Op: "add", Path: "/apiStages", Value: green.String()},
			{Op: "replace", Path: "/apiStages/" + green.String() + "/throttle/~1pets/GET/rateLimit", Value: "5"},
			{Op: "replace", Path: "/apiStages/" + green.String() + "/throttle/~1pets/GET/burstLimit", Value: "10"},
		}, false},
		{"orphan gains no stage", base, true, []registry.StageRef{blue, green}, nil, false},
		{"undeclared description is kept", with(func(s *PlanSpec) { s.Description = "" }), false, []registry.StageRef{blue}, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDesired(tc.stages, nil, map[registry.StageRef]registry.StageRef{green: blue}, nil)
			if tc.orphan {
				d.Orphans = map[string]bool{"up1": true}
			} else {
				d.Specs = map[string]PlanSpec{"up1": tc.spec}
			}
			u := StageUpdate(d, live)
			if diff := cmp.Diff(tc.want, u.Ops); diff != "" {
				t.Errorf("ops (-want +got):\n%s", diff)
			}
			if u.LimitsChanged != tc.changed {
				t.Errorf("LimitsChanged = %v, want %v", u.LimitsChanged, tc.changed)
			}
		})
	}
}

func TestSpecFromPlan(t *testing.T) {
	got := SpecFromPlan(registry.Plan{Name: "b", RateLimit: 1, BurstLimit: 2, QuotaLimit: 0, QuotaPeriod: "DAY",
		MethodThrottles: map[string]registry.MethodThrottle{"/x/GET": {RateLimit: 3, BurstLimit: 4}}})
	want := PlanSpec{Tier: "b", RateLimit: 1, BurstLimit: 2, MethodThrottles: map[string]Throttle{"/x/GET": {Rate: 3, Burst: 4}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if SpecFromPlan(registry.Plan{Name: "b"}).MethodThrottles != nil {
		t.Error("undeclared throttles must stay nil")
	}
}

// BenchmarkPlan300Plans10kKeysWithSpecs is BenchmarkPlan300Plans10kKeys
// with every plan registry-owned (limits compared, three method throttles
// declared): the cost of ownership in the planner, against the same floor.
func BenchmarkPlan300Plans10kKeysWithSpecs(b *testing.B) {
	d, plans := synthetic(300, 10000)
	specs := make(map[string]PlanSpec, len(plans))
	for _, p := range plans {
		specs[p.ID] = PlanSpec{Tier: p.Tier, RateLimit: p.RateLimit + 1, BurstLimit: p.BurstLimit, MethodThrottles: map[string]Throttle{
			"/pets/GET": {Rate: 5, Burst: 10}, "//GET": {Rate: 1.5}, "/a/DELETE": {Rate: 2}}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		fresh := NewDesired(d.Stages, d.Retired, d.ThrottleSource, d.KeyPlan)
		fresh.Specs = specs
		if ops := Plan(fresh, plans); len(ops.Updates) != 300 {
			b.Fatal(fmt.Sprint("wrong plan: ", len(ops.Updates)))
		}
	}
}
