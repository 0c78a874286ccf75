package reconcile_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// scenario is one reconcile story: a world, what happens, and the end
// state read back from the emulator with the exact number of
// UpdateUsagePlan calls that took effect.
type scenario struct {
	name string
	cfg  worldConfig
	// act drives the runner; it returns the deployment sequence whose
	// record must end associated (0: none).
	act func(t *testing.T, w *world) int64
	// stages is the colours every plan must end with.
	stages []string
	// updates is the exact count of applied UpdateUsagePlan calls.
	updates int
	// keyOps is the exact count of applied CreateUsagePlanKey +
	// DeleteUsagePlanKey calls (-1: not checked).
	keyOps int
	check  func(t *testing.T, w *world)
}

func mustOutcome(t *testing.T, out reconcile.Outcome, err error, status string) reconcile.Outcome {
	t.Helper()
	if err != nil {
		t.Fatalf("run: %v (outcome %+v)", err, out)
	}
	if out.Status != status {
		t.Fatalf("status %q, want %q (outcome %+v)", out.Status, status, out)
	}
	return out
}

func TestScenarios(t *testing.T) {
	small := worldConfig{plans: 3, customers: 9, live: true}
	tests := []scenario{
		{
			name: "first deploy: every plan gains the stage and every key is attached",
			cfg:  worldConfig{plans: 3, customers: 9},
			act: func(t *testing.T, w *world) int64 {
				out, err := w.runner.Deploy(w.ctx, w.event(1, "blue"), time.Time{})
				out = mustOutcome(t, out, err, reconcile.StatusAssociated)
				want := registry.DeploymentCounts{PlansUpdated: 3, KeysAttached: 9, DurationMS: out.Counts.DurationMS}
				if d := cmp.Diff(want, out.Counts); d != "" {
					t.Errorf("counts (-want +got):\n%s", d)
				}
				return 1
			},
			stages: []string{"blue"}, updates: 3, keyOps: 9,
			check: func(t *testing.T, w *world) {
				w.callable("blue")
				plan, err := w.store.GetPlan(w.ctx, envName, "tier001")
				if err != nil || plan.UsagePlanID != w.planOf["tier001"] || plan.RateLimit != 100 || plan.QuotaPeriod != "MONTH" {
					t.Errorf("discovered plan = %+v, %v", plan, err)
				}
				details := w.bus.details(t)
				if len(details) != 1 {
					t.Fatalf("%d events published, want 1", len(details))
				}
				var got deployevent.AssociatedDetail
				if err := json.Unmarshal([]byte(details[0]), &got); err != nil {
					t.Fatal(err)
				}
				want := deployevent.AssociatedDetail{Version: "1", Environment: envName, APIID: w.apis["blue"], Stage: "prod", Colour: "blue",
					Sequence: 1, Counts: deployevent.Counts{PlansUpdated: 3, KeysAttached: 9, DurationMS: got.Counts.DurationMS}}
				if d := cmp.Diff(want, got); d != "" {
					t.Errorf("published detail (-want +got):\n%s", d)
				}
			},
		},
		{
			name: "second deploy: live and new stage in every plan, no key operation",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusAssociated)
				return 2
			},
			stages: []string{"blue", "green"}, updates: 3, keyOps: 0,
			check: func(t *testing.T, w *world) { w.callable("blue"); w.callable("green") },
		},
		{
			name: "retire: the old stage leaves every plan and its deployment is retired",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusAssociated)
				retire := w.event(2, "blue")
				out, err = w.runner.Retire(w.ctx, retire, time.Time{})
				mustOutcome(t, out, err, reconcile.StatusConverged)
				return 2
			},
			stages: []string{"green"}, updates: 6, keyOps: 0,
			check: func(t *testing.T, w *world) {
				w.callable("green")
				if d := w.deployment(1); d.State != registry.DeploymentRetired {
					t.Errorf("deployment 1 state %s, want retired", d.State)
				}
			},
		},
		{
			name: "300 plans x 10,000 keys: one update per plan, keys untouched",
			cfg:  worldConfig{plans: 300, customers: 10000, live: true},
			act: func(t *testing.T, w *world) int64 {
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				out = mustOutcome(t, out, err, reconcile.StatusAssociated)
				floor := 299 * 20 * time.Second
				took := time.Duration(out.Counts.DurationMS) * time.Millisecond
				t.Logf("300 plans: virtual duration %v, floor %v (ratio %.4f), reads %d", took, floor, float64(took)/float64(floor), out.Reads)
				return 2
			},
			stages: []string{"blue", "green"}, updates: 300, keyOps: 0,
		},
		{
			name: "the same event ten times concurrently: one set of writes",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				var wg sync.WaitGroup
				outs := make([]reconcile.Outcome, 10)
				errs := make([]error, 10)
				for i := range outs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						outs[i], errs[i] = w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
					}()
				}
				wg.Wait()
				// Exactly one delivery associates; the others found the lease
				// held (deferred), the record already handled (duplicate), or
				// ran after the association and found nothing to do.
				associated := 0
				for i, err := range errs {
					if err != nil {
						t.Errorf("delivery %d: %v", i, err)
					}
					switch outs[i].Status {
					case reconcile.StatusAssociated:
						associated++
					case reconcile.StatusDeferred, reconcile.StatusDuplicate, reconcile.StatusConverged, reconcile.StatusStale:
					default:
						t.Errorf("delivery %d: status %q", i, outs[i].Status)
					}
				}
				if associated != 1 {
					t.Errorf("%d deliveries associated, want 1", associated)
				}
				return 2
			},
			stages: []string{"blue", "green"}, updates: 3, keyOps: 0,
			check: func(t *testing.T, w *world) {
				if n := len(w.bus.details(t)); n != 1 {
					t.Errorf("%d Associated events, want 1", n)
				}
			},
		},
		{
			name: "a duplicate after association changes nothing",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusAssociated)
				calls := w.emu.Calls("")
				out, err = w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusDuplicate)
				if n := w.emu.Calls("") - calls; n != 0 {
					t.Errorf("duplicate made %d API Gateway calls, want 0", n)
				}
				return 2
			},
			stages: []string{"blue", "green"}, updates: 3, keyOps: 0,
		},
		{
			name: "out of order: a newer deploy then an older one; the older is stale",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				out, err := w.runner.Deploy(w.ctx, w.event(3, "green"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusAssociated)
				out, err = w.runner.Deploy(w.ctx, w.event(2, "third"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusStale)
				if _, err := w.store.GetDeployment(w.ctx, envName, 2); !errors.Is(err, registry.ErrNotFound) {
					t.Errorf("stale deployment recorded: %v", err)
				}
				return 3
			},
			stages: []string{"blue", "green"}, updates: 3, keyOps: 0,
		},
		{
			name: "30% of calls throttled: same end state, same writes, retries counted",
			cfg:  worldConfig{plans: 6, customers: 30},
			act: func(t *testing.T, w *world) int64 {
				w.emu.SetThrottleRate("", 0.3)
				out, err := w.runner.Deploy(w.ctx, w.event(1, "blue"), time.Time{})
				out = mustOutcome(t, out, err, reconcile.StatusAssociated)
				if out.Counts.Retries == 0 {
					t.Error("no retries counted under 30% throttling")
				}
				w.emu.ClearFaults()
				return 1
			},
			stages: []string{"blue"}, updates: 6, keyOps: 30,
			check: func(t *testing.T, w *world) { w.callable("blue") },
		},
		{
			name: "5xx storm and a response lost after the update took effect",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				w.emu.FailNext("", 6, 503)
				w.emu.FailNext("UpdateUsagePlan", 3, 500)
				w.emu.DropAfterApply("UpdateUsagePlan", 1)
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				out = mustOutcome(t, out, err, reconcile.StatusAssociated)
				if out.Counts.PlansUpdated != 3 {
					t.Errorf("plans updated %d, want 3", out.Counts.PlansUpdated)
				}
				return 2
			},
			stages: []string{"blue", "green"}, updates: 3, keyOps: 0,
		},
		{
			name: "deadline mid-run, then the continuation resumes to the end",
			cfg:  worldConfig{plans: 12, customers: 24, live: true},
			act: func(t *testing.T, w *world) int64 {
				budget := 100 * time.Second
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), w.clk.Now().Add(budget))
				mustOutcome(t, out, err, reconcile.StatusContinued)
				prog, err := w.store.GetRunProgress(w.ctx, envName)
				if err != nil {
					t.Fatal(err)
				}
				if prog.Sequence != 2 || prog.Counts.PlansUpdated == 0 || prog.Counts.PlansUpdated == 12 || prog.LeaseUntilMS != 0 {
					t.Errorf("progress after the first invocation = %+v", prog)
				}
				invocations := 1
				for {
					msg, ok := w.queue.pop()
					if !ok {
						break
					}
					if msg.delay <= 0 || msg.delay > 20*time.Second {
						t.Errorf("continuation delay %v, want the pacer's wait (0, 20s]", msg.delay)
					}
					w.clk.Advance(msg.delay)
					invocations++
					out, err = w.runner.Resume(w.ctx, msg.c, w.clk.Now().Add(budget))
					if err != nil {
						t.Fatal(err)
					}
					if invocations > 20 {
						t.Fatal("no end in sight")
					}
				}
				mustOutcome(t, out, nil, reconcile.StatusAssociated)
				if out.Counts.PlansUpdated != 12 || invocations < 3 {
					t.Errorf("plans updated %d over %d invocations; want 12 over at least 3", out.Counts.PlansUpdated, invocations)
				}
				if d := w.deployment(2); d.Counts.PlansUpdated != 12 {
					t.Errorf("recorded counts %+v", d.Counts)
				}
				return 2
			},
			stages: []string{"blue", "green"}, updates: 12, keyOps: 0,
		},
		{
			name: "shared-stack wipe, then the scheduled repair restores the stages",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusAssociated)
				for _, tier := range w.tiers[:2] {
					if err := w.emu.WipeAPIStages(w.planOf[tier]); err != nil {
						t.Fatal(err)
					}
				}
				out, err = w.runner.Repair(w.ctx, time.Time{})
				mustOutcome(t, out, err, reconcile.StatusConverged)
				return 2
			},
			stages: []string{"blue", "green"}, updates: 5, keyOps: 0,
			check: func(t *testing.T, w *world) { w.callable("blue"); w.callable("green") },
		},
		{
			name: "a key attached by hand and a customer moved to another tier",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				stranger, _, err := w.emu.SeedAPIKey(apigw.SeedKey{Name: "by-hand", Enabled: true})
				if err != nil {
					t.Fatal(err)
				}
				if err := w.emu.AttachKeyDirectly(w.planOf["tier000"], stranger); err != nil {
					t.Fatal(err)
				}
				moved := &w.customers[0]
				if _, _, err := w.store.ChangePlan(w.ctx, moved.id, envName, "tier002", "test"); err != nil {
					t.Fatal(err)
				}
				moved.tier = "tier002"
				out, err := w.runner.Repair(w.ctx, time.Time{})
				out = mustOutcome(t, out, err, reconcile.StatusConverged)
				if out.Counts.KeysRemoved != 2 || out.Counts.KeysAttached != 1 {
					t.Errorf("counts %+v, want 2 removed, 1 attached", out.Counts)
				}
				return 0
			},
			stages: []string{"blue"}, updates: 0, keyOps: 3,
			check: func(t *testing.T, w *world) { w.callable("blue") },
		},
		{
			name: "20 method throttles of the live stage are copied to the new stage",
			cfg:  small,
			act: func(t *testing.T, w *world) int64 {
				var ops []types.PatchOperation
				for i := 0; i < 20; i++ {
					path := "/apiStages/" + w.ref("blue").String() + "/throttle/~1r" + string(rune('a'+i)) + "/GET/"
					ops = append(ops,
						types.PatchOperation{Op: types.OpReplace, Path: aws.String(path + "rateLimit"), Value: aws.String("7.5")},
						types.PatchOperation{Op: types.OpReplace, Path: aws.String(path + "burstLimit"), Value: aws.String("15")})
				}
				if _, err := w.gw.UpdateUsagePlan(w.ctx, &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(w.planOf["tier001"]), PatchOperations: ops}); err != nil {
					t.Fatal(err)
				}
				w.clk.Advance(20 * time.Second)
				w.emu.ResetCounters()
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				mustOutcome(t, out, err, reconcile.StatusAssociated)
				return 2
			},
			stages: []string{"blue", "green"}, updates: 3, keyOps: 0,
			check: func(t *testing.T, w *world) {
				for i := 0; i < 20; i++ {
					path := "/r" + string(rune('a'+i))
					got, ok := w.emu.MethodThrottle(w.planOf["tier001"], w.apis["green"], "prod", path, "GET")
					if !ok || got != (apigw.Throttle{RateLimit: 7.5, BurstLimit: 15}) {
						t.Errorf("green %s GET throttle = %+v, %v", path, got, ok)
					}
				}
				if _, ok := w.emu.MethodThrottle(w.planOf["tier000"], w.apis["green"], "prod", "/ra", "GET"); ok {
					t.Error("a plan without throttles got some")
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, tc.cfg)
			seq := tc.act(t, w)
			if d := cmp.Diff(w.want(tc.stages...), w.readBack()); d != "" {
				t.Errorf("end state read back from the emulator (-want +got):\n%s", d)
			}
			if n := w.emu.Applied("UpdateUsagePlan"); n != tc.updates {
				t.Errorf("UpdateUsagePlan applied %d times, want %d", n, tc.updates)
			}
			if tc.keyOps >= 0 {
				if n := w.emu.Applied("CreateUsagePlanKey") + w.emu.Applied("DeleteUsagePlanKey"); n != tc.keyOps {
					t.Errorf("key operations applied %d, want %d", n, tc.keyOps)
				}
			}
			if seq > 0 {
				if d := w.deployment(seq); d.State != registry.DeploymentAssociated {
					t.Errorf("deployment %d: state %s (%s), want associated", seq, d.State, d.Reason)
				}
			}
			if tc.check != nil {
				tc.check(t, w)
			}
		})
	}
}

