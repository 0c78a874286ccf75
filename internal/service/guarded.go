package service

// Operations for callers that retry (idempotency keys) and that update what
// they read earlier (optimistic concurrency on an item's version): the
// key-admin API's Idempotency-Key and If-Match. A zero ifVersion means "no
// precondition"; registry.ErrVersionMismatch reports a stale one.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// IdempotencyTTL is how long a create made with an idempotency key is
// remembered: a retry within it returns the first result.
const IdempotencyTTL = 24 * time.Hour

// ErrIdempotencyMismatch: an idempotency key reused for a different request
// (another operation, target or body) within IdempotencyTTL.
var ErrIdempotencyMismatch = errors.New("idempotency key already used for a different request")

// Idempotency identifies a create that its caller may retry.
type Idempotency struct {
	// Key is the caller's idempotency key: 8-128 characters of letters,
	// digits and "._:-". Keys are scoped to the actor.
	Key string
	// Operation and Fingerprint describe the request (what and a digest of
	// its target and body); a retry must match both.
	Operation   string
	Fingerprint string
}

var idempotencyKeyPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)

func (s *Service) validIdempotency(idem *Idempotency) error {
	if idem != nil && !idempotencyKeyPattern.MatchString(idem.Key) {
		return invalid("Idempotency-Key", "must be 8-128 characters of letters, digits and ._:-")
	}
	return nil
}

// replay returns the stored result of an earlier request with the same
// idempotency key, if there is one and it is the same request.
func (s *Service) replay(ctx context.Context, actor string, idem Idempotency) (registry.IdempotentResult, bool, error) {
	rec, err := s.store.GetIdempotencyRecord(ctx, actor, idem.Key)
	if errors.Is(err, registry.ErrNotFound) {
		return registry.IdempotentResult{}, false, nil
	}
	if err != nil {
		return registry.IdempotentResult{}, false, err
	}
	if rec.Operation != idem.Operation || rec.Fingerprint != idem.Fingerprint {
		return registry.IdempotentResult{}, false, fmt.Errorf("idempotency key %q was used for %s: %w", idem.Key, rec.Operation, ErrIdempotencyMismatch)
	}
	res, err := rec.Decode()
	return res, err == nil, err
}

func (s *Service) record(actor string, idem Idempotency) registry.IdempotencyRecord {
	return registry.IdempotencyRecord{
		Actor: actor, Key: idem.Key, Operation: idem.Operation, Fingerprint: idem.Fingerprint,
		ExpiresAt: s.clock.Now().Add(IdempotencyTTL).UTC(),
	}
}

// once runs create unless an earlier request with the same idempotency key
// already did; replayed reports that res is that earlier request's result.
// A concurrent twin that wins the race is replayed too.
func (s *Service) once(ctx context.Context, actor string, idem Idempotency, create func(registry.IdempotencyRecord) (registry.IdempotentResult, error)) (res registry.IdempotentResult, replayed bool, err error) {
	if res, ok, err := s.replay(ctx, actor, idem); err != nil || ok {
		return res, ok, err
	}
	res, err = create(s.record(actor, idem))
	if err == nil || (!errors.Is(err, registry.ErrIdempotencyKeyUsed) && !errors.Is(err, registry.ErrConflict)) {
		return res, false, err
	}
	// Lost to a twin (the record's condition, or a transaction conflict
	// while the twin was writing): if the twin is done, replay it.
	if res, ok, rerr := s.replay(ctx, actor, idem); rerr != nil || ok {
		return res, ok, rerr
	}
	return registry.IdempotentResult{}, false, err
}

// CreateCustomerOnce is CreateCustomer made safe to retry: with idem set, a
// retry returns the customer the first request created (replayed true)
// instead of ErrAlreadyExists.
func (s *Service) CreateCustomerOnce(ctx context.Context, id, name, actor string, idem *Idempotency) (registry.Customer, bool, error) {
	if err := s.validIdempotency(idem); err != nil {
		return registry.Customer{}, false, err
	}
	if idem == nil {
		c, err := s.CreateCustomer(ctx, id, name, actor)
		return c, false, err
	}
	if err := validID("id", id); err != nil {
		return registry.Customer{}, false, err
	}
	if strings.TrimSpace(name) == "" {
		return registry.Customer{}, false, invalid("name", "must not be empty")
	}
	res, replayed, err := s.once(ctx, actor, *idem, func(rec registry.IdempotencyRecord) (registry.IdempotentResult, error) {
		c, err := s.store.CreateCustomerOnce(ctx, registry.Customer{ID: id, Name: name}, actor, rec)
		return registry.IdempotentResult{Customer: &c}, err
	})
	if err != nil {
		return registry.Customer{}, false, err
	}
	if res.Customer == nil {
		return registry.Customer{}, false, fmt.Errorf("idempotency key %q: %w", idem.Key, ErrIdempotencyMismatch)
	}
	return *res.Customer, replayed, nil
}

