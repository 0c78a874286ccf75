package service

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// explainMissingSubscription turns a "subscription not found" into what it
// really is: a customer that does not exist (registry.ErrCustomerNotFound)
// or an existing customer without a subscription in env
// (registry.ErrSubscriptionNotFound). It costs one read, only on that error
// path. Any other error is returned as is.
func (s *Service) explainMissingSubscription(ctx context.Context, customerID, env string, err error) error {
	if !errors.Is(err, registry.ErrSubscriptionNotFound) {
		return err
	}
	if _, cerr := s.store.GetCustomer(ctx, customerID); cerr != nil {
		return cerr
	}
	return fmt.Errorf("customer %q has no subscription in %s (customers subscribe first): %w", customerID, env, registry.ErrSubscriptionNotFound)
}

// activeSubscription reads the subscription a new key or client belongs to:
// the customer must exist, be subscribed in env and not be suspended.
func (s *Service) activeSubscription(ctx context.Context, customerID, env string) (registry.Subscription, error) {
	sub, err := s.store.GetSubscription(ctx, customerID, env)
	if err != nil {
		return sub, s.explainMissingSubscription(ctx, customerID, env, err)
	}
	if sub.CustomerStatus != registry.CustomerActive {
		return sub, fmt.Errorf("customer %q is %s (customers resume first): %w", customerID, sub.CustomerStatus, registry.ErrCustomerSuspended)
	}
	return sub, nil
}

// checkNoHostBits refuses an allowlist prefix with host bits set
// ("10.0.0.1/8"): the operator meant either the network (10.0.0.0/8) or one
// address (10.0.0.1/32), and silently widening to the network is the worse
// guess. A bare address is one address (/32 or /128), as documented.
func checkNoHostBits(cidrs []string) error {
	for i, c := range cidrs {
		if !strings.Contains(c, "/") {
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			continue // ParseAllowlist names it
		}
		if p.Masked() != p {
			return invalid(fmt.Sprintf("allowedCidrs[%d]", i), "%q has host bits set: write %s for the network or %s for the one address",
				c, p.Masked(), netip.PrefixFrom(p.Addr(), p.Addr().BitLen()))
		}
	}
	return nil
}
