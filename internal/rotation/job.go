package rotation

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// Actor is the audit actor of the job's changes.
const Actor = "system:rotation"

// DateLayout is how due dates are written in markers and events.
const DateLayout = "2006-01-02"

// Job is the daily rotation run over one environment.
type Job struct {
	store    *registry.Store
	envelope *Envelope
	events   Publisher
	clock    clock.Clock
	log      *slog.Logger
	workers  int
	pageSize int32
	margin   time.Duration
	lease    time.Duration
	owner    string
	random   io.Reader
}

// Option configures a Job.
type Option func(*Job)

// WithClock sets the clock (default: system clock).
func WithClock(c clock.Clock) Option { return func(j *Job) { j.clock = c } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(j *Job) { j.log = l } }

// WithWorkers sets how many keys are acted on at once (default 8).
func WithWorkers(n int) Option { return func(j *Job) { j.workers = max(1, n) } }

// WithPageSize sets how many keys one registry query reads (default 500).
func WithPageSize(n int32) Option { return func(j *Job) { j.pageSize = n } }

// WithSafetyMargin: a run stops reading new pages this long before its
// context's deadline (default 60s) and reports where it stopped.
func WithSafetyMargin(d time.Duration) Option { return func(j *Job) { j.margin = d } }

// WithOwner names this run in warning claims (default: random).
func WithOwner(o string) Option { return func(j *Job) { j.owner = o } }

// WithRandom sets the source of secrets' random bytes (default crypto/rand;
// tests only).
func WithRandom(r io.Reader) Option { return func(j *Job) { j.random = r } }

// NewJob returns a job over the registry, sealing new secrets with envelope
// and publishing to events.
func NewJob(store *registry.Store, envelope *Envelope, events Publisher, opts ...Option) *Job {
	j := &Job{
		store: store, envelope: envelope, events: events, clock: clock.System{},
		log: slog.New(slog.DiscardHandler), workers: 8, pageSize: 500, margin: time.Minute,
		lease: 5 * time.Minute, random: rand.Reader,
	}
	for _, o := range opts {
		o(j)
	}
	if j.owner == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		j.owner = fmt.Sprintf("run-%x", b)
	}
	return j
}

// Outcome is what happened to one key.
type Outcome struct {
	KeyID      string `json:"keyId"`
	CustomerID string `json:"customerId"`
	Action     Action `json:"action"`
	DueAt      string `json:"dueAt"`
	// Result: done, already-done (an earlier or concurrent run did it),
	// planned (dry run) or failed.
	Result   string `json:"result"`
	NewKeyID string `json:"newKeyId,omitempty"`
	Error    string `json:"error,omitempty"`
}

// Report sums up one run.
type Report struct {
	Env      string    `json:"env"`
	DryRun   bool      `json:"dryRun"`
	Scanned  int       `json:"scanned"`
	Outcomes []Outcome `json:"outcomes"`
	// Next is set when the run stopped at the safety margin: pass it as
	// RunInput.Cursor to continue (rerunning from the start is also safe).
	Next           string   `json:"next,omitempty"`
	PolicyProblems []string `json:"policyProblems,omitempty"`
}

// Count returns how many outcomes have the action and result.
func (r Report) Count(a Action, result string) int {
	n := 0
	for _, o := range r.Outcomes {
		if o.Action == a && o.Result == result {
			n++
		}
	}
	return n
}

// Failed is how many keys failed.
func (r Report) Failed() int {
	n := 0
	for _, o := range r.Outcomes {
		if o.Result == ResultFailed {
			n++
		}
	}
	return n
}

// Outcome results.
const (
	ResultDone        = "done"
	ResultAlreadyDone = "already-done"
	ResultPlanned     = "planned"
	ResultFailed      = "failed"
)

// RunInput selects what a run covers.
type RunInput struct {
	Env    string
	DryRun bool
	// Cursor resumes a run that stopped at its safety margin.
	Cursor string
}

