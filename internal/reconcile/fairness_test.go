package reconcile_test

import (
	"context"
	"errors"

	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/reconcile/pacer"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// updateLog wraps the SDK client the runner uses and records, on the
// virtual clock, every UpdateUsagePlan the reconciler sends (one entry per
// SDK operation call; the emulator's CallTimes counts wire requests).
type updateLog struct {
	*apigateway.Client
	clk *clock.Virtual

	mu      sync.Mutex
	entries []updateEntry
}

type updateEntry struct {
	at     time.Time
	planID string
	ok     bool
}

func (l *updateLog) UpdateUsagePlan(ctx context.Context, in *apigateway.UpdateUsagePlanInput, opts ...func(*apigateway.Options)) (*apigateway.UpdateUsagePlanOutput, error) {
	out, err := l.Client.UpdateUsagePlan(ctx, in, opts...)
	l.mu.Lock()
	l.entries = append(l.entries, updateEntry{at: l.clk.Now(), planID: aws.ToString(in.UsagePlanId), ok: err == nil})
	l.mu.Unlock()
	return out, err
}

// TestOneFailingPlanDoesNotStallTheRest: one usage plan of 50 whose every
// UpdateUsagePlan fails (503) while the other 49 work. The 49 gain the new
// stage back to back, one pacer slot each; the failing plan is retried at
// the back of the queue, a bounded number of times, then reported on the
// deployment record; every UpdateUsagePlan request, retries included, is a
// full pacer interval after the one before.
func TestOneFailingPlanDoesNotStallTheRest(t *testing.T) {
	const plans = 50
	good := plans - 1
	interval := pacer.DefaultInterval
	tests := []struct {
		name string
		// pick chooses the failing plan among the plan ids in queue order.
		pick func(ids []string) string
	}{
		{name: "the first plan in queue order fails", pick: func(ids []string) string { return ids[0] }},
		{name: "a plan in the middle fails", pick: func(ids []string) string { return ids[len(ids)/2] }},
		{name: "the last plan in queue order fails", pick: func(ids []string) string { return ids[len(ids)-1] }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldConfig{plans: plans, customers: plans, live: true})
			ids := make([]string, 0, plans)
			for _, id := range w.planOf {
				ids = append(ids, id)
			}
			slices.Sort(ids)
			failing := tc.pick(ids)
			w.emu.FailTarget("UpdateUsagePlan", failing, 503)

			log := &updateLog{Client: w.gw, clk: w.clk}
			runner, err := reconcile.NewRunner(envName, w.store, log, reconcile.WithClock(w.clk), reconcile.WithContinuer(w.queue),
				reconcile.WithPublisher(w.bus), reconcile.WithClientOptions(reconcile.WithJitterSeed(42)))
			if err != nil {
				t.Fatal(err)
			}
			start := w.clk.Now()
			out, err := runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
			// The current design hands over at a deadline or after errors:
			// follow its continuations (a bounded number) like SQS would.
			for i := 0; i < 10; i++ {
				msg, ok := w.queue.pop()
				if !ok {
					break
				}
				w.clk.Advance(msg.delay)
				out, err = runner.Resume(w.ctx, msg.c, time.Time{})
			}

			var lastGood time.Time
			goodDone := map[string]bool{}
			failingBefore := 0
			for _, e := range log.entries {
				if e.planID != failing && e.ok {
					goodDone[e.planID] = true
					lastGood = e.at
				}
			}
			for _, e := range log.entries {
				if e.planID == failing && e.at.Before(lastGood) {
					failingBefore++
				}
			}
			requests := w.emu.Calls("UpdateUsagePlan")
			took := lastGood.Sub(start)
			floor := time.Duration(good-1) * interval
			t.Logf("%d good plans associated after %v virtual (floor %v, ratio %.4f); failing plan tried %d time(s) before the last good one; "+
				"UpdateUsagePlan requests %d (bound %d); run ended %v after start",
				len(goodDone), took, floor, float64(took)/float64(floor), failingBefore, requests, good+reconcile.DefaultPlanAttempts, w.clk.Now().Sub(start))

			if len(goodDone) != good {
				t.Fatalf("%d of %d working plans gained the stage", len(goodDone), good)
			}
			// One slot per working plan, back to back; the failing plan's
			// first try is the only slot it may take before them (nobody
			// can know a plan fails before trying it).
			if failingBefore > 1 {
				t.Errorf("the failing plan took %d slots before the last working plan, want at most 1", failingBefore)
			}
			if bound := floor + 2*time.Second + time.Duration(failingBefore)*interval; took > bound {
				t.Errorf("the %d working plans took %v virtual, want <= %v", good, took, bound)
			}
			if bound := good + reconcile.DefaultPlanAttempts; requests > bound {
				t.Errorf("%d UpdateUsagePlan requests, want <= %d (%d plans + %d tries of the failing one)", requests, bound, good, reconcile.DefaultPlanAttempts)
			}
			// No request, retry or not, without its pacer slot.
			times := w.emu.CallTimes("UpdateUsagePlan")
			for i := 1; i < len(times); i++ {
				if gap := times[i].Sub(times[i-1]); gap < interval {
					t.Errorf("UpdateUsagePlan request %d came %v after the one before, want >= %v", i, gap, interval)
					break
				}
			}

			// Reported, not blocking: the deployment fails naming the plan.
			if !errors.Is(err, reconcile.ErrDeploymentFailed) {
				t.Errorf("run error %v (outcome %+v), want ErrDeploymentFailed", err, out)
			}
			dep := w.deployment(2)
			if dep.State != registry.DeploymentFailed || !strings.Contains(dep.Reason, failing) {
				t.Errorf("deployment 2: state %s, reason %q; want failed naming %s", dep.State, dep.Reason, failing)
			}
			if !slices.Equal(dep.Counts.FailingPlans, []string{failing}) {
				t.Errorf("deployment 2 failing plans %v, want [%s]", dep.Counts.FailingPlans, failing)
			}
			st := w.readBack()
			for tier, id := range w.planOf {
				want := []string{w.ref("blue").String(), w.ref("green").String()}
				if id == failing {
					want = []string{w.ref("blue").String()}
				}
				slices.Sort(want)
				if !slices.Equal(st.Stages[tier], want) {
					t.Errorf("plan %s (%s): stages %v, want %v", tier, id, st.Stages[tier], want)
				}
			}

		})
	}
}

