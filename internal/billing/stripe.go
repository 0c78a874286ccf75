package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// StripeSystem is the billing system name of the Stripe sink (its
// accounts' System, its delivery marker).
const StripeSystem = "stripe"

// ErrNoStripeCustomer: the customer has no Stripe customer in the registry.
var ErrNoStripeCustomer = errors.New("no Stripe customer mapped")

// MeterEventsAPI creates billing meter events (stripe.Client's
// V1BillingMeterEvents).
type MeterEventsAPI interface {
	Create(ctx context.Context, params *stripe.BillingMeterEventCreateParams) (*stripe.BillingMeterEvent, error)
}

// StripeSink sends records as billing meter events: event name the
// meter's, payload stripe_customer_id (from the registry's billing
// account) and value (the quantity), timestamp the record's day (noon
// UTC), and the record id as both the event's identifier (Stripe dedupes
// on it) and the request's Idempotency-Key (stripe-go retries network
// errors and 5xx with the same key).
type StripeSink struct {
	api       MeterEventsAPI
	store     *registry.Store
	eventName string
}

// NewStripeSink returns the sink.
func NewStripeSink(api MeterEventsAPI, store *registry.Store, eventName string) *StripeSink {
	return &StripeSink{api: api, store: store, eventName: eventName}
}

// NewStripeClient is a Stripe client for url ("" for Stripe's API) with
// maxRetries network retries and no logging.
func NewStripeClient(key, url string, maxRetries int64) *stripe.Client {
	cfg := &stripe.BackendConfig{MaxNetworkRetries: stripe.Int64(maxRetries), LeveledLogger: &stripe.LeveledLogger{Level: stripe.LevelNull}}
	if url != "" {
		cfg.URL = stripe.String(url)
	}
	return stripe.NewClient(key, stripe.WithBackends(stripe.NewBackendsWithConfig(cfg)))
}

// Name is "stripe".
func (s *StripeSink) Name() string { return StripeSystem }

// Send creates the record's meter event.
func (s *StripeSink) Send(ctx context.Context, r registry.BillingRecord) error {
	acct, err := s.store.GetBillingAccount(ctx, r.CustomerID, StripeSystem)
	if errors.Is(err, registry.ErrNotFound) {
		return fmt.Errorf("customer %s: %w", r.CustomerID, ErrNoStripeCustomer)
	}
	if err != nil {
		return err
	}
	day, err := time.Parse(time.DateOnly, r.Date)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.ID, err)
	}
	p := &stripe.BillingMeterEventCreateParams{
		EventName:  stripe.String(s.eventName),
		Identifier: stripe.String(r.ID),
		Payload:    map[string]string{"stripe_customer_id": acct.AccountID, "value": strconv.FormatInt(r.Quantity, 10)},
		Timestamp:  stripe.Int64(day.Add(12 * time.Hour).Unix()),
	}
	p.SetIdempotencyKey("stagehand:" + r.ID)
	if _, err := s.api.Create(ctx, p); err != nil {
		return fmt.Errorf("stripe meter event for %s: %w", r.ID, err)
	}
	return nil
}
