package reconcile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Sentinel errors of a run.
var (
	// ErrRejected: API Gateway refused an operation for a reason retries
	// cannot fix (an invalid stage, a limit). The deployment fails.
	ErrRejected = errors.New("rejected by API Gateway")
	// ErrTooManyDetaches: the plan would detach more keys than the guard
	// allows; the registry is more likely wrong (empty, wrong environment)
	// than every customer gone. The deployment fails; nothing is detached.
	ErrTooManyDetaches = errors.New("too many keys to detach")
)

// Pacer paces UpdateUsagePlan account-wide; *pacer.Pacer implements it.
type Pacer interface {
	NextAt() time.Time
	TryAcquire(ctx context.Context) (bool, error)
	Done(ctx context.Context, at time.Time) error
	Return(ctx context.Context, at time.Time) error
}

// Counts are what an execution changed.
type Counts struct {
	PlansUpdated int `json:"plansUpdated"`
	KeysAttached int `json:"keysAttached"`
	KeysRemoved  int `json:"keysRemoved"`
}

// Hooks let the runner observe and steer an execution.
type Hooks struct {
	// Refresh is called before each plan update and before finishing; it
	// returns a new stage part of the desired state when it changed (ok),
	// so a retire or a deploy that arrives mid-run joins the updates still
	// to come.
	Refresh func(ctx context.Context) (stages, retired []registry.StageRef, source map[registry.StageRef]registry.StageRef, ok bool, err error)
	// Checkpoint is called after each plan update and at least every
	// CheckpointEvery while working: persist progress, renew the lease. An
	// error stops the execution.
	Checkpoint func(ctx context.Context, c Counts, plansDone []string) error
	// PriorFailures are the failed UpdateUsagePlan requests per plan in
	// earlier invocations of the same run: such a plan starts behind every
	// plan that has not failed, with its count (a plan at the bound is
	// reported again, not retried).
	PriorFailures map[string]int
	// OnFailure is called with a plan's failure count after each failed
	// UpdateUsagePlan (persisted with the next checkpoint).
	OnFailure func(planID string, failures int)
}

// Result is how an execution ended.
type Result struct {
	Counts Counts
	// Done: everything converged. Otherwise the deadline came first and
	// ResumeAt says when continuing is useful.
	Done     bool
	ResumeAt time.Time
	// Problems that need a human (keys API Gateway refused to attach).
	Problems []Problem
	// PlansDone are the usage plans updated.
	PlansDone []string
	// FailingPlans are the usage plans whose UpdateUsagePlan failed
	// transiently PlanAttempts times: given up for this run and reported
	// (each also has a Problem), while every other plan went on.
	FailingPlans []string
}

// Executor applies a desired state to API Gateway.
type Executor struct {
	client     *Client
	pacer      Pacer
	clock      clock.Clock
	log        *slog.Logger
	callBudget time.Duration
	checkpoint time.Duration
	maxDetach  int
	attempts   int
	backoff    time.Duration
}

// ExecutorOption configures an Executor.
type ExecutorOption func(*Executor)

// WithExecutorLogger sets the logger.
func WithExecutorLogger(l *slog.Logger) ExecutorOption { return func(e *Executor) { e.log = l } }

// WithCallBudget sets how much time before the deadline the executor stops
// starting calls (a call with its retries must fit; default 25 s).
func WithCallBudget(d time.Duration) ExecutorOption { return func(e *Executor) { e.callBudget = d } }

// WithMaxDetach sets the detach guard: a run may detach at most this many
// keys unless they are under a quarter of the keys it read (default 100).
func WithMaxDetach(n int) ExecutorOption { return func(e *Executor) { e.maxDetach = n } }

// DefaultPlanAttempts is how many UpdateUsagePlan requests one usage plan
// may get in a run before it is reported as failing.
const DefaultPlanAttempts = 5

// DefaultPlanBackoff is the wait before a failed plan's first retry; it
// doubles with each failure of that plan (at most 16 times longer).
const DefaultPlanBackoff = 20 * time.Second

// WithPlanAttempts sets how many UpdateUsagePlan requests one usage plan
// may get in a run before it is reported as failing (default 5).
func WithPlanAttempts(n int) ExecutorOption { return func(e *Executor) { e.attempts = n } }

