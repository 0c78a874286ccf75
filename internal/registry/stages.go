package registry

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// StageRef names one REST API stage ("apiId:stage" in usage plans).
type StageRef struct {
	APIID string `dynamodbav:"apiId" json:"apiId"`
	Stage string `dynamodbav:"stage" json:"stage"`
}

// String returns "apiId:stage", the form usage plans use.
func (r StageRef) String() string { return r.APIID + ":" + r.Stage }

// EnvStage is a stage of an environment with the deployment that brought it.
type EnvStage struct {
	APIID    string    `dynamodbav:"apiId" json:"apiId"`
	Stage    string    `dynamodbav:"stage" json:"stage"`
	Colour   string    `dynamodbav:"colour,omitempty" json:"colour,omitempty"`
	Sequence int64     `dynamodbav:"sequence" json:"sequence"`
	At       time.Time `dynamodbav:"at" json:"at"`
}

// Ref returns the stage's apiId:stage.
func (s EnvStage) Ref() StageRef { return StageRef{APIID: s.APIID, Stage: s.Stage} }

// EnvStages is the desired stage set of an environment: every usage plan of
// the environment must include each of Stages and none of Retired. The
// reconciler changes it on deploy and retire events and converges API
// Gateway to it.
type EnvStages struct {
	Env string `dynamodbav:"env" json:"env"`
	// Stages, oldest deployment first; the last is the newest.
	Stages []EnvStage `dynamodbav:"stages" json:"stages"`
	// Retired stages, most recently retired last (kept so that a late or
	// duplicate deploy event cannot bring a retired stage back).
	Retired []EnvStage `dynamodbav:"retired" json:"retired"`
	// Sequence is the newest deployment sequence applied to Stages.
	Sequence  int64     `dynamodbav:"sequence" json:"sequence"`
	Version   int64     `dynamodbav:"version" json:"version"`
	UpdatedAt time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
}

func envStagesKey(env string) keyAttrs { return keyAttrs{PK: "ENV#" + env, SK: "STAGES"} }

// GetEnvStages reads an environment's desired stage set. An environment that
// has none yet returns an empty set with Version 0 (not an error).
func (s *Store) GetEnvStages(ctx context.Context, env string) (EnvStages, error) {
	var st EnvStages
	if err := s.get(ctx, envStagesKey(env), &st); err != nil {
		if errors.Is(err, ErrNotFound) {
			return EnvStages{Env: env}, nil
		}
		return EnvStages{}, fmt.Errorf("get stages of %s: %w", env, err)
	}
	return st, nil
}

// PutEnvStages writes a new desired stage set if nobody changed it since st
// was read (st.Version is the version read; 0 = absent), with an audit
// entry. It returns the stored set (Version incremented) or ErrConflict.
func (s *Store) PutEnvStages(ctx context.Context, st EnvStages, action, actor string) (EnvStages, error) {
	now := s.now()
	read := st.Version
	st.Version, st.UpdatedAt = read+1, now
	item, err := marshalItem(envStagesKey(st.Env), indexAttrs{}, st)
	if err != nil {
		return EnvStages{}, err
	}
	cond, values := "attribute_not_exists(PK)", map[string]types.AttributeValue(nil)
	if read > 0 {
		cond, values = "version = :v", map[string]types.AttributeValue{":v": avN(read)}
	}
	details := map[string]string{"version": strconv.FormatInt(st.Version, 10)}
	for i, stage := range st.Stages {
		details["stage."+strconv.Itoa(i)] = stage.Ref().String()
	}
	audit, err := s.auditPut(AuditEntry{Subject: EnvSubject(st.Env), At: now, Actor: actor, Action: "stages." + action,
		Target: st.Env, Details: details})
	if err != nil {
		return EnvStages{}, err
	}
	if err := s.transact(ctx, []types.TransactWriteItem{s.put(item, cond, nil, values), audit}, nil); err != nil {
		return EnvStages{}, fmt.Errorf("put stages of %s: %w", st.Env, err)
	}
	return st, nil
}
