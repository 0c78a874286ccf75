package registry

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrKeyNotFound: no key has that id.
var ErrKeyNotFound = fmt.Errorf("key %w", ErrNotFound)

// ErrKeyRotated: the key was already rotated; rotate its successor instead.
var ErrKeyRotated = errors.New("key already rotated")

func keyKey(id string) keyAttrs { return keyAttrs{PK: "KEY#" + id, SK: "KEY"} }

func keyIndex(k Key) indexAttrs {
	return indexAttrs{
		GSI1PK: "CUST#" + k.CustomerID, GSI1SK: "KEY#" + k.Env + "#" + k.ID,
		GSI2PK: "ENV#" + k.Env + "#KEYS", GSI2SK: k.ID,
	}
}

// AllowedFrom lists the effective statuses from which a key may move to
// `to`; this is the one place the lifecycle rules live. Moving to the status
// a key already has is a no-op. Revoked and expired keys are never revived,
// but may still be revoked (so revoking is always safe).
func AllowedFrom(to KeyStatus) []KeyStatus {
	switch to {
	case KeyActive, KeySuspended:
		return []KeyStatus{KeyActive, KeySuspended}
	case KeyRevoked:
		return []KeyStatus{KeyActive, KeySuspended, KeyExpired, KeyRevoked}
	case KeyExpired:
		return []KeyStatus{KeyActive, KeySuspended, KeyExpired}
	}
	return nil
}

// CreateKey stores a new key. The key's subscription must exist and its
// customer be active; the key id must be new.
func (s *Store) CreateKey(ctx context.Context, k Key, actor string) (Key, error) {
	return s.createKey(ctx, k, actor, nil)
}

// createKey is CreateKey that also stores rec, when not nil, in the same
// transaction (see CreateKeyOnce).
func (s *Store) createKey(ctx context.Context, k Key, actor string, rec *IdempotencyRecord) (Key, error) {
	now := s.now()
	k.CreatedAt, k.UpdatedAt, k.Version = now, now, 1
	if k.Status == "" {
		k.Status = KeyActive
	}
	items, err := s.createKeyItems(k, now, actor, "key.create", nil)
	if err != nil {
		return Key{}, err
	}
	items, reasons, err := s.withRecord(rec, IdempotentResult{Key: &k}, now, items, s.createKeyReasons(k))
	if err != nil {
		return Key{}, err
	}
	if err := s.transact(ctx, items, reasons); err != nil {
		// Not the key's id: the key was not created, so an id would name
		// nothing (reason 0 names it when the id itself collided).
		return Key{}, fmt.Errorf("create key for %s in %s: %w", k.CustomerID, k.Env, err)
	}
	return k, nil
}

// createKeyItems: put the key (new id), check the subscription is active,
// append the audit entry.
func (s *Store) createKeyItems(k Key, now time.Time, actor, action string, details map[string]string) ([]types.TransactWriteItem, error) {
	item, err := marshalItem(keyKey(k.ID), keyIndex(k), k)
	if err != nil {
		return nil, err
	}
	if k.ExpiresAt != nil {
		item["expiresAt"] = avExpiry(*k.ExpiresAt)
	}
	d := map[string]string{"env": k.Env, "displayPrefix": k.DisplayPrefix}
	for n, v := range details {
		d[n] = v
	}
	audit, err := s.auditPut(AuditEntry{Subject: k.CustomerID, At: now, Actor: actor, Action: action, Target: k.ID, Details: d})
	if err != nil {
		return nil, err
	}
	return []types.TransactWriteItem{
		s.put(item, "attribute_not_exists(PK)", nil, nil),
		s.conditionCheck(subscriptionKey(k.CustomerID, k.Env), "customerStatus = :active", nil,
			map[string]types.AttributeValue{":active": avS(string(CustomerActive))}),
		audit,
	}, nil
}

