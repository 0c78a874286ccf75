package reconcile

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/emf"
	"github.com/stagehand-dev/stagehand/internal/reconcile/pacer"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Sentinel errors of the runner.
var (
	// ErrWrongEnvironment: an event for another environment reached this
	// environment's handler (a misconfigured rule).
	ErrWrongEnvironment = errors.New("event for another environment")
	// ErrDeploymentFailed: the deployment is recorded failed; the error
	// carries the reason. Returned again for every redelivery of the event
	// so that it ends in the DLQ.
	ErrDeploymentFailed = errors.New("deployment failed")
	// ErrRetireTooEarly: a retire event whose deployment is not recorded
	// yet (EventBridge does not keep order); retried later.
	ErrRetireTooEarly = errors.New("retire event arrived before its deployment")
	// ErrRetireRefused: retiring that stage would leave the environment
	// without its newest stage.
	ErrRetireRefused = errors.New("retire refused")
)

// DeploymentStore records deployments.
type DeploymentStore interface {
	RecordDeployment(ctx context.Context, d registry.Deployment, actor string) (registry.Deployment, bool, error)
	GetDeployment(ctx context.Context, env string, seq int64) (registry.Deployment, error)
	GetLatestDeployment(ctx context.Context, env string) (registry.Deployment, error)
	FinishDeployment(ctx context.Context, env string, seq int64, state registry.DeploymentState, reason string, counts registry.DeploymentCounts, actor string) (registry.Deployment, error)
}

// StateStore holds the desired stages and the run lease/progress.
type StateStore interface {
	GetEnvStages(ctx context.Context, env string) (registry.EnvStages, error)
	PutEnvStages(ctx context.Context, st registry.EnvStages, action, actor string) (registry.EnvStages, error)
	AcquireRun(ctx context.Context, env, owner string, until time.Time) (registry.RunProgress, error)
	SaveRunProgress(ctx context.Context, p registry.RunProgress) error
	ReleaseRun(ctx context.Context, p registry.RunProgress, stagesVersion int64) error
}

// CatalogStore reads plans and subscriptions and records the usage plan
// each plan owns.
type CatalogStore interface {
	ListPlans(ctx context.Context, env string) ([]registry.Plan, error)
	RecordUsagePlan(ctx context.Context, env, name, usagePlanID string, adopted map[string]registry.MethodThrottle, actor string) error
	ListSubscriptions(ctx context.Context, env, next string, limit int32) (registry.Page[registry.Subscription], error)
}

// Store is everything the runner needs from the registry.
type Store interface {
	DeploymentStore
	StateStore
	CatalogStore
	pacer.Store
}

var _ Store = (*registry.Store)(nil)

// Status of an Outcome.
const (
	StatusAssociated = "associated" // the pending deployment is associated
	StatusConverged  = "converged"  // API Gateway matches; no deployment was pending
	StatusFailed     = "failed"
	StatusStale      = "stale"     // an older sequence than the latest: nothing changed
	StatusDuplicate  = "duplicate" // already handled
	StatusDeferred   = "deferred"  // another run holds the lease and will apply it
	StatusContinued  = "continued" // handed over to a continuation
)

// Outcome says what a trigger did.
type Outcome struct {
	Env      string                    `json:"env"`
	Status   string                    `json:"status"`
	Sequence int64                     `json:"sequence,omitempty"`
	Counts   registry.DeploymentCounts `json:"counts"`
	Problems []Problem                 `json:"problems,omitempty"`
	Reason   string                    `json:"reason,omitempty"`
	// Reads is the number of API Gateway read calls of this invocation.
	Reads int `json:"reads"`
}

// Runner turns triggers (deploy and retire events, the schedule,
// continuations) into reconcile runs of one environment.
type Runner struct {
	env        string
	source     string
	actor      string
	store      Store
	gw         Gateway
	clock      clock.Clock
	log        *slog.Logger
	continuer  Continuer
	publisher  Publisher
	leaseTTL   time.Duration
	maxInvoke  int
	clientOpts []ClientOption
	execOpts   []ExecutorOption
	pacerOpts  []pacer.Option
	pacerStore pacer.Store
}

// RunnerOption configures a Runner.
type RunnerOption func(*Runner)

// WithClock sets the clock for timestamps, pacing, backoff and deadlines.
func WithClock(c clock.Clock) RunnerOption { return func(r *Runner) { r.clock = c } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) RunnerOption { return func(r *Runner) { r.log = l } }

// WithSource sets the EventBridge source of published events.
func WithSource(s string) RunnerOption { return func(r *Runner) { r.source = s } }

// WithContinuer sets how a run hands over at its deadline.
func WithContinuer(c Continuer) RunnerOption { return func(r *Runner) { r.continuer = c } }

// WithPublisher sets where "API Keys Associated" goes.
func WithPublisher(p Publisher) RunnerOption { return func(r *Runner) { r.publisher = p } }

