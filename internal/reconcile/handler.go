package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// ScheduledDetailType is the detail type of EventBridge schedule events.
const ScheduledDetailType = "Scheduled Event"

// ErrUnknownPayload: the handler received something that is neither an
// EventBridge event nor an SQS batch.
var ErrUnknownPayload = errors.New("unknown payload")

// Handler is the logic of the Lambda functions: the deployment function
// (deploy and retire events from EventBridge, continuations from SQS) and
// the scheduled reconcile function. The mains only build it.
type Handler struct {
	runner   *Runner
	records  DeploymentStore
	source   string
	margin   time.Duration
	deadline func(context.Context) (time.Time, bool)
	log      *slog.Logger
}

// HandlerOption configures a Handler.
type HandlerOption func(*Handler)

// WithEventSource sets the accepted EventBridge source (default
// deployevent.DefaultSource).
func WithEventSource(s string) HandlerOption { return func(h *Handler) { h.source = s } }

// WithSafetyMargin sets how long before the invocation's deadline a run
// stops to save progress and hand over (default 45 s).
func WithSafetyMargin(d time.Duration) HandlerOption { return func(h *Handler) { h.margin = d } }

// WithDeadlineFunc replaces ctx.Deadline as the source of the invocation's
// deadline (tests on a virtual clock).
func WithDeadlineFunc(f func(context.Context) (time.Time, bool)) HandlerOption {
	return func(h *Handler) { h.deadline = f }
}

// WithHandlerLogger sets the logger.
func WithHandlerLogger(l *slog.Logger) HandlerOption { return func(h *Handler) { h.log = l } }

// NewHandler returns a handler over runner; records is where invalid
// deploy events are marked failed (the registry).
func NewHandler(runner *Runner, records DeploymentStore, opts ...HandlerOption) *Handler {
	h := &Handler{runner: runner, records: records, source: deployevent.DefaultSource, margin: 45 * time.Second,
		deadline: func(ctx context.Context) (time.Time, bool) { return ctx.Deadline() }, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(h)
	}
	return h
}

func (h *Handler) runDeadline(ctx context.Context) time.Time {
	d, ok := h.deadline(ctx)
	if !ok {
		return time.Time{}
	}
	return d.Add(-h.margin)
}

