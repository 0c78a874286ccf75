package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// At most one plan-change request per customer and environment is pending:
// a second is ErrPlanRequestPending and writes nothing; deciding the first
// allows a new one.
func TestOnePendingPlanRequest(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	seed(t, s)
	req := registry.PlanRequest{CustomerID: "c1", Env: "dev", FromPlan: "basic", ToPlan: "enterprise"}
	first, err := s.CreatePlanRequest(ctx, req, "customer:c1")
	if err != nil {
		t.Fatal(err)
	}
	errs := race(4, func(int) error {
		_, err := s.CreatePlanRequest(ctx, req, "customer:c1")
		return err
	})
	for _, err := range errs {
		// Concurrent transactions may also be cancelled as a conflict.
		if !errors.Is(err, registry.ErrPlanRequestPending) && !errors.Is(err, registry.ErrConflict) {
			t.Errorf("concurrent second request: err = %v, want ErrPlanRequestPending", err)
		}
	}
	if _, err := s.CreatePlanRequest(ctx, req, "customer:c1"); !errors.Is(err, registry.ErrPlanRequestPending) {
		t.Errorf("second request: err = %v, want ErrPlanRequestPending", err)
	}
	if reqs, _ := s.ListPlanRequests(ctx, "c1", 10); len(reqs) != 1 {
		t.Errorf("requests = %d, want 1", len(reqs))
	}
	p, err := s.ListAudit(ctx, "c1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := countAction(p.Items, "plan.request"); n != 1 {
		t.Errorf("plan.request audit entries = %d, want 1", n)
	}
	if _, err := s.DecidePlanRequest(ctx, first.ID, registry.PlanRequestDeclined, "op"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePlanRequest(ctx, req, "customer:c1"); err != nil {
		t.Errorf("request after the first was decided: %v", err)
	}
	// A second customer's request is independent.
	if _, err := s.CreateCustomer(ctx, registry.Customer{ID: "c2", Name: "Globex"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, registry.Subscription{CustomerID: "c2", Env: "dev", Plan: "basic", UsageKeyID: "ak2", UsageKeyValue: "v2"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreatePlanRequest(ctx, registry.PlanRequest{CustomerID: "c2", Env: "dev", FromPlan: "basic", ToPlan: "enterprise"}, "customer:c2"); err != nil {
		t.Errorf("another customer's request: %v", err)
	}
}

func countAction(es []registry.AuditEntry, action string) int {
	n := 0
	for _, e := range es {
		if e.Action == action {
			n++
		}
	}
	return n
}