// WithClientOptions adds options to each run's API Gateway client.
func WithClientOptions(opts ...ClientOption) RunnerOption {
	return func(r *Runner) { r.clientOpts = append(r.clientOpts, opts...) }
}

// WithExecutorOptions adds options to each run's executor.
func WithExecutorOptions(opts ...ExecutorOption) RunnerOption {
	return func(r *Runner) { r.execOpts = append(r.execOpts, opts...) }
}

// WithPacerOptions adds options to each run's pacer.
func WithPacerOptions(opts ...pacer.Option) RunnerOption {
	return func(r *Runner) { r.pacerOpts = append(r.pacerOpts, opts...) }
}

// WithPacerStore keeps the pacer slot in another store than the registry
// (for several environments' tables in one account: the slot must be
// shared by all of them).
func WithPacerStore(s pacer.Store) RunnerOption { return func(r *Runner) { r.pacerStore = s } }

// WithLeaseTTL sets how long a run's lease lasts without renewal (default
// 2 minutes; renewed at every checkpoint).
func WithLeaseTTL(d time.Duration) RunnerOption { return func(r *Runner) { r.leaseTTL = d } }

// WithMaxInvocations bounds how many invocations (first + continuations) a
// run may take before its deployment fails (default 100).
func WithMaxInvocations(n int) RunnerOption { return func(r *Runner) { r.maxInvoke = n } }

// NewRunner returns a runner for env.
func NewRunner(env string, store Store, gw Gateway, opts ...RunnerOption) (*Runner, error) {
	r := &Runner{env: env, source: deployevent.DefaultSource, actor: "stagehand-reconciler", store: store, gw: gw,
		clock: clock.System{}, log: slog.New(slog.DiscardHandler), leaseTTL: 2 * time.Minute, maxInvoke: 100}
	for _, o := range opts {
		o(r)
	}
	if r.pacerStore == nil {
		r.pacerStore = store
	}
	if env == "" || store == nil || gw == nil {
		return nil, errors.New("reconcile: environment, store and API Gateway client are required")
	}
	return r, nil
}

// Env returns the runner's environment.
func (r *Runner) Env() string { return r.env }

// Deploy handles "API Deployment Completed": record the deployment (newest
// sequence wins), add its stage to the desired stages, and converge.
func (r *Runner) Deploy(ctx context.Context, d deployevent.Detail, deadline time.Time) (Outcome, error) {
	out := Outcome{Env: r.env, Sequence: d.Sequence}
	if d.Environment != r.env {
		return out, fmt.Errorf("%q, this handler serves %q: %w", d.Environment, r.env, ErrWrongEnvironment)
	}
	rec, created, err := r.store.RecordDeployment(ctx, registry.Deployment{Env: r.env, Sequence: d.Sequence, APIID: d.APIID,
		Stage: d.Stage, Colour: d.Colour, StackName: d.StackName, GitSHA: d.GitSHA}, r.actor)
	if errors.Is(err, registry.ErrStaleDeployment) {
		r.log.Warn("stale deployment event ignored", "env", r.env, "sequence", d.Sequence, "apiId", d.APIID, "stage", d.Stage)
		out.Status = StatusStale
		return out, nil
	}
	if err != nil {
		return out, err
	}
	if !created {
		switch rec.State {
		case registry.DeploymentFailed:
			out.Status, out.Reason = StatusFailed, rec.Reason
			return out, fmt.Errorf("deployment %s/%d: %w: %s", r.env, d.Sequence, ErrDeploymentFailed, rec.Reason)
		case registry.DeploymentAssociated, registry.DeploymentRetired:
			r.log.Info("duplicate deployment event: already handled", "env", r.env, "sequence", d.Sequence, "state", rec.State)
			out.Status, out.Counts = StatusDuplicate, rec.Counts
			return out, nil
		}
		r.log.Info("deployment event redelivered while pending: resuming", "env", r.env, "sequence", d.Sequence)
	}
	ref := registry.StageRef{APIID: d.APIID, Stage: d.Stage}
	exists, err := r.newClient().StageExists(ctx, ref)
	if err != nil {
		return out, err
	}
	if !exists {
		return r.fail(ctx, out, d.Sequence, fmt.Sprintf("stage %s does not exist in API Gateway", ref))
	}
	err = r.editStages(ctx, "deploy", func(st *registry.EnvStages) (bool, error) {
		for _, s := range st.Retired {
			if s.Ref() == ref {
				return false, fmt.Errorf("stage %s was retired", ref)
			}
		}
		for _, s := range st.Stages {
			if s.Ref() == ref {
				return false, nil
			}
		}
		st.Stages = append(st.Stages, registry.EnvStage{APIID: d.APIID, Stage: d.Stage, Colour: d.Colour, Sequence: d.Sequence, At: r.clock.Now().UTC()})
		st.Sequence = max(st.Sequence, d.Sequence)
		return true, nil
	})
	var refused *refusal
	if errors.As(err, &refused) {
		return r.fail(ctx, out, d.Sequence, refused.Error())
	}
	if err != nil {
		return out, err
	}
	return failedIsError(r.run(ctx, deadline))
}

