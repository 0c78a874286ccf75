package rotation

import (
	"context"
	"errors"
	"fmt"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Pickups hands out rotated keys' secrets, once each. The key-admin API and
// the customer portal call Take on behalf of an authenticated customer.
type Pickups struct {
	store    *registry.Store
	envelope *Envelope
}

// NewPickups returns Pickups over the registry, opening secrets with envelope.
func NewPickups(store *registry.Store, envelope *Envelope) *Pickups {
	return &Pickups{store: store, envelope: envelope}
}

// Take returns the new secret of key keyID to customer customerID and
// deletes it: the delete is conditioned on the item read, so of two
// concurrent takers exactly one gets the secret. A pickup of another
// customer's key, a second pickup and an expired one are all
// registry.ErrPickupNotFound (nothing tells a caller that another
// customer's key exists).
func (p *Pickups) Take(ctx context.Context, customerID, keyID string) (string, error) {
	it, err := p.store.GetSecretPickup(ctx, keyID)
	if err != nil {
		return "", err
	}
	if it.CustomerID != customerID {
		return "", fmt.Errorf("key %s: %w", keyID, registry.ErrPickupNotFound)
	}
	k, err := p.store.GetKey(ctx, keyID)
	if errors.Is(err, registry.ErrNotFound) {
		// The rotation this pickup was made for never committed.
		return "", fmt.Errorf("key %s: %w", keyID, registry.ErrPickupNotFound)
	}
	if err != nil {
		return "", err
	}
	if k.CustomerID != customerID {
		return "", fmt.Errorf("key %s: %w", keyID, registry.ErrPickupNotFound)
	}
	pt, err := p.envelope.Open(ctx, Sealed{EncryptedDataKey: it.EncryptedDataKey, Nonce: it.Nonce, Ciphertext: it.Ciphertext},
		PickupContext(it.Env, it.CustomerID, it.KeyID))
	if err != nil {
		return "", fmt.Errorf("open pickup %s: %w", keyID, err)
	}
	if err := p.store.TakeSecretPickup(ctx, it); err != nil {
		clear(pt)
		return "", err
	}
	return string(pt), nil
}