// NewExecutor returns an executor over client, paced by p, on the client's
// clock.
func NewExecutor(client *Client, p Pacer, opts ...ExecutorOption) *Executor {
	e := &Executor{client: client, pacer: p, clock: client.clock, log: slog.New(slog.DiscardHandler),
		callBudget: 25 * time.Second, checkpoint: 30 * time.Second, maxDetach: 100, attempts: DefaultPlanAttempts, backoff: DefaultPlanBackoff}
	for _, o := range opts {
		o(e)
	}
	e.attempts = max(e.attempts, 1)
	return e
}

// execution is the state of one Converge call.
type execution struct {
	e        *Executor
	d        Desired
	plans    []UsagePlan
	byID     map[string]int
	deadline time.Time
	hooks    Hooks

	toRead        []int   // plans whose keys are unread, in order
	detach        []KeyOp // pending detaches
	detachPending map[string]int
	attach        []KeyOp // pending attaches (built once every plan is read)
	attachBuilt   bool
	pending       []int // plans needing a stage update, in order
	deferred      map[string]bool
	keysSeen      int
	detachPlanned int

	res            Result
	lastCheckpoint time.Time
	strikes        int

	// Fairness of plan updates: a plan whose update failed goes to the
	// back of the queue (pos) and waits (notBefore) before its next try;
	// after attempts failures it is given up for this run (failing).
	pos       []int // queue position per plan index
	nextPos   int
	fails     map[string]int
	notBefore map[string]time.Time
	reread    map[string]bool // re-read before the next try: the failed request may have taken effect
	failing   map[string]bool
	// streak: distinct plans whose updates failed in a row (no success in
	// between). Five of them is an outage, not one plan's problem.
	streak map[string]bool
	// throttles per plan and in a row (429s: see planFailed).
	throttles       map[string]int
	throttledInARow int
}

// maxThrottled bounds the 429s one plan may get in a run, and the 429s in a
// row the executor accepts before it treats them as an outage.
const maxThrottled = 20

// Converge applies d to plans (the environment's usage plans, keys unread)
// until API Gateway matches it or the deadline (zero: none) comes.
//
// It runs on one goroutine and interleaves work so that UpdateUsagePlan, the
// bottleneck (one per 20 s account-wide), is never idle when a plan is
// ready: while the pacer waits it reads plan keys, detaches misplaced keys
// and attaches missing ones within the call budget. A plan's update waits
// until its keys are read and its misplaced keys detached: API Gateway
// refuses a stage in two plans that share a key. Attaches wait until every
// plan is read and every detach done, for the same reason.
func (e *Executor) Converge(ctx context.Context, d Desired, plans []UsagePlan, deadline time.Time, hooks Hooks) (Result, error) {
	d.index()
	x := &execution{e: e, d: d, plans: slices.Clone(plans), byID: map[string]int{}, deadline: deadline, hooks: hooks,
		detachPending: map[string]int{}, deferred: map[string]bool{}, lastCheckpoint: e.clock.Now(),
		fails: map[string]int{}, notBefore: map[string]time.Time{}, reread: map[string]bool{}, failing: map[string]bool{},
		streak: map[string]bool{}, throttles: map[string]int{}}
	slices.SortFunc(x.plans, func(a, b UsagePlan) int { return strings.Compare(a.ID, b.ID) })
	x.pos = make([]int, len(x.plans))
	x.nextPos = len(x.plans)
	for i, p := range x.plans {
		x.pos[i] = i
		x.byID[p.ID] = i
		if !p.KeysRead {
			x.toRead = append(x.toRead, i)
		}
	}
	for i := range x.plans { // in id order
		id := x.plans[i].ID
		n := hooks.PriorFailures[id]
		if n <= 0 {
			continue
		}
		x.fails[id] = n
		x.pos[i] = x.nextPos
		x.nextPos++
		x.reread[id] = true
		if n >= e.attempts {
			x.giveUp(i, fmt.Sprintf("UpdateUsagePlan failed %d times in earlier invocations of this run", n))
		}
	}
	x.recomputePending()
	err := x.loop(ctx)
	if errors.Is(err, errHandOver) {
		err = nil
	}
	return x.res, err
}

// errHandOver ends the loop at the deadline (not an error for the caller).
var errHandOver = errors.New("deadline: hand over")

// errOutage wraps the UpdateUsagePlan error that showed an outage (many
// plans failing in a row, or throttling that does not stop): the run hands
// over at once (the error stays transient).
var errOutage = errors.New("API Gateway outage: usage plan updates keep failing")

