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

// interloper is a DynamoDB client that, once armed, lets another writer
// bump an item's version just before the store's next transaction: the
// race between a read and its conditional write, made deterministic.
type interloper struct {
	*dynamodb.Client
	table string
	mu    sync.Mutex
	key   map[string]types.AttributeValue // the item to bump; nil: disarmed
}

func (c *interloper) arm(pk, sk string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.key = map[string]types.AttributeValue{
		registry.AttrPK: &types.AttributeValueMemberS{Value: pk},
		registry.AttrSK: &types.AttributeValueMemberS{Value: sk},
	}
}

func (c *interloper) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	key := c.key
	c.key = nil
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

// One implementation serves both forms of each operation: without an
// expected version a lost race is read again and retried; with one, it is
// ErrVersionMismatch and nothing is written.
func TestGuardOnALostRace(t *testing.T) {
	client, table := ddbtest.NewTable(t)
	db := &interloper{Client: client, table: table}
	clk := clock.NewVirtual(t0)
	s := registry.New(db, table, registry.WithClock(clk))
	seed(t, s)
	ctx := context.Background()

	tests := []struct {
		name    string
		pk, sk  string
		guarded func(version int64) error
		plain   func() error
		version func() int64
	}{
		{"key status", "KEY#key_race", "KEY",
			func(v int64) error {
				_, err := s.SetKeyStatusIf(ctx, "key_race", v, registry.KeySuspended, "op")
				return err
			},
			func() error { _, err := s.SetKeyStatus(ctx, "key_race", registry.KeySuspended, "op"); return err },
			func() int64 { k, _ := s.GetKey(ctx, "key_race"); return k.Version }},
		{"key expiry", "KEY#key_race", "KEY",
			func(v int64) error {
				_, err := s.SetKeyExpiryIf(ctx, "key_race", v, t0.Add(time.Hour), "op")
				return err
			},
			func() error { _, err := s.SetKeyExpiry(ctx, "key_race", t0.Add(time.Hour), "op"); return err },
			func() int64 { k, _ := s.GetKey(ctx, "key_race"); return k.Version }},
		{"key rotation", "KEY#key_race2", "KEY",
			func(v int64) error {
				_, _, err := s.RotateKeyIf(ctx, "key_race2", v, registry.Key{ID: "key_race2_g", Hash: "h"}, t0.Add(time.Hour), "op", nil)
				return err
			},
			func() error {
				_, _, err := s.RotateKey(ctx, "key_race2", registry.Key{ID: "key_race2_p", Hash: "h"}, t0.Add(time.Hour), "op")
				return err
			},
			func() int64 { k, _ := s.GetKey(ctx, "key_race2"); return k.Version }},
		{"customer status", "CUST#c1", "PROFILE",
			func(v int64) error {
				_, err := s.SetCustomerStatusIf(ctx, "c1", v, registry.CustomerSuspended, "op")
				return err
			},
			func() error { _, err := s.SetCustomerStatus(ctx, "c1", registry.CustomerSuspended, "op"); return err },
			func() int64 { c, _ := s.GetCustomer(ctx, "c1"); return c.Version }},
	}
	for _, id := range []string{"key_race", "key_race2"} {
		if _, err := s.CreateKey(ctx, newKey(id, "c1"), "op"); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range tests {
		t.Run(tc.name+": guarded", func(t *testing.T) {
			v := tc.version()
			db.arm(tc.pk, tc.sk)
			err := tc.guarded(v)
			if !errors.Is(err, registry.ErrVersionMismatch) {
				t.Fatalf("err = %v, want ErrVersionMismatch", err)
			}
			if got := tc.version(); got != v+1 {
				t.Errorf("version = %d, want %d (the interloper's write only)", got, v+1)
			}
		})
		t.Run(tc.name+": plain", func(t *testing.T) {
			v := tc.version()
			db.arm(tc.pk, tc.sk)
			if err := tc.plain(); err != nil {
				t.Fatalf("err = %v, want the retry to succeed", err)
			}
			if got := tc.version(); got != v+2 {
				t.Errorf("version = %d, want %d (the interloper's write, then the retried one)", got, v+2)
			}
		})
	}
}

// The lifecycle rules are judged on the effective status whether or not
// the caller names a version: a key past its expiry is expired, and
// cannot be suspended or resumed.
func TestGuardedStatusChangeJudgesEffectiveStatus(t *testing.T) {
	s, clk := newStore(t)
	ctx := context.Background()
	seed(t, s)
	if _, err := s.CreateKey(ctx, newKey("key_lapsed", "c1"), "op"); err != nil {
		t.Fatal(err)
	}
	k, err := s.SetKeyExpiry(ctx, "key_lapsed", clk.Now().Add(time.Second), "op")
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	for _, tc := range []struct {
		name    string
		version int64
		to      registry.KeyStatus
		want    error
	}{
		{"suspend without a version", 0, registry.KeySuspended, registry.ErrInvalidTransition},
		{"suspend at the current version", k.Version, registry.KeySuspended, registry.ErrInvalidTransition},
		{"resume at the current version", k.Version, registry.KeyActive, registry.ErrInvalidTransition},
		{"revoke at the current version", k.Version, registry.KeyRevoked, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := s.SetKeyStatusIf(ctx, "key_lapsed", tc.version, tc.to, "op"); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
