package service_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

// fakeKeys records what the service asks of API Gateway.
type fakeKeys struct {
	mu                        sync.Mutex
	created, deleted          []string
	attached                  map[string]string // key id -> usage plan id
	failAttach, failCreateFor string
}

func (f *fakeKeys) CreateUsageKey(_ context.Context, env, customerID string) (string, string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if customerID == f.failCreateFor {
		return "", "", errors.New("TooManyRequestsException")
	}
	id := fmt.Sprintf("ak%d", len(f.created)+1)
	f.created = append(f.created, id)
	return id, "value-" + id, nil
}

func (f *fakeKeys) DeleteUsageKey(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, id)
	return nil
}

func (f *fakeKeys) AttachUsageKey(_ context.Context, planID, keyID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if planID == f.failAttach {
		return errors.New("ServiceUnavailable")
	}
	if f.attached == nil {
		f.attached = map[string]string{}
	}
	f.attached[keyID] = planID
	return nil
}

func (f *fakeKeys) DetachUsageKey(_ context.Context, planID, keyID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.attached[keyID] == planID {
		delete(f.attached, keyID)
	}
	return nil
}

func newService(t *testing.T) (*service.Service, *fakeKeys) {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	store := registry.New(client, table)
	ctx := context.Background()
	for name, up := range map[string]string{"basic": "up-basic", "gold": "up-gold"} {
		if _, err := store.PutPlan(ctx, registry.Plan{Env: "dev", Name: name, UsagePlanID: up}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	keys := &fakeKeys{}
	svc := service.New(store, keys)
	if _, err := svc.CreateCustomer(ctx, "acme", "Acme", "test"); err != nil {
		t.Fatal(err)
	}
	return svc, keys
}

// Two operators subscribing the same customer at once: one wins, the other
// gets ErrAlreadyExists and its API Gateway key is deleted again, so no
// metering key is left orphaned.
func TestConcurrentSubscribeLeavesNoOrphanKey(t *testing.T) {
	svc, keys := newService(t)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svc.Subscribe(context.Background(), "acme", "dev", "basic", nil, "op")
		}()
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, registry.ErrAlreadyExists):
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("subscriptions that won = %d, want 1 (errors %v)", wins, errs)
	}
	if live := len(keys.created) - len(keys.deleted); live != 1 {
		t.Errorf("API Gateway keys left = %d (created %v, deleted %v), want 1", live, keys.created, keys.deleted)
	}
	sub, err := svc.Store().GetSubscription(context.Background(), "acme", "dev")
	if err != nil {
		t.Fatal(err)
	}
	if keys.attached[sub.UsageKeyID] != "up-basic" {
		t.Errorf("the winner's key %s is attached to %q, want up-basic", sub.UsageKeyID, keys.attached[sub.UsageKeyID])
	}
}

func TestSubscribeAndChangePlan(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name        string
		setup       func(*fakeKeys)
		plan        string
		wantErr     error
		wantCreated int
	}{
		{"unknown plan creates no API Gateway key", nil, "platinum", service.ErrInvalidInput, 0},
		{"API Gateway refusing the key records nothing", func(f *fakeKeys) { f.failCreateFor = "acme" }, "basic", nil, 0},
		{"attach failure keeps the subscription for reconcile to repair", func(f *fakeKeys) { f.failAttach = "up-basic" }, "basic", nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, keys := newService(t)
			if tc.setup != nil {
				tc.setup(keys)
			}
			_, err := svc.Subscribe(ctx, "acme", "dev", tc.plan, nil, "op")
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if len(keys.created) != tc.wantCreated {
				t.Errorf("API Gateway keys created = %d, want %d", len(keys.created), tc.wantCreated)
			}
			_, gerr := svc.Store().GetSubscription(ctx, "acme", "dev")
			if recorded := gerr == nil; recorded != (tc.wantCreated == 1) {
				t.Errorf("subscription recorded = %v (err %v)", recorded, err)
			}
		})
	}

	t.Run("change plan moves the metering key", func(t *testing.T) {
		svc, keys := newService(t)
		sub, err := svc.Subscribe(ctx, "acme", "dev", "basic", nil, "op")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.ChangePlan(ctx, "acme", "dev", "gold", "op"); err != nil {
			t.Fatal(err)
		}
		if keys.attached[sub.UsageKeyID] != "up-gold" {
			t.Errorf("key %s attached to %q after the move, want up-gold", sub.UsageKeyID, keys.attached[sub.UsageKeyID])
		}
		if _, err := svc.ChangePlan(ctx, "acme", "dev", "platinum", "op"); !errors.Is(err, service.ErrInvalidInput) {
			t.Errorf("unknown plan: err = %v", err)
		}
	})
}