// recomputePending lists the plans that need a stage update, in queue
// order (a plan that failed is behind every plan that has not), without the
// plans given up for this run.
func (x *execution) recomputePending() {
	x.pending = x.pending[:0]
	for i, p := range x.plans {
		if !x.failing[p.ID] && len(StageUpdate(x.d, p).Ops) > 0 {
			x.pending = append(x.pending, i)
		}
	}
	slices.SortFunc(x.pending, func(a, b int) int { return x.pos[a] - x.pos[b] })
}

// ready reports whether plan i may be updated (its backoff aside).
func (x *execution) ready(i int) bool {
	p := x.plans[i]
	if !p.KeysRead || x.detachPending[p.ID] > 0 {
		return false
	}
	return !x.deferred[p.ID] || (len(x.toRead) == 0 && len(x.detach) == 0)
}

// candidate is the first plan in queue order that may be updated now, or
// -1 and, when a plan only waits for its backoff, the earliest time one is
// due (zero otherwise).
func (x *execution) candidate(now time.Time) (int, time.Time) {
	var due time.Time
	for _, i := range x.pending {
		if !x.ready(i) {
			continue
		}
		at := x.notBefore[x.plans[i].ID]
		if !now.Before(at) {
			return i, time.Time{}
		}
		if due.IsZero() || at.Before(due) {
			due = at
		}
	}
	return -1, due
}

func (x *execution) loop(ctx context.Context) error {
	e := x.e
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		now := e.clock.Now()
		if err := x.maybeCheckpoint(ctx, now, false); err != nil {
			return err
		}
		if len(x.toRead) == 0 && len(x.detach) == 0 && !x.attachBuilt {
			x.buildAttaches()
		}
		cand, due := x.candidate(now)
		budgetAt := e.client.ReadyAt(now)
		canCall := !budgetAt.After(now)

		// 0. A plan whose last request failed in a way that may have taken
		// effect is read again before it uses a slot.
		if cand >= 0 && x.reread[x.plans[cand].ID] && canCall {
			if x.pastDeadline(now) {
				return x.handOver(ctx, now)
			}
			if err := x.strike(ctx, x.reread1(ctx, cand)); err != nil {
				return err
			}
			continue
		}

		// 1. The bottleneck first: an update whose slot has come.
		if cand >= 0 && !now.Before(e.pacer.NextAt()) && canCall {
			if x.pastDeadline(now) {
				return x.handOver(ctx, now)
			}
			changed, err := x.refresh(ctx)
			if err != nil {
				return err
			}
			if changed {
				continue
			}
			ok, err := e.pacer.TryAcquire(ctx)
			if err != nil {
				return err
			}
			if !ok {
				continue // someone else took the slot; NextAt moved
			}
			if err := x.strike(ctx, x.update(ctx, cand)); err != nil {
				return err
			}
			continue
		}

		// 2. Other work within the call budget.
		if x.otherWork() {
			if !canCall {
				if err := x.sleepUntil(ctx, now, budgetAt); err != nil {
					return err
				}
				continue
			}
			if x.pastDeadline(now) {
				return x.handOver(ctx, now)
			}
			if err := x.strike(ctx, x.doOther(ctx)); err != nil {
				return err
			}
			continue
		}

		// 3. Nothing but updates waiting for their slot or their backoff,
		// or nothing at all.
		if cand < 0 && !due.IsZero() {
			if err := x.sleepUntil(ctx, now, due); err != nil {
				return err
			}
			continue
		}
		if cand < 0 {
			if len(x.pending) > 0 {
				// Only deferred plans remain and nothing can make them ready.
				return fmt.Errorf("usage plans %v cannot take the stage: a key is in another plan with the same stage: %w", x.pendingIDs(), ErrRejected)
			}
			changed, err := x.refresh(ctx)
			if err != nil {
				return err
			}
			if changed {
				continue
			}
			x.res.Done = true
			return x.maybeCheckpoint(ctx, now, true)
		}
		wake := e.pacer.NextAt()
		if budgetAt.After(wake) {
			wake = budgetAt
		}
		if err := x.sleepUntil(ctx, now, wake); err != nil {
			return err
		}
	}
}

// maxStrikes is how many operations in a row may fail transiently (every
// SDK attempt throttled or 5xx) before the run hands over to a later
// invocation.
const maxStrikes = 5

