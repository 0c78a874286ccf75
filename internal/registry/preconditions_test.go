package registry_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

// guardedStore is a fresh store with plans basic and standard in dev and
// customer acme subscribed to basic.
func guardedStore(t *testing.T) (*registry.Store, *clock.Virtual) {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	clk := clock.NewVirtual(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC))
	s := registry.New(client, table, registry.WithClock(clk))
	ctx := context.Background()
	for _, p := range []string{"basic", "standard"} {
		if _, err := s.PutPlan(ctx, registry.Plan{Env: "dev", Name: p, UsagePlanID: "up-" + p}, "seed"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateCustomer(ctx, registry.Customer{ID: "acme", Name: "Acme"}, "seed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, registry.Subscription{CustomerID: "acme", Env: "dev", Plan: "basic", UsageKeyID: "ak", UsageKeyValue: "v"}, "seed"); err != nil {
		t.Fatal(err)
	}
	return s, clk
}

func guardedKey(id string) registry.Key {
	return registry.Key{ID: id, Hash: strings.Repeat("c", 64), CustomerID: "acme", Env: "dev", DisplayPrefix: "sh_dev_abcd…"}
}

func auditLen(t *testing.T, s *registry.Store) int {
	t.Helper()
	p, err := s.ListAudit(context.Background(), "acme", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Items)
}

// Each guarded update refuses a stale version with ErrVersionMismatch (a
// kind of ErrConflict) and writes nothing; the current version succeeds.
func TestVersionGuards(t *testing.T) {
	s, clk := guardedStore(t)
	ctx := context.Background()
	if _, err := s.CreateKey(ctx, guardedKey("key_guard"), "seed"); err != nil {
		t.Fatal(err)
	}
	later := clk.Now().Add(time.Hour)
	tests := []struct {
		name string
		call func(version int64) (int64, error) // returns the new version
		cur  int64
	}{
		{"rename customer", func(v int64) (int64, error) {
			c, err := s.UpdateCustomerName(ctx, "acme", v, "Acme Corp", "op")
			return c.Version, err
		}, 1},
		{"suspend customer", func(v int64) (int64, error) {
			c, err := s.SetCustomerStatusIf(ctx, "acme", v, registry.CustomerSuspended, "op")
			return c.Version, err
		}, 2},
		{"resume customer", func(v int64) (int64, error) {
			c, err := s.SetCustomerStatusIf(ctx, "acme", v, registry.CustomerActive, "op")
			return c.Version, err
		}, 3},
		{"change plan", func(v int64) (int64, error) {
			_, after, err := s.ChangePlanIf(ctx, "acme", "dev", v, "standard", "op")
			return after.Version, err
		}, 3}, // the subscription: created (1), suspended (2), resumed (3)
		{"suspend key", func(v int64) (int64, error) {
			k, err := s.SetKeyStatusIf(ctx, "key_guard", v, registry.KeySuspended, "op")
			return k.Version, err
		}, 1},
		{"set key expiry", func(v int64) (int64, error) {
			k, err := s.SetKeyExpiryIf(ctx, "key_guard", v, later, "op")
			return k.Version, err
		}, 2},
		{"resume key", func(v int64) (int64, error) {
			k, err := s.SetKeyStatusIf(ctx, "key_guard", v, registry.KeyActive, "op")
			return k.Version, err
		}, 3},
		{"rotate key", func(v int64) (int64, error) {
			old, _, err := s.RotateKeyIf(ctx, "key_guard", v, guardedKey("key_next"), later, "op", nil)
			return old.Version, err
		}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := auditLen(t, s)
			_, err := tc.call(tc.cur + 7)
			if !errors.Is(err, registry.ErrVersionMismatch) || !errors.Is(err, registry.ErrConflict) {
				t.Fatalf("stale version: err = %v, want ErrVersionMismatch", err)
			}
			if n := auditLen(t, s); n != before {
				t.Errorf("a refused update wrote %d audit entries", n-before)
			}
			got, err := tc.call(tc.cur)
			if err != nil {
				t.Fatalf("current version: %v", err)
			}
			if got != tc.cur+1 {
				t.Errorf("version = %d, want %d", got, tc.cur+1)
			}
			clk.Advance(time.Second)
		})
	}
}

// A create carrying an idempotency record writes the item and the record
// together, or neither.
func TestCreateKeyOnce(t *testing.T) {
	s, clk := guardedStore(t)
	ctx := context.Background()
	rec := registry.IdempotencyRecord{Actor: "arn:aws:iam::1:user/a", Key: "idem-0001", Operation: "createKey", Fingerprint: "f1",
		ExpiresAt: clk.Now().Add(24 * time.Hour)}
	first, err := s.CreateKeyOnce(ctx, guardedKey("key_one"), "op", rec)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CreateKeyOnce(ctx, guardedKey("key_two"), "op", rec)
	if !errors.Is(err, registry.ErrIdempotencyKeyUsed) {
		t.Fatalf("second create: err = %v, want ErrIdempotencyKeyUsed", err)
	}
	if _, err := s.GetKey(ctx, "key_two"); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("the refused create wrote its key: %v", err)
	}
	got, err := s.GetIdempotencyRecord(ctx, rec.Actor, rec.Key)
	if err != nil {
		t.Fatal(err)
	}
	res, err := got.Decode()
	if err != nil || res.Key == nil || res.Key.ID != first.ID || res.Key.Hash != "" {
		t.Errorf("record result = %+v, %v (want key_one, without its hash)", res.Key, err)
	}
	if _, err := s.GetIdempotencyRecord(ctx, "arn:aws:iam::1:user/b", rec.Key); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("another actor's record: err = %v", err)
	}

	clk.Advance(24 * time.Hour)
	if _, err := s.GetIdempotencyRecord(ctx, rec.Actor, rec.Key); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("lapsed record: err = %v, want ErrNotFound", err)
	}
	rec.ExpiresAt = clk.Now().Add(24 * time.Hour)
	if _, err := s.CreateKeyOnce(ctx, guardedKey("key_three"), "op", rec); err != nil {
		t.Errorf("a lapsed key is reusable: %v", err)
	}
}

func TestDeleteCustomerBinding(t *testing.T) {
	s, _ := guardedStore(t)
	ctx := context.Background()
	if _, err := s.CreateCustomer(ctx, registry.Customer{ID: "globex", Name: "Globex"}, "seed"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutBinding(ctx, registry.ClientBinding{Env: "dev", Issuer: "https://idp/", Subject: "svc", CustomerID: "acme"}, "op"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteCustomerBinding(ctx, "globex", "dev", "https://idp/", "svc", "op"); !errors.Is(err, registry.ErrBindingNotFound) {
		t.Errorf("another customer's binding: err = %v", err)
	}
	if err := s.DeleteCustomerBinding(ctx, "acme", "dev", "https://idp/", "svc", "op"); err != nil {
		t.Errorf("own binding: %v", err)
	}
	if _, err := s.GetBinding(ctx, "dev", "https://idp/", "svc"); !errors.Is(err, registry.ErrBindingNotFound) {
		t.Errorf("binding still there: %v", err)
	}
}