// CreateKeyOnce is CreateKey made safe to retry. With idem set, the key and
// the idempotency record are written in one transaction, so however often
// the request is retried (even concurrently) exactly one key exists; a
// retry returns that key with replayed true and an empty Secret: the
// plaintext was shown once and is not stored anywhere.
func (s *Service) CreateKeyOnce(ctx context.Context, in CreateKeyInput, actor string, idem *Idempotency) (registry.Key, keys.Secret, bool, error) {
	if err := s.validIdempotency(idem); err != nil {
		return registry.Key{}, keys.Secret{}, false, err
	}
	if idem == nil {
		k, secret, err := s.CreateKey(ctx, in, actor)
		return k, secret, false, err
	}
	var secret keys.Secret
	res, replayed, err := s.once(ctx, actor, *idem, func(rec registry.IdempotencyRecord) (registry.IdempotentResult, error) {
		k, sec, err := s.newKey(ctx, in)
		if err != nil {
			return registry.IdempotentResult{}, err
		}
		secret = sec
		created, err := s.store.CreateKeyOnce(ctx, k, actor, rec)
		return registry.IdempotentResult{Key: &created}, err
	})
	if err != nil {
		return registry.Key{}, keys.Secret{}, false, err
	}
	if res.Key == nil || res.Previous != nil {
		return registry.Key{}, keys.Secret{}, false, fmt.Errorf("idempotency key %q: %w", idem.Key, ErrIdempotencyMismatch)
	}
	if replayed {
		return *res.Key, keys.Secret{}, true, nil
	}
	return *res.Key, secret, false, nil
}

// newKey validates a CreateKeyInput and generates the key (as CreateKey
// does) without storing it.
func (s *Service) newKey(ctx context.Context, in CreateKeyInput) (registry.Key, keys.Secret, error) {
	if err := validEnv(in.Env); err != nil {
		return registry.Key{}, keys.Secret{}, err
	}
	if err := validID("customerId", in.CustomerID); err != nil {
		return registry.Key{}, keys.Secret{}, err
	}
	scopes, cidrs, err := validateAccess(in.Scopes, in.AllowedCIDRs)
	if err != nil {
		return registry.Key{}, keys.Secret{}, err
	}
	if in.ExpiresAt != nil && !in.ExpiresAt.After(s.clock.Now()) {
		return registry.Key{}, keys.Secret{}, invalid("expiresAt", "%s is not in the future", in.ExpiresAt.UTC().Format(time.RFC3339))
	}
	if _, err := s.store.GetSubscription(ctx, in.CustomerID, in.Env); err != nil {
		return registry.Key{}, keys.Secret{}, err
	}
	secret, err := s.gen.New(in.Env)
	if err != nil {
		return registry.Key{}, keys.Secret{}, fmt.Errorf("generate key: %w", err)
	}
	return registry.Key{
		ID: secret.ID, Hash: secret.Hash.String(), CustomerID: in.CustomerID, Env: in.Env, Name: in.Name,
		DisplayPrefix: secret.DisplayPrefix, Scopes: scopes, AllowedCIDRs: cidrs, ExpiresAt: utcPtr(in.ExpiresAt),
	}, secret, nil
}

// RotateKeyIf is RotateKey guarded by ifVersion (the old key's) and, with
// idem set, safe to retry: a retry returns the same successor (and the old
// key as the rotation left it) with replayed true and an empty Secret.
func (s *Service) RotateKeyIf(ctx context.Context, id string, grace time.Duration, ifVersion int64, actor string, idem *Idempotency) (old, next registry.Key, secret keys.Secret, replayed bool, err error) {
	if err := s.validIdempotency(idem); err != nil {
		return old, next, secret, false, err
	}
	if ifVersion == 0 && idem == nil {
		old, next, secret, err = s.RotateKey(ctx, id, grace, actor)
		return old, next, secret, false, err
	}
	rotate := func(rec *registry.IdempotencyRecord) (registry.IdempotentResult, error) {
		cur, err := s.store.GetKey(ctx, id)
		if err != nil {
			return registry.IdempotentResult{}, err
		}
		exp, err := keys.RotationExpiry(s.clock.Now(), grace, cur.ExpiresAt)
		if err != nil {
			return registry.IdempotentResult{}, invalid("grace", "%v", err)
		}
		if secret, err = s.gen.New(cur.Env); err != nil {
			return registry.IdempotentResult{}, fmt.Errorf("generate key: %w", err)
		}
		o, n, err := s.store.RotateKeyIf(ctx, id, ifVersion, registry.Key{
			ID: secret.ID, Hash: secret.Hash.String(), Name: cur.Name, DisplayPrefix: secret.DisplayPrefix,
			Scopes: cur.Scopes, AllowedCIDRs: cur.AllowedCIDRs,
		}, exp, actor, rec)
		return registry.IdempotentResult{Key: &n, Previous: &o}, err
	}
	var res registry.IdempotentResult
	if idem == nil {
		res, err = rotate(nil)
	} else {
		res, replayed, err = s.once(ctx, actor, *idem, func(rec registry.IdempotencyRecord) (registry.IdempotentResult, error) {
			return rotate(&rec)
		})
	}
	if err != nil {
		return registry.Key{}, registry.Key{}, keys.Secret{}, false, err
	}
	if res.Key == nil || res.Previous == nil {
		return registry.Key{}, registry.Key{}, keys.Secret{}, false, fmt.Errorf("idempotency key %q: %w", idem.Key, ErrIdempotencyMismatch)
	}
	if replayed {
		secret = keys.Secret{}
	}
	return *res.Previous, *res.Key, secret, replayed, nil
}