func (s *Store) createKeyReasons(k Key) map[int]error {
	return map[int]error{
		0: fmt.Errorf("key %s: %w", k.ID, ErrAlreadyExists),
		1: fmt.Errorf("customer %q is not active and subscribed in %s (%w or %w)", k.CustomerID, k.Env, ErrSubscriptionNotFound, ErrCustomerSuspended),
	}
}

// GetKey reads a key by id. Callers that start from a secret derive the id
// from its hash and must compare the stored hash.
func (s *Store) GetKey(ctx context.Context, id string) (Key, error) {
	var k Key
	if err := s.get(ctx, keyKey(id), &k); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Key{}, fmt.Errorf("key %q: %w", id, ErrKeyNotFound)
		}
		return Key{}, fmt.Errorf("get key %s: %w", id, err)
	}
	return k, nil
}

// ListKeysByCustomer returns one page of a customer's keys, in one
// environment or (env "") all of them.
func (s *Store) ListKeysByCustomer(ctx context.Context, customerID, env, next string, limit int32) (Page[Key], error) {
	prefix := "KEY#"
	if env != "" {
		prefix += env + "#"
	}
	p, err := query[Key](ctx, s, listing{index: IndexGSI1, partition: "CUST#" + customerID, sortPrefix: prefix}, next, limit)
	if err != nil {
		return p, fmt.Errorf("list keys of %s: %w", customerID, err)
	}
	return p, nil
}

// ListKeysByEnv returns one page of an environment's keys ordered by id.
func (s *Store) ListKeysByEnv(ctx context.Context, env, next string, limit int32) (Page[Key], error) {
	p, err := query[Key](ctx, s, listing{index: IndexGSI2, partition: "ENV#" + env + "#KEYS"}, next, limit)
	if err != nil {
		return p, fmt.Errorf("list keys in %s: %w", env, err)
	}
	return p, nil
}

// SetKeyStatus moves a key to a new status: SetKeyStatusIf without an
// expected version.
func (s *Store) SetKeyStatus(ctx context.Context, id string, to KeyStatus, actor string) (Key, error) {
	return s.SetKeyStatusIf(ctx, id, 0, to, actor)
}

// SetKeyStatusIf moves a key to a new status with a conditional write,
// guarded by ifVersion (see preconditions.go), so two operators acting at
// once cannot lose an update or revive a revoked key. The rules are
// AllowedFrom's, judged on the key's effective status. A key already in
// the target status is returned unchanged (revoking twice is fine) and
// nothing is written. Without an expected version, a concurrent change is
// re-read and the rules checked again.
func (s *Store) SetKeyStatusIf(ctx context.Context, id string, ifVersion int64, to KeyStatus, actor string) (Key, error) {
	from := AllowedFrom(to)
	if from == nil {
		return Key{}, fmt.Errorf("status %q: %w", to, ErrInvalidTransition)
	}
	g := guard{what: "key " + id, want: ifVersion}
	for attempt := 0; ; attempt++ {
		k, err := s.GetKey(ctx, id)
		if err != nil {
			return Key{}, err
		}
		if err := g.check(k.Version); err != nil {
			return Key{}, err
		}
		now := s.now()
		// Judge by the effective status: a key past its expiry is expired
		// even while its stored status still says active.
		cur := k.EffectiveStatus(now)
		if k.Status == to && cur == to {
			return k, nil
		}
		if !slices.Contains(from, cur) {
			return Key{}, fmt.Errorf("key %s is %s, cannot become %s: %w", id, cur, to, ErrInvalidTransition)
		}
		audit, err := s.auditPut(AuditEntry{Subject: k.CustomerID, At: now, Actor: actor, Action: "key." + keyVerb(to), Target: id,
			Details: map[string]string{"from": string(k.Status), "to": string(to), "displayPrefix": k.DisplayPrefix}})
		if err != nil {
			return Key{}, err
		}
		err = s.transact(ctx, []types.TransactWriteItem{
			s.versionedUpdate(keyKey(id), k.Version, now, change{set: "#status = :to",
				names: map[string]string{"#status": "status"}, values: map[string]types.AttributeValue{":to": avS(string(to))}}),
			audit,
		}, g.onLost(0, nil))
		if g.retry(err, attempt, 5) {
			if err := s.backoff(ctx, attempt+1); err != nil {
				return Key{}, fmt.Errorf("set key %s status %s: %w", id, to, err)
			}
			continue // changed under us: re-read; the rules are checked again
		}
		if err != nil {
			return Key{}, fmt.Errorf("set key %s status %s: %w", id, to, err)
		}
		k.Status, k.UpdatedAt, k.Version = to, now, k.Version+1
		return k, nil
	}
}