func TestDeploymentFailures(t *testing.T) {
	tests := []struct {
		name   string
		act    func(t *testing.T, w *world) (reconcile.Outcome, error)
		reason string
	}{
		{
			name: "the stage does not exist",
			act: func(t *testing.T, w *world) (reconcile.Outcome, error) {
				ev := w.event(2, "green")
				ev.APIID = "nosuchapi0"
				return w.runner.Deploy(w.ctx, ev, time.Time{})
			},
			reason: "stage nosuchapi0:prod does not exist in API Gateway",
		},
		{
			name: "a customer whose tier has no usage plan",
			act: func(t *testing.T, w *world) (reconcile.Outcome, error) {
				w.seedSubscriptions([]registry.Subscription{{CustomerID: "orphan", Env: envName, Plan: "gold", UsageKeyID: w.customers[0].keyID + "x",
					CustomerStatus: registry.CustomerActive}})
				return w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
			},
			reason: `1 active customer(s) cannot call the new stage: customer orphan: tier "gold" has no usage plan tagged stagehand:plan=gold`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldConfig{plans: 2, customers: 4, live: true})
			out, err := tc.act(t, w)
			if !errors.Is(err, reconcile.ErrDeploymentFailed) || out.Status != reconcile.StatusFailed {
				t.Fatalf("outcome %+v, err %v; want failed", out, err)
			}
			d := w.deployment(2)
			if d.State != registry.DeploymentFailed || d.Reason != tc.reason {
				t.Errorf("record: state %s, reason %q; want failed, %q", d.State, d.Reason, tc.reason)
			}
			// A redelivery fails again with the reason (so it ends in the DLQ).
			_, err = w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
			if !errors.Is(err, reconcile.ErrDeploymentFailed) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("redelivery: %v", err)
			}
		})
	}
}

