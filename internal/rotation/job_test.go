package rotation_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/rotation"
	"github.com/stagehand-dev/stagehand/internal/rotation/kmslocal"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

// recorder is a Publisher that keeps what it was given.
type recorder struct {
	mu     sync.Mutex
	events map[string][]rotation.Event // detail type -> events
	fail   error
	after  func(n int) // called after each successful publish with the count
	n      int
}

func (r *recorder) Publish(_ context.Context, dt string, e rotation.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	if r.events == nil {
		r.events = map[string][]rotation.Event{}
	}
	r.events[dt] = append(r.events[dt], e)
	r.n++
	if r.after != nil {
		r.after(r.n)
	}
	return nil
}

func (r *recorder) count(dt string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.events[dt])
}

type fixture struct {
	client registry.DynamoDB
	store  *registry.Store
	clk    *clock.Virtual
	kms    *kmslocal.KMS
	env    *rotation.Envelope
	keys   map[string]keys.Secret // key id -> secret, as issued
}

// newFixture: plan basic with policy mode, customers c1 and c2 subscribed,
// n keys of c1 and one of c2, all created at t0.
func newFixture(t testing.TB, mode registry.RotationMode, n int) *fixture {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	clk := clock.NewVirtual(t0)
	store := registry.New(client, table, registry.WithClock(clk))
	ctx := context.Background()
	if _, err := store.PutPlan(ctx, registry.Plan{Env: "dev", Name: "basic"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.PutRotationPolicy(ctx, policy(mode), "test"); err != nil {
		t.Fatal(err)
	}
	f := &fixture{client: client, store: store, clk: clk, kms: kmslocal.New("alias/rotation"), keys: map[string]keys.Secret{}}
	f.env = rotation.NewEnvelope(f.kms, "alias/rotation")
	for _, c := range []string{"c1", "c2"} {
		if _, err := store.CreateCustomer(ctx, registry.Customer{ID: c, Name: c}, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := store.Subscribe(ctx, registry.Subscription{CustomerID: c, Env: "dev", Plan: "basic", UsageKeyID: "ak-" + c, UsageKeyValue: "v"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n + 1 {
		cust := "c1"
		if i == n {
			cust = "c2"
		}
		s, err := keys.New("dev")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := store.CreateKey(ctx, registry.Key{ID: s.ID, Hash: s.Hash.String(), CustomerID: cust, Env: "dev", DisplayPrefix: s.DisplayPrefix}, "test"); err != nil {
			t.Fatal(err)
		}
		f.keys[s.ID] = s
	}
	return f
}

func (f *fixture) job(ev rotation.Publisher, opts ...rotation.Option) *rotation.Job {
	return rotation.NewJob(f.store, f.env, ev, append([]rotation.Option{rotation.WithClock(f.clk), rotation.WithPageSize(7)}, opts...)...)
}

func (f *fixture) allKeys(t testing.TB) []registry.Key {
	t.Helper()
	var all []registry.Key
	for next := ""; ; {
		p, err := f.store.ListKeysByEnv(context.Background(), "dev", next, 100)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, p.Items...)
		if next = p.Next; next == "" {
			return all
		}
	}
}

func TestWarningOncePerWindow(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationAuto, 3)
	f.set(t0.Add(80 * day)) // due at day 90, warning from day 76
	ev := &recorder{}
	rep, err := f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if got := rep.Count(rotation.ActionWarn, rotation.ResultDone); got != 4 || ev.count(rotation.DetailRotationDue) != 4 {
		t.Fatalf("first run: %d warned, %d events; want 4 (report %+v)", got, ev.count(rotation.DetailRotationDue), rep)
	}
	for _, e := range ev.events[rotation.DetailRotationDue] {
		if e.DueAt != t0.Add(90*day).Format(time.RFC3339) || e.CustomerID == "" || e.KeyID == "" || e.EventID != "due:"+e.KeyID+":2026-04-01" {
			t.Errorf("event %+v", e)
		}
		if s := f.keys[e.KeyID]; s.Plaintext == "" {
			t.Errorf("event names unknown key %s", e.KeyID)
		}
	}
	f.set(t0.Add(81 * day))
	rep, err = f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if ev.count(rotation.DetailRotationDue) != 4 || rep.Count(rotation.ActionWarn, rotation.ResultAlreadyDone) != 4 {
		t.Errorf("next day: %d events, report %+v; want no new warning", ev.count(rotation.DetailRotationDue), rep)
	}
}

func TestWarningResentAfterADeadClaim(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationAuto, 0)
	f.set(t0.Add(80 * day))
	// The first run claims the warning, then its publish fails (it dies).
	dead := &recorder{fail: errors.New("lambda timed out")}
	rep, _ := f.job(dead).Run(ctx, rotation.RunInput{Env: "dev"})
	if rep.Failed() != 1 {
		t.Fatalf("report %+v, want the warning failed", rep)
	}
	ev := &recorder{}
	rep, _ = f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"})
	if ev.count(rotation.DetailRotationDue) != 0 || rep.Count(rotation.ActionWarn, rotation.ResultAlreadyDone) != 1 {
		t.Fatalf("while the dead run's lease holds: %d events, report %+v", ev.count(rotation.DetailRotationDue), rep)
	}
	f.clk.Advance(6 * time.Minute)
	if _, err := f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"}); err != nil {
		t.Fatal(err)
	}
	if ev.count(rotation.DetailRotationDue) != 1 {
		t.Errorf("after the lease: %d events, want the warning sent once", ev.count(rotation.DetailRotationDue))
	}
}

func TestEnforceExpiresAfterGrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationEnforce, 2)
	now := t0.Add(91 * day)
	f.set(now)
	ev := &recorder{}
	if _, err := f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"}); err != nil {
		t.Fatal(err)
	}
	for _, k := range f.allKeys(t) {
		if k.ExpiresAt == nil || !k.ExpiresAt.Equal(now.Add(7*day)) || k.Status != registry.KeyActive || k.RotatedTo != "" {
			t.Errorf("key %s: expiresAt %v status %s rotatedTo %q; want active until %v", k.ID, k.ExpiresAt, k.Status, k.RotatedTo, now.Add(7*day))
		}
	}
	if ev.count(rotation.DetailKeyExpiring) != 3 {
		t.Errorf("%d Key Expiry Scheduled events, want 3", ev.count(rotation.DetailKeyExpiring))
	}
	f.clk.Advance(day)
	rep, err := f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"})
	if err != nil || len(rep.Outcomes) != 0 || ev.count(rotation.DetailKeyExpiring) != 3 {
		t.Errorf("rerun: %v, report %+v, %d events; want nothing done", err, rep, ev.count(rotation.DetailKeyExpiring))
	}
}

