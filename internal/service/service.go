// Package service is the registry's service layer: the operations an
// operator performs on customers, subscriptions, keys and client bindings,
// with input validation and API Gateway metering-key provisioning. The CLI
// and the key-admin API both call it; neither holds logic of its own.
package service

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// ErrInvalidInput marks a ValidationError; test with errors.Is.
var ErrInvalidInput = errors.New("invalid input")

// ValidationError names the input field that is wrong and why.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalidInput) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalidInput }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// UsageKeys provisions the API Gateway API keys that meter customers (one per
// customer per environment) and attaches them to usage plans.
type UsageKeys interface {
	CreateUsageKey(ctx context.Context, env, customerID string) (id, value string, err error)
	DeleteUsageKey(ctx context.Context, id string) error
	AttachUsageKey(ctx context.Context, usagePlanID, keyID string) error
	DetachUsageKey(ctx context.Context, usagePlanID, keyID string) error
}

// Service performs registry operations.
type Service struct {
	store *registry.Store
	usage UsageKeys
	gen   *keys.Generator
	clock clock.Clock
}

// Option configures a Service.
type Option func(*Service)

// WithClock sets the clock (default: system clock).
func WithClock(c clock.Clock) Option { return func(s *Service) { s.clock = c } }

// WithGenerator sets the key generator (default: crypto/rand).
func WithGenerator(g *keys.Generator) Option { return func(s *Service) { s.gen = g } }

