package registry

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func planKey(env, name string) keyAttrs { return keyAttrs{PK: "ENV#" + env, SK: "PLAN#" + name} }

// EnvSubject is the audit subject of environment-level changes.
func EnvSubject(env string) string { return "env:" + env }

// PutPlan creates or replaces a plan of an environment (`stagehand plans
// apply` and `plans put`); the reconciler then makes the usage plan match.
func (s *Store) PutPlan(ctx context.Context, p Plan, actor string) (Plan, error) {
	if err := ValidateMethodThrottles(p.MethodThrottles); err != nil {
		return Plan{}, fmt.Errorf("put plan %s/%s: %w", p.Env, p.Name, err)
	}
	now := s.now()
	p.UpdatedAt = now
	item, err := marshalItem(planKey(p.Env, p.Name), indexAttrs{}, p)
	if err != nil {
		return Plan{}, err
	}
	audit, err := s.auditPut(AuditEntry{Subject: EnvSubject(p.Env), At: now, Actor: actor, Action: "plan.put", Target: p.Name,
		Details: map[string]string{
			"usagePlanId": p.UsagePlanID, "rateLimit": strconv.FormatFloat(p.RateLimit, 'f', -1, 64),
			"burstLimit": strconv.Itoa(int(p.BurstLimit)), "quota": strconv.Itoa(int(p.QuotaLimit)) + "/" + p.QuotaPeriod,
			"methodThrottles": strconv.Itoa(len(p.MethodThrottles)),
		}})
	if err != nil {
		return Plan{}, err
	}
	if err := s.transact(ctx, []types.TransactWriteItem{s.put(item, "", nil, nil), audit}, nil); err != nil {
		return Plan{}, fmt.Errorf("put plan %s/%s: %w", p.Env, p.Name, err)
	}
	return p, nil
}

// GetPlan reads one plan.
func (s *Store) GetPlan(ctx context.Context, env, name string) (Plan, error) {
	var p Plan
	if err := s.get(ctx, planKey(env, name), &p); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Plan{}, fmt.Errorf("plan %q in %s: %w", name, env, ErrPlanNotFound)
		}
		return Plan{}, fmt.Errorf("get plan %s/%s: %w", env, name, err)
	}
	return p, nil
}

// ListPlans returns every plan of an environment, ordered by name.
func (s *Store) ListPlans(ctx context.Context, env string) ([]Plan, error) {
	plans, err := queryAll[Plan](ctx, s, listing{partition: "ENV#" + env, sortPrefix: "PLAN#", consistent: true})
	if err != nil {
		return nil, fmt.Errorf("list plans in %s: %w", env, err)
	}
	return plans, nil
}

// ErrBindingNotFound: no client binding for that issuer and subject.
var ErrBindingNotFound = fmt.Errorf("client binding %w", ErrNotFound)

// bindingKey escapes issuer and subject so that "#" inside either cannot
// make two bindings collide.
func bindingKey(env, issuer, subject string) keyAttrs {
	return keyAttrs{PK: "BIND#" + env + "#" + url.QueryEscape(issuer) + "#" + url.QueryEscape(subject), SK: "BIND"}
}

