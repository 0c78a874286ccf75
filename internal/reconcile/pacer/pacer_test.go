package pacer_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/reconcile/pacer"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func newStore(t *testing.T) *registry.Store {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	return registry.New(client, table)
}

// manualClock is set by the test; Sleep moves it to the wake time.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(max(d, 0))
	return ctx.Err()
}

func TestConcurrentPacersShareTheQuota(t *testing.T) {
	store := newStore(t)
	clk := clock.NewVirtual(t0)
	const callers, perCaller = 4, 3
	var mu sync.Mutex
	var calls []time.Time
	var wg sync.WaitGroup
	for i := 0; i < callers; i++ {
		p, err := pacer.New(store, "run-"+string(rune('a'+i)), pacer.WithClock(clk))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < perCaller; j++ {
				if err := p.Acquire(context.Background()); err != nil {
					t.Error(err)
					return
				}
				// The claim's time (not clk.Now(), which other goroutines'
				// sleeps may have moved since): NextAt is claim + interval.
				now := p.NextAt().Add(-p.Interval())
				mu.Lock()
				calls = append(calls, now)
				mu.Unlock()
				if err := p.Done(context.Background(), now); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if len(calls) != callers*perCaller {
		t.Fatalf("%d calls, want %d", len(calls), callers*perCaller)
	}
	slices.SortFunc(calls, func(a, b time.Time) int { return a.Compare(b) })
	// clock.Virtual over-estimates time under concurrent sleeps, so the
	// gaps may be longer than 20 s, never shorter.
	for i := 1; i < len(calls); i++ {
		if gap := calls[i].Sub(calls[i-1]); gap < pacer.DefaultInterval {
			t.Errorf("calls %d and %d only %v apart", i-1, i, gap)
		}
	}
}

func TestTryAcquireTimeline(t *testing.T) {
	store := newStore(t)
	clk := &manualClock{now: t0}
	a, _ := pacer.New(store, "a", pacer.WithClock(clk))
	b, _ := pacer.New(store, "b", pacer.WithClock(clk))
	ctx := context.Background()
	set := func(d time.Duration) { clk.mu.Lock(); clk.now = t0.Add(d); clk.mu.Unlock() }

	steps := []struct {
		name     string
		at       time.Duration
		p        *pacer.Pacer
		done     time.Duration // if > 0: the call completed at this offset
		want     bool
		wantNext time.Duration
	}{
		{name: "a claims the free slot", at: 0, p: a, want: true, wantNext: 20 * time.Second},
		{name: "b learns when the slot frees", at: time.Second, p: b, want: false, wantNext: 20 * time.Second},
		{name: "a's call took retries and finished at 3s", at: 3 * time.Second, p: a, done: 3 * time.Second, want: false, wantNext: 23 * time.Second},
		{name: "b at 20s: its knowledge says wait", at: 20 * time.Second, p: b, want: false, wantNext: 23 * time.Second},
		{name: "b at 23s claims", at: 23 * time.Second, p: b, want: true, wantNext: 43 * time.Second},
	}
	for _, st := range steps {
		set(st.at)
		if st.done > 0 {
			if err := st.p.Done(ctx, t0.Add(st.done)); err != nil {
				t.Fatal(err)
			}
			// b still believes 20s until it reads the slot again.
			if _, err := b.TryAcquire(ctx); err != nil {
				t.Fatal(err)
			}
			continue
		}
		ok, err := st.p.TryAcquire(ctx)
		if err != nil || ok != st.want {
			t.Fatalf("%s: TryAcquire = %v, %v; want %v", st.name, ok, err, st.want)
		}
		if got := st.p.NextAt().Sub(t0); got != st.wantNext {
			t.Errorf("%s: NextAt = t0+%v, want t0+%v", st.name, got, st.wantNext)
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := pacer.New(nil, "x"); err == nil {
		t.Error("nil store accepted")
	}
	if _, err := pacer.New(newStore(t), ""); err == nil {
		t.Error("empty holder accepted")
	}
	if _, err := pacer.New(newStore(t), "x", pacer.WithInterval(0)); err == nil {
		t.Error("zero interval accepted")
	}
}

// TestReturnAfterAThrottledCall: a claim whose call was refused (429) is
// given back, so the next claim comes after the service's Retry-After, not
// a full interval; a return that comes after the slot moved changes
// nothing.
func TestReturnAfterAThrottledCall(t *testing.T) {
	store := newStore(t)
	clk := &manualClock{now: t0}
	a, _ := pacer.New(store, "a", pacer.WithClock(clk))
	b, _ := pacer.New(store, "b", pacer.WithClock(clk))
	ctx := context.Background()
	set := func(d time.Duration) { clk.mu.Lock(); clk.now = t0.Add(d); clk.mu.Unlock() }

	if ok, err := a.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("a claims: %v, %v", ok, err)
	}
	if err := a.Return(ctx, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	set(time.Second)
	if ok, err := b.TryAcquire(ctx); !ok || err != nil {
		t.Fatalf("b after a's return: %v, %v; want the slot", ok, err)
	}
	// a's knowledge is stale (t0+1s); its second return must not move b's
	// claim (t0+21s).
	if err := a.Return(ctx, t0.Add(2*time.Second)); err != nil {
		t.Fatal(err)
	}
	set(2 * time.Second)
	if ok, err := a.TryAcquire(ctx); ok || err != nil {
		t.Fatalf("a within b's interval: %v, %v; want no slot", ok, err)
	}
	if got := a.NextAt().Sub(t0); got != 21*time.Second {
		t.Errorf("NextAt = t0+%v, want t0+21s", got)
	}
}
