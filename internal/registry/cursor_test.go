package registry_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// forge decodes a cursor the way a curious client would (it is base64url
// JSON) and re-encodes it after edit changed its attributes.
func forge(t *testing.T, cursor string, edit func(map[string]string)) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatalf("decode cursor: %v", err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("decode cursor: %v", err)
	}
	edit(m)
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// A cursor is only good for the listing that issued it: one that points at
// another partition, another index or outside the listing's key range, or
// that lacks or adds key attributes, is ErrBadCursor. DynamoDB would reject
// most of these with a ValidationException, which callers could not tell
// from an outage.
func TestCursorBelongsToItsListing(t *testing.T) {
	s, _ := newStore(t)
	ctx := context.Background()
	seed(t, s)
	if _, err := s.CreateCustomer(ctx, registry.Customer{ID: "c2", Name: "Globex"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Subscribe(ctx, registry.Subscription{CustomerID: "c2", Env: "dev", Plan: "basic", UsageKeyID: "ak2", UsageKeyValue: "v2"}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"key_a1", "key_a2", "key_a3"} {
		if _, err := s.CreateKey(ctx, newKey(id, "c1"), "op"); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"key_b1", "key_b2"} {
		if _, err := s.CreateKey(ctx, newKey(id, "c2"), "op"); err != nil {
			t.Fatal(err)
		}
	}
	next := func(p registry.Page[registry.Key], err error) string {
		t.Helper()
		if err != nil || p.Next == "" {
			t.Fatalf("first page: next %q, err %v", p.Next, err)
		}
		return p.Next
	}
	c1Keys := next(s.ListKeysByCustomer(ctx, "c1", "dev", "", 1))
	c2Keys := next(s.ListKeysByCustomer(ctx, "c2", "", "", 1))
	devKeys := next(s.ListKeysByEnv(ctx, "dev", "", 1))
	customers, err := s.ListCustomers(ctx, "", 1)
	if err != nil || customers.Next == "" {
		t.Fatalf("customers: %v", err)
	}
	c2Audit, err := s.ListAudit(ctx, "c2", "", 1)
	if err != nil || c2Audit.Next == "" {
		t.Fatalf("audit: %v", err)
	}

	keysOfC1 := func(cursor string) error {
		_, err := s.ListKeysByCustomer(ctx, "c1", "dev", cursor, 10)
		return err
	}
	tests := []struct {
		name string
		list func(cursor string) error
		cur  string
		want error
	}{
		{"its own cursor", keysOfC1, c1Keys, nil},
		{"another customer's keys", keysOfC1, c2Keys, registry.ErrBadCursor},
		{"another index's listing", keysOfC1, devKeys, registry.ErrBadCursor},
		{"another listing of the same index", func(c string) error {
			_, err := s.ListKeysByEnv(ctx, "dev", c, 10)
			return err
		}, customers.Next, registry.ErrBadCursor},
		{"another environment's key range", func(c string) error {
			_, err := s.ListKeysByCustomer(ctx, "c1", "prod", c, 10)
			return err
		}, c1Keys, registry.ErrBadCursor},
		{"another customer's audit trail", func(c string) error {
			_, err := s.ListAudit(ctx, "c1", c, 10)
			return err
		}, c2Audit.Next, registry.ErrBadCursor},
		{"partition key rewritten", keysOfC1, forge(t, c1Keys, func(m map[string]string) {
			m[registry.AttrGSI1PK] = "CUST#c2"
		}), registry.ErrBadCursor},
		{"sort key outside the listing's range", keysOfC1, forge(t, c1Keys, func(m map[string]string) {
			m[registry.AttrGSI1SK] = "BIND#dev#x"
		}), registry.ErrBadCursor},
		{"an index attribute missing", keysOfC1, forge(t, c1Keys, func(m map[string]string) {
			delete(m, registry.AttrGSI1SK)
		}), registry.ErrBadCursor},
		{"a table key attribute missing", keysOfC1, forge(t, c1Keys, func(m map[string]string) {
			delete(m, registry.AttrPK)
		}), registry.ErrBadCursor},
		{"another index's attributes added", keysOfC1, forge(t, c1Keys, func(m map[string]string) {
			m[registry.AttrGSI2PK], m[registry.AttrGSI2SK] = "ENV#dev#KEYS", "key_a1"
		}), registry.ErrBadCursor},
		{"not a key attribute", keysOfC1, forge(t, c1Keys, func(m map[string]string) {
			m["status"] = "active"
		}), registry.ErrBadCursor},
		{"not base64", keysOfC1, "not-a-cursor!", registry.ErrBadCursor},
		{"empty object", keysOfC1, base64.RawURLEncoding.EncodeToString([]byte("{}")), registry.ErrBadCursor},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.list(tc.cur); !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}