func TestRetireGuards(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 2, customers: 2, live: true})
	tests := []struct {
		name string
		ev   deployevent.Detail
		want error
	}{
		{name: "before its deployment", ev: w.event(5, "blue"), want: reconcile.ErrRetireTooEarly},
		{name: "the newest deployment's stage", ev: w.event(1, "blue"), want: reconcile.ErrRetireRefused},
		{name: "another environment", ev: func() deployevent.Detail { e := w.event(1, "green"); e.Environment = "dev"; return e }(), want: reconcile.ErrWrongEnvironment},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := w.runner.Retire(w.ctx, tc.ev, time.Time{}); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if n := w.emu.Applied("UpdateUsagePlan"); n != 0 {
		t.Errorf("refused retires updated %d plans", n)
	}
	st, err := w.store.GetEnvStages(w.ctx, envName)
	if err != nil || len(st.Stages) != 1 || len(st.Retired) != 0 {
		t.Errorf("stages changed: %+v %v", st, err)
	}
}

func TestRetireMergedIntoPendingDeploy(t *testing.T) {
	// A retire that arrives while the deploy's run is under way rides in
	// the same per-plan updates: each plan gets one update that adds the
	// new stage and removes the old one.
	w := newWorld(t, worldConfig{plans: 4, customers: 4, live: true})
	// First invocation stops after the first plan (deadline); the retire
	// event comes in; the continuation then carries both changes.
	out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), w.clk.Now().Add(30*time.Second))
	mustOutcome(t, out, err, reconcile.StatusContinued)
	if n := w.emu.Applied("UpdateUsagePlan"); n != 1 {
		t.Fatalf("first invocation updated %d plans, want 1", n)
	}
	out, err = w.runner.Retire(w.ctx, w.event(2, "blue"), time.Time{})
	mustOutcome(t, out, err, reconcile.StatusAssociated)
	// The plan updated first needed a second update for the retire; every
	// other plan got one update carrying both.
	if n := w.emu.Applied("UpdateUsagePlan"); n != 5 {
		t.Errorf("UpdateUsagePlan applied %d, want 5 (4 plans + 1 for the plan done before the retire)", n)
	}
	if d := cmp.Diff(w.want("green"), w.readBack()); d != "" {
		t.Errorf("end state (-want +got):\n%s", d)
	}
	if d := w.deployment(1); d.State != registry.DeploymentRetired {
		t.Errorf("deployment 1 is %s, want retired", d.State)
	}
}

