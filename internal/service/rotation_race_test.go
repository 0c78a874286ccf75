package service_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

// afterRead is a DynamoDB client that runs a hook once, right after the
// first read of one item: another operator's change landing between that
// read and whatever the caller does next, made deterministic.
type afterRead struct {
	*dynamodb.Client
	mu   sync.Mutex
	pk   string
	hook func()
}

func (c *afterRead) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := c.Client.GetItem(ctx, in, optFns...)
	c.mu.Lock()
	hook := c.hook
	if pk, ok := in.Key[registry.AttrPK].(*types.AttributeValueMemberS); !ok || pk.Value != c.pk {
		hook = nil
	}
	if hook != nil {
		c.hook = nil
	}
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return out, err
}

// beforeTx is a DynamoDB client that, once armed, runs a hook just before
// its next transaction: another operator's change landing between the
// store's guarded read and its conditional write, so that the write fails
// and the store must read again. It counts the transactions attempted.
type beforeTx struct {
	*dynamodb.Client
	mu   sync.Mutex
	hook func()
	txs  int
}

func (c *beforeTx) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	hook := c.hook
	c.hook = nil
	c.txs++
	c.mu.Unlock()
	if hook != nil {
		hook()
	}
	return c.Client.TransactWriteItems(ctx, in, optFns...)
}

// jittery is a DynamoDB client that delays each read by up to 2 ms, so
// that racing goroutines interleave differently from run to run.
type jittery struct{ *dynamodb.Client }

func (c jittery) GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	time.Sleep(time.Duration(rand.Int64N(int64(2 * time.Millisecond))))
	return c.Client.GetItem(ctx, in, optFns...)
}