// TestFailingPlanBoundSpansContinuations: a run that hands over at each
// invocation's deadline keeps the failing plan's count in its progress, so
// the plan gets its bounded tries over the whole run (not per invocation),
// starts behind the other plans in each continuation, and is reported on
// the deployment record.
func TestFailingPlanBoundSpansContinuations(t *testing.T) {
	const plans = 12
	w := newWorld(t, worldConfig{plans: plans, customers: plans, live: true})
	ids := make([]string, 0, plans)
	for _, id := range w.planOf {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	failing := ids[0]
	w.emu.FailTarget("UpdateUsagePlan", failing, 503)

	budget := 100 * time.Second // a few slots per invocation
	out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), w.clk.Now().Add(budget))
	invocations := 1
	for ; invocations < 50; invocations++ {
		msg, ok := w.queue.pop()
		if !ok {
			break
		}
		w.clk.Advance(msg.delay)
		out, err = w.runner.Resume(w.ctx, msg.c, w.clk.Now().Add(budget))
	}
	requests := w.emu.Calls("UpdateUsagePlan")
	t.Logf("%d invocations, %d UpdateUsagePlan requests (bound %d)", invocations, requests, plans-1+reconcile.DefaultPlanAttempts)
	if invocations < 3 {
		t.Fatalf("%d invocations: the deadline did not split the run", invocations)
	}
	if bound := plans - 1 + reconcile.DefaultPlanAttempts; requests > bound {
		t.Errorf("%d UpdateUsagePlan requests over %d invocations, want <= %d", requests, invocations, bound)
	}
	// A continuation that fails the deployment consumes its message (no
	// error): the record says why.
	if err != nil || out.Status != reconcile.StatusFailed {
		t.Errorf("last invocation: %v (outcome %+v), want status failed", err, out)
	}
	dep := w.deployment(2)
	if dep.State != registry.DeploymentFailed || !slices.Equal(dep.Counts.FailingPlans, []string{failing}) {
		t.Errorf("deployment 2: state %s, failing plans %v, reason %q; want failed, [%s]", dep.State, dep.Counts.FailingPlans, dep.Reason, failing)
	}
	if got := w.emu.Applied("UpdateUsagePlan"); got != plans-1 {
		t.Errorf("%d updates took effect, want %d", got, plans-1)
	}
}

// TestEveryPlanFailingIsAnOutage: when the updates of many different plans
// fail in a row, no plan is blamed: the run backs off and hands over to a
// continuation, the deployment stays pending, and the requests stay few.
func TestEveryPlanFailingIsAnOutage(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 8, customers: 8, live: true})
	w.emu.FailNext("UpdateUsagePlan", 1000, 503)
	out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
	requests := w.emu.Calls("UpdateUsagePlan")
	t.Logf("outage: status %s, %d UpdateUsagePlan requests", out.Status, requests)
	if err != nil || out.Status != reconcile.StatusContinued {
		t.Fatalf("run: %v (outcome %+v), want a hand-over", err, out)
	}
	if dep := w.deployment(2); dep.State != registry.DeploymentReceived || len(dep.Counts.FailingPlans) != 0 {
		t.Errorf("deployment 2: state %s, failing plans %v; want still received, none blamed", dep.State, dep.Counts.FailingPlans)
	}
	if requests > 12 {
		t.Errorf("%d UpdateUsagePlan requests in an outage, want <= 12", requests)
	}
	if _, ok := w.queue.pop(); !ok {
		t.Error("no continuation scheduled")
	}
}