// Run walks the environment's keys once and acts on each due key. A run
// is idempotent and safe to overlap with another: warnings are claimed per
// key and window, expiry is a guarded write that a rerun finds done, and
// rotation is the registry's single-winner conditional transaction.
func (j *Job) Run(ctx context.Context, in RunInput) (Report, error) {
	rep := Report{Env: in.Env, DryRun: in.DryRun, Outcomes: []Outcome{}}
	stored, err := j.store.ListRotationPolicies(ctx, in.Env)
	if err != nil {
		return rep, err
	}
	if len(stored) == 0 {
		return rep, nil
	}
	planOf := map[string]string{}
	for next := ""; ; {
		page, err := j.store.ListSubscriptions(ctx, in.Env, next, 1000)
		if err != nil {
			return rep, err
		}
		for _, s := range page.Items {
			planOf[s.CustomerID] = s.Plan
		}
		if next = page.Next; next == "" {
			break
		}
	}
	pols, problems := NewPolicies(stored, planOf)
	for _, p := range problems {
		rep.PolicyProblems = append(rep.PolicyProblems, p.Error())
		j.log.Warn("rotation: policy ignored", slog.String("error", p.Error()))
	}

	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		work = make(chan registry.Key)
	)
	now := j.clock.Now().UTC()
	record := func(o Outcome) {
		mu.Lock()
		rep.Outcomes = append(rep.Outcomes, o)
		mu.Unlock()
	}
	for range j.workers {
		wg.Go(func() {
			for k := range work {
				p, _ := pols.For(k.CustomerID)
				record(j.act(ctx, k, p, Decide(k, p, now), in.DryRun))
			}
		})
	}
	next := in.Cursor
	var walkErr error
	for {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < j.margin {
			rep.Next = next
			break
		}
		page, err := j.store.ListKeysByEnv(ctx, in.Env, next, j.pageSize)
		if err != nil {
			walkErr = err
			break
		}
		for _, k := range page.Items {
			rep.Scanned++
			p, ok := pols.For(k.CustomerID)
			if !ok || Decide(k, p, now).Action == ActionNone {
				continue
			}
			work <- k
		}
		if next = page.Next; next == "" {
			break
		}
	}
	close(work)
	wg.Wait()
	return rep, walkErr
}

func (j *Job) act(ctx context.Context, k registry.Key, p registry.RotationPolicy, d Decision, dry bool) Outcome {
	o := Outcome{KeyID: k.ID, CustomerID: k.CustomerID, Action: d.Action, DueAt: d.Due.UTC().Format(time.RFC3339)}
	if dry {
		o.Result = ResultPlanned
		return o
	}
	var err error
	switch d.Action {
	case ActionWarn:
		err = j.warn(ctx, k, p, d)
	case ActionExpire:
		err = j.expire(ctx, k, p, d)
	case ActionRotate:
		o.NewKeyID, err = j.rotate(ctx, k, p, d)
	}
	switch {
	case err == nil:
		o.Result = ResultDone
	case errors.Is(err, registry.ErrAlreadyDone):
		o.Result = ResultAlreadyDone
	default:
		o.Result, o.Error = ResultFailed, err.Error()
		j.log.Error("rotation: key failed", slog.String("keyId", k.ID), slog.String("action", string(d.Action)), slog.String("error", err.Error()))
	}
	return o
}

func (j *Job) event(k registry.Key, p registry.RotationPolicy, d Decision, kind string) Event {
	due := d.Due.UTC().Format(DateLayout)
	return Event{
		EventID: kind + ":" + k.ID + ":" + due, Env: k.Env, CustomerID: k.CustomerID, KeyID: k.ID,
		DueAt: d.Due.UTC().Format(time.RFC3339), Mode: string(p.Mode),
	}
}

// warn sends Key Rotation Due once per key and window: claim the marker,
// publish, mark it sent. A run that dies after publishing and before
// marking leaves a claim whose lease runs out; the next run sends again
// with the same EventID (at least once, deduplicable).
func (j *Job) warn(ctx context.Context, k registry.Key, p registry.RotationPolicy, d Decision) error {
	due := d.Due.UTC().Format(DateLayout)
	err := j.store.ClaimRotationWarning(ctx, k.ID, due, j.owner, j.lease, d.Due.Add(time.Duration(p.Grace)+30*24*time.Hour))
	if errors.Is(err, registry.ErrConflict) {
		return fmt.Errorf("%w: claimed by a concurrent run", registry.ErrAlreadyDone)
	}
	if err != nil {
		return err
	}
	if err := j.events.Publish(ctx, DetailRotationDue, j.event(k, p, d, "due")); err != nil {
		return err
	}
	return j.store.MarkRotationWarningSent(ctx, k.ID, due, j.owner)
}

