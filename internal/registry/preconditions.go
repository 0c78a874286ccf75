package registry

// Updates guarded by a version the caller read earlier (HTTP If-Match).
// Each *If function with ifVersion 0 behaves exactly like its unguarded
// counterpart (and delegates to it where there is one); with a non-zero
// ifVersion it refuses with ErrVersionMismatch unless the item is still at
// that version, both when it reads the item and, atomically, in the
// conditional write.

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrVersionMismatch: the item is no longer at the version the caller
// expected (it wraps ErrConflict, so callers that only know ErrConflict
// still see a conflict).
var ErrVersionMismatch = fmt.Errorf("version mismatch: %w", ErrConflict)

func checkVersion(what string, have, want int64) error {
	if want != 0 && have != want {
		return fmt.Errorf("%s is at version %d, not %d: %w", what, have, want, ErrVersionMismatch)
	}
	return nil
}

// condVersion is the version a conditional write compares: the expected
// one when given, else the one read.
func condVersion(read, want int64) int64 {
	if want != 0 {
		return want
	}
	return read
}

// UpdateCustomerName renames a customer. With ifVersion 0 the write is
// conditioned on the version read (a concurrent change is ErrConflict).
// Setting the name it already has writes nothing.
func (s *Store) UpdateCustomerName(ctx context.Context, id string, ifVersion int64, name, actor string) (Customer, error) {
	c, err := s.GetCustomer(ctx, id)
	if err != nil {
		return Customer{}, err
	}
	if err := checkVersion("customer "+id, c.Version, ifVersion); err != nil {
		return Customer{}, err
	}
	if c.Name == name {
		return c, nil
	}
	now := s.now()
	audit, err := s.auditPut(AuditEntry{Subject: id, At: now, Actor: actor, Action: "customer.rename", Target: id,
		Details: map[string]string{"from": c.Name, "to": name}})
	if err != nil {
		return Customer{}, err
	}
	mismatch := ErrConflict
	if ifVersion != 0 {
		mismatch = ErrVersionMismatch
	}
	err = s.transact(ctx, []types.TransactWriteItem{{Update: &types.Update{
		TableName:                aws.String(s.table),
		Key:                      customerKey(id).av(),
		UpdateExpression:         aws.String("SET #name = :name, updatedAt = :now, version = :next"),
		ConditionExpression:      aws.String("version = :version"),
		ExpressionAttributeNames: map[string]string{"#name": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":name": avS(name), ":now": avTime(now), ":next": avN(c.Version + 1), ":version": avN(c.Version),
		},
	}}, audit}, map[int]error{0: fmt.Errorf("customer %s: %w", id, mismatch)})
	if err != nil {
		return Customer{}, fmt.Errorf("rename customer %s: %w", id, err)
	}
	c.Name, c.UpdatedAt, c.Version = name, now, c.Version+1
	return c, nil
}

