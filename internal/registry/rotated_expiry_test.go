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
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

// beforeTx is a DynamoDB client that, once armed, runs a hook just before
// the store's next transaction: another operator's change landing between
// the store's read and its write, made deterministic. It counts the
// transactions attempted.
type beforeTx struct {
	*dynamodb.Client
	mu   sync.Mutex
	hook func()
	txs  int
}

func (c *beforeTx) arm(hook func()) {
	c.mu.Lock()
	c.hook, c.txs = hook, 0
	c.mu.Unlock()
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

// rotatedStore returns a store whose client is a beforeTx, another store
// on the same table without it (the other operator), and key "key_old"
// of customer c1.
func rotatedStore(t *testing.T) (s, other *registry.Store, db *beforeTx, clk *clock.Virtual) {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	clk = clock.NewVirtual(t0)
	db = &beforeTx{Client: client}
	s = registry.New(db, table, registry.WithClock(clk))
	other = registry.New(client, table, registry.WithClock(clk))
	seed(t, other)
	if _, err := other.CreateKey(context.Background(), newKey("key_old", "c1"), "op"); err != nil {
		t.Fatal(err)
	}
	return s, other, db, clk
}

// A rotated key lives on only for its grace period: its expiry can be
// brought forward, never pushed past the grace end.
func TestRotatedKeyExpiryOnlyComesForward(t *testing.T) {
	graceEnd := t0.Add(time.Hour)
	tests := []struct {
		name    string
		at      time.Time
		wantErr error
		want    time.Time // the stored expiry after
	}{
		{name: "extend by 30 days", at: t0.Add(30 * 24 * time.Hour), wantErr: registry.ErrInvalidTransition, want: graceEnd},
		{name: "extend by a nanosecond", at: graceEnd.Add(time.Nanosecond), wantErr: registry.ErrInvalidTransition, want: graceEnd},
		{name: "the grace end itself", at: graceEnd, want: graceEnd},
		{name: "shorten", at: t0.Add(30 * time.Minute), want: t0.Add(30 * time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _, _ := rotatedStore(t)
			ctx := context.Background()
			if _, _, err := s.RotateKey(ctx, "key_old", registry.Key{ID: "key_next", Hash: "h"}, graceEnd, "rotator"); err != nil {
				t.Fatal(err)
			}
			_, err := s.SetKeyExpiry(ctx, "key_old", tc.at, "operator")
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("set expiry: err %v, want %v", err, tc.wantErr)
			}
			k, err := s.GetKey(ctx, "key_old")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, k.ExpiresAt.UTC()); diff != "" {
				t.Errorf("stored expiry (-want +got):\n%s", diff)
			}
		})
	}
}

// An operator's "extend to +90 days" whose read of the key comes before a
// rotation and whose write comes after it loses: the write fails, the
// retry re-reads the rotated key and refuses, and the old key still ends
// at the rotation's grace end.
func TestExpiryExtensionLosesToARacingRotation(t *testing.T) {
	graceEnd := t0.Add(time.Hour)
	tests := []struct {
		name string
		// race lands between the extension's read and its write.
		race func(t *testing.T, other *registry.Store, client *dynamodb.Client, table string)
	}{
		{
			name: "a rotation",
			race: func(t *testing.T, other *registry.Store, _ *dynamodb.Client, _ string) {
				if _, _, err := other.RotateKey(context.Background(), "key_old", registry.Key{ID: "key_next", Hash: "h"}, graceEnd, "rotator"); err != nil {
					t.Errorf("rotate: %v", err)
				}
			},
		},
		{
			// The version cannot tell: only the write's own condition
			// stands between the extension and the rotated key.
			name: "a rotation that leaves the version as it was",
			race: func(t *testing.T, _ *registry.Store, client *dynamodb.Client, table string) {
				if _, err := client.UpdateItem(context.Background(), &dynamodb.UpdateItemInput{
					TableName: aws.String(table),
					Key: map[string]types.AttributeValue{
						registry.AttrPK: &types.AttributeValueMemberS{Value: "KEY#key_old"},
						registry.AttrSK: &types.AttributeValueMemberS{Value: "KEY"},
					},
					UpdateExpression: aws.String("SET expiresAt = :exp, rotatedTo = :to"),
					ExpressionAttributeValues: map[string]types.AttributeValue{
						":exp": &types.AttributeValueMemberS{Value: "2026-11-21T13:00:00.000000000Z"},
						":to":  &types.AttributeValueMemberS{Value: "key_next"},
					},
				}); err != nil {
					t.Errorf("rotate in place: %v", err)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, other, db, _ := rotatedStore(t)
			ctx := context.Background()
			db.arm(func() { tc.race(t, other, db.Client, s.Table()) })

			_, err := s.SetKeyExpiry(ctx, "key_old", t0.Add(90*24*time.Hour), "operator")
			if !errors.Is(err, registry.ErrInvalidTransition) {
				t.Errorf("extension: err %v, want ErrInvalidTransition", err)
			}
			k, err := s.GetKey(ctx, "key_old")
			if err != nil {
				t.Fatal(err)
			}
			got := []any{k.ExpiresAt.UTC(), k.RotatedTo, db.txs}
			want := []any{graceEnd, "key_next", 1}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("stored expiry, rotatedTo, extension transactions attempted (-want +got):\n%s", diff)
			}
		})
	}
}

