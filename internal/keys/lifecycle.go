// Status transitions are enforced by the registry (registry.AllowedFrom,
// checked inside its conditional writes); this file holds the rotation rules.

package keys

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalidGrace: a rotation grace period outside [0, MaxRotationGrace].
var ErrInvalidGrace = errors.New("invalid rotation grace period")

// DefaultRotationGrace is how long the old key keeps working after a
// rotation unless the operator asks otherwise.
const DefaultRotationGrace = 24 * time.Hour

// MaxRotationGrace is the longest grace period a rotation may give the old
// key.
const MaxRotationGrace = 30 * 24 * time.Hour

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
