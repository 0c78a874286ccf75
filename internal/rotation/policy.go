// Package rotation is stagehand's key rotation job: per-plan policies
// (overridable per customer) of maximum key age, warning window, grace and
// mode; a daily run that warns ("Key Rotation Due", once per key per
// window), then expires (mode enforce) or rotates (mode auto) due keys; and
// the one-time pickup of an automatically rotated key's new secret, which
// waits envelope-encrypted under KMS. Rotation itself is the service
// layer's (service.RotateKeyIf), so the registry's guards apply: a key is
// rotated at most once, and the old key works until its grace ends.
package rotation

import (
	"errors"
	"fmt"
	"time"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// ErrInvalidPolicy marks a policy that cannot be applied.
var ErrInvalidPolicy = errors.New("invalid rotation policy")

// ValidatePolicy checks a policy: a positive maximum age, a warning window
// shorter than it, a grace in (0, keys.MaxRotationGrace], a known mode.
func ValidatePolicy(p registry.RotationPolicy) error {
	maxAge, warn, grace := time.Duration(p.MaxAge), time.Duration(p.Warning), time.Duration(p.Grace)
	switch {
	case maxAge < time.Hour:
		return fmt.Errorf("%w: maxAge %s must be at least 1h", ErrInvalidPolicy, maxAge)
	case warn < 0 || warn >= maxAge:
		return fmt.Errorf("%w: warning %s must be in [0, maxAge %s)", ErrInvalidPolicy, warn, maxAge)
	case grace < time.Minute || grace > keys.MaxRotationGrace:
		return fmt.Errorf("%w: grace %s must be in [1m, %s]", ErrInvalidPolicy, grace, keys.MaxRotationGrace)
	case p.Mode != registry.RotationEnforce && p.Mode != registry.RotationAuto:
		return fmt.Errorf("%w: mode %q must be enforce or auto", ErrInvalidPolicy, p.Mode)
	}
	return nil
}

// Policies resolves the policy of a key: the customer's override, else its
// plan's, else none.
type Policies struct {
	byPlan     map[string]registry.RotationPolicy
	byCustomer map[string]registry.RotationPolicy
	planOf     map[string]string // customer id -> plan
}

// NewPolicies indexes an environment's policies and its customers' plans.
// Invalid stored policies are returned as errors and left out.
func NewPolicies(ps []registry.RotationPolicy, planOf map[string]string) (*Policies, []error) {
	out := &Policies{byPlan: map[string]registry.RotationPolicy{}, byCustomer: map[string]registry.RotationPolicy{}, planOf: planOf}
	var errs []error
	for _, p := range ps {
		if err := ValidatePolicy(p); err != nil {
			errs = append(errs, fmt.Errorf("policy plan=%q customer=%q: %w", p.Plan, p.CustomerID, err))
			continue
		}
		if p.CustomerID != "" {
			out.byCustomer[p.CustomerID] = p
		} else {
			out.byPlan[p.Plan] = p
		}
	}
	return out, errs
}

// Empty reports whether no policy applies to anyone.
func (p *Policies) Empty() bool { return len(p.byPlan) == 0 && len(p.byCustomer) == 0 }

// For returns the policy of a customer's keys.
func (p *Policies) For(customerID string) (registry.RotationPolicy, bool) {
	if c, ok := p.byCustomer[customerID]; ok {
		return c, true
	}
	plan, ok := p.planOf[customerID]
	if !ok {
		return registry.RotationPolicy{}, false
	}
	c, ok := p.byPlan[plan]
	return c, ok
}

// Action is what a run does to one key.
type Action string

// Actions.
const (
	ActionNone   Action = "none"
	ActionWarn   Action = "warn"   // emit Key Rotation Due (once per window)
	ActionExpire Action = "expire" // enforce: expire one grace after now
	ActionRotate Action = "rotate" // auto: rotate, secret to pickup
)

// Decision is what to do with a key and why.
type Decision struct {
	Action Action
	// Due is when the key reaches its maximum age.
	Due time.Time
}

// Decide judges one key under policy p at now. Only active keys that were
// not rotated are considered; a key that expires on its own by its due
// date needs nothing. Enforce keys whose expiry is already within the grace
// need nothing either, so a rerun changes nothing.
func Decide(k registry.Key, p registry.RotationPolicy, now time.Time) Decision {
	due := k.CreatedAt.Add(time.Duration(p.MaxAge))
	d := Decision{Action: ActionNone, Due: due}
	if k.EffectiveStatus(now) != registry.KeyActive || k.RotatedTo != "" {
		return d
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(due) {
		return d
	}
	switch {
	case !now.Before(due) && p.Mode == registry.RotationAuto:
		d.Action = ActionRotate
	case !now.Before(due):
		if k.ExpiresAt == nil || k.ExpiresAt.After(now.Add(time.Duration(p.Grace))) {
			d.Action = ActionExpire
		}
	case !now.Before(due.Add(-time.Duration(p.Warning))):
		d.Action = ActionWarn
	}
	return d
}
