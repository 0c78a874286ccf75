// Package pacer keeps a rate-limited API Gateway operation (UpdateUsagePlan:
// one request every 20 seconds per account, not adjustable) under its quota
// across every reconciler of the account, whatever Lambda invocation or
// operator's CLI it runs in.
//
// The token is one DynamoDB item holding the earliest time of the next call
// (registry item PACER#apigateway / <operation>). A caller claims the slot
// with a conditional write that succeeds only once that time has passed and
// moves it one interval later; losers learn when to try again. After the
// call the winner pushes the time later if the call itself happened later
// than the claim (after SDK retries), so the next claim leaves a full
// interval after the request API Gateway actually counted.
//
// The pacer never sleeps on its own except in Acquire: TryAcquire lets an
// executor use the wait for other work (reads, key operations).
package pacer

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Store is the shared slot the pacer claims; *registry.Store implements it.
type Store interface {
	GetPacerSlot(ctx context.Context, name string) (registry.PacerSlot, error)
	ClaimPacerSlot(ctx context.Context, name, holder string, now, next time.Time) (bool, error)
	PushPacerSlot(ctx context.Context, name, holder string, next time.Time) error
	ReturnPacerSlot(ctx context.Context, name, holder string, claimed, next time.Time) (bool, error)
}

var _ Store = (*registry.Store)(nil)

// DefaultInterval is UpdateUsagePlan's quota: one request every 20 s.
const DefaultInterval = 20 * time.Second

// DefaultName is the slot of UpdateUsagePlan.
const DefaultName = "UpdateUsagePlan"

// Pacer paces one operation. It is safe for concurrent use; several pacers
// (one per run) over the same store and name share the quota.
type Pacer struct {
	store    Store
	clock    clock.Clock
	name     string
	holder   string
	interval time.Duration

	mu   sync.Mutex
	next time.Time // earliest time a claim can succeed, as last known
}

// Option configures a Pacer.
type Option func(*Pacer)

// WithClock sets the clock (default: the system clock).
func WithClock(c clock.Clock) Option { return func(p *Pacer) { p.clock = c } }

// WithInterval sets the minimum time between two calls (default 20 s).
func WithInterval(d time.Duration) Option { return func(p *Pacer) { p.interval = d } }

// WithName sets the slot name (default "UpdateUsagePlan").
func WithName(name string) Option { return func(p *Pacer) { p.name = name } }

// New returns a pacer; holder names this caller in the slot (a run id).
func New(store Store, holder string, opts ...Option) (*Pacer, error) {
	p := &Pacer{store: store, clock: clock.System{}, name: DefaultName, holder: holder, interval: DefaultInterval}
	for _, o := range opts {
		o(p)
	}
	if p.store == nil || p.holder == "" || p.interval <= 0 || p.name == "" {
		return nil, fmt.Errorf("pacer: store, holder, name and a positive interval are required")
	}
	return p, nil
}

// Interval returns the minimum time between two calls.
func (p *Pacer) Interval() time.Duration { return p.interval }

// NextAt is the earliest time a claim can succeed, as far as this pacer
// knows (another caller may have taken the slot since).
func (p *Pacer) NextAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.next
}

// TryAcquire claims the slot if it is free now. It reports false, with no
// error, when the slot is not free yet; NextAt then says when to try again.
// A true result allows exactly one call, to be made at once.
func (p *Pacer) TryAcquire(ctx context.Context) (bool, error) {
	now := p.clock.Now()
	if now.Before(p.NextAt()) {
		return false, nil
	}
	ok, err := p.store.ClaimPacerSlot(ctx, p.name, p.holder, now, now.Add(p.interval))
	if err != nil {
		return false, fmt.Errorf("pacer %s: %w", p.name, err)
	}
	if ok {
		p.setNext(now.Add(p.interval))
		return true, nil
	}
	slot, err := p.store.GetPacerSlot(ctx, p.name)
	if err != nil {
		return false, fmt.Errorf("pacer %s: %w", p.name, err)
	}
	// Another caller holds the slot; if it lapsed between the claim and
	// this read, try again at once (next <= now).
	p.setNext(slot.NextAt())
	return false, nil
}

// Acquire waits (on the pacer's clock) until it claims the slot.
func (p *Pacer) Acquire(ctx context.Context) error {
	for {
		ok, err := p.TryAcquire(ctx)
		if err != nil || ok {
			return err
		}
		if err := p.clock.Sleep(ctx, p.NextAt().Sub(p.clock.Now())); err != nil {
			return err
		}
	}
}

// Done records that the call claimed last completed (was counted by API
// Gateway) at the given time: the next call waits a full interval after it.
func (p *Pacer) Done(ctx context.Context, at time.Time) error {
	next := at.Add(p.interval)
	if !next.After(p.NextAt()) {
		return nil
	}
	p.setNext(next)
	if err := p.store.PushPacerSlot(ctx, p.name, p.holder, next); err != nil {
		return fmt.Errorf("pacer %s: %w", p.name, err)
	}
	return nil
}

// Return gives back the slot claimed last when API Gateway refused its
// call without counting it (429 TooManyRequestsException): the next claim
// may come at at (now + the service's Retry-After) instead of a full
// interval later. A throttled request is rejected before the service does
// any work, so it uses none of the operation's quota; the retry still
// claims a slot of its own. If the slot moved since (another caller, a
// push), nothing changes.
func (p *Pacer) Return(ctx context.Context, at time.Time) error {
	claimed := p.NextAt()
	if !at.Before(claimed) {
		return nil
	}
	ok, err := p.store.ReturnPacerSlot(ctx, p.name, p.holder, claimed, at)
	if err != nil {
		return fmt.Errorf("pacer %s: %w", p.name, err)
	}
	if ok {
		p.setNext(at)
	}
	return nil
}

func (p *Pacer) setNext(t time.Time) {
	p.mu.Lock()
	p.next = t
	p.mu.Unlock()
}
