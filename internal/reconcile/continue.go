package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
)

// Continuation: why an SQS delay queue and not Step Functions.
//
// A run of 300 usage plans takes at least 299 × 20 s ≈ 100 minutes of
// UpdateUsagePlan pacing, more than one Lambda invocation (15 minutes at
// most). The rest of the run has to be handed to a later invocation. The
// state worth keeping (counts, start time, plans done) is already in the
// registry's RUN item, and the run re-plans from API Gateway's actual state
// when it resumes, so the continuation only has to say "run again, for this
// environment, not before T". An SQS message with DelaySeconds (up to 900 s,
// more than the 20 s pacer wait) does exactly that, costs nothing at rest,
// is redriven to a DLQ after repeated failures like the EventBridge path,
// and keeps the deployment function the only code path (batch size 1).
//
// Step Functions would add a state machine, its IAM, a second invocation
// path with its own payload limits and a Wait state per hop, to carry a
// message that has no state of its own; its added value (visual history,
// long waits) is covered by the deployment record, the audit trail and the
// structured logs. If runs ever needed fan-out (several environments in one
// execution) that would change the balance; they do not.

// Continuation is the body of a continuation message.
type Continuation struct {
	Version string `json:"version"`
	// Kind is always "continue"; it tells the message from other payloads.
	Kind       string `json:"kind"`
	Env        string `json:"environment"`
	Sequence   int64  `json:"sequence,omitempty"`
	Invocation int    `json:"invocation"`
	Reason     string `json:"reason,omitempty"`
}

// ContinuationKind marks a continuation message.
const ContinuationKind = "continue"

// ParseContinuation decodes a continuation message body strictly.
func ParseContinuation(body string) (Continuation, error) {
	var c Continuation
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, fmt.Errorf("continuation message: %w", err)
	}
	switch {
	case c.Version != deployevent.Version:
		return c, fmt.Errorf("continuation message: unsupported version %q", c.Version)
	case c.Kind != ContinuationKind:
		return c, fmt.Errorf("continuation message: kind %q, want %q", c.Kind, ContinuationKind)
	case c.Env == "":
		return c, errors.New("continuation message: environment is required")
	}
	return c, nil
}

// Continuer schedules the rest of a run.
type Continuer interface {
	Continue(ctx context.Context, c Continuation, delay time.Duration) error
}

// SQSAPI is the part of the SQS client a continuation needs.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

var _ SQSAPI = (*sqs.Client)(nil)

// SQSContinuer sends continuations to an SQS queue with a delivery delay.
type SQSContinuer struct {
	Client   SQSAPI
	QueueURL string
}

var _ Continuer = SQSContinuer{}

// MaxContinuationDelay is SQS's maximum delivery delay.
const MaxContinuationDelay = 15 * time.Minute

// Continue sends c, delivered after delay (rounded up to whole seconds, at
// most 15 minutes).
func (s SQSContinuer) Continue(ctx context.Context, c Continuation, delay time.Duration) error {
	c.Kind = ContinuationKind
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	secs := int32(math.Ceil(min(max(delay, 0), MaxContinuationDelay).Seconds()))
	_, err = s.Client.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(s.QueueURL), MessageBody: aws.String(string(body)), DelaySeconds: secs})
	if err != nil {
		return fmt.Errorf("send continuation to %s: %w", s.QueueURL, err)
	}
	return nil
}

// Publisher publishes "API Keys Associated".
type Publisher interface {
	PublishAssociated(ctx context.Context, source string, d deployevent.AssociatedDetail) error
}

// EventsAPI is the part of the EventBridge client publishing needs.
type EventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventsAPI = (*eventbridge.Client)(nil)

// EventBridgePublisher publishes to an event bus (empty: the default bus).
type EventBridgePublisher struct {
	Client EventsAPI
	Bus    string
}

var _ Publisher = EventBridgePublisher{}

// PublishAssociated puts one KeysAssociated event.
func (p EventBridgePublisher) PublishAssociated(ctx context.Context, source string, d deployevent.AssociatedDetail) error {
	return PutEvent(ctx, p.Client, p.Bus, source, deployevent.KeysAssociated, d)
}

// PutEvent puts one event with a JSON detail and checks the entry result
// (PutEvents reports per-entry failures in a successful response).
func PutEvent(ctx context.Context, client EventsAPI, bus, source, detailType string, detail any) error {
	body, err := json.Marshal(detail)
	if err != nil {
		return fmt.Errorf("encode %s: %w", detailType, err)
	}
	entry := ebtypes.PutEventsRequestEntry{Source: aws.String(source), DetailType: aws.String(detailType), Detail: aws.String(string(body))}
	if bus != "" {
		entry.EventBusName = aws.String(bus)
	}
	out, err := client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("put %s event: %w", detailType, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		e := out.Entries[0]
		return fmt.Errorf("put %s event: %s: %s", detailType, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
	}
	return nil
}
