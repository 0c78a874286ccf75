// Package plans applies an environment's declared plans (the "plans" list
// of cdk/config/<env>.json) to the registry, which owns the usage plans:
// the reconciler then creates, adopts and updates the API Gateway usage
// plans to match (see internal/reconcile and docs/cdk.md).
//
// Apply is declarative. A declared plan is created or replaced (its
// recorded usage plan id is kept; per-method throttles the file does not
// declare are kept as the registry has them). A registry plan the file no
// longer lists is deleted from the registry only when no subscription uses
// it; if any such plan still has subscribers, Apply writes nothing and
// returns ErrPlanInUse naming them. A deleted plan's API Gateway usage plan
// is left in place, never deleted: the reconciler stops adding stages to
// it, so it drains as old colours retire and can be deleted by hand.
package plans

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// ErrPlanInUse: a plan removed from the declaration still has subscribers.
var ErrPlanInUse = errors.New("plan removed from the declaration still has subscribers")

// ErrInvalid: the declaration itself is wrong (duplicate or empty names,
// another environment's plan, bad limits).
var ErrInvalid = errors.New("invalid plan declaration")

// Store is what Apply needs from the registry; *registry.Store implements it.
type Store interface {
	ListPlans(ctx context.Context, env string) ([]registry.Plan, error)
	PutPlan(ctx context.Context, p registry.Plan, actor string) (registry.Plan, error)
	DeletePlan(ctx context.Context, env, name, actor string) error
	ListSubscriptions(ctx context.Context, env, next string, limit int32) (registry.Page[registry.Subscription], error)
}

var _ Store = (*registry.Store)(nil)

// Action is what Apply did (or, in a dry run, would do) to one plan.
type Action string

// Actions.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
	Deleted   Action = "deleted"
)

// Change is one plan's action.
type Change struct {
	Plan   string `json:"plan"`
	Action Action `json:"action"`
}

// Option configures Apply.
type Option func(*options)

type options struct{ dryRun bool }

// DryRun computes the changes without writing.
func DryRun() Option { return func(o *options) { o.dryRun = true } }

// Apply makes env's registry plans equal declared (see the package doc).
// Changes are sorted by plan name.
func Apply(ctx context.Context, store Store, env string, declared []registry.Plan, actor string, opts ...Option) ([]Change, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if err := validate(env, declared); err != nil {
		return nil, err
	}
	have, err := store.ListPlans(ctx, env)
	if err != nil {
		return nil, err
	}
	byName := make(map[string]registry.Plan, len(have))
	for _, p := range have {
		byName[p.Name] = p
	}
	want := make(map[string]bool, len(declared))
	for _, p := range declared {
		want[p.Name] = true
	}
	var removed []string
	for _, p := range have {
		if !want[p.Name] {
			removed = append(removed, p.Name)
		}
	}
	if len(removed) > 0 {
		inUse, err := subscribers(ctx, store, env, removed)
		if err != nil {
			return nil, err
		}
		if len(inUse) > 0 {
			var parts []string
			for _, name := range slices.Sorted(maps.Keys(inUse)) {
				parts = append(parts, fmt.Sprintf("%s (%d subscriber(s))", name, inUse[name]))
			}
			return nil, fmt.Errorf("%w: %s; move them to another plan first (customers change-plan), nothing was written", ErrPlanInUse, strings.Join(parts, ", "))
		}
	}

	var changes []Change
	for _, d := range declared {
		next := d
		next.Env = env
		prev, exists := byName[d.Name]
		next.UsagePlanID = prev.UsagePlanID
		if next.MethodThrottles == nil {
			next.MethodThrottles = prev.MethodThrottles
		}
		action := Created
		if exists {
			if equal(prev, next) {
				changes = append(changes, Change{Plan: d.Name, Action: Unchanged})
				continue
			}
			action = Updated
		}
		if !o.dryRun {
			if _, err := store.PutPlan(ctx, next, actor); err != nil {
				return changes, err
			}
		}
		changes = append(changes, Change{Plan: d.Name, Action: action})
	}
	for _, name := range removed {
		if !o.dryRun {
			if err := store.DeletePlan(ctx, env, name, actor); err != nil && !errors.Is(err, registry.ErrNotFound) {
				return changes, err
			}
		}
		changes = append(changes, Change{Plan: name, Action: Deleted})
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Plan < changes[j].Plan })
	return changes, nil
}

func validate(env string, declared []registry.Plan) error {
	seen := map[string]bool{}
	for _, p := range declared {
		switch {
		case p.Name == "":
			return fmt.Errorf("%w: a plan has no name", ErrInvalid)
		case seen[p.Name]:
			return fmt.Errorf("%w: plan %q declared twice", ErrInvalid, p.Name)
		case p.Env != "" && p.Env != env:
			return fmt.Errorf("%w: plan %q is declared for %s, not %s", ErrInvalid, p.Name, p.Env, env)
		case p.RateLimit < 0 || p.BurstLimit < 0 || p.QuotaLimit < 0:
			return fmt.Errorf("%w: plan %q: limits must not be negative", ErrInvalid, p.Name)
		}
		switch p.QuotaPeriod {
		case "", "DAY", "WEEK", "MONTH":
		default:
			return fmt.Errorf("%w: plan %q: quota period %q must be DAY, WEEK or MONTH", ErrInvalid, p.Name, p.QuotaPeriod)
		}
		if err := registry.ValidateMethodThrottles(p.MethodThrottles); err != nil {
			return fmt.Errorf("%w: plan %q: %w", ErrInvalid, p.Name, err)
		}
		seen[p.Name] = true
	}
	return nil
}

// subscribers counts the subscriptions of env on each of names.
func subscribers(ctx context.Context, store Store, env string, names []string) (map[string]int, error) {
	out := map[string]int{}
	for next := ""; ; {
		page, err := store.ListSubscriptions(ctx, env, next, 1000)
		if err != nil {
			return nil, err
		}
		for _, s := range page.Items {
			if slices.Contains(names, s.Plan) {
				out[s.Plan]++
			}
		}
		if next = page.Next; next == "" {
			return out, nil
		}
	}
}

func equal(a, b registry.Plan) bool {
	return a.Env == b.Env && a.Name == b.Name && a.Description == b.Description && a.UsagePlanID == b.UsagePlanID &&
		a.RateLimit == b.RateLimit && a.BurstLimit == b.BurstLimit && a.QuotaLimit == b.QuotaLimit && a.QuotaPeriod == b.QuotaPeriod &&
		(a.MethodThrottles == nil) == (b.MethodThrottles == nil) && maps.Equal(a.MethodThrottles, b.MethodThrottles)
}
