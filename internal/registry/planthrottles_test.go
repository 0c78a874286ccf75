package registry_test

import (
	"context"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

func TestValidateMethodThrottles(t *testing.T) {
	many := map[string]registry.MethodThrottle{}
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t", "u"} {
		many["/"+p+"/GET"] = registry.MethodThrottle{RateLimit: 1}
	}
	tests := []struct {
		name string
		in   map[string]registry.MethodThrottle
		ok   bool
	}{
		{"nil", nil, true},
		{"empty", map[string]registry.MethodThrottle{}, true},
		{"resource and method", map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: 5, BurstLimit: 10}, "/pets/{id}/*": {}}, true},
		{"root", map[string]registry.MethodThrottle{"//GET": {RateLimit: 1}}, true},
		{"no method", map[string]registry.MethodThrottle{"/pets": {RateLimit: 1}}, false},
		{"bad method", map[string]registry.MethodThrottle{"/pets/FETCH": {RateLimit: 1}}, false},
		{"no leading slash", map[string]registry.MethodThrottle{"pets/GET": {RateLimit: 1}}, false},
		{"negative rate", map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: -1}}, false},
		{"negative burst", map[string]registry.MethodThrottle{"/pets/GET": {BurstLimit: -1}}, false},
		{"over the quota of 20", many, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := registry.ValidateMethodThrottles(tc.in)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, registry.ErrInvalidPlan)) {
				t.Errorf("ValidateMethodThrottles = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// TestPlanOwnership: method throttles round-trip with nil ("not declared")
// distinct from empty ("none"); the reconciler's RecordUsagePlan records
// the id and adopts throttles only into a plan that declares none; an
// invalid plan is refused; DeletePlan removes the record.
func TestPlanOwnership(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	put := func(p registry.Plan) {
		t.Helper()
		if _, err := s.PutPlan(ctx, p, "test"); err != nil {
			t.Fatal(err)
		}
	}
	get := func(name string) registry.Plan {
		t.Helper()
		p, err := s.GetPlan(ctx, "dev", name)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	put(registry.Plan{Env: "dev", Name: "undeclared", RateLimit: 10, BurstLimit: 20})
	put(registry.Plan{Env: "dev", Name: "none", RateLimit: 10, BurstLimit: 20, MethodThrottles: map[string]registry.MethodThrottle{}})
	put(registry.Plan{Env: "dev", Name: "declared", Description: "d", RateLimit: 10, BurstLimit: 20,
		MethodThrottles: map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: 5, BurstLimit: 10}}})
	if got := get("undeclared").MethodThrottles; got != nil {
		t.Errorf("undeclared: MethodThrottles = %#v, want nil", got)
	}
	if got := get("none").MethodThrottles; got == nil || len(got) != 0 {
		t.Errorf("none: MethodThrottles = %#v, want empty, not nil", got)
	}
	if diff := cmp.Diff(map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: 5, BurstLimit: 10}}, get("declared").MethodThrottles); diff != "" {
		t.Errorf("declared (-want +got):\n%s", diff)
	}

	live := map[string]registry.MethodThrottle{"/orders/POST": {RateLimit: 1, BurstLimit: 2}}
	if err := s.RecordUsagePlan(ctx, "dev", "undeclared", "up1", live, "reconciler"); err != nil {
		t.Fatalf("adopt into undeclared: %v", err)
	}
	if p := get("undeclared"); p.UsagePlanID != "up1" || !cmp.Equal(p.MethodThrottles, live) || p.RateLimit != 10 {
		t.Errorf("after adoption: %+v", p)
	}
	if err := s.RecordUsagePlan(ctx, "dev", "declared", "up2", live, "reconciler"); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("adopting over declared throttles: %v, want ErrConflict", err)
	}
	if p := get("declared"); p.UsagePlanID != "" || len(p.MethodThrottles) != 1 || p.MethodThrottles["/pets/GET"].RateLimit != 5 {
		t.Errorf("declared plan changed by a refused adoption: %+v", p)
	}
	if err := s.RecordUsagePlan(ctx, "dev", "declared", "up2", nil, "reconciler"); err != nil {
		t.Fatal(err)
	}
	if p := get("declared"); p.UsagePlanID != "up2" || p.MethodThrottles["/pets/GET"].RateLimit != 5 {
		t.Errorf("record id only: %+v", p)
	}
	if err := s.RecordUsagePlan(ctx, "dev", "ghost", "up3", nil, "reconciler"); err == nil {
		t.Error("RecordUsagePlan of a missing plan succeeded (it must not create one)")
	}

	if _, err := s.PutPlan(ctx, registry.Plan{Env: "dev", Name: "bad", MethodThrottles: map[string]registry.MethodThrottle{"pets": {}}}, "test"); !errors.Is(err, registry.ErrInvalidPlan) {
		t.Errorf("invalid plan: %v", err)
	}
	if err := s.DeletePlan(ctx, "dev", "none", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetPlan(ctx, "dev", "none"); !errors.Is(err, registry.ErrPlanNotFound) {
		t.Errorf("after delete: %v", err)
	}
	if err := s.DeletePlan(ctx, "dev", "none", "test"); !errors.Is(err, registry.ErrPlanNotFound) {
		t.Errorf("delete twice: %v", err)
	}
}