// expire (mode enforce) makes the key stop one grace after now; a key whose
// expiry is already that early was done by an earlier run.
func (j *Job) expire(ctx context.Context, k registry.Key, p registry.RotationPolicy, d Decision) error {
	at := j.clock.Now().UTC().Add(time.Duration(p.Grace))
	nk, err := j.store.SetKeyExpiryIf(ctx, k.ID, k.Version, at, Actor)
	if errors.Is(err, registry.ErrConflict) {
		cur, gerr := j.store.GetKey(ctx, k.ID)
		if gerr == nil && Decide(cur, p, j.clock.Now()).Action != ActionExpire {
			return fmt.Errorf("key %s: %w", k.ID, registry.ErrAlreadyDone)
		}
		return err
	}
	if err != nil {
		return err
	}
	e := j.event(nk, p, d, "expiry")
	e.ExpiresAt = at.Format(time.RFC3339)
	return j.events.Publish(ctx, DetailKeyExpiring, e)
}

// rotate (mode auto): draw the successor's secret, seal it under KMS and
// store it for pickup, then rotate through the service layer with a
// generator that yields exactly that secret. The pickup is stored first so
// that no committed rotation is ever without its secret; a pickup whose
// rotation lost (a concurrent run won) is deleted, and one left by a crash
// before the rotation is unreachable (its key does not exist) and lapses
// by TTL.
func (j *Job) rotate(ctx context.Context, k registry.Key, p registry.RotationPolicy, d Decision) (string, error) {
	var drawn bytes.Buffer
	secret, err := keys.NewGenerator(keys.WithRand(io.TeeReader(j.random, &drawn))).New(k.Env)
	if err != nil {
		return "", fmt.Errorf("generate key: %w", err)
	}
	now := j.clock.Now().UTC()
	grace := time.Duration(p.Grace)
	exp, err := keys.RotationExpiry(now, grace, k.ExpiresAt)
	if err != nil {
		return "", err
	}
	sealed, err := j.envelope.Seal(ctx, []byte(secret.Plaintext), PickupContext(k.Env, k.CustomerID, secret.ID))
	if err != nil {
		return "", err
	}
	if err := j.store.PutSecretPickup(ctx, registry.SecretPickup{
		KeyID: secret.ID, CustomerID: k.CustomerID, Env: k.Env, RotatedFrom: k.ID,
		EncryptedDataKey: sealed.EncryptedDataKey, Nonce: sealed.Nonce, Ciphertext: sealed.Ciphertext,
		CreatedAt: now, ExpiresAt: exp,
	}); err != nil {
		return "", err
	}
	svc := service.New(j.store, nil, service.WithClock(j.clock),
		service.WithGenerator(keys.NewGenerator(keys.WithRand(bytes.NewReader(drawn.Bytes())))))
	old, next, _, _, err := svc.RotateKeyIf(ctx, k.ID, grace, k.Version, Actor, nil)
	if err != nil {
		if derr := j.store.DeleteSecretPickup(ctx, secret.ID); derr != nil {
			j.log.Warn("rotation: orphan pickup left for TTL", slog.String("keyId", secret.ID), slog.String("error", derr.Error()))
		}
		if errors.Is(err, registry.ErrKeyRotated) || errors.Is(err, registry.ErrConflict) {
			// Lost to a concurrent change: done only if it was a rotation.
			if cur, gerr := j.store.GetKey(ctx, k.ID); gerr == nil && cur.RotatedTo != "" {
				return "", fmt.Errorf("key %s rotated to %s by another run: %w", k.ID, cur.RotatedTo, registry.ErrAlreadyDone)
			}
		}
		return "", err
	}
	if next.ID != secret.ID {
		// Cannot happen unless the service stops drawing from its generator.
		return "", fmt.Errorf("rotation of %s stored %s, not the sealed secret's key %s", k.ID, next.ID, secret.ID)
	}
	e := j.event(k, p, d, "rotated")
	e.NewKeyID = next.ID
	if old.ExpiresAt != nil {
		e.PickupExpiresAt = old.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return next.ID, j.events.Publish(ctx, DetailKeyRotated, e)
}

// PickupContext is the encryption context of a pickup: environment,
// customer and the new key's id.
func PickupContext(env, customerID, keyID string) map[string]string {
	return map[string]string{"env": env, "customerId": customerID, "keyId": keyID}
}