// PutBinding maps a JWT client to a customer. The customer must be
// subscribed in the binding's environment; an existing binding for the same
// client is ErrAlreadyExists (delete it first to move a client).
func (s *Store) PutBinding(ctx context.Context, b ClientBinding, actor string) (ClientBinding, error) {
	now := s.now()
	b.CreatedAt = now
	k := bindingKey(b.Env, b.Issuer, b.Subject)
	item, err := marshalItem(k, indexAttrs{GSI1PK: "CUST#" + b.CustomerID, GSI1SK: k.PK}, b)
	if err != nil {
		return ClientBinding{}, err
	}
	audit, err := s.auditPut(AuditEntry{Subject: b.CustomerID, At: now, Actor: actor, Action: "binding.create",
		Target: b.Issuer + " " + b.Subject, Details: map[string]string{"env": b.Env}})
	if err != nil {
		return ClientBinding{}, err
	}
	err = s.transact(ctx, []types.TransactWriteItem{
		s.put(item, "attribute_not_exists(PK)", nil, nil),
		s.conditionCheck(subscriptionKey(b.CustomerID, b.Env), "attribute_exists(PK)", nil, nil),
		audit,
	}, map[int]error{
		0: fmt.Errorf("binding for %s %s: %w", b.Issuer, b.Subject, ErrAlreadyExists),
		1: fmt.Errorf("customer %q in %s: %w", b.CustomerID, b.Env, ErrSubscriptionNotFound),
	})
	if err != nil {
		return ClientBinding{}, fmt.Errorf("put binding: %w", err)
	}
	return b, nil
}

// GetBinding finds the customer a JWT client belongs to.
func (s *Store) GetBinding(ctx context.Context, env, issuer, subject string) (ClientBinding, error) {
	var b ClientBinding
	if err := s.get(ctx, bindingKey(env, issuer, subject), &b); err != nil {
		if errors.Is(err, ErrNotFound) {
			return ClientBinding{}, ErrBindingNotFound
		}
		return ClientBinding{}, fmt.Errorf("get binding: %w", err)
	}
	return b, nil
}

// ListBindings returns every client binding of a customer.
func (s *Store) ListBindings(ctx context.Context, customerID string) ([]ClientBinding, error) {
	bs, err := queryAll[ClientBinding](ctx, s, listing{index: IndexGSI1, partition: "CUST#" + customerID, sortPrefix: "BIND#"})
	if err != nil {
		return nil, fmt.Errorf("list bindings of %s: %w", customerID, err)
	}
	return bs, nil
}

// DeleteBinding removes a client binding, whoever it belongs to: it is
// DeleteCustomerBinding without an owner to check.
func (s *Store) DeleteBinding(ctx context.Context, env, issuer, subject, actor string) error {
	return s.DeleteCustomerBinding(ctx, "", env, issuer, subject, actor)
}

// DeleteCustomerBinding removes a client binding of customerID (of any
// customer when customerID is ""). An absent binding, or one of another
// customer, is ErrBindingNotFound, so a caller cannot learn or touch other
// customers' bindings through it. The delete is conditioned on the owner
// read, so the audit entry always lands in the trail of the customer whose
// binding went.
func (s *Store) DeleteCustomerBinding(ctx context.Context, customerID, env, issuer, subject, actor string) error {
	b, err := s.GetBinding(ctx, env, issuer, subject)
	if err != nil {
		return err
	}
	if customerID != "" && b.CustomerID != customerID {
		return ErrBindingNotFound
	}
	audit, err := s.auditPut(AuditEntry{Subject: b.CustomerID, Actor: actor, Action: "binding.delete",
		Target: issuer + " " + subject, Details: map[string]string{"env": env}})
	if err != nil {
		return err
	}
	err = s.transact(ctx, []types.TransactWriteItem{{Delete: &types.Delete{
		TableName: aws.String(s.table), Key: bindingKey(env, issuer, subject).av(),
		ConditionExpression:       aws.String("customerId = :c"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":c": avS(b.CustomerID)},
	}}, audit}, map[int]error{0: ErrBindingNotFound})
	if err != nil {
		return fmt.Errorf("delete binding: %w", err)
	}
	return nil
}

// ListAudit returns one page of a subject's audit trail, newest first.
func (s *Store) ListAudit(ctx context.Context, subject, next string, limit int32) (Page[AuditEntry], error) {
	p, err := query[AuditEntry](ctx, s, listing{partition: "AUDIT#" + subject, newestFirst: true}, next, limit)
	if err != nil {
		return p, fmt.Errorf("list audit of %s: %w", subject, err)
	}
	return p, nil
}