// strike absorbs a transient failure of one operation: the operation stays
// queued, the executor backs off on the clock and goes on. A success resets
// the count.
func (x *execution) strike(ctx context.Context, err error) error {
	if err == nil {
		x.strikes = 0
		return nil
	}
	if !IsTransient(err) || x.strikes >= maxStrikes || errors.Is(err, errOutage) {
		return err
	}
	x.strikes++
	wait := time.Duration(x.strikes) * 5 * time.Second
	x.e.log.Warn("operation failed after its retries; backing off", "strike", x.strikes, "wait", wait.String(), "err", err)
	now := x.e.clock.Now()
	return x.sleepUntil(ctx, now, now.Add(wait))
}

func (x *execution) pendingIDs() []string {
	ids := make([]string, len(x.pending))
	for i, p := range x.pending {
		ids[i] = x.plans[p].ID
	}
	return ids
}

func (x *execution) otherWork() bool {
	return len(x.detach) > 0 || len(x.toRead) > 0 || len(x.attach) > 0
}

// pastDeadline: a call started now might not finish before the deadline.
func (x *execution) pastDeadline(now time.Time) bool {
	return !x.deadline.IsZero() && now.Add(x.e.callBudget).After(x.deadline)
}

func (x *execution) sleepUntil(ctx context.Context, now, wake time.Time) error {
	if !x.deadline.IsZero() && wake.Add(x.e.callBudget).After(x.deadline) {
		return x.handOver(ctx, now)
	}
	return x.e.clock.Sleep(ctx, wake.Sub(now))
}

// handOver ends the execution at the deadline.
func (x *execution) handOver(ctx context.Context, now time.Time) error {
	x.res.ResumeAt = now
	if next := x.e.pacer.NextAt(); next.After(now) && len(x.pending) > 0 {
		x.res.ResumeAt = next
	}
	if err := x.maybeCheckpoint(ctx, now, true); err != nil {
		return err
	}
	return errHandOver
}

func (x *execution) maybeCheckpoint(ctx context.Context, now time.Time, force bool) error {
	if x.hooks.Checkpoint == nil || (!force && now.Sub(x.lastCheckpoint) < x.e.checkpoint) {
		return nil
	}
	x.lastCheckpoint = now
	return x.hooks.Checkpoint(ctx, x.res.Counts, x.res.PlansDone)
}

func (x *execution) refresh(ctx context.Context) (bool, error) {
	if x.hooks.Refresh == nil {
		return false, nil
	}
	stages, retired, source, ok, err := x.hooks.Refresh(ctx)
	if err != nil || !ok {
		return false, err
	}
	x.d.Stages, x.d.Retired, x.d.ThrottleSource = stages, retired, source
	x.recomputePending()
	x.e.log.Info("desired stages changed during the run; replanned", "pending", len(x.pending))
	return true, nil
}

// update sends plan i's one UpdateUsagePlan (the pacer slot is held).
func (x *execution) update(ctx context.Context, i int) error {
	e := x.e
	p := x.plans[i]
	u := StageUpdate(x.d, p)
	updated, err := e.client.UpdatePlan(ctx, p.ID, u.Ops)
	if errorCode(err) == "TooManyRequestsException" {
		// Refused, not counted: the slot is free again once the service
		// says so (a retry claims it like any request).
		now := e.clock.Now()
		if perr := e.pacer.Return(ctx, now.Add(max(retryAfter(err), time.Second))); perr != nil {
			e.log.Warn("pacer return failed", "err", perr)
		}
	} else if perr := e.pacer.Done(ctx, e.clock.Now()); perr != nil {
		e.log.Warn("pacer push failed", "err", perr)
	}
	if err == nil || !IsTransient(err) {
		clear(x.streak)
	}
	if errorCode(err) != "TooManyRequestsException" {
		x.throttledInARow = 0
	}
	switch code := errorCode(err); {
	case err == nil:
		x.applied(i, updated)
		e.log.Info("usage plan updated", "planId", p.ID, "tier", p.Tier, "added", refs(u.Added), "removed", refs(u.Removed),
			"throttlesCopied", u.ThrottlesCopied,
			"limitsChanged", u.LimitsChanged, "throttlesSet", u.ThrottlesSet, "throttlesRemoved", u.ThrottlesRemoved)
		return x.maybeCheckpoint(ctx, e.clock.Now(), true)
	case code == "ConflictException" || code == "NotFoundException":
		// Our view is stale: most often an earlier attempt of this very
		// request took effect and only its response was lost. Re-read and
		// plan this plan again.
		fresh, rerr := e.client.ReadPlan(ctx, p.ID)
		if rerr != nil {
			return rerr
		}
		fresh.Tier, fresh.Keys, fresh.KeysRead = p.Tier, p.Keys, p.KeysRead
		if len(StageUpdate(x.d, fresh).Ops) == 0 {
			x.applied(i, fresh)
			e.log.Info("usage plan already updated (response of an applied request lost)", "planId", p.ID)
			return nil
		}
		x.plans[i].TakeState(fresh)
		return nil
	case code == "BadRequestException" && strings.Contains(errorMessage(err), "multiple Usage Plans"):
		if x.deferred[p.ID] {
			return fmt.Errorf("%w: %w", ErrRejected, err)
		}
		// A key of this plan is also in another plan that has the stage;
		// that key's detach is still to come. Retry once all detaches ran.
		x.deferred[p.ID] = true
		e.log.Warn("usage plan update deferred until misplaced keys are detached", "planId", p.ID, "err", err)
		return nil
	case code == "BadRequestException" || code == "LimitExceededException":
		return fmt.Errorf("%w: %w", ErrRejected, err)
	case IsTransient(err):
		return x.planFailed(i, err)
	default:
		return err
	}
}