// seedCustomer creates customer acme subscribed to basic in dev, through
// svc.
func seedCustomer(t *testing.T, svc *service.Service) {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.Store().PutPlan(ctx, registry.Plan{Env: "dev", Name: "basic", UsagePlanID: "up-basic"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCustomer(ctx, "acme", "Acme", "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Subscribe(ctx, "acme", "dev", "basic", nil, "test"); err != nil {
		t.Fatal(err)
	}
}

// A change another operator makes between the store's guarded read of the
// old key and the rotation's write is never undone: the write fails, the
// store reads again, and the old key's expiry ends at min(its expiry,
// now+grace) and the successor carries the key's access and expiry as they
// are when the rotation is written.
func TestRotationKeepsAConcurrentChange(t *testing.T) {
	const grace = 24 * time.Hour
	tests := []struct {
		name string
		// race is the other operator's change, made through other.
		race func(t *testing.T, other *service.Service, id string)
		// want checks the old key and the successor after the rotation.
		wantOldExpiry  time.Time
		wantNextExpiry *time.Time
		wantScopes     []string
		wantCIDRs      []string
	}{
		{
			name: "expire in 5 minutes",
			race: func(t *testing.T, other *service.Service, id string) {
				if _, err := other.SetKeyExpiry(context.Background(), id, t0.Add(5*time.Minute), "operator"); err != nil {
					t.Errorf("expire: %v", err)
				}
			},
			wantOldExpiry:  t0.Add(5 * time.Minute),
			wantNextExpiry: ptr(t0.Add(5 * time.Minute)),
			wantScopes:     []string{"orders:read", "orders:write"},
			wantCIDRs:      []string{"10.0.0.0/8"},
		},
		{
			name: "narrow the access",
			race: func(t *testing.T, other *service.Service, id string) {
				if _, err := other.UpdateKeyAccess(context.Background(), id, 0, []string{"orders:read"}, []string{"10.1.2.0/24"}, "operator"); err != nil {
					t.Errorf("update access: %v", err)
				}
			},
			wantOldExpiry: t0.Add(grace),
			wantScopes:    []string{"orders:read"},
			wantCIDRs:     []string{"10.1.2.0/24"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			client, table := ddbtest.NewTable(t)
			clk := clock.NewVirtual(t0)
			db := &beforeTx{Client: client}
			svc := service.New(registry.New(db, table, registry.WithClock(clk)), &fakeKeys{}, service.WithClock(clk))
			other := service.New(registry.New(client, table, registry.WithClock(clk)), &fakeKeys{}, service.WithClock(clk))
			seedCustomer(t, other)
			k, _, err := other.CreateKey(ctx, service.CreateKeyInput{CustomerID: "acme", Env: "dev",
				Scopes: []string{"orders:read", "orders:write"}, AllowedCIDRs: []string{"10.0.0.0/8"}}, "test")
			if err != nil {
				t.Fatal(err)
			}

			// given another operator's change lands after the store's
			// guarded read of the key, just before the rotation's write
			db.mu.Lock()
			db.hook, db.txs = func() { tc.race(t, other, k.ID) }, 0
			db.mu.Unlock()
			// when the key is rotated
			old, next, _, err := svc.RotateKey(ctx, k.ID, grace, "rotator")
			if err != nil {
				t.Fatalf("rotate: %v", err)
			}
			// then what is stored (and returned) keeps that change
			stored, err := other.Store().GetKey(ctx, k.ID)
			if err != nil {
				t.Fatal(err)
			}
			succ, err := other.Store().GetKey(ctx, next.ID)
			if err != nil {
				t.Fatal(err)
			}
			got := []any{stored.ExpiresAt.UTC(), old.ExpiresAt.UTC(), stored.RotatedTo, succ.Scopes, succ.AllowedCIDRs,
				utc(succ.ExpiresAt), utc(next.ExpiresAt), next.Scopes, db.txs}
			want := []any{tc.wantOldExpiry, tc.wantOldExpiry, next.ID, tc.wantScopes, tc.wantCIDRs,
				tc.wantNextExpiry, tc.wantNextExpiry, tc.wantScopes, 2}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("old expiry (stored, returned), rotatedTo, successor scopes, CIDRs and expiry (stored, returned), "+
					"returned successor scopes, rotation transactions attempted (-want +got):\n%s", diff)
			}
		})
	}
}

// Many rotations racing many "expire in 5 minutes" on DynamoDB Local: for
// every key, whatever the interleaving, both succeed and the old key ends
// at min(the operator's expiry, the rotation's grace end), which is the
// operator's expiry.
func TestRotationRacingExpiry(t *testing.T) {
	const (
		n     = 24
		grace = 24 * time.Hour
	)
	ctx := context.Background()
	client, table := ddbtest.NewTable(t)
	svc := service.New(registry.New(jittery{client}, table), &fakeKeys{})
	seedCustomer(t, svc)
	ids := make([]string, n)
	for i := range ids {
		k, _, err := svc.CreateKey(ctx, service.CreateKeyInput{CustomerID: "acme", Env: "dev", Scopes: []string{"orders:read"}}, "test")
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = k.ID
	}
	expireAt := time.Now().Add(5 * time.Minute).UTC()

	var wg sync.WaitGroup
	start := make(chan struct{})
	rotateErrs, expireErrs := make([]error, n), make([]error, n)
	for i, id := range ids {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, _, _, rotateErrs[i] = svc.RotateKey(ctx, id, grace, "rotator")
		}()
		go func() {
			defer wg.Done()
			<-start
			_, expireErrs[i] = svc.SetKeyExpiry(ctx, id, expireAt, "operator")
		}()
	}
	close(start)
	wg.Wait()

	var lost []string
	for i, id := range ids {
		if rotateErrs[i] != nil || expireErrs[i] != nil {
			t.Errorf("key %s: rotate err %v, expire err %v (each retries a lost race)", id, rotateErrs[i], expireErrs[i])
			continue
		}
		k, err := svc.Store().GetKey(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if k.RotatedTo == "" || k.ExpiresAt == nil || !k.ExpiresAt.Equal(expireAt) {
			lost = append(lost, fmt.Sprintf("%s: expiresAt %v, rotatedTo %q", id, k.ExpiresAt, k.RotatedTo))
		}
	}
	if len(lost) > 0 {
		t.Errorf("%d of %d keys do not end at the operator's expiry %v:\n%v", len(lost), n, expireAt, lost)
	}
}

// A retried rotation (same idempotency key) whose twin rotates the key
// between the retry's check for a record and its own read of the key
// replays the twin's result instead of failing with ErrKeyRotated.
func TestIdempotentRotationReplaysATwinThatWonMeanwhile(t *testing.T) {
	ctx := context.Background()
	client, table := ddbtest.NewTable(t)
	db := &afterRead{Client: client}
	retry := service.New(registry.New(db, table), &fakeKeys{})
	twin := service.New(registry.New(client, table), &fakeKeys{})
	seedCustomer(t, twin)
	k, _, err := twin.CreateKey(ctx, service.CreateKeyInput{CustomerID: "acme", Env: "dev", Scopes: []string{"orders:read"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	idem := func() *service.Idempotency {
		return &service.Idempotency{Key: "rotate-0001", Operation: "rotateKey", Fingerprint: "f"}
	}
	var twinNext registry.Key
	db.mu.Lock()
	db.pk, db.hook = "KEY#"+k.ID, func() {
		var err error
		if _, twinNext, _, _, err = twin.RotateKeyIf(ctx, k.ID, time.Hour, 0, "op", idem()); err != nil {
			t.Errorf("twin: %v", err)
		}
	}
	db.mu.Unlock()

	_, next, secret, replayed, err := retry.RotateKeyIf(ctx, k.ID, time.Hour, 0, "op", idem())
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	got := []any{replayed, next.ID, secret.Plaintext}
	want := []any{true, twinNext.ID, ""}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayed, successor, secret (-want +got):\n%s", diff)
	}
}

func ptr[T any](v T) *T { return &v }

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