// Handle accepts the raw payload of either function and dispatches it: an
// SQS batch (continuations), a schedule event (drift repair), or a deploy
// event.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) error {
	var probe struct {
		Records    []json.RawMessage `json:"Records"`
		DetailType string            `json:"detail-type"`
		Source     string            `json:"source"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return fmt.Errorf("%w: not a JSON object: %v", ErrUnknownPayload, err)
	}
	switch {
	case len(probe.Records) > 0:
		var ev events.SQSEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("%w: SQS batch: %v", ErrUnknownPayload, err)
		}
		return h.HandleSQS(ctx, ev)
	case probe.DetailType != "":
		var ev events.CloudWatchEvent
		if err := json.Unmarshal(raw, &ev); err != nil {
			return fmt.Errorf("%w: EventBridge event: %v", ErrUnknownPayload, err)
		}
		if ev.DetailType == ScheduledDetailType && ev.Source == "aws.events" {
			return h.HandleScheduled(ctx, ev)
		}
		return h.HandleEvent(ctx, ev)
	default:
		return fmt.Errorf("%w: neither an SQS batch nor an EventBridge event", ErrUnknownPayload)
	}
}

// HandleEvent handles one deploy event. An invalid event fails with every
// problem listed (so EventBridge retries, then the DLQ keeps it) and, when
// it names this environment and a sequence, its deployment record is
// marked failed with the same reason.
func (h *Handler) HandleEvent(ctx context.Context, ev events.CloudWatchEvent) error {
	parsed, err := deployevent.Parse(ev, h.source)
	log := h.log.With("eventId", ev.ID, "detailType", ev.DetailType)
	if err != nil {
		log.Error("invalid deploy event", "err", err)
		h.markInvalid(ctx, ev, parsed.Detail, err)
		return fmt.Errorf("event %s: %w", ev.ID, err)
	}
	d := parsed.Detail
	log = log.With("env", d.Environment, "sequence", d.Sequence, "apiId", d.APIID, "stage", d.Stage)
	var out Outcome
	switch parsed.DetailType {
	case deployevent.DeploymentCompleted:
		out, err = h.runner.Deploy(ctx, d, h.runDeadline(ctx))
	case deployevent.StackRetiring:
		out, err = h.runner.Retire(ctx, d, h.runDeadline(ctx))
	}
	if err != nil {
		log.Error("deploy event failed", "err", err, "status", out.Status)
		return fmt.Errorf("event %s (%s %d): %w", ev.ID, parsed.DetailType, d.Sequence, err)
	}
	log.Info("deploy event handled", "status", out.Status, "plansUpdated", out.Counts.PlansUpdated,
		"keysAttached", out.Counts.KeysAttached, "keysRemoved", out.Counts.KeysRemoved, "reads", out.Reads)
	return nil
}

// markInvalid records an invalid deployment event as a failed deployment
// when it identifies one of this environment (and the sequence is new).
func (h *Handler) markInvalid(ctx context.Context, ev events.CloudWatchEvent, d deployevent.Detail, cause error) {
	if ev.DetailType != deployevent.DeploymentCompleted || d.Environment != h.runner.Env() || d.Sequence <= 0 {
		return
	}
	rec, created, err := h.records.RecordDeployment(ctx, registry.Deployment{Env: d.Environment, Sequence: d.Sequence, APIID: d.APIID,
		Stage: d.Stage, Colour: d.Colour, StackName: d.StackName, GitSHA: d.GitSHA}, "stagehand-reconciler")
	if err != nil || !created {
		// Stale, or a valid delivery of the same sequence exists: leave it.
		h.log.Warn("invalid event not recorded", "sequence", d.Sequence, "err", err, "existingState", rec.State)
		return
	}
	if _, err := h.records.FinishDeployment(ctx, d.Environment, d.Sequence, registry.DeploymentFailed, cause.Error(), registry.DeploymentCounts{}, "stagehand-reconciler"); err != nil {
		h.log.Error("could not mark the invalid deployment failed", "sequence", d.Sequence, "err", err)
	}
}

// HandleSQS handles continuation messages (batch size 1 expected; each
// record is handled in turn and the first error fails the batch, so SQS
// redelivers it and, after maxReceiveCount, moves it to the DLQ).
func (h *Handler) HandleSQS(ctx context.Context, ev events.SQSEvent) error {
	for _, m := range ev.Records {
		c, err := ParseContinuation(m.Body)
		if err != nil {
			h.log.Error("invalid continuation message", "messageId", m.MessageId, "err", err)
			return fmt.Errorf("message %s: %w", m.MessageId, err)
		}
		out, err := h.runner.Resume(ctx, c, h.runDeadline(ctx))
		if err != nil {
			h.log.Error("continuation failed", "messageId", m.MessageId, "env", c.Env, "err", err)
			return fmt.Errorf("message %s: %w", m.MessageId, err)
		}
		h.log.Info("continuation handled", "messageId", m.MessageId, "env", c.Env, "status", out.Status,
			"plansUpdated", out.Counts.PlansUpdated, "invocation", c.Invocation)
	}
	return nil
}

// HandleScheduled runs the drift repair.
func (h *Handler) HandleScheduled(ctx context.Context, ev events.CloudWatchEvent) error {
	out, err := h.runner.Repair(ctx, h.runDeadline(ctx))
	if err != nil {
		h.log.Error("scheduled reconcile failed", "eventId", ev.ID, "err", err)
		return fmt.Errorf("scheduled reconcile: %w", err)
	}
	h.log.Info("scheduled reconcile", "status", out.Status, "plansUpdated", out.Counts.PlansUpdated,
		"keysAttached", out.Counts.KeysAttached, "keysRemoved", out.Counts.KeysRemoved, "reads", out.Reads)
	return nil
}