// planFailed handles a transient failure of plan i's update: the plan goes
// to the back of the queue and waits a backoff (doubling per failure)
// before its next try, so every other plan goes on; after e.attempts
// failures it is given up for this run and reported. Failures of many
// different plans in a row are an outage: the run stops (and hands over).
func (x *execution) planFailed(i int, err error) error {
	e := x.e
	id := x.plans[i].ID
	e.client.retry.retries.Add(1)
	if errorCode(err) == "TooManyRequestsException" {
		// Throttled: nothing reached the plan and the slot was returned
		// (update). The plan keeps its place and is tried at the next slot;
		// throttling is the account's state, not the plan's, so it has a
		// bound of its own, and as many in a row is an outage.
		x.throttles[id]++
		x.throttledInARow++
		if x.throttledInARow >= maxThrottled {
			return fmt.Errorf("%w: %w", errOutage, err)
		}
		if x.throttles[id] < maxThrottled {
			e.log.Warn("usage plan update throttled; retried at the next slot", "planId", id, "throttled", x.throttles[id])
			return nil
		}
		x.fails[id] = e.attempts - 1 // give it up below
	}
	x.fails[id]++
	x.streak[id] = true
	x.reread[id] = true // a 5xx or a lost response may hide an applied update
	if x.hooks.OnFailure != nil {
		x.hooks.OnFailure(id, x.fails[id])
	}
	if x.fails[id] >= e.attempts {
		x.giveUp(i, fmt.Sprintf("UpdateUsagePlan failed %d times, last: %v", x.fails[id], err))
		return nil
	}
	wait := e.backoff << min(x.fails[id]-1, 4)
	x.notBefore[id] = e.clock.Now().Add(wait)
	x.pos[i] = x.nextPos
	x.nextPos++
	slices.SortFunc(x.pending, func(a, b int) int { return x.pos[a] - x.pos[b] })
	if len(x.streak) >= maxStrikes {
		// An outage, not these plans' problem: their failures do not count
		// toward their bound, and the run hands over.
		for sid := range x.streak {
			x.fails[sid]--
			if x.hooks.OnFailure != nil {
				x.hooks.OnFailure(sid, x.fails[sid])
			}
		}
		clear(x.streak)
		return fmt.Errorf("%w: %w", errOutage, err)
	}
	e.log.Warn("usage plan update failed; retried after the other plans", "planId", id, "attempt", x.fails[id], "wait", wait.String(), "err", err)
	return nil
}

// giveUp stops updating plan i for this run and reports it.
func (x *execution) giveUp(i int, why string) {
	id := x.plans[i].ID
	x.failing[id] = true
	x.pending = slices.DeleteFunc(x.pending, func(j int) bool { return j == i })
	x.res.FailingPlans = append(x.res.FailingPlans, id)
	reason := fmt.Sprintf("usage plan %s (tier %s) did not take the stage update: %s", id, x.plans[i].Tier, why)
	x.res.Problems = append(x.res.Problems, Problem{PlanID: id, Reason: reason})
	x.e.log.Error("usage plan update keeps failing; reported and skipped for this run", "planId", id, "tier", x.plans[i].Tier,
		"attempts", x.fails[id], "why", why)
}