// failedIsError turns a failed outcome into an error, so that the event
// that caused it is retried and ends in the DLQ with its reason.
func failedIsError(out Outcome, err error) (Outcome, error) {
	if err == nil && out.Status == StatusFailed {
		err = fmt.Errorf("deployment %s/%d: %w: %s", out.Env, out.Sequence, ErrDeploymentFailed, out.Reason)
	}
	return out, err
}

// Retire handles "API Stack Retiring": the stage leaves every usage plan
// (merged into a pending deploy's single update when a run is under way).
func (r *Runner) Retire(ctx context.Context, d deployevent.Detail, deadline time.Time) (Outcome, error) {
	out := Outcome{Env: r.env, Sequence: d.Sequence}
	if d.Environment != r.env {
		return out, fmt.Errorf("%q, this handler serves %q: %w", d.Environment, r.env, ErrWrongEnvironment)
	}
	latest, err := r.store.GetLatestDeployment(ctx, r.env)
	if errors.Is(err, registry.ErrNotFound) || (err == nil && latest.Sequence < d.Sequence) {
		return out, fmt.Errorf("retire of %s:%s for sequence %d: %w (latest recorded: %d)", d.APIID, d.Stage, d.Sequence, ErrRetireTooEarly, latest.Sequence)
	}
	if err != nil {
		return out, err
	}
	ref := registry.StageRef{APIID: d.APIID, Stage: d.Stage}
	if latest.APIID == d.APIID && latest.Stage == d.Stage {
		return out, fmt.Errorf("stage %s belongs to the newest deployment (%d): %w", ref, latest.Sequence, ErrRetireRefused)
	}
	err = r.editStages(ctx, "retire", func(st *registry.EnvStages) (bool, error) {
		for _, s := range st.Retired {
			if s.Ref() == ref {
				return false, nil
			}
		}
		retired := registry.EnvStage{APIID: d.APIID, Stage: d.Stage, Colour: d.Colour, At: r.clock.Now().UTC()}
		kept := st.Stages[:0:0]
		for _, s := range st.Stages {
			if s.Ref() == ref {
				retired.Sequence = s.Sequence
				continue
			}
			kept = append(kept, s)
		}
		if len(kept) == 0 && len(st.Stages) > 0 {
			return false, fmt.Errorf("stage %s is the environment's only stage", ref)
		}
		st.Stages = kept
		st.Retired = append(st.Retired, retired)
		if n := len(st.Retired); n > maxRetired {
			st.Retired = st.Retired[n-maxRetired:]
		}
		return true, nil
	})
	var refused *refusal
	if errors.As(err, &refused) {
		return out, fmt.Errorf("%w: %s", ErrRetireRefused, refused.Error())
	}
	if err != nil {
		return out, err
	}
	return r.run(ctx, deadline)
}

// maxRetired bounds the retired stages remembered.
const maxRetired = 20

// Repair is the scheduled drift repair (and the takeover of a pending
// deployment whose run died): converge to the desired stages and keys.
func (r *Runner) Repair(ctx context.Context, deadline time.Time) (Outcome, error) {
	return r.run(ctx, deadline)
}

// Resume continues a run handed over at a deadline.
func (r *Runner) Resume(ctx context.Context, c Continuation, deadline time.Time) (Outcome, error) {
	if c.Env != r.env {
		return Outcome{Env: r.env}, fmt.Errorf("continuation for %q, this handler serves %q: %w", c.Env, r.env, ErrWrongEnvironment)
	}
	r.log.Info("continuing run", "env", r.env, "sequence", c.Sequence, "invocation", c.Invocation)
	return r.run(ctx, deadline)
}

// refusal is an editStages refusal (a permanent, explained "no").
type refusal struct{ msg string }

func (e *refusal) Error() string { return e.msg }

// editStages applies edit to the desired stages with optimistic locking.
func (r *Runner) editStages(ctx context.Context, action string, edit func(*registry.EnvStages) (bool, error)) error {
	for attempt := 0; ; attempt++ {
		st, err := r.store.GetEnvStages(ctx, r.env)
		if err != nil {
			return err
		}
		changed, err := edit(&st)
		if err != nil {
			return &refusal{msg: err.Error()}
		}
		if !changed {
			return nil
		}
		_, err = r.store.PutEnvStages(ctx, st, action, r.actor)
		if errors.Is(err, registry.ErrConflict) && attempt < 10 {
			continue
		}
		return err
	}
}

