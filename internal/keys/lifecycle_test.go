package keys_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

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