func TestAutoRotationAndOneTimePickup(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationAuto, 1)
	now := t0.Add(90*day + time.Hour)
	f.set(now)
	ev := &recorder{}
	rep, err := f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"})
	if err != nil || rep.Count(rotation.ActionRotate, rotation.ResultDone) != 2 {
		t.Fatalf("run: %v, report %+v", err, rep)
	}
	svc := service.New(f.store, nil, service.WithClock(f.clk))
	pickups := rotation.NewPickups(f.store, f.env)
	for _, e := range ev.events[rotation.DetailKeyRotated] {
		old, err := f.store.GetKey(ctx, e.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if old.RotatedTo != e.NewKeyID || old.ExpiresAt == nil || !old.ExpiresAt.Equal(now.Add(7*day)) || old.EffectiveStatus(now) != registry.KeyActive {
			t.Errorf("old key %+v: want active until the grace ends, rotated to %s", old, e.NewKeyID)
		}
		if e.PickupExpiresAt != now.Add(7*day).Format(time.RFC3339) {
			t.Errorf("pickupExpiresAt %s", e.PickupExpiresAt)
		}
		// The old secret still works during the grace.
		if k, err := svc.LookupKey(ctx, f.keys[e.KeyID].Plaintext); err != nil || k.ID != e.KeyID {
			t.Errorf("old secret during grace: %v", err)
		}
		other := map[string]string{"c1": "c2", "c2": "c1"}[e.CustomerID]
		if _, err := pickups.Take(ctx, other, e.NewKeyID); !errors.Is(err, registry.ErrPickupNotFound) {
			t.Errorf("another customer's pickup: %v, want ErrPickupNotFound", err)
		}
		secret, err := pickups.Take(ctx, e.CustomerID, e.NewKeyID)
		if err != nil {
			t.Fatal(err)
		}
		k, err := svc.LookupKey(ctx, secret)
		if err != nil || k.ID != e.NewKeyID || k.RotatedFrom != e.KeyID {
			t.Errorf("picked-up secret looks up %+v, %v; want the successor of %s", k, err, e.KeyID)
		}
		if _, err := pickups.Take(ctx, e.CustomerID, e.NewKeyID); !errors.Is(err, registry.ErrPickupNotFound) {
			t.Errorf("second pickup: %v, want ErrPickupNotFound", err)
		}
	}
	// A rerun rotates nothing again: the successors are young, the old keys rotated.
	rep, err = f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"})
	if err != nil || len(rep.Outcomes) != 0 || ev.count(rotation.DetailKeyRotated) != 2 {
		t.Errorf("rerun: %v, %+v, %d rotated events", err, rep, ev.count(rotation.DetailKeyRotated))
	}
}

