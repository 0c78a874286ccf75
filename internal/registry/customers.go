package registry

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrPlanNotFound: the plan named does not exist in that environment.
var ErrPlanNotFound = fmt.Errorf("plan %w", ErrNotFound)

// ErrCustomerNotFound: the customer named does not exist.
var ErrCustomerNotFound = fmt.Errorf("customer %w", ErrNotFound)

// ErrSubscriptionNotFound: the customer has no subscription in that environment.
var ErrSubscriptionNotFound = fmt.Errorf("subscription %w", ErrNotFound)

// ErrCustomerSuspended: the operation needs an active customer.
var ErrCustomerSuspended = errors.New("customer is suspended")

func customerKey(id string) keyAttrs { return keyAttrs{PK: "CUST#" + id, SK: "PROFILE"} }
func subscriptionKey(customerID, env string) keyAttrs {
	return keyAttrs{PK: "CUST#" + customerID, SK: "ENV#" + env}
}

// CreateCustomer stores a new customer (status active unless set) and its
// audit entry in one transaction. A duplicate id is ErrAlreadyExists.
func (s *Store) CreateCustomer(ctx context.Context, c Customer, actor string) (Customer, error) {
	return s.createCustomer(ctx, c, actor, nil)
}

// createCustomer is CreateCustomer that also stores rec, when not nil, in
// the same transaction (see CreateCustomerOnce).
func (s *Store) createCustomer(ctx context.Context, c Customer, actor string, rec *IdempotencyRecord) (Customer, error) {
	now := s.now()
	c.CreatedAt, c.UpdatedAt, c.Version = now, now, 1
	if c.Status == "" {
		c.Status = CustomerActive
	}
	item, err := marshalItem(customerKey(c.ID), indexAttrs{GSI2PK: "CUSTOMERS", GSI2SK: c.ID}, c)
	if err != nil {
		return Customer{}, err
	}
	audit, err := s.auditPut(AuditEntry{Subject: c.ID, At: now, Actor: actor, Action: "customer.create", Target: c.ID,
		Details: map[string]string{"name": c.Name, "status": string(c.Status)}})
	if err != nil {
		return Customer{}, err
	}
	items, reasons, err := s.withRecord(rec, IdempotentResult{Customer: &c}, now,
		[]types.TransactWriteItem{s.put(item, "attribute_not_exists(PK)", nil, nil), audit},
		map[int]error{0: fmt.Errorf("customer %q: %w", c.ID, ErrAlreadyExists)})
	if err != nil {
		return Customer{}, err
	}
	if err := s.transact(ctx, items, reasons); err != nil {
		return Customer{}, fmt.Errorf("create customer %s: %w", c.ID, err)
	}
	return c, nil
}

// GetCustomer reads a customer by id.
func (s *Store) GetCustomer(ctx context.Context, id string) (Customer, error) {
	var c Customer
	if err := s.get(ctx, customerKey(id), &c); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Customer{}, fmt.Errorf("customer %q: %w", id, ErrCustomerNotFound)
		}
		return Customer{}, fmt.Errorf("get customer %s: %w", id, err)
	}
	return c, nil
}

// ListCustomers returns one page of customers ordered by id.
func (s *Store) ListCustomers(ctx context.Context, next string, limit int32) (Page[Customer], error) {
	p, err := query[Customer](ctx, s, listing{index: IndexGSI2, partition: "CUSTOMERS"}, next, limit)
	if err != nil {
		return p, fmt.Errorf("list customers: %w", err)
	}
	return p, nil
}

// UpdateCustomerName renames a customer, guarded by ifVersion (see
// preconditions.go). Setting the name it already has writes nothing.
func (s *Store) UpdateCustomerName(ctx context.Context, id string, ifVersion int64, name, actor string) (Customer, error) {
	g := guard{what: "customer " + id, want: ifVersion}
	c, err := s.GetCustomer(ctx, id)
	if err != nil {
		return Customer{}, err
	}
	if err := g.check(c.Version); err != nil {
		return Customer{}, err
	}
	if c.Name == name {
		return c, nil
	}
	now := s.now()
	audit, err := s.auditPut(AuditEntry{Subject: id, At: now, Actor: actor, Action: "customer.rename", Target: id,
		Details: map[string]string{"from": c.Name, "to": name}})
	if err != nil {
		return Customer{}, err
	}
	err = s.transact(ctx, []types.TransactWriteItem{
		s.versionedUpdate(customerKey(id), c.Version, now, change{set: "#name = :name",
			names: map[string]string{"#name": "name"}, values: map[string]types.AttributeValue{":name": avS(name)}}),
		audit,
	}, g.onLost(0, nil))
	if err != nil {
		return Customer{}, fmt.Errorf("rename customer %s: %w", id, err)
	}
	c.Name, c.UpdatedAt, c.Version = name, now, c.Version+1
	return c, nil
}

