package service_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

type recordedEvents struct{ got []service.PlanChangeDecided }

func (r *recordedEvents) PlanChangeDecided(_ context.Context, d service.PlanChangeDecided) error {
	r.got = append(r.got, d)
	return nil
}

func TestPlanChangeRequests(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name     string
		approve  bool
		wantPlan string
	}{
		{"approved moves the plan and the metering key", true, "gold"},
		{"declined leaves the plan", false, "basic"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, keys := newService(t)
			sub, err := svc.Subscribe(ctx, "acme", "dev", "basic", nil, "op")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.RequestPlanChange(ctx, "acme", "dev", "basic", "customer:acme"); !errors.Is(err, service.ErrInvalidInput) {
				t.Errorf("request for the current plan: err = %v, want ErrInvalidInput", err)
			}
			req, err := svc.RequestPlanChange(ctx, "acme", "dev", "gold", "customer:acme")
			if err != nil {
				t.Fatal(err)
			}
			pending, err := svc.Store().ListPendingPlanRequests(ctx, "dev", 10)
			if err != nil || len(pending) != 1 || pending[0].ID != req.ID {
				t.Fatalf("pending = %v, %v; want the one request", pending, err)
			}
			ev := &recordedEvents{}
			got, err := svc.DecidePlanChange(ctx, req.ID, tc.approve, ev, "op:alice")
			if err != nil {
				t.Fatal(err)
			}
			want := registry.PlanRequestDeclined
			if tc.approve {
				want = registry.PlanRequestApproved
			}
			if got.Status != want {
				t.Errorf("status = %s, want %s", got.Status, want)
			}
			wantEv := []service.PlanChangeDecided{{RequestID: req.ID, CustomerID: "acme", Env: "dev", FromPlan: "basic", ToPlan: "gold", Decision: string(want), DecidedBy: "op:alice"}}
			if d := cmp.Diff(wantEv, ev.got); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			now, _ := svc.Store().GetSubscription(ctx, "acme", "dev")
			if now.Plan != tc.wantPlan {
				t.Errorf("plan = %s, want %s", now.Plan, tc.wantPlan)
			}
			if keys.attached[sub.UsageKeyID] != "up-"+tc.wantPlan {
				t.Errorf("metering key on %q, want up-%s", keys.attached[sub.UsageKeyID], tc.wantPlan)
			}
			if _, err := svc.DecidePlanChange(ctx, req.ID, !tc.approve, ev, "op:bob"); !errors.Is(err, registry.ErrPlanRequestDecided) {
				t.Errorf("second decision: err = %v, want ErrPlanRequestDecided", err)
			}
			if len(ev.got) != 1 {
				t.Errorf("events after a refused second decision = %d, want 1", len(ev.got))
			}
			if pending, _ := svc.Store().ListPendingPlanRequests(ctx, "dev", 10); len(pending) != 0 {
				t.Errorf("still pending after the decision: %v", pending)
			}
			trail, err := svc.Store().ListAudit(ctx, "acme", "", 50)
			if err != nil {
				t.Fatal(err)
			}
			var actions []string
			for _, e := range trail.Items {
				if e.Target == req.ID {
					actions = append(actions, e.Actor+" "+e.Action)
				}
			}
			if d := cmp.Diff([]string{"op:alice plan.request." + string(want), "customer:acme plan.request"}, actions); d != "" {
				t.Errorf("audit (-want +got):\n%s", d)
			}
		})
	}
}