// SetCustomerStatusIf is SetCustomerStatus guarded by ifVersion.
func (s *Store) SetCustomerStatusIf(ctx context.Context, id string, ifVersion int64, status CustomerStatus, actor string) (Customer, error) {
	if ifVersion == 0 {
		return s.SetCustomerStatus(ctx, id, status, actor)
	}
	if status != CustomerActive && status != CustomerSuspended {
		return Customer{}, fmt.Errorf("status %q: must be active or suspended", status)
	}
	c, err := s.GetCustomer(ctx, id)
	if err != nil {
		return Customer{}, err
	}
	if err := checkVersion("customer "+id, c.Version, ifVersion); err != nil {
		return Customer{}, err
	}
	if c.Status == status {
		return c, nil
	}
	subs, err := s.ListCustomerSubscriptions(ctx, id)
	if err != nil {
		return Customer{}, err
	}
	now := s.now()
	items := []types.TransactWriteItem{{Update: &types.Update{
		TableName:                aws.String(s.table),
		Key:                      customerKey(id).av(),
		UpdateExpression:         aws.String("SET #status = :status, updatedAt = :now, version = :next"),
		ConditionExpression:      aws.String("version = :version"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":status": avS(string(status)), ":now": avTime(now), ":next": avN(ifVersion + 1), ":version": avN(ifVersion),
		},
	}}}
	for _, sub := range subs {
		items = append(items, types.TransactWriteItem{Update: &types.Update{
			TableName:                 aws.String(s.table),
			Key:                       subscriptionKey(id, sub.Env).av(),
			UpdateExpression:          aws.String("SET customerStatus = :status, updatedAt = :now, version = version + :one"),
			ConditionExpression:       aws.String("attribute_exists(PK)"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":status": avS(string(status)), ":now": avTime(now), ":one": avN(1)},
		}})
	}
	audit, err := s.auditPut(AuditEntry{Subject: id, At: now, Actor: actor, Action: "customer." + statusVerb(status), Target: id,
		Details: map[string]string{"from": string(c.Status), "to": string(status)}})
	if err != nil {
		return Customer{}, err
	}
	items = append(items, audit)
	if err := s.transact(ctx, items, map[int]error{0: fmt.Errorf("customer %s: %w", id, ErrVersionMismatch)}); err != nil {
		return Customer{}, fmt.Errorf("set customer %s status %s: %w", id, status, err)
	}
	c.Status, c.UpdatedAt, c.Version = status, now, c.Version+1
	return c, nil
}