func TestDryRunPlan(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 2, customers: 4, live: true})
	if _, err := w.store.PutEnvStages(w.ctx, func() registry.EnvStages {
		st, _ := w.store.GetEnvStages(w.ctx, envName)
		st.Stages = append(st.Stages, registry.EnvStage{APIID: w.apis["green"], Stage: "prod", Sequence: 2})
		return st
	}(), "deploy", "test"); err != nil {
		t.Fatal(err)
	}
	rep, err := w.runner.DryRun(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tiers []string
	for _, u := range rep.Operations.Updates {
		tiers = append(tiers, u.Tier)
		if len(u.Added) != 1 || u.Added[0] != w.ref("green") {
			t.Errorf("update %+v", u)
		}
	}
	slices.Sort(tiers)
	if !slices.Equal(tiers, []string{"tier000", "tier001"}) || len(rep.Operations.Attach)+len(rep.Operations.Detach) != 0 {
		t.Errorf("dry run = %+v", rep.Operations)
	}
	for _, op := range []string{"UpdateUsagePlan", "CreateUsagePlanKey", "DeleteUsagePlanKey"} {
		if n := w.emu.Applied(op); n != 0 {
			t.Errorf("dry run applied %d %s", n, op)
		}
	}
	plans, err := w.store.ListPlans(w.ctx, envName)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		if p.UsagePlanID != "" || p.MethodThrottles != nil {
			t.Errorf("dry run recorded an adoption in the registry: %+v", p)
		}
	}
}