func TestUnpickedSecretExpiresWithTheGrace(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationAuto, 0)
	f.set(t0.Add(90 * day))
	ev := &recorder{}
	if _, err := f.job(ev).Run(ctx, rotation.RunInput{Env: "dev"}); err != nil {
		t.Fatal(err)
	}
	e := ev.events[rotation.DetailKeyRotated][0]
	raw, err := f.store.GetSecretPickup(ctx, e.NewKeyID)
	if err != nil {
		t.Fatal(err)
	}
	if raw.TTL != t0.Add(97*day).Unix() {
		t.Errorf("pickup ttl %d, want the end of the grace %d", raw.TTL, t0.Add(97*day).Unix())
	}
	f.set(t0.Add(97 * day))
	if _, err := rotation.NewPickups(f.store, f.env).Take(ctx, e.CustomerID, e.NewKeyID); !errors.Is(err, registry.ErrPickupNotFound) {
		t.Errorf("pickup after the grace: %v, want ErrPickupNotFound", err)
	}
	old, _ := f.store.GetKey(ctx, e.KeyID)
	if old.EffectiveStatus(f.clk.Now()) != registry.KeyExpired {
		t.Errorf("old key is %s after the grace, want expired", old.EffectiveStatus(f.clk.Now()))
	}
}

func TestDryRunChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationAuto, 2)
	f.set(t0.Add(95 * day))
	ev := &recorder{}
	rep, err := f.job(ev).Run(ctx, rotation.RunInput{Env: "dev", DryRun: true})
	if err != nil || rep.Count(rotation.ActionRotate, rotation.ResultPlanned) != 3 {
		t.Fatalf("dry run: %v %+v", err, rep)
	}
	if f.kms.Generate.Load() != 0 || ev.n != 0 {
		t.Errorf("dry run used KMS %d times, published %d", f.kms.Generate.Load(), ev.n)
	}
	for _, k := range f.allKeys(t) {
		if k.RotatedTo != "" || k.Version != 1 {
			t.Errorf("dry run changed key %+v", k)
		}
	}
}

// rotatedExactlyOnce checks every original key has exactly one successor,
// with a pickup that opens, and no orphan pickups remain reachable.
func rotatedExactlyOnce(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	successors := map[string][]string{}
	for _, k := range f.allKeys(t) {
		if k.RotatedFrom != "" {
			successors[k.RotatedFrom] = append(successors[k.RotatedFrom], k.ID)
		}
	}
	pickups := rotation.NewPickups(f.store, f.env)
	for id, s := range f.keys {
		got := successors[id]
		if len(got) != 1 {
			t.Errorf("key %s has %d successors %v, want exactly 1", id, len(got), got)
			continue
		}
		old, _ := f.store.GetKey(ctx, id)
		if old.RotatedTo != got[0] {
			t.Errorf("key %s rotatedTo %s, successor %s", id, old.RotatedTo, got[0])
		}
		secret, err := pickups.Take(ctx, old.CustomerID, got[0])
		if err != nil {
			t.Errorf("pickup of %s (successor of %s): %v", got[0], s.DisplayPrefix, err)
			continue
		}
		if keys.HashKey(secret).ID() != got[0] {
			t.Errorf("pickup of %s holds another key's secret", got[0])
		}
	}
}

// barrierDB holds each run's listing of keys until both runs have read
// it, so both runs act on every key: the registry's guards alone must keep
// each key to one rotation.
type barrierDB struct {
	registry.DynamoDB
	mu   sync.Mutex
	n    int
	both chan struct{}
}

func (b *barrierDB) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	out, err := b.DynamoDB.Query(ctx, in, opts...)
	if pk, ok := in.ExpressionAttributeValues[":pk"].(*ddbtypes.AttributeValueMemberS); ok && pk.Value == "ENV#dev#KEYS" {
		b.mu.Lock()
		if b.n++; b.n == 2 {
			close(b.both)
		}
		b.mu.Unlock()
		<-b.both
	}
	return out, err
}

