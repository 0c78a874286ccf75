package registry_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

// shortener is a DynamoDB client that, once armed, stores an earlier
// expiry on one key just before the store's next transaction, without
// moving its version: it takes the version condition out of play, so that
// only the rotation's own expiry condition stands between the two writes.
type shortener struct {
	*dynamodb.Client
	table string
	mu    sync.Mutex
	id    string // the key to shorten; "" disarmed
	at    string // its new expiresAt, as the store encodes it
	txs   int    // transactions attempted
}

func (c *shortener) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	c.mu.Lock()
	id := c.id
	c.id = ""
	c.txs++
	c.mu.Unlock()
	if id != "" {
		if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName: aws.String(c.table),
			Key: map[string]types.AttributeValue{
				registry.AttrPK: &types.AttributeValueMemberS{Value: "KEY#" + id},
				registry.AttrSK: &types.AttributeValueMemberS{Value: "KEY"},
			},
			UpdateExpression:          aws.String("SET expiresAt = :at"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":at": &types.AttributeValueMemberS{Value: c.at}},
		}); err != nil {
			return nil, err
		}
	}
	return c.Client.TransactWriteItems(ctx, in, optFns...)
}

// The rotation's write refuses to raise a stored expiry by its condition
// alone (expiresAt >= the new one), comparing fixed-width UTC strings: a
// stored t0+0.5 s beats a grace end of t0+0.55 s, which RFC3339Nano
// strings ("…:00.5Z" > "…:00.55Z") would get wrong. The refused write is
// re-read and retried.
func TestRotationConditionNeverRaisesExpiry(t *testing.T) {
	client, table := ddbtest.NewTable(t)
	db := &shortener{Client: client, table: table}
	s := registry.New(db, table, registry.WithClock(clock.NewVirtual(t0)))
	seed(t, s)
	ctx := context.Background()
	if _, err := s.CreateKey(ctx, newKey("key_short", "c1"), "op"); err != nil {
		t.Fatal(err)
	}
	shortened := t0.Add(500 * time.Millisecond)
	db.mu.Lock()
	db.id, db.at, db.txs = "key_short", "2026-11-21T12:00:00.500000000Z", 0
	db.mu.Unlock()

	old, _, err := s.RotateKey(ctx, "key_short", registry.Key{ID: "key_short_next", Hash: "h"}, t0.Add(550*time.Millisecond), "op")
	if err != nil {
		t.Fatalf("rotate: %v", err)
	}
	stored, err := s.GetKey(ctx, "key_short")
	if err != nil {
		t.Fatal(err)
	}
	got := []any{stored.ExpiresAt.UTC(), old.ExpiresAt.UTC(), stored.RotatedTo, db.txs}
	want := []any{shortened, shortened, "key_short_next", 2}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored and returned expiry, rotatedTo, transactions attempted (-want +got):\n%s", diff)
	}
}