func (r *Runner) fail(ctx context.Context, out Outcome, seq int64, reason string) (Outcome, error) {
	if _, err := r.store.FinishDeployment(ctx, r.env, seq, registry.DeploymentFailed, reason, out.Counts, r.actor); err != nil {
		return out, fmt.Errorf("mark deployment %d failed (%s): %w", seq, reason, err)
	}
	r.log.Error("deployment failed", "env", r.env, "sequence", seq, "reason", reason)
	out.Status, out.Reason = StatusFailed, reason
	return out, fmt.Errorf("deployment %s/%d: %w: %s", r.env, seq, ErrDeploymentFailed, reason)
}

func (r *Runner) newClient() *Client {
	return NewClient(r.gw, append([]ClientOption{WithClientClock(r.clock)}, r.clientOpts...)...)
}

func newRunID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "run-" + hex.EncodeToString(b)
}

// run is one invocation's share of the environment's run: take the lease,
// converge, and either finish (associate the pending deployment) or hand
// over to a continuation at the deadline.
func (r *Runner) run(ctx context.Context, deadline time.Time) (Outcome, error) {
	out := Outcome{Env: r.env}
	owner := newRunID()
	prog, err := r.store.AcquireRun(ctx, r.env, owner, r.clock.Now().Add(r.leaseTTL))
	if errors.Is(err, registry.ErrLeaseHeld) {
		r.log.Info("another run holds the lease and will apply this change", "env", r.env, "holder", prog.Owner)
		out.Status = StatusDeferred
		return out, nil
	}
	if err != nil {
		return out, err
	}
	pending, err := r.pendingDeployment(ctx)
	if err != nil {
		return out, r.abandon(ctx, prog, err)
	}
	out.Sequence = pending.Sequence
	if prog.Sequence != pending.Sequence || prog.StartedAt.IsZero() || prog.Sequence == 0 {
		// A new run (not a continuation of the pending deployment's run).
		prog.Sequence, prog.Counts, prog.PlansDone, prog.Invocations, prog.StartedAt = pending.Sequence, registry.DeploymentCounts{}, nil, 0, r.clock.Now().UTC()
		prog.PlanFailures = nil
	}
	prog.Invocations++
	if prog.Invocations > r.maxInvoke && pending.Sequence > 0 {
		reason := fmt.Sprintf("gave up after %d invocations", r.maxInvoke)
		_ = r.abandon(ctx, prog, nil)
		return r.fail(ctx, out, pending.Sequence, reason)
	}

	client := r.newClient()
	pc, err := pacer.New(r.pacerStore, owner, append([]pacer.Option{pacer.WithClock(r.clock)}, r.pacerOpts...)...)
	if err != nil {
		return out, r.abandon(ctx, prog, err)
	}
	exec := NewExecutor(client, pc, append([]ExecutorOption{WithExecutorLogger(r.log)}, r.execOpts...)...)
	// start: counts of earlier invocations; acc: this invocation's passes.
	start, acc := prog.Counts, Counts{}
	for pass := 0; ; pass++ {
		st, desired, problems, err := r.prepare(ctx, client, pending, true)
		if err != nil {
			var refused *refusal
			if errors.As(err, &refused) && pending.Sequence > 0 {
				_ = r.abandon(ctx, prog, nil)
				return r.fail(ctx, out, pending.Sequence, refused.Error())
			}
			return out, r.abandon(ctx, prog, err)
		}
		version := st.Version
		hooks := Hooks{
			Refresh: func(ctx context.Context) ([]registry.StageRef, []registry.StageRef, map[registry.StageRef]registry.StageRef, bool, error) {
				now, err := r.store.GetEnvStages(ctx, r.env)
				if err != nil || now.Version == version {
					return nil, nil, nil, false, err
				}
				version = now.Version
				stages, retired, source := DesiredStages(now)
				return stages, retired, source, true, nil
			},
			Checkpoint: func(ctx context.Context, c Counts, done []string) error {
				prog.Counts = addCounts(start, sumCounts(acc, c), client.Stats().Retries)
				prog.PlansDone = mergeDone(prog.PlansDone, done)
				prog.LeaseUntilMS = r.clock.Now().Add(r.leaseTTL).UnixMilli()
				return r.store.SaveRunProgress(ctx, prog)
			},
			PriorFailures: maps.Clone(prog.PlanFailures),
			OnFailure: func(planID string, failures int) {
				if prog.PlanFailures == nil {
					prog.PlanFailures = map[string]int{}
				}
				prog.PlanFailures[planID] = failures
			},
		}
		res, err := exec.Converge(ctx, desired, st.plans, deadline, hooks)
		acc = sumCounts(acc, res.Counts)
		start.FailingPlans = mergeDone(start.FailingPlans, res.FailingPlans)
		prog.Counts = addCounts(start, acc, client.Stats().Retries)
		prog.PlansDone = mergeDone(prog.PlansDone, res.PlansDone)
		if len(res.FailingPlans) > 0 {
			r.reportFailing(res.FailingPlans)
		}
		out.Counts, out.Reads = prog.Counts, client.Stats().Reads()
		problems = append(problems, res.Problems...)
		out.Problems = problems
		switch {
		case errors.Is(err, ErrRejected) || errors.Is(err, ErrTooManyDetaches):
			_ = r.abandon(ctx, prog, nil)
			if pending.Sequence > 0 {
				return r.fail(ctx, out, pending.Sequence, err.Error())
			}
			return out, err
		case errors.Is(err, registry.ErrLeaseLost):
			return out, err
		case err != nil && IsTransient(err):
			r.log.Warn("run interrupted by API Gateway errors; continuing later", "env", r.env, "err", err)
			out.Reason = err.Error()
			return r.handOver(ctx, prog, out, r.clock.Now().Add(time.Minute), "transient errors")
		case err != nil:
			return out, r.abandon(ctx, prog, err)
		case !res.Done:
			return r.handOver(ctx, prog, out, res.ResumeAt, "deadline")
		}
		out.Counts.DurationMS = r.clock.Now().Sub(prog.StartedAt).Milliseconds()
		prog.Counts.DurationMS = out.Counts.DurationMS
		out, err = r.finish(ctx, out, desired, version, problems)
		if err != nil {
			return out, r.abandon(ctx, prog, err)
		}
		finished := prog
		finished.Sequence, finished.Counts, finished.PlansDone, finished.Invocations, finished.StartedAt = 0, registry.DeploymentCounts{}, nil, 0, time.Time{}
		finished.PlanFailures = nil
		err = r.store.ReleaseRun(ctx, finished, version)
		if errors.Is(err, registry.ErrConflict) && pass < 5 {
			r.log.Info("desired stages changed as the run finished; another pass", "env", r.env)
			pending, err = r.pendingDeployment(ctx)
			if err != nil {
				return out, r.abandon(ctx, prog, err)
			}
			continue
		}
		return out, err
	}
}

