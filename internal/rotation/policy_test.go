package rotation_test

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/rotation"
)

const day = 24 * time.Hour

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func policy(mode registry.RotationMode) registry.RotationPolicy {
	return registry.RotationPolicy{Env: "dev", Plan: "basic", MaxAge: registry.Duration(90 * day), Warning: registry.Duration(14 * day), Grace: registry.Duration(7 * day), Mode: mode}
}

func TestValidatePolicy(t *testing.T) {
	tests := []struct {
		name   string
		change func(*registry.RotationPolicy)
		ok     bool
	}{
		{"valid auto", func(*registry.RotationPolicy) {}, true},
		{"valid enforce", func(p *registry.RotationPolicy) { p.Mode = registry.RotationEnforce }, true},
		{"no warning is fine", func(p *registry.RotationPolicy) { p.Warning = 0 }, true},
		{"max age too short", func(p *registry.RotationPolicy) { p.MaxAge = registry.Duration(time.Minute) }, false},
		{"warning as long as max age", func(p *registry.RotationPolicy) { p.Warning = p.MaxAge }, false},
		{"negative warning", func(p *registry.RotationPolicy) { p.Warning = -1 }, false},
		{"no grace", func(p *registry.RotationPolicy) { p.Grace = 0 }, false},
		{"grace beyond the service's maximum", func(p *registry.RotationPolicy) { p.Grace = registry.Duration(31 * day) }, false},
		{"unknown mode", func(p *registry.RotationPolicy) { p.Mode = "sometimes" }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := policy(registry.RotationAuto)
			tc.change(&p)
			err := rotation.ValidatePolicy(p)
			if tc.ok != (err == nil) || (err != nil && !errors.Is(err, rotation.ErrInvalidPolicy)) {
				t.Errorf("ValidatePolicy = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	due := t0.Add(90 * day)
	at := func(d time.Time) *time.Time { return &d }
	tests := []struct {
		name string
		key  func(*registry.Key)
		mode registry.RotationMode
		now  time.Time
		want rotation.Action
	}{
		{"young key", nil, registry.RotationAuto, t0.Add(10 * day), rotation.ActionNone},
		{"one second before the warning window", nil, registry.RotationAuto, due.Add(-14*day - time.Second), rotation.ActionNone},
		{"warning window opens", nil, registry.RotationAuto, due.Add(-14 * day), rotation.ActionWarn},
		{"in the warning window, enforce", nil, registry.RotationEnforce, due.Add(-time.Hour), rotation.ActionWarn},
		{"due, auto", nil, registry.RotationAuto, due, rotation.ActionRotate},
		{"long overdue, auto", nil, registry.RotationAuto, due.Add(40 * day), rotation.ActionRotate},
		{"due, enforce", nil, registry.RotationEnforce, due, rotation.ActionExpire},
		{"enforce, expiry already within grace", func(k *registry.Key) { k.ExpiresAt = at(due.Add(3 * day)) }, registry.RotationEnforce, due.Add(time.Hour), rotation.ActionNone},
		{"enforce, expiry later than grace", func(k *registry.Key) { k.ExpiresAt = at(due.Add(60 * day)) }, registry.RotationEnforce, due.Add(time.Hour), rotation.ActionExpire},
		{"expires on its own before due", func(k *registry.Key) { k.ExpiresAt = at(due.Add(-day)) }, registry.RotationAuto, due.Add(-2 * day), rotation.ActionNone},
		{"already rotated", func(k *registry.Key) { k.RotatedTo = "x"; k.ExpiresAt = at(due.Add(7 * day)) }, registry.RotationAuto, due.Add(time.Hour), rotation.ActionNone},
		{"suspended", func(k *registry.Key) { k.Status = registry.KeySuspended }, registry.RotationAuto, due, rotation.ActionNone},
		{"revoked", func(k *registry.Key) { k.Status = registry.KeyRevoked }, registry.RotationEnforce, due, rotation.ActionNone},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := registry.Key{ID: "k1", CustomerID: "c1", Status: registry.KeyActive, CreatedAt: t0}
			if tc.key != nil {
				tc.key(&k)
			}
			got := rotation.Decide(k, policy(tc.mode), tc.now)
			if d := cmp.Diff(rotation.Decision{Action: tc.want, Due: due}, got); d != "" {
				t.Errorf("Decide (-want +got):\n%s", d)
			}
		})
	}
}

func TestPoliciesCustomerOverridesPlan(t *testing.T) {
	plan := policy(registry.RotationEnforce)
	over := policy(registry.RotationAuto)
	over.Plan, over.CustomerID = "", "c2"
	bad := policy(registry.RotationAuto)
	bad.Plan, bad.Mode = "gold", "never"
	pols, errs := rotation.NewPolicies([]registry.RotationPolicy{plan, over, bad}, map[string]string{"c1": "basic", "c2": "basic", "c3": "gold"})
	if len(errs) != 1 {
		t.Errorf("problems = %v, want the invalid gold policy", errs)
	}
	for _, tc := range []struct {
		customer string
		mode     registry.RotationMode
		ok       bool
	}{{"c1", registry.RotationEnforce, true}, {"c2", registry.RotationAuto, true}, {"c3", "", false}, {"unknown", "", false}} {
		p, ok := pols.For(tc.customer)
		if ok != tc.ok || p.Mode != tc.mode {
			t.Errorf("For(%s) = %v %v, want %v %v", tc.customer, p.Mode, ok, tc.mode, tc.ok)
		}
	}
}
