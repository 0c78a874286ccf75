package reconcile

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

var (
	blue  = registry.StageRef{APIID: "bbbbbbbbbb", Stage: "prod"}
	green = registry.StageRef{APIID: "gggggggggg", Stage: "prod"}
	other = registry.StageRef{APIID: "oooooooooo", Stage: "v1"} // not stagehand's
)

func TestPlan(t *testing.T) {
	throttles := map[string]Throttle{"/pets/GET": {Rate: 5, Burst: 10}, "//GET": {Rate: 1.5}, "/a~b/{id}/DELETE": {Rate: 0, Burst: 2}}
	tests := []struct {
		name    string
		desired Desired
		plans   []UsagePlan
		want    Operations
	}{
		{
			name:    "first deploy: every plan gains the stage, every key is attached",
			desired: NewDesired([]registry.StageRef{blue}, nil, nil, map[string]string{"k1": "up-basic", "k2": "up-pro", "k3": "up-basic"}),
			plans: []UsagePlan{
				{ID: "up-pro", Tier: "pro", KeysRead: true},
				{ID: "up-basic", Tier: "basic", KeysRead: true},
			},
			want: Operations{
				Updates: []PlanUpdate{
					{PlanID: "up-basic", Tier: "basic", Added: []registry.StageRef{blue}, Ops: []PatchOp{{Op: "add", Path: "/apiStages", Value: "bbbbbbbbbb:prod"}}},
					{PlanID: "up-pro", Tier: "pro", Added: []registry.StageRef{blue}, Ops: []PatchOp{{Op: "add", Path: "/apiStages", Value: "bbbbbbbbbb:prod"}}},
				},
				Attach: []KeyOp{{PlanID: "up-basic", KeyID: "k1"}, {PlanID: "up-basic", KeyID: "k3"}, {PlanID: "up-pro", KeyID: "k2"}},
			},
		},
		{
			name: "second deploy: the new stage copies the live stage's method throttles in the same update",
			desired: NewDesired([]registry.StageRef{blue, green}, nil, map[registry.StageRef]registry.StageRef{green: blue},
				map[string]string{"k1": "up-basic"}),
			plans: []UsagePlan{{ID: "up-basic", Tier: "basic", KeysRead: true, Keys: []string{"k1"},
				Stages: []PlanStage{{Ref: other}, {Ref: blue, Throttles: throttles}}}},
			want: Operations{Updates: []PlanUpdate{{PlanID: "up-basic", Tier: "basic", Added: []registry.StageRef{green}, ThrottlesCopied: 3, Ops: []PatchOp{
				{Op: "add", Path: "/apiStages", Value: "gggggggggg:prod"},
				{Op: "replace", Path: "/apiStages/gggggggggg:prod/throttle/~1/GET/rateLimit", Value: "1.5"},
				{Op: "replace", Path: "/apiStages/gggggggggg:prod/throttle/~1a~0b~1{id}/DELETE/rateLimit", Value: "0"},
				{Op: "replace", Path: "/apiStages/gggggggggg:prod/throttle/~1a~0b~1{id}/DELETE/burstLimit", Value: "2"},
				{Op: "replace", Path: "/apiStages/gggggggggg:prod/throttle/~1pets/GET/rateLimit", Value: "5"},
				{Op: "replace", Path: "/apiStages/gggggggggg:prod/throttle/~1pets/GET/burstLimit", Value: "10"},
			}}}},
		},
		{
			name:    "retire: the old stage leaves every plan that has it; other APIs' stages are left alone",
			desired: NewDesired([]registry.StageRef{green}, []registry.StageRef{blue}, nil, map[string]string{}),
			plans: []UsagePlan{
				{ID: "up-a", Tier: "a", KeysRead: true, Stages: []PlanStage{{Ref: blue}, {Ref: green}, {Ref: other}}},
				{ID: "up-b", Tier: "b", KeysRead: true, Stages: []PlanStage{{Ref: green}}},
			},
			want: Operations{Updates: []PlanUpdate{{PlanID: "up-a", Tier: "a", Removed: []registry.StageRef{blue},
				Ops: []PatchOp{{Op: "remove", Path: "/apiStages", Value: "bbbbbbbbbb:prod"}}}}},
		},
		{
			name: "retire merged into a pending deploy: one update adds the new stage and removes the old",
			desired: NewDesired([]registry.StageRef{green}, []registry.StageRef{blue}, nil,
				map[string]string{}),
			plans: []UsagePlan{{ID: "up-a", Tier: "a", KeysRead: true, Stages: []PlanStage{{Ref: blue}}}},
			want: Operations{Updates: []PlanUpdate{{PlanID: "up-a", Tier: "a", Added: []registry.StageRef{green}, Removed: []registry.StageRef{blue},
				Ops: []PatchOp{{Op: "add", Path: "/apiStages", Value: "gggggggggg:prod"}, {Op: "remove", Path: "/apiStages", Value: "bbbbbbbbbb:prod"}}}}},
		},
		{
			name:    "no drift: nothing to do",
			desired: NewDesired([]registry.StageRef{blue, green}, []registry.StageRef{other}, map[registry.StageRef]registry.StageRef{green: blue}, map[string]string{"k1": "up-a"}),
			plans:   []UsagePlan{{ID: "up-a", KeysRead: true, Keys: []string{"k1"}, Stages: []PlanStage{{Ref: green}, {Ref: blue}}}},
			want:    Operations{},
		},
		{
			name:    "misplaced and hand-attached keys are detached; the misplaced one joins its plan",
			desired: NewDesired([]registry.StageRef{blue}, nil, nil, map[string]string{"k1": "up-a", "k2": "up-b"}),
			plans: []UsagePlan{
				{ID: "up-a", KeysRead: true, Keys: []string{"k1", "k2", "stranger"}, Stages: []PlanStage{{Ref: blue}}},
				{ID: "up-b", KeysRead: true, Stages: []PlanStage{{Ref: blue}}},
			},
			want: Operations{
				Detach: []KeyOp{{PlanID: "up-a", KeyID: "k2"}, {PlanID: "up-a", KeyID: "stranger"}},
				Attach: []KeyOp{{PlanID: "up-b", KeyID: "k2"}},
			},
		},
		{
			name:    "plans whose keys are unread get stage updates only",
			desired: NewDesired([]registry.StageRef{blue}, nil, nil, map[string]string{"k1": "up-a"}),
			plans:   []UsagePlan{{ID: "up-a"}},
			want:    Operations{Updates: []PlanUpdate{{PlanID: "up-a", Added: []registry.StageRef{blue}, Ops: []PatchOp{{Op: "add", Path: "/apiStages", Value: "bbbbbbbbbb:prod"}}}}},
		},
		{
			name:    "a stage both desired and retired stays",
			desired: NewDesired([]registry.StageRef{blue}, []registry.StageRef{blue}, nil, nil),
			plans:   []UsagePlan{{ID: "up-a", KeysRead: true, Stages: []PlanStage{{Ref: blue}}}},
			want:    Operations{},
		},
		{
			name: "a wiped plan regains both stages; no throttles survive to copy",
			desired: NewDesired([]registry.StageRef{blue, green}, nil, map[registry.StageRef]registry.StageRef{green: blue},
				map[string]string{"k1": "up-a"}),
			plans: []UsagePlan{{ID: "up-a", KeysRead: true, Keys: []string{"k1"}}},
			want: Operations{Updates: []PlanUpdate{{PlanID: "up-a", Added: []registry.StageRef{blue, green},
				Ops: []PatchOp{{Op: "add", Path: "/apiStages", Value: "bbbbbbbbbb:prod"}, {Op: "add", Path: "/apiStages", Value: "gggggggggg:prod"}}}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.desired, tc.plans)
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("Plan (-want +got):\n%s", d)
			}
			if got.Empty() != tc.want.Empty() {
				t.Errorf("Empty() = %v", got.Empty())
			}
		})
	}
}

