package registry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrLeaseHeld: another live run holds the environment's reconcile lease.
var ErrLeaseHeld = errors.New("reconcile lease held by another run")

// ErrLeaseLost: this run's lease expired and another run took it over.
var ErrLeaseLost = errors.New("reconcile lease lost")

// RunProgress is the reconcile lease of an environment and the progress of
// the run holding it. One run per environment at a time; a run that hands
// over to a continuation releases the lease and keeps its progress here so
// that the next invocation adds to its counts.
type RunProgress struct {
	Env string `dynamodbav:"env" json:"env"`
	// Owner is the id of the run holding (or that last held) the lease.
	Owner string `dynamodbav:"owner" json:"owner"`
	// LeaseUntilMS is when the lease lapses (epoch milliseconds; numbers
	// compare correctly in conditions, formatted times do not). 0: released.
	LeaseUntilMS int64 `dynamodbav:"leaseUntilMs" json:"leaseUntilMs"`
	// Sequence is the deployment being associated (0: none pending).
	Sequence int64 `dynamodbav:"sequence" json:"sequence"`
	// StagesVersion is the EnvStages version the counts were gathered for.
	StagesVersion int64            `dynamodbav:"stagesVersion" json:"stagesVersion"`
	Counts        DeploymentCounts `dynamodbav:"counts" json:"counts"`
	StartedAt     time.Time        `dynamodbav:"startedAt" json:"startedAt"`
	// Invocations counts the Lambda invocations (the first and each
	// continuation) this run has taken so far.
	Invocations int `dynamodbav:"invocations" json:"invocations"`
	// PlansDone are the usage plans updated so far by this run.
	PlansDone []string `dynamodbav:"plansDone,omitempty" json:"plansDone,omitempty"`
	// PlanFailures counts, per usage plan, the failed UpdateUsagePlan
	// requests of this run so far (its bound spans continuations).
	PlanFailures map[string]int `dynamodbav:"planFailures,omitempty" json:"planFailures,omitempty"`
	UpdatedAt    time.Time      `dynamodbav:"updatedAt" json:"updatedAt"`
}

// LeaseUntil returns LeaseUntilMS as a time.
func (p RunProgress) LeaseUntil() time.Time { return time.UnixMilli(p.LeaseUntilMS).UTC() }

func runKey(env string) keyAttrs { return keyAttrs{PK: "ENV#" + env, SK: "RUN"} }

// GetRunProgress reads an environment's run item; absent: a zero value with
// Env set and no error.
func (s *Store) GetRunProgress(ctx context.Context, env string) (RunProgress, error) {
	var p RunProgress
	if err := s.get(ctx, runKey(env), &p); err != nil {
		if errors.Is(err, ErrNotFound) {
			return RunProgress{Env: env}, nil
		}
		return RunProgress{}, fmt.Errorf("get run progress of %s: %w", env, err)
	}
	return p, nil
}

// AcquireRun takes the environment's reconcile lease for owner until the
// given time, if it is free, lapsed, or already owner's. It returns the
// stored item (with the previous run's progress, if any). A live lease of
// another owner is ErrLeaseHeld (the returned item says whose).
func (s *Store) AcquireRun(ctx context.Context, env, owner string, until time.Time) (RunProgress, error) {
	now := s.now()
	res, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      runKey(env).av(),
		UpdateExpression:         aws.String("SET #env = :env, #owner = :owner, leaseUntilMs = :until, updatedAt = :now"),
		ConditionExpression:      aws.String("attribute_not_exists(PK) OR leaseUntilMs <= :nowms OR #owner = :owner"),
		ExpressionAttributeNames: map[string]string{"#owner": "owner", "#env": "env"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":env": avS(env), ":owner": avS(owner), ":until": avN(until.UnixMilli()), ":now": avTime(now), ":nowms": avN(now.UnixMilli()),
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		if isConditionFailed(err) {
			cur, gerr := s.GetRunProgress(ctx, env)
			if gerr != nil {
				return RunProgress{}, gerr
			}
			return cur, fmt.Errorf("run of %s held by %s until %s: %w", env, cur.Owner, cur.LeaseUntil().Format(time.RFC3339), ErrLeaseHeld)
		}
		return RunProgress{}, fmt.Errorf("acquire run of %s: %w", env, err)
	}
	var p RunProgress
	if err := attributevalue.UnmarshalMap(res.Attributes, &p); err != nil {
		return RunProgress{}, fmt.Errorf("unmarshal run progress of %s: %w", env, err)
	}
	return p, nil
}

// SaveRunProgress stores p (Owner must hold the lease; p.LeaseUntilMS is
// the new lapse time, 0 to release). It is ErrLeaseLost when another run
// owns the lease now.
func (s *Store) SaveRunProgress(ctx context.Context, p RunProgress) error {
	p.UpdatedAt = s.now()
	item, err := marshalItem(runKey(p.Env), indexAttrs{}, p)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("#owner = :owner"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": avS(p.Owner)},
	})
	if err != nil {
		if isConditionFailed(err) {
			return fmt.Errorf("save run progress of %s: %w", p.Env, ErrLeaseLost)
		}
		return fmt.Errorf("save run progress of %s: %w", p.Env, err)
	}
	return nil
}