func TestConcurrentRunsRotateEachKeyOnce(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, registry.RotationAuto, 39)
	f.set(t0.Add(100 * day))
	racing := registry.New(&barrierDB{DynamoDB: f.client, both: make(chan struct{})}, f.store.Table(), registry.WithClock(f.clk))
	ev := &recorder{}
	var wg sync.WaitGroup
	reps := make([]rotation.Report, 2)
	for i := range reps {
		wg.Go(func() {
			job := rotation.NewJob(racing, f.env, ev, rotation.WithClock(f.clk), rotation.WithPageSize(100),
				rotation.WithOwner(fmt.Sprint("run-", i)), rotation.WithWorkers(4))
			var err error
			if reps[i], err = job.Run(ctx, rotation.RunInput{Env: "dev"}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	done := reps[0].Count(rotation.ActionRotate, rotation.ResultDone) + reps[1].Count(rotation.ActionRotate, rotation.ResultDone)
	lost := reps[0].Count(rotation.ActionRotate, rotation.ResultAlreadyDone) + reps[1].Count(rotation.ActionRotate, rotation.ResultAlreadyDone)
	if done != 40 || lost != 40 || ev.count(rotation.DetailKeyRotated) != 40 || reps[0].Failed()+reps[1].Failed() != 0 {
		t.Errorf("two runs over the same 40 keys: %d rotated, %d lost the race, %d events, %d failures; want 40, 40, 40, 0",
			done, lost, ev.count(rotation.DetailKeyRotated), reps[0].Failed()+reps[1].Failed())
		for _, r := range reps {
			for _, o := range r.Outcomes {
				if o.Result == rotation.ResultFailed {
					t.Log(o.Error)
				}
			}
		}
	}
	t.Logf("run 0 rotated %d, run 1 rotated %d", reps[0].Count(rotation.ActionRotate, rotation.ResultDone), reps[1].Count(rotation.ActionRotate, rotation.ResultDone))
	rotatedExactlyOnce(t, f)
}

func TestKilledRunResumesWithoutDoubleRotation(t *testing.T) {
	f := newFixture(t, registry.RotationAuto, 19)
	f.set(t0.Add(100 * day))
	// The first run dies after 7 rotations: its context is cancelled
	// mid-flight, as a Lambda timeout would cut it.
	ctx, cancel := context.WithCancel(context.Background())
	ev := &recorder{after: func(n int) {
		if n == 7 {
			cancel()
		}
	}}
	first, _ := f.job(ev, rotation.WithWorkers(3)).Run(ctx, rotation.RunInput{Env: "dev"})
	if n := first.Count(rotation.ActionRotate, rotation.ResultDone); n < 7 || n >= 20 {
		t.Fatalf("the killed run rotated %d keys; the test needs it to stop part way", n)
	}
	ev.after = nil
	second, err := f.job(ev).Run(context.Background(), rotation.RunInput{Env: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	if second.Failed() != 0 {
		t.Errorf("resumed run: %+v", second)
	}
	rotatedExactlyOnce(t, f)
}

func TestRunStopsAtTheSafetyMarginAndResumesFromItsCursor(t *testing.T) {
	f := newFixture(t, registry.RotationEnforce, 20)
	f.set(t0.Add(91 * day))
	ev := &recorder{}
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	// A margin longer than the deadline: the run stops before its first page.
	rep, err := f.job(ev, rotation.WithSafetyMargin(2*time.Hour)).Run(ctx, rotation.RunInput{Env: "dev"})
	if err != nil || rep.Scanned != 0 || ev.n != 0 {
		t.Fatalf("past the margin: %v, %+v", err, rep)
	}
	page, err := f.store.ListKeysByEnv(ctx, "dev", "", 7)
	if err != nil {
		t.Fatal(err)
	}
	rep, err = f.job(ev).Run(ctx, rotation.RunInput{Env: "dev", Cursor: page.Next})
	if err != nil || rep.Scanned != 14 || ev.count(rotation.DetailKeyExpiring) != 14 {
		t.Errorf("resumed from the cursor: %v, scanned %d, %d events; want the 14 keys after the first page", err, rep.Scanned, ev.n)
	}
}

// set moves the virtual clock forward to at.
func (f *fixture) set(at time.Time) { f.clk.Advance(at.Sub(f.clk.Now())) }
