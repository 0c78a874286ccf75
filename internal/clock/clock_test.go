package clock

import (
	"context"
	"testing"
	"time"
)

func TestVirtual(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	v := NewVirtual(start)
	if err := v.Sleep(context.Background(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	v.Advance(time.Second)
	v.Advance(-time.Hour) // never backwards
	if got := v.Now().Sub(start); got != 21*time.Second {
		t.Errorf("elapsed = %s, want 21s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := v.Sleep(ctx, time.Second); err == nil || v.Now().Sub(start) != 21*time.Second {
		t.Errorf("sleep on a done context: err %v, clock moved to %s", err, v.Now().Sub(start))
	}
}

func TestSkipping(t *testing.T) {
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &Skipping{now: func() time.Time { return wall }}
	if err := s.Sleep(context.Background(), 20*time.Second); err != nil {
		t.Fatal(err)
	}
	wall = wall.Add(3 * time.Second) // real time passes too
	if got := s.Now().Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)); got != 23*time.Second {
		t.Errorf("now - start = %s, want 23s (20 skipped + 3 real)", got)
	}
	if s.Skipped() != 20*time.Second {
		t.Errorf("skipped = %s", s.Skipped())
	}
}

func TestSystemSleepHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := (System{}).Sleep(ctx, time.Hour); err == nil {
		t.Error("sleep on a cancelled context returned nil")
	}
}
