package registry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrPlanRequestNotFound: no plan-change request with that id.
var ErrPlanRequestNotFound = fmt.Errorf("plan-change request %w", ErrNotFound)

// ErrPlanRequestPending: the customer already has an undecided plan-change
// request in that environment; only one may be pending at a time.
var ErrPlanRequestPending = errors.New("a plan-change request is already pending")

// ErrPlanRequestDecided: the request was already approved or declined.
var ErrPlanRequestDecided = errors.New("plan-change request already decided")

// PlanRequestStatus is where a customer's plan-change request stands.
type PlanRequestStatus string

// Plan-change request statuses.
const (
	PlanRequestPending  PlanRequestStatus = "pending"
	PlanRequestApproved PlanRequestStatus = "approved"
	PlanRequestDeclined PlanRequestStatus = "declined"
)

// PlanRequest is a customer's request to move to another plan in one
// environment, recorded for an operator to approve or decline.
type PlanRequest struct {
	ID          string            `dynamodbav:"requestId" json:"id"`
	CustomerID  string            `dynamodbav:"customerId" json:"customerId"`
	Env         string            `dynamodbav:"env" json:"env"`
	FromPlan    string            `dynamodbav:"fromPlan" json:"fromPlan"`
	ToPlan      string            `dynamodbav:"toPlan" json:"toPlan"`
	Status      PlanRequestStatus `dynamodbav:"status" json:"status"`
	RequestedBy string            `dynamodbav:"requestedBy" json:"requestedBy"`
	DecidedBy   string            `dynamodbav:"decidedBy,omitempty" json:"decidedBy,omitempty"`
	CreatedAt   time.Time         `dynamodbav:"createdAt" json:"createdAt"`
	UpdatedAt   time.Time         `dynamodbav:"updatedAt" json:"updatedAt"`
	Version     int64             `dynamodbav:"version" json:"version"`
}

func planRequestKey(id string) keyAttrs { return keyAttrs{PK: "PLANREQ#" + id, SK: "PLANREQ"} }

// pendingPlanRequestKey is the marker that a customer has a pending request
// in env: created with the request (only if absent), deleted when it is
// decided, so at most one request per customer and env is pending.
func pendingPlanRequestKey(customerID, env string) keyAttrs {
	return keyAttrs{PK: "PLANREQPENDING#" + customerID + "#" + env, SK: "PLANREQPENDING"}
}

// planRequestIndex lists a request under its customer (GSI1) and, while it
// is pending, under its environment's queue (GSI2, sparse: deciding removes
// it).
func planRequestIndex(r PlanRequest) indexAttrs {
	sk := "PLANREQ#" + r.CreatedAt.UTC().Format(time.RFC3339Nano) + "#" + r.ID
	idx := indexAttrs{GSI1PK: "CUST#" + r.CustomerID, GSI1SK: sk}
	if r.Status == PlanRequestPending {
		idx.GSI2PK, idx.GSI2SK = "ENV#"+r.Env+"#PLANREQ", sk
	}
	return idx
}

// CreatePlanRequest records a pending plan-change request of a subscribed
// customer, with an audit entry in the customer's trail.
func (s *Store) CreatePlanRequest(ctx context.Context, r PlanRequest, actor string) (PlanRequest, error) {
	id := make([]byte, 8)
	_, _ = rand.Read(id)
	now := s.now()
	r.ID, r.Status, r.RequestedBy, r.CreatedAt, r.UpdatedAt, r.Version = hex.EncodeToString(id), PlanRequestPending, actor, now, now, 1
	item, err := marshalItem(planRequestKey(r.ID), planRequestIndex(r), r)
	if err != nil {
		return PlanRequest{}, err
	}
	audit, err := s.auditPut(AuditEntry{Subject: r.CustomerID, At: now, Actor: actor, Action: "plan.request", Target: r.ID,
		Details: map[string]string{"env": r.Env, "from": r.FromPlan, "to": r.ToPlan}})
	if err != nil {
		return PlanRequest{}, err
	}
	marker := pendingPlanRequestKey(r.CustomerID, r.Env).av()
	marker["requestId"] = avS(r.ID)
	err = s.transact(ctx, []types.TransactWriteItem{
		s.put(item, "attribute_not_exists(PK)", nil, nil),
		s.conditionCheck(subscriptionKey(r.CustomerID, r.Env), "attribute_exists(PK)", nil, nil),
		audit,
		s.put(marker, "attribute_not_exists(PK)", nil, nil),
	}, map[int]error{
		1: fmt.Errorf("customer %q in %s: %w", r.CustomerID, r.Env, ErrSubscriptionNotFound),
		3: fmt.Errorf("customer %q in %s: %w", r.CustomerID, r.Env, ErrPlanRequestPending),
	})
	if err != nil {
		return PlanRequest{}, fmt.Errorf("create plan request: %w", err)
	}
	return r, nil
}

