package keys

import (
	"errors"
	"fmt"
	"time"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// ErrRevived is returned for any attempt to move a revoked or expired key to
// another status. It wraps registry.ErrInvalidTransition, so callers may test
// for either.
var ErrRevived = fmt.Errorf("a revoked or expired key cannot change status: %w", registry.ErrInvalidTransition)

// ErrInvalidGrace: a rotation grace period outside [0, MaxRotationGrace].
var ErrInvalidGrace = errors.New("invalid rotation grace period")

// DefaultRotationGrace is how long the old key keeps working after a
// rotation unless the operator asks otherwise.
const DefaultRotationGrace = 24 * time.Hour

// MaxRotationGrace is the longest grace period a rotation may give the old
// key.
const MaxRotationGrace = 30 * 24 * time.Hour

// CheckTransition reports whether a key may go from status from to status to.
// Pass the key's effective status (registry.Key.EffectiveStatus) as from, so
// that a key whose expiry has passed counts as expired.
//
//   - Same status: allowed, a no-op (revoking a revoked key succeeds, so
//     revoke is idempotent).
//   - active ↔ suspended: allowed.
//   - active or suspended → revoked: allowed.
//   - revoked or expired → anything else: ErrRevived.
//   - anything else (→ expired, which only time sets; unknown statuses):
//     registry.ErrInvalidTransition.
func CheckTransition(from, to registry.KeyStatus) error {
	if !knownStatus(from) || !knownStatus(to) {
		return fmt.Errorf("key status %q -> %q: unknown status: %w", from, to, registry.ErrInvalidTransition)
	}
	if from == to {
		return nil
	}
	switch from {
	case registry.KeyRevoked, registry.KeyExpired:
		return fmt.Errorf("key status %s -> %s: %w", from, to, ErrRevived)
	case registry.KeyActive, registry.KeySuspended:
		if to == registry.KeyActive || to == registry.KeySuspended || to == registry.KeyRevoked {
			return nil
		}
	}
	return fmt.Errorf("key status %s -> %s: %w", from, to, registry.ErrInvalidTransition)
}

func knownStatus(s registry.KeyStatus) bool {
	switch s {
	case registry.KeyActive, registry.KeySuspended, registry.KeyRevoked, registry.KeyExpired:
		return true
	}
	return false
}

// RotationExpiry returns when the old key of a rotation stops working: at
// now+grace, or at its current expiry if that is sooner (a rotation never
// extends a key's life). current is the old key's ExpiresAt (nil: none).
// grace must be between 0 (the old key stops at once) and MaxRotationGrace.
func RotationExpiry(now time.Time, grace time.Duration, current *time.Time) (time.Time, error) {
	if grace < 0 || grace > MaxRotationGrace {
		return time.Time{}, fmt.Errorf("%w: %s is outside [0, %s]", ErrInvalidGrace, grace, MaxRotationGrace)
	}
	end := now.Add(grace)
	if current != nil && current.Before(end) {
		return *current, nil
	}
	return end, nil
}