func keyVerb(to KeyStatus) string {
	switch to {
	case KeyActive:
		return "resume"
	case KeySuspended:
		return "suspend"
	case KeyRevoked:
		return "revoke"
	default:
		return "expire"
	}
}

// SetKeyExpiry sets when a usable key stops working: SetKeyExpiryIf
// without an expected version.
func (s *Store) SetKeyExpiry(ctx context.Context, id string, at time.Time, actor string) (Key, error) {
	return s.SetKeyExpiryIf(ctx, id, 0, at, actor)
}

// SetKeyExpiryIf sets when a usable (active or suspended) key stops
// working, guarded by ifVersion (see preconditions.go). The time must be in
// the future; expiring a key now is SetKeyStatus(id, KeyExpired). Without
// an expected version, a concurrent change is re-read and the rules
// checked again.
//
// A rotated key (RotatedTo set) lives on only for its grace period: its
// expiry may be brought forward but never pushed back, or an extension
// racing a rotation (or made after it) would keep a replaced secret alive
// past the grace end the rotation set. Such a request is
// ErrInvalidTransition. The write's condition enforces the same
// (attribute_not_exists(rotatedTo) OR expiresAt >= the new expiry), so the
// rule holds even against a rotation that lands between the read and the
// write.
func (s *Store) SetKeyExpiryIf(ctx context.Context, id string, ifVersion int64, at time.Time, actor string) (Key, error) {
	if !at.After(s.now()) {
		return Key{}, fmt.Errorf("expiresAt %s is not in the future", at.UTC().Format(time.RFC3339))
	}
	at = at.UTC()
	g := guard{what: "key " + id, want: ifVersion}
	for attempt := 0; ; attempt++ {
		k, err := s.GetKey(ctx, id)
		if err != nil {
			return Key{}, err
		}
		if err := g.check(k.Version); err != nil {
			return Key{}, err
		}
		now := s.now()
		if !slices.Contains([]KeyStatus{KeyActive, KeySuspended}, k.EffectiveStatus(now)) {
			return Key{}, fmt.Errorf("key %s is %s: %w", id, k.EffectiveStatus(now), ErrInvalidTransition)
		}
		if k.RotatedTo != "" && (k.ExpiresAt == nil || at.After(*k.ExpiresAt)) {
			return Key{}, fmt.Errorf("key %s was rotated to %s and expires at %s, the end of its grace period; its expiry can be brought forward, never pushed back (set the successor's instead): %w",
				id, k.RotatedTo, expiryString(k.ExpiresAt), ErrInvalidTransition)
		}
		audit, err := s.auditPut(AuditEntry{Subject: k.CustomerID, At: now, Actor: actor, Action: "key.set-expiry", Target: id,
			Details: map[string]string{"expiresAt": at.Format(expiryLayout)}})
		if err != nil {
			return Key{}, err
		}
		err = s.transact(ctx, []types.TransactWriteItem{
			s.versionedUpdate(keyKey(id), k.Version, now, change{set: "expiresAt = :at",
				cond:   "(attribute_not_exists(rotatedTo) OR expiresAt >= :at)",
				values: map[string]types.AttributeValue{":at": avExpiry(at)}}),
			audit,
		}, g.onLost(0, nil))
		if g.retry(err, attempt, 5) {
			if err := s.backoff(ctx, attempt+1); err != nil {
				return Key{}, fmt.Errorf("set expiry of key %s: %w", id, err)
			}
			continue // changed under us: re-read; the rules are checked again
		}
		if err != nil {
			return Key{}, fmt.Errorf("set expiry of key %s: %w", id, err)
		}
		k.ExpiresAt, k.UpdatedAt, k.Version = &at, now, k.Version+1
		return k, nil
	}
}

