package registry_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

// alwaysLoses is a DynamoDB client under which every transaction loses its
// race: another writer bumps the item's version just before each one.
type alwaysLoses struct {
	*dynamodb.Client
	table string
	mu    sync.Mutex
	key   map[string]types.AttributeValue // the item to bump; nil: none
	txs   int
}

func (c *alwaysLoses) aim(pk, sk string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key = map[string]types.AttributeValue{
		registry.AttrPK: &types.AttributeValueMemberS{Value: pk},
		registry.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
	c.txs = 0
}

func (c *alwaysLoses) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	key := c.key
	c.txs++
	c.mu.Unlock()
	if key != nil {
		if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(c.table), Key: key,
			UpdateExpression:          aws.String("SET version = version + :one"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":one": &types.AttributeValueMemberN{Value: "1"}},
		}); err != nil {
			return nil, err
		}
	}
	return c.Client.TransactWriteItems(ctx, in, optFns...)
}

// sleepLog is a virtual clock that records every sleep and, when cancel is
// set, cancels the caller's context as the first sleep starts.
type sleepLog struct {
	*clock.Virtual
	mu     sync.Mutex
	sleeps []time.Duration
	cancel context.CancelFunc
}

func (c *sleepLog) reset(cancel context.CancelFunc) {
	c.mu.Lock()
	c.sleeps, c.cancel = nil, cancel
	c.mu.Unlock()
}

func (c *sleepLog) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	if c.cancel != nil {
		c.cancel()
	}
	c.mu.Unlock()
	return c.Virtual.Sleep(ctx, d)
}

// A retry after a lost race waits first: retry n waits a random
// 10–50 ms × n on the store's clock, and a context done during the wait
// ends the operation with its error, without another write.
func TestRetriesBackOff(t *testing.T) {
	client, table := ddbtest.NewTable(t)
	db := &alwaysLoses{Client: client, table: table}
	clk := &sleepLog{Virtual: clock.NewVirtual(t0)}
	s := registry.New(db, table, registry.WithClock(clk))
	seed(t, s)
	if _, err := s.CreateKey(context.Background(), newKey("key_b", "c1"), "op"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pk, sk  string
		retries int
		op      func(ctx context.Context) error
	}{
		{"key status", "KEY#key_b", "KEY", 5, func(ctx context.Context) error {
			_, err := s.SetKeyStatus(ctx, "key_b", registry.KeySuspended, "op")
			return err
		}},
		{"key expiry", "KEY#key_b", "KEY", 5, func(ctx context.Context) error {
			_, err := s.SetKeyExpiry(ctx, "key_b", t0.Add(time.Hour), "op")
			return err
		}},
		{"key rotation", "KEY#key_b", "KEY", 5, func(ctx context.Context) error {
			_, _, err := s.RotateKey(ctx, "key_b", registry.Key{ID: "key_b_next", Hash: "h"}, t0.Add(time.Hour), "op")
			return err
		}},
		{"customer status", "CUST#c1", "PROFILE", 3, func(ctx context.Context) error {
			_, err := s.SetCustomerStatus(ctx, "c1", registry.CustomerSuspended, "op")
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			db.aim(tc.pk, tc.sk)
			clk.reset(nil)
			if err := tc.op(context.Background()); !errors.Is(err, registry.ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict after %d retries", err, tc.retries)
			}
			if db.txs != tc.retries+1 || len(clk.sleeps) != tc.retries {
				t.Fatalf("%d transactions and %d sleeps, want %d and %d", db.txs, len(clk.sleeps), tc.retries+1, tc.retries)
			}
			for i, d := range clk.sleeps {
				n := time.Duration(i + 1)
				if d < 10*time.Millisecond*n || d >= 50*time.Millisecond*n {
					t.Errorf("retry %d waited %v, want [%v, %v)", i+1, d, 10*time.Millisecond*n, 50*time.Millisecond*n)
				}
			}
		})
		t.Run(tc.name+": context done while waiting", func(t *testing.T) {
			db.aim(tc.pk, tc.sk)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			clk.reset(cancel)
			if err := tc.op(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			if db.txs != 1 || len(clk.sleeps) != 1 {
				t.Errorf("%d transactions and %d sleeps, want 1 and 1", db.txs, len(clk.sleeps))
			}
		})
	}
}