// GetPlanRequest reads one plan-change request.
func (s *Store) GetPlanRequest(ctx context.Context, id string) (PlanRequest, error) {
	var r PlanRequest
	if err := s.get(ctx, planRequestKey(id), &r); err != nil {
		if errors.Is(err, ErrNotFound) {
			return PlanRequest{}, fmt.Errorf("plan request %q: %w", id, ErrPlanRequestNotFound)
		}
		return PlanRequest{}, fmt.Errorf("get plan request %s: %w", id, err)
	}
	return r, nil
}

// ListPlanRequests returns a customer's plan-change requests, newest first.
func (s *Store) ListPlanRequests(ctx context.Context, customerID string, limit int32) ([]PlanRequest, error) {
	p, err := query[PlanRequest](ctx, s, listing{index: IndexGSI1, partition: "CUST#" + customerID, sortPrefix: "PLANREQ#", newestFirst: true}, "", limit)
	if err != nil {
		return nil, fmt.Errorf("list plan requests of %s: %w", customerID, err)
	}
	return p.Items, nil
}

// ListPendingPlanRequests returns an environment's undecided plan-change
// requests, oldest first.
func (s *Store) ListPendingPlanRequests(ctx context.Context, env string, limit int32) ([]PlanRequest, error) {
	p, err := query[PlanRequest](ctx, s, listing{index: IndexGSI2, partition: "ENV#" + env + "#PLANREQ"}, "", limit)
	if err != nil {
		return nil, fmt.Errorf("list pending plan requests in %s: %w", env, err)
	}
	return p.Items, nil
}

// DecidePlanRequest moves a pending request to approved or declined, once:
// a request already decided is ErrPlanRequestDecided and nothing is
// written. It does not change the plan; the service layer does that.
func (s *Store) DecidePlanRequest(ctx context.Context, id string, to PlanRequestStatus, actor string) (PlanRequest, error) {
	if to != PlanRequestApproved && to != PlanRequestDeclined {
		return PlanRequest{}, fmt.Errorf("plan request status %q: %w", to, ErrInvalidTransition)
	}
	r, err := s.GetPlanRequest(ctx, id)
	if err != nil {
		return PlanRequest{}, err
	}
	if r.Status != PlanRequestPending {
		return PlanRequest{}, fmt.Errorf("plan request %s is %s: %w", id, r.Status, ErrPlanRequestDecided)
	}
	now := s.now()
	audit, err := s.auditPut(AuditEntry{Subject: r.CustomerID, At: now, Actor: actor, Action: "plan.request." + string(to), Target: r.ID,
		Details: map[string]string{"env": r.Env, "from": r.FromPlan, "to": r.ToPlan}})
	if err != nil {
		return PlanRequest{}, err
	}
	items := []types.TransactWriteItem{
		s.versionedUpdate(planRequestKey(id), r.Version, now, change{
			set: "#status = :to, decidedBy = :by", remove: []string{AttrGSI2PK, AttrGSI2SK},
			cond:   "#status = :pending",
			names:  map[string]string{"#status": "status"},
			values: map[string]types.AttributeValue{":to": avS(string(to)), ":by": avS(actor), ":pending": avS(string(PlanRequestPending))},
		}),
		audit,
	}
	// Deciding frees the pending marker, but only this request's: a
	// request recorded before markers existed has none, and must not free
	// a newer request's.
	var marker struct {
		RequestID string `dynamodbav:"requestId"`
	}
	switch err := s.get(ctx, pendingPlanRequestKey(r.CustomerID, r.Env), &marker); {
	case err == nil && marker.RequestID == r.ID:
		items = append(items, types.TransactWriteItem{Delete: &types.Delete{TableName: aws.String(s.table),
			Key: pendingPlanRequestKey(r.CustomerID, r.Env).av(), ConditionExpression: aws.String("requestId = :id"),
			ExpressionAttributeValues: map[string]types.AttributeValue{":id": avS(r.ID)}}})
	case err != nil && !errors.Is(err, ErrNotFound):
		return PlanRequest{}, fmt.Errorf("decide plan request %s: %w", id, err)
	}
	err = s.transact(ctx, items, map[int]error{0: fmt.Errorf("plan request %s: %w", id, ErrPlanRequestDecided)})
	if err != nil {
		return PlanRequest{}, fmt.Errorf("decide plan request %s: %w", id, err)
	}
	r.Status, r.DecidedBy, r.UpdatedAt, r.Version = to, actor, now, r.Version+1
	return r, nil
}
