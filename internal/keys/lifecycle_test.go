package keys_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

func TestCheckTransition(t *testing.T) {
	const (
		active    = registry.KeyActive
		suspended = registry.KeySuspended
		revoked   = registry.KeyRevoked
		expired   = registry.KeyExpired
	)
	// errNone marks an allowed transition.
	var errNone error
	tests := []struct {
		name     string
		from, to registry.KeyStatus
		wantErr  error
	}{
		{name: "active stays active", from: active, to: active, wantErr: errNone},
		{name: "suspend", from: active, to: suspended, wantErr: errNone},
		{name: "revoke active", from: active, to: revoked, wantErr: errNone},
		{name: "active to expired is time's job", from: active, to: expired, wantErr: registry.ErrInvalidTransition},
		{name: "resume", from: suspended, to: active, wantErr: errNone},
		{name: "suspended stays suspended", from: suspended, to: suspended, wantErr: errNone},
		{name: "revoke suspended", from: suspended, to: revoked, wantErr: errNone},
		{name: "suspended to expired", from: suspended, to: expired, wantErr: registry.ErrInvalidTransition},
		{name: "revive revoked", from: revoked, to: active, wantErr: keys.ErrRevived},
		{name: "suspend revoked", from: revoked, to: suspended, wantErr: keys.ErrRevived},
		{name: "revoke revoked is idempotent", from: revoked, to: revoked, wantErr: errNone},
		{name: "revoked to expired", from: revoked, to: expired, wantErr: keys.ErrRevived},
		{name: "revive expired", from: expired, to: active, wantErr: keys.ErrRevived},
		{name: "suspend expired", from: expired, to: suspended, wantErr: keys.ErrRevived},
		{name: "revoke expired", from: expired, to: revoked, wantErr: keys.ErrRevived},
		{name: "expired stays expired", from: expired, to: expired, wantErr: errNone},
		{name: "unknown from", from: "deleted", to: active, wantErr: registry.ErrInvalidTransition},
		{name: "unknown to", from: active, to: "Active", wantErr: registry.ErrInvalidTransition},
		{name: "unknown to itself", from: "bogus", to: "bogus", wantErr: registry.ErrInvalidTransition},
		{name: "empty", from: "", to: "", wantErr: registry.ErrInvalidTransition},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := keys.CheckTransition(tc.from, tc.to)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("CheckTransition(%s, %s) = %v, want nil", tc.from, tc.to, err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("CheckTransition(%s, %s) = %v, want %v", tc.from, tc.to, err, tc.wantErr)
			}
			// Every refusal is an invalid transition for the registry;
			// only leaving revoked/expired is ErrRevived.
			if !errors.Is(err, registry.ErrInvalidTransition) {
				t.Errorf("error %v does not wrap registry.ErrInvalidTransition", err)
			}
			leavesTerminal := (tc.from == revoked || tc.from == expired) && tc.to != tc.from
			if got := errors.Is(err, keys.ErrRevived); got != leavesTerminal {
				t.Errorf("errors.Is(%v, ErrRevived) = %v, want %v", err, got, leavesTerminal)
			}
		})
	}
}

func TestRotationExpiry(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) *time.Time { x := now.Add(d); return &x }
	tests := []struct {
		name    string
		grace   time.Duration
		current *time.Time
		want    time.Time
		wantErr error
	}{
		{name: "default grace, no expiry", grace: keys.DefaultRotationGrace, want: now.Add(24 * time.Hour)},
		{name: "zero grace ends now", grace: 0, want: now},
		{name: "maximum grace", grace: keys.MaxRotationGrace, want: now.Add(30 * 24 * time.Hour)},
		{name: "current expiry later is cut", grace: time.Hour, current: at(48 * time.Hour), want: now.Add(time.Hour)},
		{name: "current expiry sooner is kept", grace: 24 * time.Hour, current: at(2 * time.Hour), want: now.Add(2 * time.Hour)},
		{name: "current expiry equal", grace: time.Hour, current: at(time.Hour), want: now.Add(time.Hour)},
		{name: "already expired stays expired", grace: time.Hour, current: at(-time.Hour), want: now.Add(-time.Hour)},
		{name: "negative grace", grace: -time.Second, wantErr: keys.ErrInvalidGrace},
		{name: "grace over 30 days", grace: keys.MaxRotationGrace + time.Nanosecond, wantErr: keys.ErrInvalidGrace},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := keys.RotationExpiry(now, tc.grace, tc.current)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("RotationExpiry() error = %v, want %v", err, tc.wantErr)
			}
			if !got.Equal(tc.want) {
				t.Errorf("RotationExpiry() = %v, want %v", got, tc.want)
			}
		})
	}
	if keys.DefaultRotationGrace != 24*time.Hour {
		t.Errorf("DefaultRotationGrace = %v, want 24h", keys.DefaultRotationGrace)
	}
}