// SetKeyStatusIf is SetKeyStatus guarded by ifVersion (one attempt: a
// concurrent change is ErrVersionMismatch, not retried).
func (s *Store) SetKeyStatusIf(ctx context.Context, id string, ifVersion int64, to KeyStatus, actor string) (Key, error) {
	if ifVersion == 0 {
		return s.SetKeyStatus(ctx, id, to, actor)
	}
	from := AllowedFrom(to)
	if from == nil {
		return Key{}, fmt.Errorf("status %q: %w", to, ErrInvalidTransition)
	}
	k, err := s.GetKey(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if err := checkVersion("key "+id, k.Version, ifVersion); err != nil {
		return Key{}, err
	}
	if k.Status == to {
		return k, nil
	}
	if !containsStatus(from, k.Status) {
		return Key{}, fmt.Errorf("key %s is %s, cannot become %s: %w", id, k.Status, to, ErrInvalidTransition)
	}
	now := s.now()
	audit, err := s.auditPut(AuditEntry{Subject: k.CustomerID, At: now, Actor: actor, Action: "key." + keyVerb(to), Target: id,
		Details: map[string]string{"from": string(k.Status), "to": string(to), "displayPrefix": k.DisplayPrefix}})
	if err != nil {
		return Key{}, err
	}
	err = s.transact(ctx, []types.TransactWriteItem{{Update: &types.Update{
		TableName:                aws.String(s.table),
		Key:                      keyKey(id).av(),
		UpdateExpression:         aws.String("SET #status = :to, updatedAt = :now, version = :next"),
		ConditionExpression:      aws.String("version = :version"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":to": avS(string(to)), ":now": avTime(now), ":next": avN(ifVersion + 1), ":version": avN(ifVersion),
		},
	}}, audit}, map[int]error{0: fmt.Errorf("key %s: %w", id, ErrVersionMismatch)})
	if err != nil {
		return Key{}, fmt.Errorf("set key %s status %s: %w", id, to, err)
	}
	k.Status, k.UpdatedAt, k.Version = to, now, k.Version+1
	return k, nil
}

// SetKeyExpiryIf is SetKeyExpiry guarded by ifVersion.
func (s *Store) SetKeyExpiryIf(ctx context.Context, id string, ifVersion int64, at time.Time, actor string) (Key, error) {
	if ifVersion == 0 {
		return s.SetKeyExpiry(ctx, id, at, actor)
	}
	now := s.now()
	if !at.After(now) {
		return Key{}, fmt.Errorf("expiresAt %s is not in the future", at.UTC().Format(time.RFC3339))
	}
	k, err := s.GetKey(ctx, id)
	if err != nil {
		return Key{}, err
	}
	if err := checkVersion("key "+id, k.Version, ifVersion); err != nil {
		return Key{}, err
	}
	if !containsStatus([]KeyStatus{KeyActive, KeySuspended}, k.EffectiveStatus(now)) {
		return Key{}, fmt.Errorf("key %s is %s: %w", id, k.EffectiveStatus(now), ErrInvalidTransition)
	}
	audit, err := s.auditPut(AuditEntry{Subject: k.CustomerID, At: now, Actor: actor, Action: "key.set-expiry", Target: id,
		Details: map[string]string{"expiresAt": at.UTC().Format(time.RFC3339)}})
	if err != nil {
		return Key{}, err
	}
	err = s.transact(ctx, []types.TransactWriteItem{{Update: &types.Update{
		TableName:           aws.String(s.table),
		Key:                 keyKey(id).av(),
		UpdateExpression:    aws.String("SET expiresAt = :at, updatedAt = :now, version = :next"),
		ConditionExpression: aws.String("version = :version"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":at": avTime(at), ":now": avTime(now), ":next": avN(ifVersion + 1), ":version": avN(ifVersion),
		},
	}}, audit}, map[int]error{0: fmt.Errorf("key %s: %w", id, ErrVersionMismatch)})
	if err != nil {
		return Key{}, fmt.Errorf("set expiry of key %s: %w", id, err)
	}
	at = at.UTC()
	k.ExpiresAt, k.UpdatedAt, k.Version = &at, now, k.Version+1
	return k, nil
}

// RotateKeyIf is RotateKey guarded by ifVersion and, when rec is not nil,
// storing rec (with both keys as its result) in the same transaction; a
// used idempotency key is ErrIdempotencyKeyUsed and nothing is written.
func (s *Store) RotateKeyIf(ctx context.Context, oldID string, ifVersion int64, successor Key, oldExpiresAt time.Time, actor string, rec *IdempotencyRecord) (old, next Key, err error) {
	if ifVersion == 0 && rec == nil {
		return s.RotateKey(ctx, oldID, successor, oldExpiresAt, actor)
	}
	old, err = s.GetKey(ctx, oldID)
	if err != nil {
		return old, next, err
	}
	if err := checkVersion("key "+oldID, old.Version, ifVersion); err != nil {
		return old, next, err
	}
	now := s.now()
	if old.RotatedTo != "" {
		return old, next, fmt.Errorf("key %s was rotated to %s: %w", oldID, old.RotatedTo, ErrKeyRotated)
	}
	if st := old.EffectiveStatus(now); st != KeyActive {
		return old, next, fmt.Errorf("key %s is %s, only an active key can be rotated: %w", oldID, st, ErrInvalidTransition)
	}
	successor.CustomerID, successor.Env, successor.RotatedFrom = old.CustomerID, old.Env, old.ID
	successor.CreatedAt, successor.UpdatedAt, successor.Version = now, now, 1
	if successor.Status == "" {
		successor.Status = KeyActive
	}
	items, err := s.createKeyItems(successor, now, actor, "key.rotate",
		map[string]string{"rotatedFrom": old.ID, "oldExpiresAt": oldExpiresAt.UTC().Format(time.RFC3339)})
	if err != nil {
		return old, next, err
	}
	version := condVersion(old.Version, ifVersion)
	items = append(items, types.TransactWriteItem{Update: &types.Update{
		TableName:                aws.String(s.table),
		Key:                      keyKey(oldID).av(),
		UpdateExpression:         aws.String("SET expiresAt = :exp, rotatedTo = :to, updatedAt = :now, version = :next"),
		ConditionExpression:      aws.String("version = :version AND #status = :active AND attribute_not_exists(rotatedTo)"),
		ExpressionAttributeNames: map[string]string{"#status": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":exp": avTime(oldExpiresAt), ":to": avS(successor.ID), ":now": avTime(now),
			":next": avN(version + 1), ":version": avN(version), ":active": avS(string(KeyActive)),
		},
	}})
	reasons := s.createKeyReasons(successor)
	mismatch := ErrConflict
	if ifVersion != 0 {
		mismatch = ErrVersionMismatch
	}
	reasons[len(items)-1] = fmt.Errorf("rotate key %s: %w", oldID, mismatch)

	exp := oldExpiresAt.UTC()
	rotated := old
	rotated.ExpiresAt, rotated.RotatedTo, rotated.UpdatedAt, rotated.Version = &exp, successor.ID, now, version+1
	if rec != nil {
		idem, err := s.idempotencyPut(*rec, IdempotentResult{Key: &successor, Previous: &rotated}, now)
		if err != nil {
			return old, next, err
		}
		shifted := map[int]error{0: ErrIdempotencyKeyUsed}
		for i, e := range reasons {
			shifted[i+1] = e
		}
		items, reasons = append([]types.TransactWriteItem{idem}, items...), shifted
	}
	if err := s.transact(ctx, items, reasons); err != nil {
		return old, next, fmt.Errorf("rotate key %s: %w", oldID, err)
	}
	return rotated, successor, nil
}

// ChangePlanIf is ChangePlan guarded by ifVersion (the subscription's).
func (s *Store) ChangePlanIf(ctx context.Context, customerID, env string, ifVersion int64, plan, actor string) (before, after Subscription, err error) {
	if ifVersion == 0 {
		return s.ChangePlan(ctx, customerID, env, plan, actor)
	}
	before, err = s.GetSubscription(ctx, customerID, env)
	if err != nil {
		return before, after, err
	}
	if err := checkVersion("subscription of "+customerID+" in "+env, before.Version, ifVersion); err != nil {
		return before, after, err
	}
	if before.Plan == plan {
		return before, before, nil
	}
	now := s.now()
	audit, err := s.auditPut(AuditEntry{Subject: customerID, At: now, Actor: actor, Action: "subscription.change-plan",
		Target: env, Details: map[string]string{"from": before.Plan, "to": plan}})
	if err != nil {
		return before, after, err
	}
	items := []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                aws.String(s.table),
			Key:                      subscriptionKey(customerID, env).av(),
			UpdateExpression:         aws.String("SET #plan = :plan, updatedAt = :now, version = :next"),
			ConditionExpression:      aws.String("version = :version"),
			ExpressionAttributeNames: map[string]string{"#plan": "plan"},
			ExpressionAttributeValues: map[string]types.AttributeValue{
				":plan": avS(plan), ":now": avTime(now), ":next": avN(ifVersion + 1), ":version": avN(ifVersion),
			},
		}},
		s.conditionCheck(planKey(env, plan), "attribute_exists(PK)", nil, nil),
		audit,
	}
	err = s.transact(ctx, items, map[int]error{
		0: fmt.Errorf("subscription of %s in %s: %w", customerID, env, ErrVersionMismatch),
		1: fmt.Errorf("plan %q in %s: %w", plan, env, ErrPlanNotFound),
	})
	if err != nil {
		return before, after, fmt.Errorf("change plan of %s in %s: %w", customerID, env, err)
	}
	after = before
	after.Plan, after.UpdatedAt, after.Version = plan, now, before.Version+1
	return before, after, nil
}

// DeleteCustomerBinding deletes a client binding only if it belongs to
// customerID; a binding of another customer is ErrBindingNotFound, so a
// caller cannot learn or touch other customers' bindings through it.
func (s *Store) DeleteCustomerBinding(ctx context.Context, customerID, env, issuer, subject, actor string) error {
	b, err := s.GetBinding(ctx, env, issuer, subject)
	if err != nil {
		return err
	}
	if b.CustomerID != customerID {
		return ErrBindingNotFound
	}
	audit, err := s.auditPut(AuditEntry{Subject: customerID, Actor: actor, Action: "binding.delete",
		Target: issuer + " " + subject, Details: map[string]string{"env": env}})
	if err != nil {
		return err
	}
	err = s.transact(ctx, []types.TransactWriteItem{{Delete: &types.Delete{
		TableName: aws.String(s.table), Key: bindingKey(env, issuer, subject).av(),
		ConditionExpression:       aws.String("customerId = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": avS(customerID)},
	}}, audit}, map[int]error{0: ErrBindingNotFound})
	if err != nil {
		return fmt.Errorf("delete binding: %w", err)
	}
	return nil
}
