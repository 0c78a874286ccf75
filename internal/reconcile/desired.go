package reconcile

import (
	"fmt"
	"slices"
	"sort"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Tag keys that mark a usage plan as one of an environment's tiers.
const (
	TagEnv  = "stagehand:env"
	TagPlan = "stagehand:plan"
)

// Problem is something the reconciler cannot fix by itself: a subscription
// whose tier has no usage plan, a key API Gateway does not know, a key
// shared by two customers. Problems of active customers fail a deployment.
type Problem struct {
	CustomerID string `json:"customerId,omitempty"`
	KeyID      string `json:"keyId,omitempty"`
	PlanID     string `json:"planId,omitempty"`
	Reason     string `json:"reason"`
}

func (p Problem) String() string {
	s := p.Reason
	if p.CustomerID != "" {
		s = "customer " + p.CustomerID + ": " + s
	}
	return s
}

// DesiredStages derives the stage part of Desired from the environment's
// stage set: every stage of st.Stages is desired (oldest first), each one
// copying the method throttles of the stage deployed before it; every
// retired stage is to be removed.
func DesiredStages(st registry.EnvStages) (stages, retired []registry.StageRef, source map[registry.StageRef]registry.StageRef) {
	ordered := slices.Clone(st.Stages)
	sort.SliceStable(ordered, func(i, j int) bool { return ordered[i].Sequence < ordered[j].Sequence })
	source = make(map[registry.StageRef]registry.StageRef)
	for i, s := range ordered {
		stages = append(stages, s.Ref())
		if i > 0 {
			source[s.Ref()] = ordered[i-1].Ref()
		}
	}
	for _, r := range st.Retired {
		if !slices.Contains(stages, r.Ref()) && !slices.Contains(retired, r.Ref()) {
			retired = append(retired, r.Ref())
		}
	}
	return stages, retired, source
}

// DesiredKeys maps every subscription's API Gateway key to the usage plan
// of its tier. Suspended customers keep their key attached: the authorizer
// rejects them, and API Gateway keeps their quota counters, which detaching
// and re-attaching would reset. A subscription that no longer exists has no
// entry, so its key is detached. tierPlan maps tier name to usage plan id.
func DesiredKeys(subs []registry.Subscription, tierPlan map[string]string) (map[string]string, []Problem) {
	keyPlan := make(map[string]string, len(subs))
	owner := make(map[string]string, len(subs))
	var problems []Problem
	for _, s := range subs {
		if s.UsageKeyID == "" {
			problems = append(problems, Problem{CustomerID: s.CustomerID, Reason: "subscription has no API Gateway key"})
			continue
		}
		planID, ok := tierPlan[s.Plan]
		if !ok {
			problems = append(problems, Problem{CustomerID: s.CustomerID, KeyID: s.UsageKeyID,
				Reason: fmt.Sprintf("tier %q has no usage plan tagged %s=%s", s.Plan, TagPlan, s.Plan)})
			continue
		}
		if other, dup := owner[s.UsageKeyID]; dup {
			problems = append(problems, Problem{CustomerID: s.CustomerID, KeyID: s.UsageKeyID,
				Reason: fmt.Sprintf("API Gateway key %s is also customer %s's", s.UsageKeyID, other)})
			continue
		}
		owner[s.UsageKeyID] = s.CustomerID
		keyPlan[s.UsageKeyID] = planID
	}
	return keyPlan, problems
}

// TierPlans maps each tier to its usage plan id. Two usage plans tagged
// with the same tier are a problem: neither is used for that tier.
func TierPlans(plans []UsagePlan) (map[string]string, []Problem) {
	out := make(map[string]string, len(plans))
	dup := map[string]bool{}
	var problems []Problem
	for _, p := range plans {
		if other, ok := out[p.Tier]; ok {
			problems = append(problems, Problem{PlanID: p.ID,
				Reason: fmt.Sprintf("usage plans %s and %s are both tagged %s=%s", other, p.ID, TagPlan, p.Tier)})
			dup[p.Tier] = true
			continue
		}
		out[p.Tier] = p.ID
	}
	for tier := range dup {
		delete(out, tier)
	}
	return out, problems
}

// VerifyRow is one tier's result of Verify.
type VerifyRow struct {
	Tier     string `json:"tier"`
	PlanID   string `json:"planId"`
	HasStage bool   `json:"hasStage"`
	// Expected counts the tier's active customers; OK those whose key is in
	// a usage plan that includes the stage.
	Expected int `json:"expected"`
	OK       int `json:"ok"`
	// Missing lists the customers (sorted) whose key is not.
	Missing []string `json:"missing,omitempty"`
}

// VerifyReport says whether every active customer can call a stage.
type VerifyReport struct {
	Stage registry.StageRef `json:"stage"`
	Rows  []VerifyRow       `json:"rows"`
	// Unplaced are active customers whose tier has no usage plan.
	Unplaced []string `json:"unplaced,omitempty"`
	OK       bool     `json:"ok"`
	// FailingPlans are the usage plans the reconciler gave up on for the
	// stage's deployment (its record's counts): their update kept failing.
	FailingPlans []string `json:"failingPlans,omitempty"`
	// Deployment is the sequence of the stage's deployment record, Reason
	// its failure reason (set by the caller; Verify reads no registry).
	Deployment int64  `json:"deployment,omitempty"`
	Reason     string `json:"reason,omitempty"`
}

// Verify checks, from API Gateway's actual state (plans with keys read),
// that every active customer's key is in a usage plan that includes stage.
func Verify(stage registry.StageRef, subs []registry.Subscription, plans []UsagePlan) VerifyReport {
	rep := VerifyReport{Stage: stage, OK: true}
	withStage := map[string]bool{} // key id -> in a plan with the stage
	rows := map[string]*VerifyRow{}
	for _, p := range plans {
		_, has := p.stage(stage)
		rows[p.Tier] = &VerifyRow{Tier: p.Tier, PlanID: p.ID, HasStage: has}
		if has {
			for _, k := range p.Keys {
				withStage[k] = true
			}
		}
	}
	for _, s := range subs {
		if s.CustomerStatus != registry.CustomerActive {
			continue
		}
		row := rows[s.Plan]
		if row == nil {
			rep.Unplaced = append(rep.Unplaced, s.CustomerID)
			rep.OK = false
			continue
		}
		row.Expected++
		if s.UsageKeyID != "" && withStage[s.UsageKeyID] {
			row.OK++
		} else {
			row.Missing = append(row.Missing, s.CustomerID)
		}
	}
	for _, row := range rows {
		if !row.HasStage || row.OK < row.Expected {
			rep.OK = false
		}
		sort.Strings(row.Missing)
		rep.Rows = append(rep.Rows, *row)
	}
	sort.Slice(rep.Rows, func(i, j int) bool { return rep.Rows[i].Tier < rep.Rows[j].Tier })
	sort.Strings(rep.Unplaced)
	return rep
}

// OwnedPlans keeps the usage plans the registry's plans own, as the
// reconciler maps them (see Runner.own): for each registry plan, the usage
// plan whose id it records, or, before adoption (no id recorded yet), those
// tagged with its tier. Orphans (a tier no longer in the registry: they
// gain no stage by design) and stray duplicates are dropped, so that
// verification judges only the plans customers can be in.
func OwnedPlans(plans []UsagePlan, reg []registry.Plan) []UsagePlan {
	byTier := make(map[string]registry.Plan, len(reg))
	for _, p := range reg {
		byTier[p.Name] = p
	}
	var out []UsagePlan
	for _, p := range plans {
		rp, ok := byTier[p.Tier]
		if ok && (rp.UsagePlanID == "" || rp.UsagePlanID == p.ID) {
			out = append(out, p)
		}
	}
	return out
}