// UpdateCustomer renames a customer, guarded by ifVersion.
func (s *Service) UpdateCustomer(ctx context.Context, id string, ifVersion int64, name, actor string) (registry.Customer, error) {
	if strings.TrimSpace(name) == "" {
		return registry.Customer{}, invalid("name", "must not be empty")
	}
	return s.store.UpdateCustomerName(ctx, id, ifVersion, name, actor)
}

// SetCustomerStatusIf suspends or resumes a customer, guarded by ifVersion.
func (s *Service) SetCustomerStatusIf(ctx context.Context, id string, ifVersion int64, status registry.CustomerStatus, actor string) (registry.Customer, error) {
	return s.store.SetCustomerStatusIf(ctx, id, ifVersion, status, actor)
}

// SetKeyStatusIf suspends, resumes, revokes or expires a key, guarded by
// ifVersion.
func (s *Service) SetKeyStatusIf(ctx context.Context, id string, ifVersion int64, to registry.KeyStatus, actor string) (registry.Key, error) {
	return s.store.SetKeyStatusIf(ctx, id, ifVersion, to, actor)
}

// SetKeyExpiryIf sets a future expiry on a key, guarded by ifVersion.
func (s *Service) SetKeyExpiryIf(ctx context.Context, id string, ifVersion int64, at time.Time, actor string) (registry.Key, error) {
	if !at.After(s.clock.Now()) {
		return registry.Key{}, invalid("expiresAt", "%s is not in the future", at.UTC().Format(time.RFC3339))
	}
	return s.store.SetKeyExpiryIf(ctx, id, ifVersion, at, actor)
}

// UpdateKeyAccessIf is UpdateKeyAccess reporting a stale ifVersion as
// registry.ErrVersionMismatch.
func (s *Service) UpdateKeyAccessIf(ctx context.Context, id string, ifVersion int64, scopes, cidrs []string, actor string) (registry.Key, error) {
	k, err := s.UpdateKeyAccess(ctx, id, ifVersion, scopes, cidrs, actor)
	if ifVersion != 0 && errors.Is(err, registry.ErrConflict) && !errors.Is(err, registry.ErrVersionMismatch) {
		// With a version given, the only condition the update checks is
		// that version.
		return registry.Key{}, fmt.Errorf("key %s: %w", id, registry.ErrVersionMismatch)
	}
	return k, err
}

// ChangePlanIf is ChangePlan guarded by ifVersion (the subscription's).
func (s *Service) ChangePlanIf(ctx context.Context, customerID, env string, ifVersion int64, plan, actor string) (registry.Subscription, error) {
	if ifVersion == 0 {
		return s.ChangePlan(ctx, customerID, env, plan, actor)
	}
	next, err := s.store.GetPlan(ctx, env, plan)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return registry.Subscription{}, invalid("plan", "unknown plan %q in %s", plan, env)
		}
		return registry.Subscription{}, err
	}
	before, after, err := s.store.ChangePlanIf(ctx, customerID, env, ifVersion, next.Name, actor)
	if err != nil || before.Plan == after.Plan {
		return after, err
	}
	return after, s.moveUsageKey(ctx, env, before, after, next)
}

// moveUsageKey moves a subscription's metering key from its old plan's
// usage plan to the new one's (detach first: API Gateway refuses a key in
// two usage plans that share a stage). The reconciler repairs a failure.
func (s *Service) moveUsageKey(ctx context.Context, env string, before, after registry.Subscription, next registry.Plan) error {
	prev, err := s.store.GetPlan(ctx, env, before.Plan)
	if err == nil && prev.UsagePlanID != "" {
		if err := s.usage.DetachUsageKey(ctx, prev.UsagePlanID, before.UsageKeyID); err != nil {
			return fmt.Errorf("plan changed, but detaching the key from usage plan %s failed (reconcile will repair): %w", prev.UsagePlanID, err)
		}
	}
	if next.UsagePlanID != "" {
		if err := s.usage.AttachUsageKey(ctx, next.UsagePlanID, after.UsageKeyID); err != nil {
			return fmt.Errorf("plan changed, but attaching the key to usage plan %s failed (reconcile will repair): %w", next.UsagePlanID, err)
		}
	}
	return nil
}

// DeleteBinding removes a customer's client binding; a binding that does
// not exist or belongs to another customer is registry.ErrBindingNotFound.
func (s *Service) DeleteBinding(ctx context.Context, customerID, env, issuer, subject, actor string) error {
	if err := validEnv(env); err != nil {
		return err
	}
	return s.store.DeleteCustomerBinding(ctx, customerID, env, issuer, subject, actor)
}