// abandon releases the lease after an error (best effort) and returns err.
func (r *Runner) abandon(ctx context.Context, prog registry.RunProgress, err error) error {
	prog.LeaseUntilMS = 0
	if serr := r.store.SaveRunProgress(ctx, prog); serr != nil {
		r.log.Warn("could not release the lease", "env", r.env, "err", serr)
	}
	return err
}

// handOver saves progress, releases the lease and schedules the rest.
func (r *Runner) handOver(ctx context.Context, prog registry.RunProgress, out Outcome, resumeAt time.Time, why string) (Outcome, error) {
	prog.LeaseUntilMS = 0
	if err := r.store.SaveRunProgress(ctx, prog); err != nil {
		return out, err
	}
	delay := max(resumeAt.Sub(r.clock.Now()), 0)
	out.Status = StatusContinued
	if r.continuer == nil {
		r.log.Warn("no continuation queue: the scheduled repair will finish this run", "env", r.env)
		return out, nil
	}
	c := Continuation{Version: deployevent.Version, Kind: ContinuationKind, Env: r.env, Sequence: prog.Sequence, Invocation: prog.Invocations + 1, Reason: why}
	if err := r.continuer.Continue(ctx, c, delay); err != nil {
		return out, fmt.Errorf("send continuation: %w", err)
	}
	r.log.Info("run handed over", "env", r.env, "why", why, "delay", delay.String(), "plansUpdated", prog.Counts.PlansUpdated)
	return out, nil
}

// pendingDeployment is the latest deployment if it still waits for
// association (zero value otherwise).
func (r *Runner) pendingDeployment(ctx context.Context) (registry.Deployment, error) {
	latest, err := r.store.GetLatestDeployment(ctx, r.env)
	if errors.Is(err, registry.ErrNotFound) {
		return registry.Deployment{}, nil
	}
	if err != nil {
		return registry.Deployment{}, err
	}
	if latest.State != registry.DeploymentReceived {
		return registry.Deployment{}, nil
	}
	return latest, nil
}

// prepared is the state a pass starts from.
type prepared struct {
	registry.EnvStages
	plans   []UsagePlan
	creates []string
}

