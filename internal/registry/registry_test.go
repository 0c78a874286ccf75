package registry_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// newStore returns a store over a fresh table, with a virtual clock.
func newStore(t *testing.T) (*registry.Store, *clock.Virtual) {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	clk := clock.NewVirtual(t0)
	return registry.New(client, table, registry.WithClock(clk)), clk
}

// seed creates plan "basic" in dev, customer c1 subscribed to it.
func seed(t *testing.T, s *registry.Store) {
	t.Helper()
	ctx := context.Background()
	for _, name := range []string{"basic", "enterprise"} {
		if _, err := s.PutPlan(ctx, registry.Plan{Env: "dev", Name: name, UsagePlanID: "up-" + name, RateLimit: 10, BurstLimit: 20, QuotaLimit: 1000, QuotaPeriod: "DAY"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateCustomer(ctx, registry.Customer{ID: "c1", Name: "Acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, registry.Subscription{CustomerID: "c1", Env: "dev", Plan: "basic", UsageKeyID: "ak1", UsageKeyValue: "v1"}, "test"); err != nil {
		t.Fatal(err)
	}
}

func newKey(id, customer string) registry.Key {
	return registry.Key{ID: id, Hash: strings.Repeat("a", 64), CustomerID: customer, Env: "dev", DisplayPrefix: "sh_dev_abcd…", Scopes: []string{"orders:read"}}
}

func TestCustomers(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seed(t, s)

	got, err := s.GetCustomer(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	want := registry.Customer{ID: "c1", Name: "Acme", Status: registry.CustomerActive, CreatedAt: t0, UpdatedAt: t0, Version: 1}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("GetCustomer (-want +got):\n%s", d)
	}

	t.Run("duplicate id is refused and writes nothing", func(t *testing.T) {
		_, err := s.CreateCustomer(ctx, registry.Customer{ID: "c1", Name: "Other"}, "test")
		if !errors.Is(err, registry.ErrAlreadyExists) {
			t.Fatalf("err = %v, want ErrAlreadyExists", err)
		}
		c, _ := s.GetCustomer(ctx, "c1")
		if c.Name != "Acme" {
			t.Errorf("name overwritten: %q", c.Name)
		}
	})
	t.Run("unknown customer", func(t *testing.T) {
		if _, err := s.GetCustomer(ctx, "nope"); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("err = %v, want ErrNotFound", err)
		}
	})
	t.Run("suspend copies status to subscriptions", func(t *testing.T) {
		if _, err := s.SetCustomerStatus(ctx, "c1", registry.CustomerSuspended, "op"); err != nil {
			t.Fatal(err)
		}
		sub, err := s.GetSubscription(ctx, "c1", "dev")
		if err != nil {
			t.Fatal(err)
		}
		if sub.CustomerStatus != registry.CustomerSuspended {
			t.Errorf("subscription status = %s", sub.CustomerStatus)
		}
		if _, err := s.CreateKey(ctx, newKey("key_a", "c1"), "op"); !errors.Is(err, registry.ErrCustomerSuspended) {
			t.Errorf("create key for suspended customer: err = %v", err)
		}
		if _, err := s.SetCustomerStatus(ctx, "c1", registry.CustomerActive, "op"); err != nil {
			t.Fatal(err)
		}
		sub, _ = s.GetSubscription(ctx, "c1", "dev")
		if sub.CustomerStatus != registry.CustomerActive {
			t.Errorf("after resume, subscription status = %s", sub.CustomerStatus)
		}
	})
	t.Run("list customers paginates", func(t *testing.T) {
		for i := range 5 {
			if _, err := s.CreateCustomer(ctx, registry.Customer{ID: fmt.Sprintf("p%02d", i), Name: "x"}, "test"); err != nil {
				t.Fatal(err)
			}
		}
		var ids []string
		next := ""
		for pages := 0; ; pages++ {
			p, err := s.ListCustomers(ctx, next, 2)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.Items {
				ids = append(ids, c.ID)
			}
			if next = p.Next; next == "" {
				break
			}
			if pages > 10 {
				t.Fatal("pagination does not end")
			}
		}
		if d := cmp.Diff([]string{"c1", "p00", "p01", "p02", "p03", "p04"}, ids); d != "" {
			t.Errorf("customers (-want +got):\n%s", d)
		}
	})
}

func TestSubscriptionsAndPlans(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seed(t, s)

	tests := []struct {
		name string
		sub  registry.Subscription
		want error
	}{
		{"unknown plan", registry.Subscription{CustomerID: "c1", Env: "staging", Plan: "basic"}, registry.ErrPlanNotFound},
		{"unknown customer", registry.Subscription{CustomerID: "ghost", Env: "dev", Plan: "basic"}, registry.ErrCustomerNotFound},
		{"second subscription in one env", registry.Subscription{CustomerID: "c1", Env: "dev", Plan: "enterprise"}, registry.ErrAlreadyExists},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.Subscribe(ctx, tc.sub, "op"); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}

	plans, err := s.ListPlans(ctx, "dev")
	if err != nil {
		t.Fatal(err)
	}
	if len(plans) != 2 || plans[0].Name != "basic" || plans[1].UsagePlanID != "up-enterprise" {
		t.Errorf("ListPlans = %+v", plans)
	}
	if _, err := s.GetPlan(ctx, "dev", "gold"); !errors.Is(err, registry.ErrPlanNotFound) {
		t.Errorf("GetPlan unknown: %v", err)
	}

	t.Run("change plan", func(t *testing.T) {
		if _, _, err := s.ChangePlan(ctx, "c1", "dev", "gold", "op"); !errors.Is(err, registry.ErrPlanNotFound) {
			t.Fatalf("unknown plan: err = %v", err)
		}
		before, after, err := s.ChangePlan(ctx, "c1", "dev", "enterprise", "op")
		if err != nil {
			t.Fatal(err)
		}
		if before.Plan != "basic" || after.Plan != "enterprise" {
			t.Errorf("before %s after %s", before.Plan, after.Plan)
		}
		got, _ := s.GetSubscription(ctx, "c1", "dev")
		if got.Plan != "enterprise" || got.UsageKeyValue != "v1" {
			t.Errorf("stored subscription = %+v", got)
		}
	})

	t.Run("subscriptions by environment", func(t *testing.T) {
		p, err := s.ListSubscriptions(ctx, "dev", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Items) != 1 || p.Items[0].CustomerID != "c1" || p.Items[0].UsageKeyID != "ak1" {
			t.Errorf("ListSubscriptions = %+v", p.Items)
		}
	})
}

func TestKeyLifecycle(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	seed(t, s)
	k, err := s.CreateKey(ctx, newKey("key_1", "c1"), "op")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateKey(ctx, newKey("key_1", "c1"), "op"); !errors.Is(err, registry.ErrAlreadyExists) {
		t.Errorf("duplicate key id: err = %v", err)
	}
	if _, err := s.CreateKey(ctx, newKey("key_x", "ghost"), "op"); !errors.Is(err, registry.ErrSubscriptionNotFound) {
		t.Errorf("key for unknown customer: err = %v", err)
	}
	got, err := s.GetKey(ctx, "key_1")
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(k, got); d != "" {
		t.Errorf("GetKey (-created +read):\n%s", d)
	}

	steps := []struct {
		name    string
		to      registry.KeyStatus
		wantErr error
		want    registry.KeyStatus
	}{
		{"suspend", registry.KeySuspended, nil, registry.KeySuspended},
		{"suspend again is a no-op", registry.KeySuspended, nil, registry.KeySuspended},
		{"resume", registry.KeyActive, nil, registry.KeyActive},
		{"revoke", registry.KeyRevoked, nil, registry.KeyRevoked},
		{"revoke twice is fine", registry.KeyRevoked, nil, registry.KeyRevoked},
		{"revive refused", registry.KeyActive, registry.ErrInvalidTransition, registry.KeyRevoked},
		{"suspend a revoked key refused", registry.KeySuspended, registry.ErrInvalidTransition, registry.KeyRevoked},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			_, err := s.SetKeyStatus(ctx, "key_1", st.to, "op")
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("err = %v, want %v", err, st.wantErr)
			}
			got, _ := s.GetKey(ctx, "key_1")
			if got.Status != st.want {
				t.Errorf("status = %s, want %s", got.Status, st.want)
			}
		})
	}

	t.Run("expiry", func(t *testing.T) {
		if _, err := s.CreateKey(ctx, newKey("key_2", "c1"), "op"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SetKeyExpiry(ctx, "key_2", t0.Add(-time.Hour), "op"); err == nil {
			t.Error("expiry in the past accepted")
		}
		k2, err := s.SetKeyExpiry(ctx, "key_2", t0.Add(time.Hour), "op")
		if err != nil {
			t.Fatal(err)
		}
		if got := k2.EffectiveStatus(clk.Now()); got != registry.KeyActive {
			t.Errorf("before expiry: %s", got)
		}
		clk.Advance(time.Hour)
		stored, _ := s.GetKey(ctx, "key_2")
		if got := stored.EffectiveStatus(clk.Now()); got != registry.KeyExpired {
			t.Errorf("at expiry: %s", got)
		}
	})

	t.Run("update access", func(t *testing.T) {
		if _, err := s.CreateKey(ctx, newKey("key_3", "c1"), "op"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.UpdateKeyAccess(ctx, "key_3", 99, nil, nil, "op"); !errors.Is(err, registry.ErrConflict) {
			t.Errorf("stale version: err = %v", err)
		}
		k3, err := s.UpdateKeyAccess(ctx, "key_3", 1, []string{"a", "b"}, []string{"10.0.0.0/8"}, "op")
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := s.GetKey(ctx, "key_3")
		if d := cmp.Diff(k3, stored); d != "" {
			t.Errorf("(-returned +stored):\n%s", d)
		}
		if _, err := s.UpdateKeyAccess(ctx, "key_3", 2, nil, nil, "op"); err != nil {
			t.Fatal(err)
		}
		stored, _ = s.GetKey(ctx, "key_3")
		if len(stored.Scopes) != 0 || len(stored.AllowedCIDRs) != 0 {
			t.Errorf("cleared access still set: %+v", stored)
		}
	})
}

func TestRotateKey(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	seed(t, s)
	if _, err := s.CreateKey(ctx, newKey("key_old", "c1"), "op"); err != nil {
		t.Fatal(err)
	}
	grace := t0.Add(24 * time.Hour)
	old, next, err := s.RotateKey(ctx, "key_old", registry.Key{ID: "key_new", Hash: strings.Repeat("b", 64), DisplayPrefix: "sh_dev_wxyz…"}, grace, "op")
	if err != nil {
		t.Fatal(err)
	}
	if old.RotatedTo != "key_new" || !old.ExpiresAt.Equal(grace) || next.RotatedFrom != "key_old" || next.CustomerID != "c1" {
		t.Errorf("old %+v next %+v", old, next)
	}
	if _, _, err := s.RotateKey(ctx, "key_old", registry.Key{ID: "key_new2", Hash: "c"}, grace, "op"); !errors.Is(err, registry.ErrKeyRotated) {
		t.Errorf("second rotation: err = %v", err)
	}
	stored, _ := s.GetKey(ctx, "key_old")
	if stored.EffectiveStatus(clk.Now()) != registry.KeyActive {
		t.Error("old key must stay valid during grace")
	}
	clk.Advance(24 * time.Hour)
	if stored.EffectiveStatus(clk.Now()) != registry.KeyExpired {
		t.Error("old key must expire after grace")
	}
}

// Conditional-write races: concurrent operators must not lose an update.
func TestConcurrentKeyChanges(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seed(t, s)

	t.Run("two revokes both succeed, one audit entry", func(t *testing.T) {
		if _, err := s.CreateKey(ctx, newKey("key_r", "c1"), "op"); err != nil {
			t.Fatal(err)
		}
		errs := race(2, func(int) error { _, err := s.SetKeyStatus(ctx, "key_r", registry.KeyRevoked, "op"); return err })
		for _, err := range errs {
			if err != nil {
				t.Errorf("revoke: %v", err)
			}
		}
		if n := countAudit(t, s, "c1", "key.revoke", "key_r"); n != 1 {
			t.Errorf("revoke audit entries = %d, want 1", n)
		}
	})

	t.Run("two rotations: exactly one wins", func(t *testing.T) {
		if _, err := s.CreateKey(ctx, newKey("key_rot", "c1"), "op"); err != nil {
			t.Fatal(err)
		}
		errs := race(2, func(i int) error {
			_, _, err := s.RotateKey(ctx, "key_rot", registry.Key{ID: fmt.Sprintf("key_succ%d", i), Hash: "h"}, t0.Add(time.Hour), "op")
			return err
		})
		wins := 0
		for _, err := range errs {
			switch {
			case err == nil:
				wins++
			case errors.Is(err, registry.ErrConflict), errors.Is(err, registry.ErrKeyRotated):
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if wins != 1 {
			t.Fatalf("rotations that won = %d, want 1", wins)
		}
		old, _ := s.GetKey(ctx, "key_rot")
		succ, err := s.GetKey(ctx, old.RotatedTo)
		if err != nil {
			t.Fatalf("winner's successor missing: %v", err)
		}
		loser := "key_succ0"
		if succ.ID == loser {
			loser = "key_succ1"
		}
		if _, err := s.GetKey(ctx, loser); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("losing rotation wrote its successor %s: %v", loser, err)
		}
	})

	t.Run("suspend racing revoke ends revoked", func(t *testing.T) {
		if _, err := s.CreateKey(ctx, newKey("key_sr", "c1"), "op"); err != nil {
			t.Fatal(err)
		}
		race(2, func(i int) error {
			to := registry.KeySuspended
			if i == 1 {
				to = registry.KeyRevoked
			}
			_, err := s.SetKeyStatus(ctx, "key_sr", to, "op")
			return err
		})
		k, _ := s.GetKey(ctx, "key_sr")
		if k.Status != registry.KeyRevoked {
			t.Errorf("status = %s, want revoked whatever the order", k.Status)
		}
	})
}

func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func countAudit(t *testing.T, s *registry.Store, subject, action, target string) int {
	t.Helper()
	p, err := s.ListAudit(context.Background(), subject, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range p.Items {
		if e.Action == action && e.Target == target {
			n++
		}
	}
	return n
}

// A query page stops at 1 MB; the store must hand out a cursor and the
// caller must see every item exactly once.
func TestPaginationPastOneMegabyte(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seed(t, s)
	fat := make([]string, 40) // ~4 KB of scopes per key: 300 keys ≈ 1.2 MB
	for i := range fat {
		fat[i] = fmt.Sprintf("scope:%02d:%s", i, strings.Repeat("x", 90))
	}
	const n = 300
	for i := range n {
		k := newKey(fmt.Sprintf("key_%04d", i), "c1")
		k.Scopes = fat
		if _, err := s.CreateKey(ctx, k, "op"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		list func(next string) (registry.Page[registry.Key], error)
	}{
		{"keys by customer", func(next string) (registry.Page[registry.Key], error) {
			return s.ListKeysByCustomer(ctx, "c1", "dev", next, 0)
		}},
		{"keys by environment", func(next string) (registry.Page[registry.Key], error) {
			return s.ListKeysByEnv(ctx, "dev", next, 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]bool{}
			pages := 0
			next := ""
			for {
				p, err := tc.list(next)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				for _, k := range p.Items {
					if seen[k.ID] {
						t.Fatalf("key %s returned twice", k.ID)
					}
					seen[k.ID] = true
				}
				if next = p.Next; next == "" {
					break
				}
			}
			if len(seen) != n {
				t.Errorf("saw %d keys, want %d", len(seen), n)
			}
			if pages < 2 {
				t.Errorf("pages = %d: the 1 MB page limit was not exercised", pages)
			}
		})
	}
	if _, err := s.ListKeysByEnv(ctx, "dev", "not-a-cursor!", 0); !errors.Is(err, registry.ErrBadCursor) {
		t.Errorf("bad cursor: err = %v", err)
	}
}

func TestBindings(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seed(t, s)
	b := registry.ClientBinding{Env: "dev", Issuer: "https://idp.example.com/#a", Subject: "svc#1", CustomerID: "c1", Scopes: []string{"orders:read"}}
	if _, err := s.PutBinding(ctx, b, "op"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBinding(ctx, b, "op"); !errors.Is(err, registry.ErrAlreadyExists) {
		t.Errorf("duplicate binding: %v", err)
	}
	if _, err := s.PutBinding(ctx, registry.ClientBinding{Env: "prod", Issuer: "i", Subject: "s", CustomerID: "c1"}, "op"); !errors.Is(err, registry.ErrSubscriptionNotFound) {
		t.Errorf("binding without subscription: %v", err)
	}
	got, err := s.GetBinding(ctx, "dev", b.Issuer, b.Subject)
	if err != nil {
		t.Fatal(err)
	}
	if got.CustomerID != "c1" || got.Scopes[0] != "orders:read" {
		t.Errorf("GetBinding = %+v", got)
	}
	// "#" inside issuer/subject cannot alias another binding.
	if _, err := s.GetBinding(ctx, "dev", "https://idp.example.com/", "a#svc#1"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("aliased binding found: %v", err)
	}
	all, err := s.ListBindings(ctx, "c1")
	if err != nil || len(all) != 1 {
		t.Errorf("ListBindings = %v, %v", all, err)
	}
	if err := s.DeleteBinding(ctx, "dev", b.Issuer, b.Subject, "op"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBinding(ctx, "dev", b.Issuer, b.Subject, "op"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
}

func TestDeploymentsNewestSequenceWins(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	d := func(seq int64) registry.Deployment {
		return registry.Deployment{Env: "dev", Sequence: seq, APIID: fmt.Sprintf("api%d", seq), Stage: "dev", Colour: "blue"}
	}
	if _, created, err := s.RecordDeployment(ctx, d(5), "ci"); err != nil || !created {
		t.Fatalf("first: created=%v err=%v", created, err)
	}
	if got, created, err := s.RecordDeployment(ctx, d(5), "ci"); err != nil || created || got.APIID != "api5" {
		t.Fatalf("duplicate: got=%+v created=%v err=%v", got, created, err)
	}
	if _, _, err := s.RecordDeployment(ctx, d(4), "ci"); !errors.Is(err, registry.ErrStaleDeployment) {
		t.Fatalf("stale: err = %v", err)
	}
	if _, err := s.GetDeployment(ctx, "dev", 4); !errors.Is(err, registry.ErrNotFound) {
		t.Error("stale deployment was written")
	}

	// Ten concurrent deliveries of sequences 6..15: the latest ends at 15.
	errs := race(10, func(i int) error { _, _, err := s.RecordDeployment(ctx, d(int64(6+i)), "ci"); return err })
	for _, err := range errs {
		if err != nil && !errors.Is(err, registry.ErrStaleDeployment) {
			t.Errorf("concurrent record: %v", err)
		}
	}
	latest, err := s.GetLatestDeployment(ctx, "dev")
	if err != nil || latest.Sequence != 15 {
		t.Fatalf("latest = %d, %v; want 15", latest.Sequence, err)
	}

	counts := registry.DeploymentCounts{PlansUpdated: 3, KeysAttached: 7, FailingPlans: []string{"p1", "p2"}}
	if _, err := s.FinishDeployment(ctx, "dev", 15, registry.DeploymentAssociated, "", counts, "handler"); err != nil {
		t.Fatal(err)
	}
	latest, _ = s.GetLatestDeployment(ctx, "dev")
	if latest.State != registry.DeploymentAssociated || !cmp.Equal(latest.Counts, counts) {
		t.Errorf("latest after finish = %+v", latest)
	}
	// Finishing an older one leaves the latest pointer alone.
	if _, err := s.FinishDeployment(ctx, "dev", 5, registry.DeploymentRetired, "", registry.DeploymentCounts{}, "handler"); err != nil {
		t.Fatal(err)
	}
	latest, _ = s.GetLatestDeployment(ctx, "dev")
	if latest.Sequence != 15 {
		t.Errorf("latest moved to %d", latest.Sequence)
	}
	// Concurrent deliveries that arrived after a newer one were stale and
	// not recorded, so the history holds 15 first, then some of 6..14, then 5.
	p, err := s.ListDeployments(ctx, "dev", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, x := range p.Items {
		seqs = append(seqs, x.Sequence)
	}
	if len(seqs) < 2 || seqs[0] != 15 || seqs[len(seqs)-1] != 5 {
		t.Errorf("ListDeployments = %v, want 15 first and 5 last", seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] >= seqs[i-1] {
			t.Errorf("ListDeployments not newest first: %v", seqs)
		}
	}
}

func TestAuditTrail(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	seed(t, s)
	clk.Advance(time.Second)
	if _, err := s.CreateKey(ctx, newKey("key_1", "c1"), "alice"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if _, err := s.SetKeyStatus(ctx, "key_1", registry.KeySuspended, "bob"); err != nil {
		t.Fatal(err)
	}
	p, err := s.ListAudit(ctx, "c1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range p.Items {
		got = append(got, e.Actor+" "+e.Action+" "+e.Target)
		for k, v := range e.Details {
			if strings.Contains(v, strings.Repeat("a", 64)) {
				t.Errorf("audit detail %s holds the key hash", k)
			}
		}
	}
	// seed's two entries share one virtual instant, so their order is open.
	want := []string{"bob key.suspend key_1", "alice key.create key_1", "test customer.create c1", "test subscription.create dev"}
	if len(got) == 4 {
		got = append(got[:2], cmpSorted(got[2:])...)
	}
	if d := cmp.Diff(want, got, cmpopts.EquateEmpty()); d != "" {
		t.Errorf("audit newest first (-want +got):\n%s", d)
	}
}

func cmpSorted(s []string) []string {
	out := append([]string(nil), s...)
	slices.Sort(out)
	return out
}

// Every (from, to) pair of key statuses, through the real conditional writes.
func TestKeyStatusTransitions(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	seed(t, s)
	const (
		active    = registry.KeyActive
		suspended = registry.KeySuspended
		revoked   = registry.KeyRevoked
		expired   = registry.KeyExpired
	)
	// into puts a new key into status from (expired: by passing its expiry).
	into := func(t *testing.T, id string, from registry.KeyStatus) {
		t.Helper()
		if _, err := s.CreateKey(ctx, newKey(id, "c1"), "op"); err != nil {
			t.Fatal(err)
		}
		var err error
		switch from {
		case suspended, revoked:
			_, err = s.SetKeyStatus(ctx, id, from, "op")
		case expired:
			_, err = s.SetKeyExpiry(ctx, id, clk.Now().Add(time.Second), "op")
			clk.Advance(time.Second)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ok := error(nil)
	tests := []struct {
		from, to registry.KeyStatus
		want     error
	}{
		{active, active, ok}, {active, suspended, ok}, {active, revoked, ok}, {active, expired, ok},
		{suspended, active, ok}, {suspended, suspended, ok}, {suspended, revoked, ok}, {suspended, expired, ok},
		{revoked, active, registry.ErrInvalidTransition}, {revoked, suspended, registry.ErrInvalidTransition},
		{revoked, revoked, ok}, {revoked, expired, registry.ErrInvalidTransition},
		{expired, active, registry.ErrInvalidTransition}, {expired, suspended, registry.ErrInvalidTransition},
		{expired, revoked, ok}, {expired, expired, ok},
	}
	for i, tc := range tests {
		t.Run(fmt.Sprintf("%s to %s", tc.from, tc.to), func(t *testing.T) {
			id := fmt.Sprintf("key_t%02d", i)
			into(t, id, tc.from)
			_, err := s.SetKeyStatus(ctx, id, tc.to, "op")
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			k, _ := s.GetKey(ctx, id)
			want := tc.to
			if tc.want != nil {
				want = tc.from
			}
			if got := k.EffectiveStatus(clk.Now()); got != want {
				t.Errorf("effective status = %s, want %s", got, want)
			}
		})
	}
	if _, err := s.SetKeyStatus(ctx, "key_t00", "deleted", "op"); !errors.Is(err, registry.ErrInvalidTransition) {
		t.Errorf("unknown status: err = %v", err)
	}
}