// SetCustomerStatus suspends or resumes a customer: SetCustomerStatusIf
// without an expected version.
func (s *Store) SetCustomerStatus(ctx context.Context, id string, status CustomerStatus, actor string) (Customer, error) {
	return s.SetCustomerStatusIf(ctx, id, 0, status, actor)
}

// SetCustomerStatusIf suspends or resumes a customer, guarded by ifVersion
// (see preconditions.go). The status is copied to each of the customer's
// subscriptions in the same transaction, so the authorizer sees it with the
// subscription it already reads. Setting the status a customer already has
// writes nothing. Without an expected version, a concurrent change is
// re-read and the status applied again.
func (s *Store) SetCustomerStatusIf(ctx context.Context, id string, ifVersion int64, status CustomerStatus, actor string) (Customer, error) {
	if status != CustomerActive && status != CustomerSuspended {
		return Customer{}, fmt.Errorf("status %q: must be active or suspended", status)
	}
	g := guard{what: "customer " + id, want: ifVersion}
	for attempt := 0; ; attempt++ {
		c, err := s.GetCustomer(ctx, id)
		if err != nil {
			return Customer{}, err
		}
		if err := g.check(c.Version); err != nil {
			return Customer{}, err
		}
		if c.Status == status {
			return c, nil
		}
		subs, err := s.ListCustomerSubscriptions(ctx, id)
		if err != nil {
			return Customer{}, err
		}
		now := s.now()
		items := []types.TransactWriteItem{s.versionedUpdate(customerKey(id), c.Version, now, change{set: "#status = :status",
			names: map[string]string{"#status": "status"}, values: map[string]types.AttributeValue{":status": avS(string(status))}})}
		for _, sub := range subs {
			items = append(items, types.TransactWriteItem{Update: &types.Update{
				TableName:                 aws.String(s.table),
				Key:                       subscriptionKey(id, sub.Env).av(),
				UpdateExpression:          aws.String("SET customerStatus = :status, updatedAt = :now, version = version + :one"),
				ConditionExpression:       aws.String("attribute_exists(PK)"),
				ExpressionAttributeValues: map[string]types.AttributeValue{":status": avS(string(status)), ":now": avTime(now), ":one": avN(1)},
			}})
		}
		audit, err := s.auditPut(AuditEntry{Subject: id, At: now, Actor: actor, Action: "customer." + statusVerb(status), Target: id,
			Details: map[string]string{"from": string(c.Status), "to": string(status)}})
		if err != nil {
			return Customer{}, err
		}
		items = append(items, audit)
		err = s.transact(ctx, items, g.onLost(0, nil))
		if g.retry(err, attempt, 3) {
			if err := s.backoff(ctx, attempt+1); err != nil {
				return Customer{}, fmt.Errorf("set customer %s status %s: %w", id, status, err)
			}
			continue // a concurrent change: re-read and apply again
		}
		if err != nil {
			return Customer{}, fmt.Errorf("set customer %s status %s: %w", id, status, err)
		}
		c.Status, c.UpdatedAt, c.Version = status, now, c.Version+1
		return c, nil
	}
}

func statusVerb(s CustomerStatus) string {
	if s == CustomerSuspended {
		return "suspend"
	}
	return "resume"
}

// Subscribe puts a customer in an environment on a plan, metered by the
// given API Gateway key. The customer and the plan must exist; a second
// subscription for the same environment is ErrAlreadyExists.
func (s *Store) Subscribe(ctx context.Context, sub Subscription, actor string) (Subscription, error) {
	c, err := s.GetCustomer(ctx, sub.CustomerID)
	if err != nil {
		return Subscription{}, err
	}
	now := s.now()
	sub.CustomerStatus, sub.CreatedAt, sub.UpdatedAt, sub.Version = c.Status, now, now, 1
	item, err := marshalItem(subscriptionKey(sub.CustomerID, sub.Env),
		indexAttrs{GSI2PK: "ENV#" + sub.Env + "#SUBS", GSI2SK: sub.CustomerID}, sub)
	if err != nil {
		return Subscription{}, err
	}
	audit, err := s.auditPut(AuditEntry{Subject: sub.CustomerID, At: now, Actor: actor, Action: "subscription.create",
		Target: sub.Env, Details: map[string]string{"plan": sub.Plan, "usageKeyId": sub.UsageKeyID}})
	if err != nil {
		return Subscription{}, err
	}
	items := []types.TransactWriteItem{
		s.put(item, "attribute_not_exists(PK)", nil, nil),
		// The customer's status must be the one copied above.
		s.conditionCheck(customerKey(sub.CustomerID), "version = :v", nil, map[string]types.AttributeValue{":v": avN(c.Version)}),
		s.conditionCheck(planKey(sub.Env, sub.Plan), "attribute_exists(PK)", nil, nil),
		audit,
	}
	err = s.transact(ctx, items, map[int]error{
		0: fmt.Errorf("subscription of %q to %s: %w", sub.CustomerID, sub.Env, ErrAlreadyExists),
		2: fmt.Errorf("plan %q in %s: %w", sub.Plan, sub.Env, ErrPlanNotFound),
	})
	if err != nil {
		return Subscription{}, fmt.Errorf("subscribe %s to %s: %w", sub.CustomerID, sub.Env, err)
	}
	return sub, nil
}