// reread1 reads plan i again after a failed update that may have taken
// effect; if it did, the plan is done without another request.
func (x *execution) reread1(ctx context.Context, i int) error {
	e := x.e
	p := x.plans[i]
	fresh, err := e.client.ReadPlan(ctx, p.ID)
	if err != nil {
		return err
	}
	delete(x.reread, p.ID)
	fresh.Tier, fresh.Keys, fresh.KeysRead = p.Tier, p.Keys, p.KeysRead
	if len(StageUpdate(x.d, fresh).Ops) == 0 {
		x.applied(i, fresh)
		e.log.Info("usage plan already updated (a failed request took effect)", "planId", p.ID)
		return nil
	}
	x.plans[i].Stages = fresh.Stages
	return nil
}

func (x *execution) applied(i int, updated UsagePlan) {
	x.plans[i].TakeState(updated)
	x.res.Counts.PlansUpdated++
	x.res.PlansDone = append(x.res.PlansDone, x.plans[i].ID)
	x.pending = slices.DeleteFunc(x.pending, func(j int) bool { return j == i })
}

// doOther runs one non-update call: a detach, else a plan's keys read,
// else an attach.
func (x *execution) doOther(ctx context.Context) error {
	e := x.e
	switch {
	case len(x.detach) > 0:
		op := x.detach[0]
		if err := e.client.DetachKey(ctx, op.PlanID, op.KeyID); err != nil {
			return err
		}
		x.detach = x.detach[1:]
		x.detachPending[op.PlanID]--
		i := x.byID[op.PlanID]
		x.plans[i].Keys = slices.DeleteFunc(x.plans[i].Keys, func(k string) bool { return k == op.KeyID })
		x.res.Counts.KeysRemoved++
		e.log.Info("key detached", "planId", op.PlanID, "keyId", op.KeyID)
	case len(x.toRead) > 0:
		i := x.toRead[0]
		keys, err := e.client.ReadKeys(ctx, x.plans[i].ID)
		if err != nil {
			return err
		}
		x.toRead = x.toRead[1:]
		x.plans[i].Keys, x.plans[i].KeysRead = keys, true
		x.keysSeen += len(keys)
		_, detach := KeyChanges(&x.d, x.plans[i])
		x.detachPlanned += len(detach)
		if x.detachPlanned > e.maxDetach && x.detachPlanned*4 > x.keysSeen {
			return fmt.Errorf("%d of %d keys read so far would be detached (guard: %d): %w", x.detachPlanned, x.keysSeen, e.maxDetach, ErrTooManyDetaches)
		}
		for _, k := range detach {
			x.detach = append(x.detach, KeyOp{PlanID: x.plans[i].ID, KeyID: k})
		}
		x.detachPending[x.plans[i].ID] += len(detach)
	case len(x.attach) > 0:
		op := x.attach[0]
		if err := e.client.AttachKey(ctx, op.PlanID, op.KeyID); err != nil {
			if IsTransient(err) {
				return err // stays queued (see strike)
			}
			x.attach = x.attach[1:]
			x.res.Problems = append(x.res.Problems, Problem{KeyID: op.KeyID, PlanID: op.PlanID, Reason: "attach refused: " + err.Error()})
			e.log.Error("key attach refused", "planId", op.PlanID, "keyId", op.KeyID, "err", err)
			return nil
		}
		x.attach = x.attach[1:]
		i := x.byID[op.PlanID]
		if at, found := slices.BinarySearch(x.plans[i].Keys, op.KeyID); !found {
			x.plans[i].Keys = slices.Insert(x.plans[i].Keys, at, op.KeyID)
		}
		x.res.Counts.KeysAttached++
	}
	return nil
}

func (x *execution) buildAttaches() {
	x.attachBuilt = true
	for _, p := range x.plans {
		attach, _ := KeyChanges(&x.d, p)
		for _, k := range attach {
			x.attach = append(x.attach, KeyOp{PlanID: p.ID, KeyID: k})
		}
	}
}

func refs(rs []registry.StageRef) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.String()
	}
	return out
}
