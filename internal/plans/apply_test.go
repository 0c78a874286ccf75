package plans_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/plans"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func TestApply(t *testing.T) {
	ctx := context.Background()
	db, table := ddbtest.NewTable(t)
	store := registry.New(db, table, registry.WithClock(clock.NewVirtual(t0)))
	throttles := map[string]registry.MethodThrottle{"/pets/GET": {RateLimit: 5, BurstLimit: 10}}
	basic := registry.Plan{Name: "basic", Description: "Basic", RateLimit: 10, BurstLimit: 20, QuotaLimit: 1000, QuotaPeriod: "MONTH"}
	gold := registry.Plan{Name: "gold", RateLimit: 100, BurstLimit: 200, MethodThrottles: throttles}
	old := registry.Plan{Name: "old", RateLimit: 1, BurstLimit: 1}

	apply := func(declared []registry.Plan, opts ...plans.Option) ([]plans.Change, error) {
		t.Helper()
		return plans.Apply(ctx, store, "dev", declared, "test", opts...)
	}
	got, err := apply([]registry.Plan{basic, gold, old})
	if err != nil {
		t.Fatal(err)
	}
	want := []plans.Change{{Plan: "basic", Action: plans.Created}, {Plan: "gold", Action: plans.Created}, {Plan: "old", Action: plans.Created}}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("first apply (-want +got):\n%s", d)
	}
	// The reconciler records the usage plans; re-applying the same file
	// keeps them and changes nothing.
	for _, n := range []string{"basic", "old"} {
		if err := store.RecordUsagePlan(ctx, "dev", n, "up-"+n, map[string]registry.MethodThrottle{}, "reconciler"); err != nil {
			t.Fatal(err)
		}
	}
	if err := store.RecordUsagePlan(ctx, "dev", "gold", "up-gold", nil, "reconciler"); err != nil {
		t.Fatal(err)
	}
	got, err = apply([]registry.Plan{basic, gold, old})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range got {
		if c.Action != plans.Unchanged {
			t.Errorf("re-apply: %+v, want unchanged", c)
		}
	}

	// A subscriber on "old": removing it from the file is refused, nothing
	// is written (not even basic's change).
	if _, err := store.CreateCustomer(ctx, registry.Customer{ID: "c1", Name: "Acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Subscribe(ctx, registry.Subscription{CustomerID: "c1", Env: "dev", Plan: "old", UsageKeyID: "k1", UsageKeyValue: "v"}, "test"); err != nil {
		t.Fatal(err)
	}
	changedBasic := basic
	changedBasic.RateLimit = 11
	_, err = apply([]registry.Plan{changedBasic, gold})
	if !errors.Is(err, plans.ErrPlanInUse) || !strings.Contains(err.Error(), "old (1 subscriber(s))") {
		t.Fatalf("removing a plan in use: %v", err)
	}
	if p, _ := store.GetPlan(ctx, "dev", "basic"); p.RateLimit != 10 {
		t.Errorf("a refused apply wrote basic: %+v", p)
	}

	// Without subscribers, a removed plan leaves the registry; a dry run
	// reports it and writes nothing.
	if _, _, err := store.ChangePlan(ctx, "c1", "dev", "basic", "test"); err != nil {
		t.Fatal(err)
	}
	got, err = apply([]registry.Plan{changedBasic, gold}, plans.DryRun())
	if err != nil {
		t.Fatal(err)
	}
	want = []plans.Change{{Plan: "basic", Action: plans.Updated}, {Plan: "gold", Action: plans.Unchanged}, {Plan: "old", Action: plans.Deleted}}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("dry run (-want +got):\n%s", d)
	}
	if _, err := store.GetPlan(ctx, "dev", "old"); err != nil {
		t.Errorf("dry run deleted old: %v", err)
	}
	if _, err := apply([]registry.Plan{changedBasic, gold}); err != nil {
		t.Fatal(err)
	}
	if _, err := store.GetPlan(ctx, "dev", "old"); !errors.Is(err, registry.ErrPlanNotFound) {
		t.Errorf("old after apply: %v", err)
	}
	p, err := store.GetPlan(ctx, "dev", "basic")
	if err != nil || p.RateLimit != 11 || p.UsagePlanID != "up-basic" {
		t.Errorf("basic after apply: %+v %v (usage plan id must be kept)", p, err)
	}
	if g, _ := store.GetPlan(ctx, "dev", "gold"); !cmp.Equal(g.MethodThrottles, throttles) {
		t.Errorf("gold throttles %v", g.MethodThrottles)
	}
	// A file that declares no throttles keeps the registry's (adopted) ones.
	noThrottles := gold
	noThrottles.MethodThrottles = nil
	if _, err := apply([]registry.Plan{changedBasic, noThrottles}); err != nil {
		t.Fatal(err)
	}
	if g, _ := store.GetPlan(ctx, "dev", "gold"); !cmp.Equal(g.MethodThrottles, throttles) {
		t.Errorf("undeclared throttles not kept: %v", g.MethodThrottles)
	}
}

func TestApplyRejectsBadDeclarations(t *testing.T) {
	tests := []struct {
		name     string
		declared []registry.Plan
	}{
		{"empty name", []registry.Plan{{}}},
		{"duplicate", []registry.Plan{{Name: "a"}, {Name: "a"}}},
		{"other env", []registry.Plan{{Name: "a", Env: "prod"}}},
		{"negative rate", []registry.Plan{{Name: "a", RateLimit: -1}}},
		{"bad period", []registry.Plan{{Name: "a", QuotaLimit: 1, QuotaPeriod: "YEAR"}}},
		{"bad throttle key", []registry.Plan{{Name: "a", MethodThrottles: map[string]registry.MethodThrottle{"GET": {}}}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// No store call happens before validation: a nil store would panic.
			if _, err := plans.Apply(context.Background(), nil, "dev", tc.declared, "test"); !errors.Is(err, plans.ErrInvalid) {
				t.Errorf("Apply = %v, want ErrInvalid", err)
			}
		})
	}
}