// RotateKey stores successor and makes the old key expire at the end of
// its grace period: RotateKeyIf without an expected version or idempotency
// record.
func (s *Store) RotateKey(ctx context.Context, oldID string, successor Key, graceEnd time.Time, actor string) (old, next Key, err error) {
	return s.RotateKeyIf(ctx, oldID, 0, successor, graceEnd, actor, nil)
}

// RotateKeyIf stores successor and makes the old key expire at
// min(its current expiry, graceEnd), in one transaction, guarded by
// ifVersion (the old key's; see preconditions.go). A rotation never
// extends a key's life, even when an operator shortens it concurrently:
// the old key's expiry is computed from the same read as the version the
// write is conditioned on, and the write's condition itself refuses to
// raise a stored expiry (expiresAt >= the new one, compared as fixed-width
// UTC strings, see avExpiry). The successor takes its customer,
// environment, name, scopes, allowlist and expiry from that same read, so
// a concurrent access or expiry change is never undone on the successor.
// The successor inherits the old key's stored expiry (before the min with
// graceEnd; none if it had none): a key with an end date hands it on, and
// rotating never turns a key that expires into one that does not. Without
// an expected version, a lost race is re-read and judged again.
//
// Only an active key that was not rotated before can be rotated: of two
// concurrent rotations one wins and the other gets ErrKeyRotated (or
// ErrConflict after repeated losses). When rec is not nil it is stored
// (with both keys as its result) in the same transaction; a used
// idempotency key is ErrIdempotencyKeyUsed and nothing is written.
func (s *Store) RotateKeyIf(ctx context.Context, oldID string, ifVersion int64, successor Key, graceEnd time.Time, actor string, rec *IdempotencyRecord) (old, next Key, err error) {
	g := guard{what: "key " + oldID, want: ifVersion}
	for attempt := 0; ; attempt++ {
		old, err = s.GetKey(ctx, oldID)
		if err != nil {
			return old, next, err
		}
		if err := g.check(old.Version); err != nil {
			return old, next, err
		}
		now := s.now()
		if old.RotatedTo != "" {
			return old, next, fmt.Errorf("key %s was rotated to %s: %w", oldID, old.RotatedTo, ErrKeyRotated)
		}
		if st := old.EffectiveStatus(now); st != KeyActive {
			return old, next, fmt.Errorf("key %s is %s, only an active key can be rotated: %w", oldID, st, ErrInvalidTransition)
		}
		exp := graceEnd.UTC()
		if old.ExpiresAt != nil && old.ExpiresAt.Before(exp) {
			exp = old.ExpiresAt.UTC()
		}
		succ := successor
		succ.CustomerID, succ.Env, succ.RotatedFrom = old.CustomerID, old.Env, old.ID
		succ.Name, succ.Scopes, succ.AllowedCIDRs = old.Name, old.Scopes, old.AllowedCIDRs
		succ.ExpiresAt = nil
		if old.ExpiresAt != nil {
			inherited := old.ExpiresAt.UTC()
			succ.ExpiresAt = &inherited
		}
		succ.CreatedAt, succ.UpdatedAt, succ.Version = now, now, 1
		if succ.Status == "" {
			succ.Status = KeyActive
		}
		items, err := s.createKeyItems(succ, now, actor, "key.rotate",
			map[string]string{"rotatedFrom": old.ID, "oldExpiresAt": exp.Format(expiryLayout)})
		if err != nil {
			return old, next, err
		}
		items = append(items, s.versionedUpdate(keyKey(oldID), old.Version, now, change{
			set: "expiresAt = :exp, rotatedTo = :to",
			cond: "#status = :active AND attribute_not_exists(rotatedTo)" +
				" AND (attribute_not_exists(expiresAt) OR expiresAt >= :exp)",
			names: map[string]string{"#status": "status"},
			values: map[string]types.AttributeValue{
				":exp": avExpiry(exp), ":to": avS(succ.ID), ":active": avS(string(KeyActive)),
			},
		}))
		reasons := g.onLost(len(items)-1, s.createKeyReasons(succ))

		rotated := old
		rotated.ExpiresAt, rotated.RotatedTo, rotated.UpdatedAt, rotated.Version = &exp, succ.ID, now, old.Version+1
		items, reasons, err = s.withRecord(rec, IdempotentResult{Key: &succ, Previous: &rotated}, now, items, reasons)
		if err != nil {
			return old, next, err
		}
		err = s.transact(ctx, items, reasons)
		if g.retry(err, attempt, 5) {
			if err := s.backoff(ctx, attempt+1); err != nil {
				return old, next, fmt.Errorf("rotate key %s: %w", oldID, err)
			}
			continue // changed under us: re-read; the rules are judged again
		}
		if err != nil {
			return old, next, fmt.Errorf("rotate key %s: %w", oldID, err)
		}
		return rotated, succ, nil
	}
}

