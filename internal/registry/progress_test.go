package registry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

func TestEnvStages(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()

	empty, err := s.GetEnvStages(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(registry.EnvStages{Env: "dev"}, empty); d != "" {
		t.Errorf("absent stages (-want +got):\n%s", d)
	}
	st := empty
	st.Stages = []registry.EnvStage{{APIID: "aaaaaaaaaa", Stage: "prod", Colour: "blue", Sequence: 1, At: t0}}
	st.Sequence = 1
	stored, err := s.PutEnvStages(ctx, st, "deploy", "test")
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.GetEnvStages(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	want := st
	want.Version, want.UpdatedAt = 1, t0
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("stored (-want +got):\n%s", d)
	}
	if d := cmp.Diff(stored, got); d != "" {
		t.Errorf("PutEnvStages result differs from read (-put +get):\n%s", d)
	}

	t.Run("a write from a stale read is a conflict", func(t *testing.T) {
		stale := empty // version 0: expects the item to be absent
		stale.Sequence = 9
		if _, err := s.PutEnvStages(ctx, stale, "deploy", "test"); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("err = %v, want ErrConflict", err)
		}
		stale = got
		if _, err := s.PutEnvStages(ctx, stale, "deploy", "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.PutEnvStages(ctx, stale, "deploy", "test"); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("second write from version %d: err = %v, want ErrConflict", stale.Version, err)
		}
	})
}

func TestRunLease(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()

	p, err := s.AcquireRun(ctx, "dev", "run-a", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if p.Owner != "run-a" || !p.LeaseUntil().Equal(t0.Add(time.Minute)) {
		t.Errorf("acquired %+v", p)
	}
	held, err := s.AcquireRun(ctx, "dev", "run-b", t0.Add(time.Minute))
	if !errors.Is(err, registry.ErrLeaseHeld) || held.Owner != "run-a" {
		t.Fatalf("second owner: err = %v, item %+v; want ErrLeaseHeld by run-a", err, held)
	}
	if _, err := s.AcquireRun(ctx, "dev", "run-a", t0.Add(2*time.Minute)); err != nil {
		t.Errorf("owner renewing its lease: %v", err)
	}

	p.Sequence, p.Counts, p.PlansDone, p.Invocations = 7, registry.DeploymentCounts{PlansUpdated: 2, Retries: 1}, []string{"up1", "up2"}, 1
	p.LeaseUntilMS = 0 // hand over
	if err := s.SaveRunProgress(ctx, p); err != nil {
		t.Fatal(err)
	}
	next, err := s.AcquireRun(ctx, "dev", "run-b", t0.Add(time.Minute))
	if err != nil {
		t.Fatalf("released lease: %v", err)
	}
	want := p
	want.Owner, want.LeaseUntilMS, want.UpdatedAt = "run-b", t0.Add(time.Minute).UnixMilli(), t0
	if d := cmp.Diff(want, next); d != "" {
		t.Errorf("progress after hand-over (-want +got):\n%s", d)
	}
	if err := s.SaveRunProgress(ctx, p); !errors.Is(err, registry.ErrLeaseLost) {
		t.Errorf("old owner saving: err = %v, want ErrLeaseLost", err)
	}

	clk.Advance(2 * time.Minute)
	if _, err := s.AcquireRun(ctx, "dev", "run-c", clk.Now().Add(time.Minute)); err != nil {
		t.Errorf("lapsed lease not taken over: %v", err)
	}
}

func TestPacerSlot(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	const name = "UpdateUsagePlan"

	slot, err := s.GetPacerSlot(ctx, name)
	if err != nil || slot.NextAtMS != 0 {
		t.Fatalf("absent slot = %+v, %v", slot, err)
	}
	steps := []struct {
		name   string
		holder string
		now    time.Time
		want   bool
	}{
		{name: "free slot", holder: "a", now: t0, want: true},
		{name: "within the interval", holder: "b", now: t0.Add(19 * time.Second), want: false},
		{name: "at the interval", holder: "b", now: t0.Add(20 * time.Second), want: true},
		{name: "same instant again", holder: "a", now: t0.Add(20 * time.Second), want: false},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			ok, err := s.ClaimPacerSlot(ctx, name, st.holder, st.now, st.now.Add(20*time.Second))
			if err != nil || ok != st.want {
				t.Errorf("claim = %v, %v; want %v", ok, err, st.want)
			}
		})
	}
	if err := s.PushPacerSlot(ctx, name, "b", t0.Add(45*time.Second)); err != nil {
		t.Fatal(err)
	}
	if err := s.PushPacerSlot(ctx, name, "a", t0.Add(41*time.Second)); err != nil { // earlier: ignored
		t.Fatal(err)
	}
	slot, err = s.GetPacerSlot(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if !slot.NextAt().Equal(t0.Add(45*time.Second)) || slot.Holder != "b" {
		t.Errorf("slot after push = %+v", slot)
	}

	// Returning a throttled claim: only its holder, only at the claimed time.
	returns := []struct {
		name    string
		holder  string
		claimed time.Time
		want    bool
		wantAt  time.Time
	}{
		{name: "another holder", holder: "a", claimed: t0.Add(45 * time.Second), want: false, wantAt: t0.Add(45 * time.Second)},
		{name: "a stale claim time", holder: "b", claimed: t0.Add(40 * time.Second), want: false, wantAt: t0.Add(45 * time.Second)},
		{name: "the holder at its claim", holder: "b", claimed: t0.Add(45 * time.Second), want: true, wantAt: t0.Add(27 * time.Second)},
	}
	for _, r := range returns {
		t.Run("return: "+r.name, func(t *testing.T) {
			ok, err := s.ReturnPacerSlot(ctx, name, r.holder, r.claimed, t0.Add(27*time.Second))
			if err != nil || ok != r.want {
				t.Errorf("return = %v, %v; want %v", ok, err, r.want)
			}
			slot, err := s.GetPacerSlot(ctx, name)
			if err != nil || !slot.NextAt().Equal(r.wantAt) {
				t.Errorf("slot = %+v, %v; want next at %v", slot, err, r.wantAt)
			}
		})
	}
}

func TestReleaseRunChecksStagesVersion(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	p, err := s.AcquireRun(ctx, "dev", "run-a", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseRun(ctx, p, 0); err != nil {
		t.Fatalf("release with no stages item and version 0: %v", err)
	}
	if p, err = s.AcquireRun(ctx, "dev", "run-a", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	st, err := s.PutEnvStages(ctx, registry.EnvStages{Env: "dev", Sequence: 1}, "deploy", "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseRun(ctx, p, 0); !errors.Is(err, registry.ErrConflict) {
		t.Errorf("stages changed since version 0: err = %v, want ErrConflict", err)
	}
	other := p
	other.Owner = "run-b"
	if err := s.ReleaseRun(ctx, other, st.Version); !errors.Is(err, registry.ErrLeaseLost) {
		t.Errorf("not the owner: err = %v, want ErrLeaseLost", err)
	}
	if err := s.ReleaseRun(ctx, p, st.Version); err != nil {
		t.Fatalf("release at the current version: %v", err)
	}
	got, err := s.GetRunProgress(ctx, "dev")
	if err != nil || got.LeaseUntilMS != 0 {
		t.Errorf("after release: %+v, %v", got, err)
	}
}