// The successor inherits the old key's stored expiry (not its grace end):
// a key with an end date hands it on, and a key without one hands on none.
func TestSuccessorInheritsTheStoredExpiry(t *testing.T) {
	grace := 24 * time.Hour
	tests := []struct {
		name      string
		expiresAt *time.Time // the old key's before the rotation
		wantOld   time.Time
		wantNext  *time.Time
	}{
		{name: "no expiry", wantOld: t0.Add(grace)},
		{name: "an end date after the grace end", expiresAt: ptr(t0.Add(10 * 24 * time.Hour)), wantOld: t0.Add(grace), wantNext: ptr(t0.Add(10 * 24 * time.Hour))},
		{name: "an end date within the grace period", expiresAt: ptr(t0.Add(time.Hour)), wantOld: t0.Add(time.Hour), wantNext: ptr(t0.Add(time.Hour))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _, _ := rotatedStore(t)
			ctx := context.Background()
			if tc.expiresAt != nil {
				if _, err := s.SetKeyExpiry(ctx, "key_old", *tc.expiresAt, "operator"); err != nil {
					t.Fatal(err)
				}
			}
			old, next, err := s.RotateKey(ctx, "key_old", registry.Key{ID: "key_next", Hash: "h"}, t0.Add(grace), "rotator")
			if err != nil {
				t.Fatal(err)
			}
			stored, err := s.GetKey(ctx, "key_next")
			if err != nil {
				t.Fatal(err)
			}
			got := []any{old.ExpiresAt.UTC(), utc(next.ExpiresAt), utc(stored.ExpiresAt)}
			want := []any{tc.wantOld, tc.wantNext, tc.wantNext}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("old key's expiry, successor's (returned, stored) (-want +got):\n%s", diff)
			}
		})
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

// Audit entries quote an expiry exactly as it is stored (fixed-width UTC,
// nine fractional digits), not truncated to whole seconds.
func TestAuditQuotesExpiriesAsStored(t *testing.T) {
	s, _, _, _ := rotatedStore(t)
	ctx := context.Background()
	if _, err := s.SetKeyExpiry(ctx, "key_old", t0.Add(2*time.Hour+250*time.Millisecond), "operator"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.RotateKey(ctx, "key_old", registry.Key{ID: "key_next", Hash: "h"}, t0.Add(time.Hour+500*time.Millisecond), "rotator"); err != nil {
		t.Fatal(err)
	}
	p, err := s.ListAudit(ctx, "c1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range p.Items {
		switch e.Action {
		case "key.set-expiry":
			got[e.Action] = e.Details["expiresAt"]
		case "key.rotate":
			got[e.Action] = e.Details["oldExpiresAt"]
		}
	}
	want := map[string]string{
		"key.set-expiry": "2026-11-21T14:00:00.250000000Z",
		"key.rotate":     "2026-11-21T13:00:00.500000000Z",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("expiries quoted by the audit trail (-want +got):\n%s", diff)
	}
}