// New returns a service over store, provisioning metering keys with usage.
func New(store *registry.Store, usage UsageKeys, opts ...Option) *Service {
	s := &Service{store: store, usage: usage, gen: keys.NewGenerator(), clock: clock.System{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Store exposes the underlying registry for read-only listings.
func (s *Service) Store() *registry.Store { return s.store }

var idPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{1,62}$`)

func validID(field, id string) error {
	if !idPattern.MatchString(id) {
		return invalid(field, "%q must be 2-63 characters of a-z, 0-9, '-' or '_', starting with a letter or digit", id)
	}
	return nil
}

// validPlanName applies registry.ValidatePlanName, the one plan-name rule.
func validPlanName(plan string) error {
	if err := registry.ValidatePlanName(plan); err != nil {
		var fe *registry.PlanFieldError
		if errors.As(err, &fe) {
			return invalid("plan", "%s", fe.Reason)
		}
		return err
	}
	return nil
}

func validEnv(env string) error {
	if !keys.ValidEnv(env) {
		return invalid("env", "%q must be 2-16 characters of a-z and 0-9, starting with a letter", env)
	}
	return nil
}

// CreateCustomer creates an active customer: CreateCustomerOnce without an
// idempotency key.
func (s *Service) CreateCustomer(ctx context.Context, id, name, actor string) (registry.Customer, error) {
	c, _, err := s.CreateCustomerOnce(ctx, id, name, actor, nil)
	return c, err
}

// CreateCustomerOnce creates an active customer. With idem set it is safe
// to retry: a retry returns the customer the first request created
// (replayed true) instead of ErrAlreadyExists.
func (s *Service) CreateCustomerOnce(ctx context.Context, id, name, actor string, idem *Idempotency) (registry.Customer, bool, error) {
	if err := s.validIdempotency(idem); err != nil {
		return registry.Customer{}, false, err
	}
	if err := validID("id", id); err != nil {
		return registry.Customer{}, false, err
	}
	if strings.TrimSpace(name) == "" {
		return registry.Customer{}, false, invalid("name", "must not be empty")
	}
	res, replayed, err := s.once(ctx, actor, idem, func(rec *registry.IdempotencyRecord) (registry.IdempotentResult, error) {
		c := registry.Customer{ID: id, Name: name}
		var err error
		if rec == nil {
			c, err = s.store.CreateCustomer(ctx, c, actor)
		} else {
			c, err = s.store.CreateCustomerOnce(ctx, c, actor, *rec)
		}
		return registry.IdempotentResult{Customer: &c}, err
	})
	if err != nil {
		return registry.Customer{}, false, err
	}
	if res.Customer == nil {
		return registry.Customer{}, false, mismatch(idem)
	}
	return *res.Customer, replayed, nil
}

// UpdateCustomer renames a customer, guarded by ifVersion (0: any version;
// a stale one is registry.ErrVersionMismatch).
func (s *Service) UpdateCustomer(ctx context.Context, id string, ifVersion int64, name, actor string) (registry.Customer, error) {
	if strings.TrimSpace(name) == "" {
		return registry.Customer{}, invalid("name", "must not be empty")
	}
	return s.store.UpdateCustomerName(ctx, id, ifVersion, name, actor)
}

// SetCustomerStatus suspends or resumes a customer in every environment.
func (s *Service) SetCustomerStatus(ctx context.Context, id string, status registry.CustomerStatus, actor string) (registry.Customer, error) {
	return s.SetCustomerStatusIf(ctx, id, 0, status, actor)
}

// SetCustomerStatusIf suspends or resumes a customer in every environment,
// guarded by ifVersion.
func (s *Service) SetCustomerStatusIf(ctx context.Context, id string, ifVersion int64, status registry.CustomerStatus, actor string) (registry.Customer, error) {
	return s.store.SetCustomerStatusIf(ctx, id, ifVersion, status, actor)
}

// ExistingUsageKey names an API Gateway key that already meters a customer,
// for importing customers who have one.
type ExistingUsageKey struct {
	ID, Value string
}

// Subscribe puts a customer on a plan in an environment: it creates the
// customer's API Gateway metering key (or takes an existing one), attaches it
// to the plan's usage plan and records the subscription. If recording fails,
// a key it created is deleted again.
func (s *Service) Subscribe(ctx context.Context, customerID, env, plan string, existing *ExistingUsageKey, actor string) (registry.Subscription, error) {
	if err := validEnv(env); err != nil {
		return registry.Subscription{}, err
	}
	if err := validPlanName(plan); err != nil {
		return registry.Subscription{}, err
	}
	c, err := s.store.GetCustomer(ctx, customerID)
	if err != nil {
		return registry.Subscription{}, err
	}
	p, err := s.store.GetPlan(ctx, env, plan)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return registry.Subscription{}, invalid("plan", "unknown plan %q in %s", plan, env)
		}
		return registry.Subscription{}, err
	}
	if _, err := s.store.GetSubscription(ctx, c.ID, env); err == nil {
		return registry.Subscription{}, fmt.Errorf("customer %q in %s: %w", c.ID, env, registry.ErrAlreadyExists)
	}
	var id, value string
	created := false
	if existing != nil {
		if existing.ID == "" || existing.Value == "" {
			return registry.Subscription{}, invalid("usageKey", "an existing usage key needs both its id and its value")
		}
		id, value = existing.ID, existing.Value
	} else {
		if id, value, err = s.usage.CreateUsageKey(ctx, env, c.ID); err != nil {
			return registry.Subscription{}, fmt.Errorf("create API Gateway key for %s: %w", c.ID, err)
		}
		created = true
	}
	sub, err := s.store.Subscribe(ctx, registry.Subscription{CustomerID: c.ID, Env: env, Plan: p.Name, UsageKeyID: id, UsageKeyValue: value}, actor)
	if err == nil && p.UsagePlanID != "" {
		err = s.usage.AttachUsageKey(ctx, p.UsagePlanID, id)
		if err != nil {
			// The subscription is recorded; the reconciler attaches the key on
			// its next run, so report the error without undoing the record.
			return sub, fmt.Errorf("subscribed, but attaching API Gateway key %s to usage plan %s failed (the scheduled reconcile will retry): %w", id, p.UsagePlanID, err)
		}
	}
	if err != nil {
		if created {
			if derr := s.usage.DeleteUsageKey(ctx, id); derr != nil {
				err = fmt.Errorf("%w (and deleting the new API Gateway key %s failed: %v)", err, id, derr)
			}
		}
		return registry.Subscription{}, err
	}
	return sub, nil
}

// ChangePlan moves a customer to another plan and its metering key to that
// plan's usage plan: ChangePlanIf without an expected version.
func (s *Service) ChangePlan(ctx context.Context, customerID, env, plan, actor string) (registry.Subscription, error) {
	return s.ChangePlanIf(ctx, customerID, env, 0, plan, actor)
}

// ChangePlanIf moves a customer to another plan, guarded by ifVersion (the
// subscription's), and its metering key to that plan's usage plan.
func (s *Service) ChangePlanIf(ctx context.Context, customerID, env string, ifVersion int64, plan, actor string) (registry.Subscription, error) {
	if err := validEnv(env); err != nil {
		return registry.Subscription{}, err
	}
	if err := validPlanName(plan); err != nil {
		return registry.Subscription{}, err
	}
	next, err := s.store.GetPlan(ctx, env, plan)
	if err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return registry.Subscription{}, invalid("plan", "unknown plan %q in %s", plan, env)
		}
		return registry.Subscription{}, err
	}
	before, after, err := s.store.ChangePlanIf(ctx, customerID, env, ifVersion, next.Name, actor)
	if err != nil {
		return after, s.explainMissingSubscription(ctx, customerID, env, err)
	}
	if before.Plan == after.Plan {
		return after, nil
	}
	return after, s.moveUsageKey(ctx, env, before, after, next)
}

// moveUsageKey moves a subscription's metering key from its old plan's
// usage plan to the new one's. API Gateway refuses a key in two usage plans
// that share a stage, so the key is detached from the old plan before it is
// attached to the new one; the reconciler repairs a failure.
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

// CreateKeyInput describes a new customer key.
type CreateKeyInput struct {
	CustomerID   string
	Env          string
	Name         string
	Scopes       []string
	AllowedCIDRs []string
	ExpiresAt    *time.Time
}

// CreateKey issues a key: CreateKeyOnce without an idempotency key. The
// returned Secret holds the only plaintext copy; the registry stores its
// hash.
func (s *Service) CreateKey(ctx context.Context, in CreateKeyInput, actor string) (registry.Key, keys.Secret, error) {
	k, secret, _, err := s.CreateKeyOnce(ctx, in, actor, nil)
	return k, secret, err
}

// CreateKeyOnce issues a key. The returned Secret holds the only plaintext
// copy; the registry stores its hash. With idem set it is safe to retry:
// the key and the idempotency record are written in one transaction, so
// however often the request is retried (even concurrently) exactly one key
// exists; a retry returns that key with replayed true and an empty Secret
// (the plaintext was shown once and is not stored anywhere).
func (s *Service) CreateKeyOnce(ctx context.Context, in CreateKeyInput, actor string, idem *Idempotency) (registry.Key, keys.Secret, bool, error) {
	if err := s.validIdempotency(idem); err != nil {
		return registry.Key{}, keys.Secret{}, false, err
	}
	var secret keys.Secret
	res, replayed, err := s.once(ctx, actor, idem, func(rec *registry.IdempotencyRecord) (registry.IdempotentResult, error) {
		k, sec, err := s.newKey(ctx, in)
		if err != nil {
			return registry.IdempotentResult{}, err
		}
		secret = sec
		if rec == nil {
			k, err = s.store.CreateKey(ctx, k, actor)
		} else {
			k, err = s.store.CreateKeyOnce(ctx, k, actor, *rec)
		}
		return registry.IdempotentResult{Key: &k}, err
	})
	if err != nil {
		return registry.Key{}, keys.Secret{}, false, err
	}
	if res.Key == nil || res.Previous != nil {
		return registry.Key{}, keys.Secret{}, false, mismatch(idem)
	}
	if replayed {
		return *res.Key, keys.Secret{}, true, nil
	}
	return *res.Key, secret, false, nil
}

// newKey validates a CreateKeyInput and generates the key without storing
// it.
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
	if _, err := s.activeSubscription(ctx, in.CustomerID, in.Env); err != nil {
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

// RotateKey issues a successor with the same customer, scopes, allowlist
// and expiry; the old key keeps working for grace, then expires. It is
// RotateKeyIf without an expected version or idempotency key.
func (s *Service) RotateKey(ctx context.Context, id string, grace time.Duration, actor string) (old, next registry.Key, secret keys.Secret, err error) {
	old, next, secret, _, err = s.RotateKeyIf(ctx, id, grace, 0, actor, nil)
	return old, next, secret, err
}

// RotateKeyIf issues a successor with the same customer, scopes, allowlist
// and expiry (the old key's stored expiry, not its grace end: see
// registry.Store.RotateKeyIf); the old key keeps working for grace, then
// expires. It is guarded by ifVersion (the old key's) and, with idem set,
// safe to retry: a retry returns the same successor (and the old key as
// the rotation left it) with replayed true and an empty Secret.
func (s *Service) RotateKeyIf(ctx context.Context, id string, grace time.Duration, ifVersion int64, actor string, idem *Idempotency) (old, next registry.Key, secret keys.Secret, replayed bool, err error) {
	if err := s.validIdempotency(idem); err != nil {
		return old, next, secret, false, err
	}
	rotate := func(rec *registry.IdempotencyRecord) (registry.IdempotentResult, error) {
		// This read only finds the environment the successor's secret is
		// generated for (a key never changes environment). The old key's
		// new expiry, min(its expiry, now+grace), and the successor's
		// access and expiry (the old key's stored one) are decided by the
		// store from the read its conditional write is guarded by, so an
		// expiry or access change racing this rotation is never undone.
		cur, err := s.store.GetKey(ctx, id)
		if err != nil {
			return registry.IdempotentResult{}, err
		}
		graceEnd, err := keys.RotationExpiry(s.clock.Now(), grace, nil)
		if err != nil {
			return registry.IdempotentResult{}, invalid("grace", "%v", err)
		}
		if secret, err = s.gen.New(cur.Env); err != nil {
			return registry.IdempotentResult{}, fmt.Errorf("generate key: %w", err)
		}
		o, n, err := s.store.RotateKeyIf(ctx, id, ifVersion, registry.Key{
			ID: secret.ID, Hash: secret.Hash.String(), DisplayPrefix: secret.DisplayPrefix,
		}, graceEnd, actor, rec)
		return registry.IdempotentResult{Key: &n, Previous: &o}, err
	}
	res, replayed, err := s.once(ctx, actor, idem, rotate)
	if err != nil {
		return registry.Key{}, registry.Key{}, keys.Secret{}, false, err
	}
	if res.Key == nil || res.Previous == nil {
		return registry.Key{}, registry.Key{}, keys.Secret{}, false, mismatch(idem)
	}
	if replayed {
		secret = keys.Secret{}
	}
	return *res.Previous, *res.Key, secret, replayed, nil
}

// SetKeyStatus suspends, resumes, revokes or expires a key.
func (s *Service) SetKeyStatus(ctx context.Context, id string, to registry.KeyStatus, actor string) (registry.Key, error) {
	return s.SetKeyStatusIf(ctx, id, 0, to, actor)
}

// SetKeyStatusIf suspends, resumes, revokes or expires a key, guarded by
// ifVersion.
func (s *Service) SetKeyStatusIf(ctx context.Context, id string, ifVersion int64, to registry.KeyStatus, actor string) (registry.Key, error) {
	return s.store.SetKeyStatusIf(ctx, id, ifVersion, to, actor)
}

// SetKeyExpiry sets a future expiry on a key.
func (s *Service) SetKeyExpiry(ctx context.Context, id string, at time.Time, actor string) (registry.Key, error) {
	return s.SetKeyExpiryIf(ctx, id, 0, at, actor)
}

// SetKeyExpiryIf sets a future expiry on a key, guarded by ifVersion.
func (s *Service) SetKeyExpiryIf(ctx context.Context, id string, ifVersion int64, at time.Time, actor string) (registry.Key, error) {
	if !at.After(s.clock.Now()) {
		return registry.Key{}, invalid("expiresAt", "%s is not in the future", at.UTC().Format(time.RFC3339))
	}
	return s.store.SetKeyExpiryIf(ctx, id, ifVersion, at, actor)
}

// UpdateKeyAccess replaces a key's scopes and IP allowlist, guarded by
// version (0: any version; a stale one is registry.ErrVersionMismatch).
func (s *Service) UpdateKeyAccess(ctx context.Context, id string, version int64, scopes, cidrs []string, actor string) (registry.Key, error) {
	scopes, cidrs, err := validateAccess(scopes, cidrs)
	if err != nil {
		return registry.Key{}, err
	}
	return s.store.UpdateKeyAccess(ctx, id, version, scopes, cidrs, actor)
}

// LookupKey finds the stored key for a plaintext key: format and checksum
// first (no read for garbage), then one read by the id derived from its hash.
func (s *Service) LookupKey(ctx context.Context, plaintext string) (registry.Key, error) {
	if _, err := keys.Validate(plaintext); err != nil {
		return registry.Key{}, invalid("key", "%v", err)
	}
	h := keys.HashKey(plaintext)
	k, err := s.store.GetKey(ctx, h.ID())
	if err != nil {
		return registry.Key{}, err
	}
	stored, err := keys.ParseHash(k.Hash)
	if err != nil || !stored.Equal(h) {
		return registry.Key{}, fmt.Errorf("key %s: %w", h.ID(), registry.ErrKeyNotFound)
	}
	return k, nil
}

var scopePattern = regexp.MustCompile(`^[A-Za-z0-9_.:/*-]{1,128}$`)

func validateAccess(scopes, cidrs []string) ([]string, []string, error) {
	for i, sc := range scopes {
		if !scopePattern.MatchString(sc) {
			return nil, nil, invalid(fmt.Sprintf("scopes[%d]", i), "%q must be 1-128 characters of letters, digits and _.:/*-", sc)
		}
	}
	prefixes, err := keys.ParseAllowlist(cidrs)
	if err != nil {
		return nil, nil, invalid("allowedCidrs", "%v", err)
	}
	if err := checkNoHostBits(cidrs); err != nil {
		return nil, nil, err
	}
	var canon []string
	for _, p := range prefixes {
		canon = append(canon, p.String())
	}
	return scopes, canon, nil
}

// PutBinding maps a JWT client (issuer + subject or client id) to a customer.
func (s *Service) PutBinding(ctx context.Context, b registry.ClientBinding, actor string) (registry.ClientBinding, error) {
	if err := validEnv(b.Env); err != nil {
		return registry.ClientBinding{}, err
	}
	if !strings.HasPrefix(b.Issuer, "https://") && !strings.HasPrefix(b.Issuer, "http://") {
		return registry.ClientBinding{}, invalid("issuer", "%q must be the issuer URL exactly as in the token's iss claim", b.Issuer)
	}
	if b.Subject == "" {
		return registry.ClientBinding{}, invalid("subject", "must not be empty")
	}
	for i, sc := range b.Scopes {
		if !scopePattern.MatchString(sc) {
			return registry.ClientBinding{}, invalid(fmt.Sprintf("scopes[%d]", i), "%q is not a valid scope", sc)
		}
	}
	saved, err := s.store.PutBinding(ctx, b, actor)
	if err != nil {
		return saved, s.explainMissingSubscription(ctx, b.CustomerID, b.Env, err)
	}
	return saved, nil
}

// DeleteBinding removes a customer's client binding; a binding that does
// not exist or belongs to another customer is registry.ErrBindingNotFound.
func (s *Service) DeleteBinding(ctx context.Context, customerID, env, issuer, subject, actor string) error {
	if err := validEnv(env); err != nil {
		return err
	}
	return s.store.DeleteCustomerBinding(ctx, customerID, env, issuer, subject, actor)
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
