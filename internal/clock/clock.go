// Package clock abstracts time so that expiry, pacing and backoff logic can be
// tested on a virtual timeline instead of real sleeps.
package clock

import (
	"context"
	"sync"
	"time"
)

// Clock tells the time and sleeps. Code that decides anything by time takes
// a Clock instead of calling time.Now or time.Sleep.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx is done, whichever is first.
	Sleep(ctx context.Context, d time.Duration) error
}

// System is the real clock.
type System struct{}

var _ Clock = System{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// Sleep blocks for d or until ctx is done.
func (System) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Virtual is a clock whose time moves only when someone sleeps on it or
// calls Advance. Sleep returns at once after moving the clock forward, so a
// test that spans minutes of API Gateway quota windows runs in milliseconds.
// It is safe for concurrent use. Each Sleep moves the clock forward by its
// own d, so concurrent sleeps add up: elapsed virtual time is over-estimated,
// never under-estimated, which is the safe bias for quota tests.
type Virtual struct {
	mu  sync.Mutex
	now time.Time
}

var _ Clock = (*Virtual)(nil)

// NewVirtual returns a virtual clock set to start.
func NewVirtual(start time.Time) *Virtual { return &Virtual{now: start} }

// Now returns the virtual time.
func (v *Virtual) Now() time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.now
}

// Advance moves the clock forward by d (never backwards).
func (v *Virtual) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	v.mu.Lock()
	v.now = v.now.Add(d)
	v.mu.Unlock()
}

// Sleep moves the clock forward by d and returns at once, unless ctx is done.
func (v *Virtual) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.now = v.now.Add(max(d, 0))
	return nil
}