func TestKeyChanges(t *testing.T) {
	tests := []struct {
		name           string
		want, have     []string
		attach, detach []string
	}{
		{name: "both empty"},
		{name: "all missing", want: []string{"a", "b"}, attach: []string{"a", "b"}},
		{name: "all extra", have: []string{"a", "b"}, detach: []string{"a", "b"}},
		{name: "interleaved", want: []string{"a", "c", "e"}, have: []string{"b", "c", "d"}, attach: []string{"a", "e"}, detach: []string{"b", "d"}},
		{name: "equal", want: []string{"a", "b"}, have: []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			keyPlan := map[string]string{}
			for _, k := range tc.want {
				keyPlan[k] = "p"
			}
			d := NewDesired(nil, nil, nil, keyPlan)
			attach, detach := KeyChanges(&d, UsagePlan{ID: "p", Keys: tc.have, KeysRead: true})
			if diff := cmp.Diff(tc.attach, attach, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("attach (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.detach, detach, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("detach (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDesiredStages(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	third := registry.StageRef{APIID: "cccccccccc", Stage: "prod"}
	st := registry.EnvStages{Env: "prod",
		Stages: []registry.EnvStage{
			{APIID: green.APIID, Stage: "prod", Colour: "green", Sequence: 8, At: t0},
			{APIID: third.APIID, Stage: "prod", Colour: "blue", Sequence: 9, At: t0},
			{APIID: blue.APIID, Stage: "prod", Colour: "blue", Sequence: 7, At: t0},
		},
		Retired: []registry.EnvStage{{APIID: other.APIID, Stage: "v1", Sequence: 3}, {APIID: other.APIID, Stage: "v1", Sequence: 3}},
	}
	stages, retired, source := DesiredStages(st)
	if d := cmp.Diff([]registry.StageRef{blue, green, third}, stages); d != "" {
		t.Errorf("stages (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]registry.StageRef{other}, retired); d != "" {
		t.Errorf("retired (-want +got):\n%s", d)
	}
	if d := cmp.Diff(map[registry.StageRef]registry.StageRef{green: blue, third: green}, source); d != "" {
		t.Errorf("throttle sources (-want +got):\n%s", d)
	}
}

func TestDesiredKeys(t *testing.T) {
	subs := []registry.Subscription{
		{CustomerID: "c1", Plan: "basic", UsageKeyID: "k1", CustomerStatus: registry.CustomerActive},
		{CustomerID: "c2", Plan: "pro", UsageKeyID: "k2", CustomerStatus: registry.CustomerSuspended},
		{CustomerID: "c3", Plan: "gold", UsageKeyID: "k3", CustomerStatus: registry.CustomerActive},
		{CustomerID: "c4", Plan: "basic", UsageKeyID: "k1", CustomerStatus: registry.CustomerActive},
		{CustomerID: "c5", Plan: "basic", CustomerStatus: registry.CustomerActive},
	}
	keyPlan, problems := DesiredKeys(subs, map[string]string{"basic": "up-basic", "pro": "up-pro"})
	if d := cmp.Diff(map[string]string{"k1": "up-basic", "k2": "up-pro"}, keyPlan); d != "" {
		t.Errorf("key plan (-want +got):\n%s", d)
	}
	want := []Problem{
		{CustomerID: "c3", KeyID: "k3", Reason: `tier "gold" has no usage plan tagged stagehand:plan=gold`},
		{CustomerID: "c4", KeyID: "k1", Reason: "API Gateway key k1 is also customer c1's"},
		{CustomerID: "c5", Reason: "subscription has no API Gateway key"},
	}
	if d := cmp.Diff(want, problems); d != "" {
		t.Errorf("problems (-want +got):\n%s", d)
	}
}

func TestTierPlans(t *testing.T) {
	got, problems := TierPlans([]UsagePlan{{ID: "p1", Tier: "basic"}, {ID: "p2", Tier: "pro"}, {ID: "p3", Tier: "pro"}})
	if d := cmp.Diff(map[string]string{"basic": "p1"}, got); d != "" {
		t.Errorf("(-want +got):\n%s", d)
	}
	if len(problems) != 1 || problems[0].PlanID != "p3" {
		t.Errorf("problems = %v", problems)
	}
}

func TestVerify(t *testing.T) {
	subs := []registry.Subscription{
		{CustomerID: "c1", Plan: "basic", UsageKeyID: "k1", CustomerStatus: registry.CustomerActive},
		{CustomerID: "c2", Plan: "basic", UsageKeyID: "k2", CustomerStatus: registry.CustomerActive},
		{CustomerID: "c3", Plan: "pro", UsageKeyID: "k3", CustomerStatus: registry.CustomerActive},
		{CustomerID: "c4", Plan: "pro", UsageKeyID: "k4", CustomerStatus: registry.CustomerSuspended},
		{CustomerID: "c5", Plan: "gold", UsageKeyID: "k5", CustomerStatus: registry.CustomerActive},
	}
	plans := []UsagePlan{
		{ID: "up-pro", Tier: "pro", Stages: []PlanStage{{Ref: green}}, Keys: []string{"k3"}, KeysRead: true},
		{ID: "up-basic", Tier: "basic", Stages: []PlanStage{{Ref: blue}, {Ref: green}}, Keys: []string{"k1"}, KeysRead: true},
	}
	tests := []struct {
		name  string
		stage registry.StageRef
		subs  []registry.Subscription
		want  VerifyReport
	}{
		{
			name: "a missing key and an unplaced customer fail", stage: green, subs: subs,
			want: VerifyReport{Stage: green, Unplaced: []string{"c5"}, Rows: []VerifyRow{
				{Tier: "basic", PlanID: "up-basic", HasStage: true, Expected: 2, OK: 1, Missing: []string{"c2"}},
				{Tier: "pro", PlanID: "up-pro", HasStage: true, Expected: 1, OK: 1},
			}},
		},
		{
			name: "a plan without the stage fails", stage: blue, subs: subs[:1],
			want: VerifyReport{Stage: blue, Rows: []VerifyRow{
				{Tier: "basic", PlanID: "up-basic", HasStage: true, Expected: 1, OK: 1},
				{Tier: "pro", PlanID: "up-pro"},
			}},
		},
		{
			name: "all present passes; suspended customers are not expected", stage: green, subs: []registry.Subscription{subs[0], subs[2], subs[3]},
			want: VerifyReport{Stage: green, OK: true, Rows: []VerifyRow{
				{Tier: "basic", PlanID: "up-basic", HasStage: true, Expected: 1, OK: 1},
				{Tier: "pro", PlanID: "up-pro", HasStage: true, Expected: 1, OK: 1},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, Verify(tc.stage, tc.subs, plans)); d != "" {
				t.Errorf("Verify (-want +got):\n%s", d)
			}
		})
	}
}

// synthetic builds P plans and K keys, every key attached to its plan, the
// live stage in every plan with three method throttles, and a desired state
// that adds a new stage (throttles copied) and moves 1% of the keys.
func synthetic(p, k int) (Desired, []UsagePlan) {
	plans := make([]UsagePlan, p)
	keyPlan := make(map[string]string, k)
	for i := range plans {
		plans[i] = UsagePlan{ID: fmt.Sprintf("up%05d", i), Tier: fmt.Sprintf("t%d", i), KeysRead: true,
			Stages: []PlanStage{{Ref: blue, Throttles: map[string]Throttle{"/a/GET": {Rate: 1, Burst: 2}, "/b/POST": {Rate: 3, Burst: 4}, "/c/PUT": {Rate: 5}}}}}
	}
	for i := 0; i < k; i++ {
		id := fmt.Sprintf("key%07d", i)
		plan := i % p
		plans[plan].Keys = append(plans[plan].Keys, id)
		if i%100 == 0 {
			plan = (plan + 1) % p // misplaced
		}
		keyPlan[id] = plans[plan].ID
	}
	return NewDesired([]registry.StageRef{blue, green}, nil, map[registry.StageRef]registry.StageRef{green: blue}, keyPlan), plans
}

func TestSyntheticPlan(t *testing.T) {
	d, plans := synthetic(300, 10000)
	ops := Plan(d, plans)
	if len(ops.Updates) != 300 || len(ops.Detach) != 100 || len(ops.Attach) != 100 {
		t.Errorf("updates %d, detach %d, attach %d; want 300, 100, 100", len(ops.Updates), len(ops.Detach), len(ops.Attach))
	}
	if n := len(ops.Updates[0].Ops); n != 1+5 {
		t.Errorf("ops per update = %d, want 6 (add + 3 rates + 2 bursts)", n)
	}
}

// BenchmarkPlan300Plans10kKeys is the planner's full diff at the account
// maximum; the 1k and 20k variants show it is linear in keys.
func BenchmarkPlan300Plans10kKeys(b *testing.B) {
	for _, keys := range []int{1000, 10000, 20000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			d, plans := synthetic(300, keys)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				// A fresh Desired each time: the key index is part of the cost.
				fresh := NewDesired(d.Stages, d.Retired, d.ThrottleSource, d.KeyPlan)
				if ops := Plan(fresh, plans); len(ops.Updates) != 300 {
					b.Fatal("wrong plan")
				}
			}
		})
	}
}

// BenchmarkPlanFloor is the least any diff must do at 300 plans x 10k keys:
// visit every desired key once and every attached key once. The planner's
// time is reported as a ratio to it.
func BenchmarkPlanFloor(b *testing.B) {
	d, plans := synthetic(300, 10000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		for k, p := range d.KeyPlan {
			n += len(k) + len(p)
		}
		for _, p := range plans {
			for _, k := range p.Keys {
				n += len(k)
			}
		}
		if n == 0 {
			b.Fatal("empty")
		}
	}
}