// prepare reads the desired state (registry) and the actual usage plans
// (API Gateway), drops desired stages that no longer exist, and makes every
// registry plan own a usage plan (own: adopt one tagged with its tier, or
// create it).
//
// With write false (a dry run) nothing is written: discovery, creation and
// missing stages only shape the returned desired state and report.
func (r *Runner) prepare(ctx context.Context, client *Client, pending registry.Deployment, write bool) (prepared, Desired, []Problem, error) {
	live, err := client.ReadPlans(ctx, r.env)
	if err != nil {
		return prepared{}, Desired{}, nil, err
	}
	st, err := r.store.GetEnvStages(ctx, r.env)
	if err != nil {
		return prepared{}, Desired{}, nil, err
	}
	var gone []registry.StageRef
	for _, s := range st.Stages {
		ok, err := client.StageExists(ctx, s.Ref())
		if err != nil {
			return prepared{}, Desired{}, nil, err
		}
		if !ok {
			if pending.Sequence > 0 && s.Ref() == (registry.StageRef{APIID: pending.APIID, Stage: pending.Stage}) {
				return prepared{}, Desired{}, nil, &refusal{msg: fmt.Sprintf("stage %s does not exist in API Gateway", s.Ref())}
			}
			gone = append(gone, s.Ref())
		}
	}
	if len(gone) > 0 && !write {
		st.Stages = slices.DeleteFunc(slices.Clone(st.Stages), func(s registry.EnvStage) bool { return slices.Contains(gone, s.Ref()) })
	}
	if len(gone) > 0 && write {
		r.log.Warn("desired stages no longer exist; retiring them", "env", r.env, "stages", refs(gone))
		err := r.editStages(ctx, "retire-missing", func(st *registry.EnvStages) (bool, error) {
			kept := st.Stages[:0:0]
			for _, s := range st.Stages {
				if slices.Contains(gone, s.Ref()) {
					st.Retired = append(st.Retired, s)
					continue
				}
				kept = append(kept, s)
			}
			st.Stages = kept
			return true, nil
		})
		if err != nil {
			return prepared{}, Desired{}, nil, err
		}
		if st, err = r.store.GetEnvStages(ctx, r.env); err != nil {
			return prepared{}, Desired{}, nil, err
		}
	}
	stages, retired, source := DesiredStages(st)

	own, err := r.own(ctx, client, live, stages, write)
	if err != nil {
		return prepared{}, Desired{}, nil, err
	}
	var subs []registry.Subscription
	for next := ""; ; {
		page, err := r.store.ListSubscriptions(ctx, r.env, next, 1000)
		if err != nil {
			return prepared{}, Desired{}, nil, err
		}
		subs = append(subs, page.Items...)
		if next = page.Next; next == "" {
			break
		}
	}
	keyPlan, keyProblems := DesiredKeys(subs, own.tierPlan)
	problems := append(own.problems, keyProblems...)
	problems = activeOnly(problems, subs)

	d := NewDesired(stages, retired, source, keyPlan)
	d.Specs, d.Orphans = own.specs, own.orphans
	return prepared{EnvStages: st, plans: own.plans, creates: own.creates}, d, problems, nil
}

// ownership is how the registry's plans map onto API Gateway's.
type ownership struct {
	plans    []UsagePlan         // every usage plan of the environment (created ones included)
	specs    map[string]PlanSpec // usage plan id -> its registry plan
	orphans  map[string]bool     // tagged usage plans no registry plan owns
	tierPlan map[string]string   // tier -> usage plan id
	creates  []string            // tiers whose usage plan was (dry run: would be) created
	problems []Problem
}

// own maps each registry plan to its usage plan: the one whose id it
// records (if it still exists and is tagged with the tier), else the one
// usage plan tagged with the tier (adoption: its id is recorded), else a
// new one created with the desired stages, limits and per-method throttles
// (a wiped or deleted plan comes back whole). A plan that declares no
// per-method throttles (nil) adopts the live plan's, so that taking over a
// CloudFormation-owned plan changes nothing. Tagged usage plans no registry
// plan owns are orphans.
func (r *Runner) own(ctx context.Context, client *Client, live []UsagePlan, stages []registry.StageRef, write bool) (ownership, error) {
	reg, err := r.store.ListPlans(ctx, r.env)
	if err != nil {
		return ownership{}, err
	}
	o := ownership{plans: live, specs: map[string]PlanSpec{}, orphans: map[string]bool{}, tierPlan: map[string]string{}}
	byTier := map[string][]int{}
	for i, p := range live {
		byTier[p.Tier] = append(byTier[p.Tier], i)
	}
	used := map[string]bool{}
	for _, rp := range reg {
		spec := SpecFromPlan(rp)
		idx := -1
		for _, i := range byTier[rp.Name] {
			if live[i].ID == rp.UsagePlanID {
				idx = i
			}
		}
		adopting := idx < 0
		if adopting {
			switch c := byTier[rp.Name]; len(c) {
			case 0:
			case 1:
				idx = c[0]
			default:
				ids := make([]string, len(c))
				for j, i := range c {
					ids[j] = live[i].ID
				}
				o.problems = append(o.problems, Problem{PlanID: ids[0], Reason: fmt.Sprintf(
					"usage plans %s are all tagged %s=%s and the registry records none of them: remove the tag from all but the one to keep",
					strings.Join(ids, ", "), TagPlan, rp.Name)})
				continue
			}
		}
		var throttles map[string]registry.MethodThrottle
		if idx >= 0 && rp.MethodThrottles == nil {
			throttles = liveThrottles(live[idx], stages)
			spec.MethodThrottles = make(map[string]Throttle, len(throttles))
			for k, t := range throttles {
				spec.MethodThrottles[k] = Throttle{Rate: t.RateLimit, Burst: t.BurstLimit}
			}
		}
		if idx < 0 {
			o.creates = append(o.creates, rp.Name)
			if !write {
				continue
			}
			created, err := client.CreatePlan(ctx, r.env, spec, stages)
			if err != nil {
				if IsTransient(err) {
					return ownership{}, err
				}
				o.problems = append(o.problems, Problem{Reason: fmt.Sprintf("tier %q: %v", rp.Name, err)})
				continue
			}
			created.Tier, created.KeysRead = rp.Name, true
			r.log.Info("usage plan created", "env", r.env, "tier", rp.Name, "usagePlanId", created.ID, "stages", len(stages))
			o.plans = append(o.plans, created)
			idx = len(o.plans) - 1
		} else if adopting {
			r.log.Info("usage plan adopted", "env", r.env, "tier", rp.Name, "usagePlanId", live[idx].ID)
		}
		id := o.plans[idx].ID
		if write && (id != rp.UsagePlanID || throttles != nil) {
			err := r.store.RecordUsagePlan(ctx, r.env, rp.Name, id, throttles, r.actor)
			if errors.Is(err, registry.ErrConflict) {
				// The plan changed meanwhile (declared throttles, or deleted):
				// the next run picks it up; this one leaves throttles alone.
				r.log.Warn("plan changed while recording its usage plan; next run applies it", "env", r.env, "tier", rp.Name)
				spec.MethodThrottles = nil
			} else if err != nil {
				return ownership{}, err
			}
		}
		o.specs[id], o.tierPlan[rp.Name], used[id] = spec, id, true
	}
	for _, p := range o.plans {
		if !used[p.ID] {
			o.orphans[p.ID] = true
		}
	}
	return o, nil
}