// PacerSlot is a shared rate token: the earliest time the next call of a
// rate-limited operation may be made, account-wide.
type PacerSlot struct {
	Name string `dynamodbav:"name" json:"name"`
	// NextAtMS is the earliest next call (epoch milliseconds).
	NextAtMS int64     `dynamodbav:"nextAtMs" json:"nextAtMs"`
	Holder   string    `dynamodbav:"holder" json:"holder"`
	At       time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
}

// NextAt returns NextAtMS as a time.
func (p PacerSlot) NextAt() time.Time { return time.UnixMilli(p.NextAtMS).UTC() }

func pacerKey(name string) keyAttrs { return keyAttrs{PK: "PACER#apigateway", SK: name} }

// GetPacerSlot reads a pacer slot; an absent slot is free (NextAtMS 0).
func (s *Store) GetPacerSlot(ctx context.Context, name string) (PacerSlot, error) {
	var p PacerSlot
	if err := s.get(ctx, pacerKey(name), &p); err != nil {
		if errors.Is(err, ErrNotFound) {
			return PacerSlot{Name: name}, nil
		}
		return PacerSlot{}, fmt.Errorf("get pacer slot %s: %w", name, err)
	}
	return p, nil
}

// ClaimPacerSlot takes the slot for holder if its NextAt is not after now,
// and moves NextAt to next. It reports false (no error) when the slot is not
// free yet.
func (s *Store) ClaimPacerSlot(ctx context.Context, name, holder string, now, next time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      pacerKey(name).av(),
		UpdateExpression:         aws.String("SET #name = :name, nextAtMs = :next, holder = :holder, updatedAt = :at"),
		ConditionExpression:      aws.String("attribute_not_exists(PK) OR nextAtMs <= :now"),
		ExpressionAttributeNames: map[string]string{"#name": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":name": avS(name), ":next": avN(next.UnixMilli()), ":holder": avS(holder), ":at": avTime(s.now()), ":now": avN(now.UnixMilli()),
		},
	})
	if err != nil {
		if isConditionFailed(err) {
			return false, nil
		}
		return false, fmt.Errorf("claim pacer slot %s: %w", name, err)
	}
	return true, nil
}

// PushPacerSlot moves the slot's NextAt later to next (never earlier), for a
// call that happened later than its claim (after retries).
func (s *Store) PushPacerSlot(ctx context.Context, name, holder string, next time.Time) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      pacerKey(name).av(),
		UpdateExpression:         aws.String("SET #name = :name, nextAtMs = :next, holder = :holder, updatedAt = :at"),
		ConditionExpression:      aws.String("attribute_not_exists(PK) OR nextAtMs < :next"),
		ExpressionAttributeNames: map[string]string{"#name": "name"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":name": avS(name), ":next": avN(next.UnixMilli()), ":holder": avS(holder), ":at": avTime(s.now()),
		},
	})
	if err != nil && !isConditionFailed(err) {
		return fmt.Errorf("push pacer slot %s: %w", name, err)
	}
	return nil
}

// ReturnPacerSlot moves the slot's NextAt back from claimed to next
// (earlier), for a claim whose call the service refused without counting it
// (throttled). It reports false, changing nothing, when holder no longer
// holds the slot at claimed (pushed or claimed since).
func (s *Store) ReturnPacerSlot(ctx context.Context, name, holder string, claimed, next time.Time) (bool, error) {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:           aws.String(s.table),
		Key:                 pacerKey(name).av(),
		UpdateExpression:    aws.String("SET nextAtMs = :next, updatedAt = :at"),
		ConditionExpression: aws.String("holder = :holder AND nextAtMs = :claimed"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":next": avN(next.UnixMilli()), ":holder": avS(holder), ":claimed": avN(claimed.UnixMilli()), ":at": avTime(s.now()),
		},
	})
	if err != nil {
		if isConditionFailed(err) {
			return false, nil
		}
		return false, fmt.Errorf("return pacer slot %s: %w", name, err)
	}
	return true, nil
}

// ReleaseRun stores p with the lease released, but only if the
// environment's desired stages are still at stagesVersion (the version the
// run converged to) and p.Owner still holds the lease. ErrConflict means the
// stages changed meanwhile: a trigger that found the lease held counted on
// this run to apply its change, so the run must do another pass.
func (s *Store) ReleaseRun(ctx context.Context, p RunProgress, stagesVersion int64) error {
	p.LeaseUntilMS, p.UpdatedAt = 0, s.now()
	item, err := marshalItem(runKey(p.Env), indexAttrs{}, p)
	if err != nil {
		return err
	}
	stagesCond, values := "attribute_not_exists(PK)", map[string]types.AttributeValue(nil)
	if stagesVersion > 0 {
		stagesCond, values = "version = :v", map[string]types.AttributeValue{":v": avN(stagesVersion)}
	}
	err = s.transact(ctx, []types.TransactWriteItem{
		s.put(item, "#owner = :owner", map[string]string{"#owner": "owner"}, map[string]types.AttributeValue{":owner": avS(p.Owner)}),
		s.conditionCheck(envStagesKey(p.Env), stagesCond, nil, values),
	}, map[int]error{0: ErrLeaseLost, 1: ErrConflict})
	if err != nil {
		return fmt.Errorf("release run of %s: %w", p.Env, err)
	}
	return nil
}
