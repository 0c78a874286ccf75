package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// PlanChangeDecidedType is the detail-type of the event emitted when an
// operator approves or declines a customer's plan-change request.
const PlanChangeDecidedType = "Plan Change Decided"

// PlanChangeDecided is that event's detail.
type PlanChangeDecided struct {
	RequestID  string `json:"requestId"`
	CustomerID string `json:"customerId"`
	Env        string `json:"environment"`
	FromPlan   string `json:"fromPlan"`
	ToPlan     string `json:"toPlan"`
	Decision   string `json:"decision"` // approved or declined
	DecidedBy  string `json:"decidedBy"`
}

// PlanEvents publishes plan-change decisions.
type PlanEvents interface {
	PlanChangeDecided(ctx context.Context, d PlanChangeDecided) error
}

// EventsAPI is the part of the EventBridge client PlanEvents needs.
type EventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventsAPI = (*eventbridge.Client)(nil)

// EventBridgePlanEvents puts PlanChangeDecided events on a bus (empty: the
// default bus) with the given source.
type EventBridgePlanEvents struct {
	Client EventsAPI
	Bus    string
	Source string
}

var _ PlanEvents = EventBridgePlanEvents{}

// PlanChangeDecided puts one event and checks the entry's result (PutEvents
// reports per-entry failures in a successful response).
func (e EventBridgePlanEvents) PlanChangeDecided(ctx context.Context, d PlanChangeDecided) error {
	body, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("encode %s: %w", PlanChangeDecidedType, err)
	}
	entry := ebtypes.PutEventsRequestEntry{Source: aws.String(e.Source), DetailType: aws.String(PlanChangeDecidedType), Detail: aws.String(string(body))}
	if e.Bus != "" {
		entry.EventBusName = aws.String(e.Bus)
	}
	out, err := e.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("put %s event: %w", PlanChangeDecidedType, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		return fmt.Errorf("put %s event: %s: %s", PlanChangeDecidedType, aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}

// ErrSamePlan: a plan-change request for the plan the customer already has.
var ErrSamePlan = errors.New("already on that plan")

// RequestPlanChange records a customer's request to move to plan in env.
// The plan must exist and differ from the current one.
func (s *Service) RequestPlanChange(ctx context.Context, customerID, env, plan, actor string) (registry.PlanRequest, error) {
	if err := validEnv(env); err != nil {
		return registry.PlanRequest{}, err
	}
	sub, err := s.store.GetSubscription(ctx, customerID, env)
	if err != nil {
		return registry.PlanRequest{}, err
	}
	if _, err := s.store.GetPlan(ctx, env, plan); err != nil {
		if errors.Is(err, registry.ErrNotFound) {
			return registry.PlanRequest{}, invalid("plan", "unknown plan %q in %s", plan, env)
		}
		return registry.PlanRequest{}, err
	}
	if sub.Plan == plan {
		return registry.PlanRequest{}, invalid("plan", "%v: %s", ErrSamePlan, plan)
	}
	return s.store.CreatePlanRequest(ctx, registry.PlanRequest{CustomerID: customerID, Env: env, FromPlan: sub.Plan, ToPlan: plan}, actor)
}

// DecidePlanChange approves or declines a pending plan-change request and
// publishes a PlanChangeDecided event. Approving changes the plan first
// (ChangePlan, which moves the metering key): if the subscription did not
// change, the request stays pending and the error is returned. A failed
// event is reported as an error after the decision is recorded.
func (s *Service) DecidePlanChange(ctx context.Context, id string, approve bool, events PlanEvents, actor string) (registry.PlanRequest, error) {
	r, err := s.store.GetPlanRequest(ctx, id)
	if err != nil {
		return registry.PlanRequest{}, err
	}
	if r.Status != registry.PlanRequestPending {
		return registry.PlanRequest{}, fmt.Errorf("plan request %s is %s: %w", id, r.Status, registry.ErrPlanRequestDecided)
	}
	to := registry.PlanRequestDeclined
	var changeErr error
	if approve {
		to = registry.PlanRequestApproved
		sub, err := s.ChangePlan(ctx, r.CustomerID, r.Env, r.ToPlan, actor)
		if sub.Plan != r.ToPlan {
			return registry.PlanRequest{}, fmt.Errorf("approve plan request %s: %w", id, err)
		}
		changeErr = err // the plan changed; a metering-key move the reconciler repairs
	}
	r, err = s.store.DecidePlanRequest(ctx, id, to, actor)
	if err != nil {
		return registry.PlanRequest{}, err
	}
	if events != nil {
		if err := events.PlanChangeDecided(ctx, PlanChangeDecided{RequestID: r.ID, CustomerID: r.CustomerID, Env: r.Env,
			FromPlan: r.FromPlan, ToPlan: r.ToPlan, Decision: string(to), DecidedBy: actor}); err != nil {
			return r, fmt.Errorf("plan request %s %s, but: %w", id, to, err)
		}
	}
	return r, changeErr
}
