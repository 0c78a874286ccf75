package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrDeploymentNotFound: no deployment recorded for that environment/sequence.
var ErrDeploymentNotFound = fmt.Errorf("deployment %w", ErrNotFound)

func deploymentKey(env string, seq int64) keyAttrs {
	return keyAttrs{PK: "ENV#" + env, SK: fmt.Sprintf("DEPLOY#%020d", seq)}
}

func latestDeploymentKey(env string) keyAttrs { return keyAttrs{PK: "ENV#" + env, SK: "DEPLOY#LATEST"} }

// RecordDeployment records a deploy event as the environment's latest,
// enforcing "newest sequence wins" with a conditional write on the latest
// pointer. It returns the stored record and whether this call created it:
//   - a newer sequence: recorded (state received), created = true;
//   - the same sequence again (a duplicate delivery): the existing record,
//     created = false, so the caller can resume it idempotently;
//   - an older sequence: ErrStaleDeployment, nothing written.
func (s *Store) RecordDeployment(ctx context.Context, d Deployment, actor string) (Deployment, bool, error) {
	now := s.now()
	d.State, d.ReceivedAt, d.UpdatedAt = DeploymentReceived, now, now
	rec, err := marshalItem(deploymentKey(d.Env, d.Sequence), indexAttrs{}, d)
	if err != nil {
		return Deployment{}, false, err
	}
	latest, err := marshalItem(latestDeploymentKey(d.Env), indexAttrs{}, d)
	if err != nil {
		return Deployment{}, false, err
	}
	audit, err := s.auditPut(AuditEntry{Subject: EnvSubject(d.Env), At: now, Actor: actor, Action: "deployment.record",
		Target: strconv.FormatInt(d.Sequence, 10), Details: map[string]string{"apiId": d.APIID, "stage": d.Stage, "colour": d.Colour}})
	if err != nil {
		return Deployment{}, false, err
	}
	err = s.transact(ctx, []types.TransactWriteItem{
		s.put(latest, "attribute_not_exists(PK) OR #seq < :seq", map[string]string{"#seq": "sequence"},
			map[string]types.AttributeValue{":seq": avN(d.Sequence)}),
		s.put(rec, "attribute_not_exists(PK)", nil, nil),
		audit,
	}, nil)
	if err == nil {
		return d, true, nil
	}
	if !errors.Is(err, ErrConflict) {
		return Deployment{}, false, fmt.Errorf("record deployment %s/%d: %w", d.Env, d.Sequence, err)
	}
	// Lost the condition: a duplicate of a recorded sequence, or stale.
	existing, gerr := s.GetDeployment(ctx, d.Env, d.Sequence)
	if gerr == nil {
		return existing, false, nil
	}
	if !errors.Is(gerr, ErrNotFound) {
		return Deployment{}, false, gerr
	}
	return Deployment{}, false, fmt.Errorf("deployment %s/%d: %w", d.Env, d.Sequence, ErrStaleDeployment)
}

// GetDeployment reads one deployment record.
func (s *Store) GetDeployment(ctx context.Context, env string, seq int64) (Deployment, error) {
	var d Deployment
	if err := s.get(ctx, deploymentKey(env, seq), &d); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Deployment{}, fmt.Errorf("deployment %s/%d: %w", env, seq, ErrDeploymentNotFound)
		}
		return Deployment{}, fmt.Errorf("get deployment %s/%d: %w", env, seq, err)
	}
	return d, nil
}

// GetLatestDeployment reads the environment's newest deployment.
func (s *Store) GetLatestDeployment(ctx context.Context, env string) (Deployment, error) {
	var d Deployment
	if err := s.get(ctx, latestDeploymentKey(env), &d); err != nil {
		if errors.Is(err, ErrNotFound) {
			return Deployment{}, fmt.Errorf("latest deployment of %s: %w", env, ErrDeploymentNotFound)
		}
		return Deployment{}, fmt.Errorf("get latest deployment of %s: %w", env, err)
	}
	return d, nil
}

// ListDeployments returns one page of an environment's deployments, newest
// first.
func (s *Store) ListDeployments(ctx context.Context, env, next string, limit int32) (Page[Deployment], error) {
	p, err := query[Deployment](ctx, s, listing{partition: "ENV#" + env, sortPrefix: "DEPLOY#0", newestFirst: true}, next, limit)
	if err != nil {
		return p, fmt.Errorf("list deployments of %s: %w", env, err)
	}
	return p, nil
}

// FinishDeployment sets a deployment's outcome (state, reason, counts). The
// latest pointer is updated too while it still points at this sequence.
func (s *Store) FinishDeployment(ctx context.Context, env string, seq int64, state DeploymentState, reason string, counts DeploymentCounts, actor string) (Deployment, error) {
	d, err := s.GetDeployment(ctx, env, seq)
	if err != nil {
		return Deployment{}, err
	}
	now := s.now()
	d.State, d.Reason, d.Counts, d.UpdatedAt = state, reason, counts, now
	rec, err := marshalItem(deploymentKey(env, seq), indexAttrs{}, d)
	if err != nil {
		return Deployment{}, err
	}
	details := map[string]string{"state": string(state)}
	if reason != "" {
		details["reason"] = reason
	}
	audit, err := s.auditPut(AuditEntry{Subject: EnvSubject(env), At: now, Actor: actor, Action: "deployment." + string(state),
		Target: strconv.FormatInt(seq, 10), Details: details})
	if err != nil {
		return Deployment{}, err
	}
	if err := s.transact(ctx, []types.TransactWriteItem{s.put(rec, "attribute_exists(PK)", nil, nil), audit}, nil); err != nil {
		return Deployment{}, fmt.Errorf("finish deployment %s/%d: %w", env, seq, err)
	}
	latest, err := marshalItem(latestDeploymentKey(env), indexAttrs{}, d)
	if err != nil {
		return Deployment{}, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: latest,
		ConditionExpression:       aws.String("#seq = :seq"),
		ExpressionAttributeNames:  map[string]string{"#seq": "sequence"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":seq": avN(seq)},
	})
	if err != nil && !isConditionFailed(err) { // a newer deployment took over: leave it
		return Deployment{}, fmt.Errorf("update latest deployment of %s: %w", env, err)
	}
	return d, nil
}
