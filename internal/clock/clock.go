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

// Skipping is real time that jumps ahead whenever someone sleeps: Now is
// the wall clock plus every skipped interval, and Sleep returns at once
// after adding its duration. End-to-end tests use it where live traffic
// runs in real time but API Gateway's 20-second quota windows should pass
// in an instant; token buckets still refill as real time passes.
type Skipping struct {
	mu      sync.Mutex
	skipped time.Duration
	now     func() time.Time
}

var _ Clock = (*Skipping)(nil)

// NewSkipping returns a skipping clock over the wall clock.
func NewSkipping() *Skipping { return &Skipping{now: time.Now} }

// Now returns wall-clock time plus everything skipped so far.
func (s *Skipping) Now() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.now().Add(s.skipped)
}

// Advance skips d ahead.
func (s *Skipping) Advance(d time.Duration) {
	if d <= 0 {
		return
	}
	s.mu.Lock()
	s.skipped += d
	s.mu.Unlock()
}

// Skipped returns the total skipped so far.
func (s *Skipping) Skipped() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.skipped
}

// Sleep skips d ahead and returns at once, unless ctx is done.
func (s *Skipping) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.Advance(d)
	return nil
}