// UpdateKeyAccess replaces a key's scopes and IP allowlist (already
// validated by the caller) with a conditional write on the version read,
// guarded by version (see preconditions.go: 0 expects none).
func (s *Store) UpdateKeyAccess(ctx context.Context, id string, version int64, scopes, cidrs []string, actor string) (Key, error) {
	g := guard{what: "key " + id, want: version}
	k, err := s.GetKey(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if err := g.check(k.Version); err != nil {
		return Key{}, err
	}
	now := s.now()
	audit, err := s.auditPut(AuditEntry{Subject: k.CustomerID, At: now, Actor: actor, Action: "key.update-access", Target: id,
		Details: map[string]string{"scopes": fmt.Sprint(scopes), "allowedCidrs": fmt.Sprint(cidrs)}})
	if err != nil {
		return Key{}, err
	}
	var c change
	var set []string
	for _, f := range []struct {
		attr string
		vals []string
	}{{"scopes", scopes}, {"allowedCidrs", cidrs}} {
		if len(f.vals) == 0 {
			c.remove = append(c.remove, f.attr)
			continue
		}
		l := make([]types.AttributeValue, len(f.vals))
		for i, v := range f.vals {
			l[i] = avS(v)
		}
		if c.values == nil {
			c.values = map[string]types.AttributeValue{}
		}
		c.values[":"+f.attr] = &types.AttributeValueMemberL{Value: l}
		set = append(set, f.attr+" = :"+f.attr)
	}
	c.set = strings.Join(set, ", ")
	err = s.transact(ctx, []types.TransactWriteItem{s.versionedUpdate(keyKey(id), k.Version, now, c), audit}, g.onLost(0, nil))
	if err != nil {
		return Key{}, fmt.Errorf("update key %s: %w", id, err)
	}
	k.Scopes, k.AllowedCIDRs, k.UpdatedAt, k.Version = scopes, cidrs, now, k.Version+1
	return k, nil
}

// expiryLayout is how a key's expiresAt is stored (and how audit entries
// quote an expiry): UTC with exactly nine
// fractional digits, so that stored expiries order as strings exactly as
// they order in time, and DynamoDB conditions (which compare strings byte
// by byte) can compare them. RFC 3339 with trimmed fractions (RFC3339Nano)
// does not: "…:00Z" sorts after "…:00.5Z", and "…:00.5Z" after
// "…:00.55Z". Readers parse both (time.Parse accepts any fraction). An
// expiry stored in the trimmed form before this layout can only sort
// after a fixed-width one it truly equals or precedes within the same
// second, so the rotation's condition (stored >= new, with new computed
// from the stored value) holds for it; the version condition still guards
// that write.
const expiryLayout = "2006-01-02T15:04:05.000000000Z"

// expiryString is an expiry for a message: RFC 3339, or "never".
func expiryString(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// avExpiry encodes a key's expiry in expiryLayout.
func avExpiry(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: t.UTC().Format(expiryLayout)}
}