// liveThrottles are a usage plan's per-method throttles as adopted into the
// registry: those of the newest desired stage the plan includes (else of
// its first stage that has any); empty, never nil.
func liveThrottles(p UsagePlan, stages []registry.StageRef) map[string]registry.MethodThrottle {
	from := PlanStage{}
	found := false
	for i := len(stages) - 1; i >= 0 && !found; i-- {
		from, found = p.stage(stages[i])
	}
	if !found {
		for _, s := range p.Stages {
			if len(s.Throttles) > 0 {
				from = s
				break
			}
		}
	}
	out := make(map[string]registry.MethodThrottle, len(from.Throttles))
	for k, t := range from.Throttles {
		out[k] = registry.MethodThrottle{RateLimit: t.Rate, BurstLimit: t.Burst}
	}
	return out
}

// DryRunReport is what a run would do now, computed without writing.
type DryRunReport struct {
	Env     string              `json:"env"`
	Stages  []registry.StageRef `json:"stages"`
	Retired []registry.StageRef `json:"retired,omitempty"`
	// Create lists the tiers whose usage plan a run would create.
	Create     []string   `json:"create,omitempty"`
	Operations Operations `json:"operations"`
	Problems   []Problem  `json:"problems,omitempty"`
	// Reads is the number of API Gateway read calls the dry run made.
	Reads int `json:"reads"`
}

// DryRun reads the registry and API Gateway (every plan's keys included)
// and returns the operations a run would apply, writing nothing.
func (r *Runner) DryRun(ctx context.Context) (DryRunReport, error) {
	client := r.newClient()
	st, d, problems, err := r.prepare(ctx, client, registry.Deployment{}, false)
	if err != nil {
		return DryRunReport{}, err
	}
	for i := range st.plans {
		if st.plans[i].KeysRead {
			continue
		}
		keys, err := client.ReadKeys(ctx, st.plans[i].ID)
		if err != nil {
			return DryRunReport{}, err
		}
		st.plans[i].Keys, st.plans[i].KeysRead = keys, true
	}
	return DryRunReport{Env: r.env, Stages: d.Stages, Retired: d.Retired, Create: st.creates, Operations: Plan(d, st.plans), Problems: problems,
		Reads: client.Stats().Reads()}, nil
}

// activeOnly keeps the problems that concern an active customer or no
// customer in particular.
func activeOnly(problems []Problem, subs []registry.Subscription) []Problem {
	status := make(map[string]registry.CustomerStatus, len(subs))
	for _, s := range subs {
		status[s.CustomerID] = s.CustomerStatus
	}
	return slices.DeleteFunc(problems, func(p Problem) bool {
		return p.CustomerID != "" && status[p.CustomerID] != registry.CustomerActive
	})
}