// ChangePlan moves a subscription to another plan of its environment:
// ChangePlanIf without an expected version.
func (s *Store) ChangePlan(ctx context.Context, customerID, env, plan, actor string) (before, after Subscription, err error) {
	return s.ChangePlanIf(ctx, customerID, env, 0, plan, actor)
}

// ChangePlanIf moves a subscription to another plan of its environment,
// guarded by ifVersion (the subscription's; see preconditions.go), and
// returns the subscription before and after. Moving the customer's API
// Gateway key between usage plans is the caller's (and the reconciler's)
// job.
func (s *Store) ChangePlanIf(ctx context.Context, customerID, env string, ifVersion int64, plan, actor string) (before, after Subscription, err error) {
	g := guard{what: "subscription of " + customerID + " in " + env, want: ifVersion}
	before, err = s.GetSubscription(ctx, customerID, env)
	if err != nil {
		return before, after, err
	}
	if err := g.check(before.Version); err != nil {
		return before, after, err
	}
	if before.Plan == plan {
		return before, before, nil
	}
	now := s.now()
	audit, err := s.auditPut(AuditEntry{Subject: customerID, At: now, Actor: actor, Action: "subscription.change-plan",
		Target: env, Details: map[string]string{"from": before.Plan, "to": plan}})
	if err != nil {
		return before, after, err
	}
	items := []types.TransactWriteItem{
		s.versionedUpdate(subscriptionKey(customerID, env), before.Version, now, change{set: "#plan = :plan",
			names: map[string]string{"#plan": "plan"}, values: map[string]types.AttributeValue{":plan": avS(plan)}}),
		s.conditionCheck(planKey(env, plan), "attribute_exists(PK)", nil, nil),
		audit,
	}
	reasons := g.onLost(0, map[int]error{1: fmt.Errorf("plan %q in %s: %w", plan, env, ErrPlanNotFound)})
	if err := s.transact(ctx, items, reasons); err != nil {
		return before, after, fmt.Errorf("change plan of %s in %s: %w", customerID, env, err)
	}
	after = before
	after.Plan, after.UpdatedAt, after.Version = plan, now, before.Version+1
	return before, after, nil
}

// GetSubscription reads a customer's subscription in one environment.
func (s *Store) GetSubscription(ctx context.Context, customerID, env string) (Subscription, error) {
	var sub Subscription
	if err := s.get(ctx, subscriptionKey(customerID, env), &sub); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Subscription{}, fmt.Errorf("customer %q in %s: %w", customerID, env, ErrSubscriptionNotFound)
		}
		return Subscription{}, fmt.Errorf("get subscription %s/%s: %w", customerID, env, err)
	}
	return sub, nil
}

// ListCustomerSubscriptions returns every environment a customer is in.
func (s *Store) ListCustomerSubscriptions(ctx context.Context, customerID string) ([]Subscription, error) {
	subs, err := queryAll[Subscription](ctx, s, listing{partition: "CUST#" + customerID, sortPrefix: "ENV#", consistent: true})
	if err != nil {
		return nil, fmt.Errorf("list subscriptions of %s: %w", customerID, err)
	}
	return subs, nil
}

// ListSubscriptions returns one page of an environment's subscriptions,
// ordered by customer id (the reconciler's desired key state).
func (s *Store) ListSubscriptions(ctx context.Context, env, next string, limit int32) (Page[Subscription], error) {
	p, err := query[Subscription](ctx, s, listing{index: IndexGSI2, partition: "ENV#" + env + "#SUBS"}, next, limit)
	if err != nil {
		return p, fmt.Errorf("list subscriptions in %s: %w", env, err)
	}
	return p, nil
}
