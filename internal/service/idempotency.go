package service

// Idempotency keys: creates that a caller may retry (the key-admin API's
// Idempotency-Key). The operations that take one (CreateCustomerOnce,
// CreateKeyOnce, RotateKeyIf) are in service.go, next to their plain forms,
// which are the same operations without a key.

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

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

// once runs create, passing it the idempotency record to store with what
// it creates. Without idem it just runs create (with no record). With idem
// it runs create unless an earlier request with the same idempotency key
// already did; replayed reports that res is that earlier request's result.
// A concurrent twin that wins the race is replayed too.
func (s *Service) once(ctx context.Context, actor string, idem *Idempotency, create func(*registry.IdempotencyRecord) (registry.IdempotentResult, error)) (res registry.IdempotentResult, replayed bool, err error) {
	if idem == nil {
		res, err = create(nil)
		return res, false, err
	}
	if res, ok, err := s.replay(ctx, actor, *idem); err != nil || ok {
		return res, ok, err
	}
	rec := s.record(actor, *idem)
	res, err = create(&rec)
	if err == nil || (!errors.Is(err, registry.ErrIdempotencyKeyUsed) && !errors.Is(err, registry.ErrConflict) &&
		!errors.Is(err, registry.ErrKeyRotated)) {
		return res, false, err
	}
	// Lost to a twin (the record's condition, a transaction conflict
	// while the twin was writing, or, for a rotation that re-read after
	// losing, the key the twin rotated): if the twin is done, replay it.
	if res, ok, rerr := s.replay(ctx, actor, *idem); rerr != nil || ok {
		return res, ok, rerr
	}
	return registry.IdempotentResult{}, false, err
}

// mismatch is the error for a replayed result that is not what the
// operation creates: the idempotency key was used for another operation.
func mismatch(idem *Idempotency) error {
	return fmt.Errorf("idempotency key %q: %w", idem.Key, ErrIdempotencyMismatch)
}