// finish associates the pending deployment(s) whose stage is now in every
// plan, marks retired deployments, and publishes "API Keys Associated".
func (r *Runner) finish(ctx context.Context, out Outcome, d Desired, version int64, problems []Problem) (Outcome, error) {
	latest, err := r.pendingDeployment(ctx)
	if err != nil {
		return out, err
	}
	out.Status = StatusConverged
	if latest.Sequence == 0 {
		return out, r.markRetired(ctx)
	}
	out.Sequence = latest.Sequence
	if !slices.Contains(d.Stages, registry.StageRef{APIID: latest.APIID, Stage: latest.Stage}) {
		return out, nil // recorded but its stage not applied yet: its own trigger will
	}
	if len(problems) > 0 {
		msgs := make([]string, 0, len(problems))
		for i, p := range problems {
			if i == 5 {
				msgs = append(msgs, fmt.Sprintf("and %d more", len(problems)-5))
				break
			}
			msgs = append(msgs, p.String())
		}
		reason := fmt.Sprintf("%d active customer(s) cannot call the new stage: %s", len(problems), strings.Join(msgs, "; "))
		out.Status, out.Reason = StatusFailed, reason
		if _, err := r.store.FinishDeployment(ctx, r.env, latest.Sequence, registry.DeploymentFailed, reason, out.Counts, r.actor); err != nil {
			return out, err
		}
		r.log.Error("deployment failed", "env", r.env, "sequence", latest.Sequence, "reason", reason)
		return out, nil
	}
	if _, err := r.store.FinishDeployment(ctx, r.env, latest.Sequence, registry.DeploymentAssociated, "", out.Counts, r.actor); err != nil {
		return out, err
	}
	out.Status = StatusAssociated
	r.log.Info("deployment associated", "env", r.env, "sequence", latest.Sequence, "apiId", latest.APIID, "stage", latest.Stage,
		"plansUpdated", out.Counts.PlansUpdated, "keysAttached", out.Counts.KeysAttached, "keysRemoved", out.Counts.KeysRemoved,
		"retries", out.Counts.Retries, "durationMs", out.Counts.DurationMS)
	if r.publisher != nil {
		detail := deployevent.AssociatedDetail{Version: deployevent.Version, Environment: r.env, APIID: latest.APIID, Stage: latest.Stage,
			Colour: latest.Colour, Sequence: latest.Sequence, Counts: deployevent.Counts{PlansUpdated: out.Counts.PlansUpdated,
				KeysAttached: out.Counts.KeysAttached, KeysRemoved: out.Counts.KeysRemoved, Retries: out.Counts.Retries, DurationMS: out.Counts.DurationMS}}
		if err := r.publisher.PublishAssociated(ctx, r.source, detail); err != nil {
			return out, fmt.Errorf("publish %s: %w", deployevent.KeysAssociated, err)
		}
	}
	return out, r.markRetired(ctx)
}

// markRetired sets the deployments whose stage was retired (and is now in
// no plan) to state retired.
func (r *Runner) markRetired(ctx context.Context) error {
	st, err := r.store.GetEnvStages(ctx, r.env)
	if err != nil {
		return err
	}
	for _, s := range st.Retired {
		if s.Sequence == 0 {
			continue
		}
		dep, err := r.store.GetDeployment(ctx, r.env, s.Sequence)
		if errors.Is(err, registry.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		if dep.State == registry.DeploymentAssociated {
			if _, err := r.store.FinishDeployment(ctx, r.env, s.Sequence, registry.DeploymentRetired, "", dep.Counts, r.actor); err != nil {
				return err
			}
		}
	}
	return nil
}

func sumCounts(a, b Counts) Counts {
	return Counts{PlansUpdated: a.PlansUpdated + b.PlansUpdated, KeysAttached: a.KeysAttached + b.KeysAttached, KeysRemoved: a.KeysRemoved + b.KeysRemoved}
}

func addCounts(base registry.DeploymentCounts, c Counts, retries int) registry.DeploymentCounts {
	return registry.DeploymentCounts{
		PlansUpdated: base.PlansUpdated + c.PlansUpdated,
		KeysAttached: base.KeysAttached + c.KeysAttached,
		KeysRemoved:  base.KeysRemoved + c.KeysRemoved,
		Retries:      base.Retries + retries,
		DurationMS:   base.DurationMS,
		FailingPlans: slices.Clone(base.FailingPlans),
	}
}

func mergeDone(have, more []string) []string {
	for _, id := range more {
		if !slices.Contains(have, id) {
			have = append(have, id)
		}
	}
	return have
}

// reportFailing makes the usage plans given up by a run visible outside
// the deployment record: an EMF metric (Stagehand/FailingUsagePlans by
// Environment, alarmed in the Shared stack) and an error log naming them.
func (r *Runner) reportFailing(plans []string) {
	emf.Count(context.Background(), r.log, r.clock.Now(), "usage plans failing", emf.FailingUsagePlans, float64(len(plans)),
		map[string]string{emf.DimEnvironment: r.env})
	r.log.Error("usage plans left without the desired stages after repeated failures", "env", r.env, "usagePlans", plans)
}
