package registry

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// MaxMethodThrottles is API Gateway's quota of method-level throttling
// settings per stage of a usage plan ("Method-level throttling settings for
// a stage in a usage plan: 20", API Gateway quotas for REST APIs).
const MaxMethodThrottles = 20

// methodThrottleKey is "{resourcePath}/{httpMethod}": a resource path that
// starts with "/" (API Gateway writes the root as "/", so "//GET"), or "*"
// for every resource, then an HTTP method or "*".
var methodThrottleKey = regexp.MustCompile(`^(/[A-Za-z0-9._~\-/{}+*]*|\*)/(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS|\*)$`)

// ValidateMethodThrottles checks a plan's per-method throttles: at most
// MaxMethodThrottles, each keyed "{resourcePath}/{httpMethod}", with
// non-negative limits. Errors are *PlanFieldError (field methodThrottles).
func ValidateMethodThrottles(m map[string]MethodThrottle) error {
	if len(m) > MaxMethodThrottles {
		return planErr("methodThrottles", "%d method throttles, API Gateway allows %d per stage", len(m), MaxMethodThrottles)
	}
	for k, t := range m {
		if !methodThrottleKey.MatchString(k) {
			return planErr("methodThrottles", "method throttle key %q must be {resourcePath}/{httpMethod}, for example /pets/GET", k)
		}
		if t.RateLimit < 0 || t.BurstLimit < 0 {
			return planErr("methodThrottles", "method throttle %s: rate and burst must not be negative", k)
		}
	}
	return nil
}

// DeletePlan removes a plan record. It does not check subscriptions (the
// caller does: see cli plans apply) and never touches API Gateway: the
// usage plan is left in place, and the reconciler stops adding stages to it.
func (s *Store) DeletePlan(ctx context.Context, env, name, actor string) error {
	audit, err := s.auditPut(AuditEntry{Subject: EnvSubject(env), Actor: actor, Action: "plan.delete", Target: name})
	if err != nil {
		return err
	}
	err = s.transact(ctx, []types.TransactWriteItem{{Delete: &types.Delete{
		TableName: aws.String(s.table), Key: planKey(env, name).av(),
		ConditionExpression: aws.String("attribute_exists(PK)"),
	}}, audit}, map[int]error{0: fmt.Errorf("plan %q in %s: %w", name, env, ErrPlanNotFound)})
	if err != nil {
		return fmt.Errorf("delete plan %s/%s: %w", env, name, err)
	}
	return nil
}

// RecordUsagePlan is the reconciler's write to a plan: the id of the usage
// plan it created or adopted, and, when adopted is not nil, the live usage
// plan's per-method throttles, written only while the plan declares none
// (nil), so that it never overwrites what an operator declared meanwhile
// (ErrConflict then). Limits are left alone: they are the operator's.
func (s *Store) RecordUsagePlan(ctx context.Context, env, name, usagePlanID string, adopted map[string]MethodThrottle, actor string) error {
	now := s.now()
	set := []string{"usagePlanId = :id", "updatedAt = :now"}
	cond := "attribute_exists(PK)"
	values := map[string]types.AttributeValue{":id": avS(usagePlanID), ":now": avTime(now)}
	details := map[string]string{"usagePlanId": usagePlanID}
	if adopted != nil {
		av, err := attributevalue.Marshal(adopted)
		if err != nil {
			return fmt.Errorf("marshal method throttles: %w", err)
		}
		set = append(set, "methodThrottles = :mt")
		cond += " AND (attribute_not_exists(methodThrottles) OR attribute_type(methodThrottles, :null))"
		values[":mt"], values[":null"] = av, avS("NULL")
		details["methodThrottles"] = fmt.Sprint(len(adopted))
	}
	audit, err := s.auditPut(AuditEntry{Subject: EnvSubject(env), At: now, Actor: actor, Action: "plan.usage-plan", Target: name, Details: details})
	if err != nil {
		return err
	}
	err = s.transact(ctx, []types.TransactWriteItem{{Update: &types.Update{
		TableName: aws.String(s.table), Key: planKey(env, name).av(),
		UpdateExpression:          aws.String("SET " + strings.Join(set, ", ")),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	}}, audit}, nil)
	if err != nil {
		return fmt.Errorf("record usage plan %s of plan %s/%s: %w", usagePlanID, env, name, err)
	}
	return nil
}
