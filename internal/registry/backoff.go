package registry

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff between the retries of an update that lost a race (no expected
// version: see guard.retry). Retrying at once lets the same writers collide
// again in lockstep; a short jittered pause spreads them out.
const (
	backoffMin = 10 * time.Millisecond
	backoffMax = 50 * time.Millisecond
)

// backoff waits before retry number n (1 for the first retry): a random
// time in [backoffMin, backoffMax) times n, on the store's clock (so a
// virtual clock makes it instant in tests). It returns ctx's error, without
// waiting, when ctx is done first.
func (s *Store) backoff(ctx context.Context, n int) error {
	d := time.Duration(n) * (backoffMin + rand.N(backoffMax-backoffMin))
	return s.clock.Sleep(ctx, d)
}
