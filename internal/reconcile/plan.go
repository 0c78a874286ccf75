// Package reconcile keeps API Gateway's usage plans in step with the
// registry across blue/green deploys: every usage plan of an environment
// includes each desired stage (the live one and the new one, none of the
// retired ones) and every subscribed customer's API Gateway key sits in
// exactly its tier's usage plan.
//
// It is split in three:
//   - the planner (this file): a pure function from desired state and
//     actual state to the minimal operations: at most one UpdateUsagePlan
//     per plan carrying all its patch operations, and key operations only
//     for keys that are missing or misplaced;
//   - the executor (execute.go): applies operations through the real
//     aws-sdk-go-v2 API Gateway client, paced account-wide (package pacer),
//     retried with jittered backoff, resumable across Lambda invocations;
//   - the runner (run.go): turns deploy, retire, scheduled and continuation
//     triggers into runs, with one run per environment at a time.
//
// See docs/reassociation.md for the design and the measured figures.
package reconcile

import (
	"cmp"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Throttle is a method's rate and burst as API Gateway returns them (the
// SDK reports an unset burst as 0).
type Throttle struct {
	Rate  float64 `json:"rateLimit"`
	Burst int32   `json:"burstLimit"`
}

// PlanStage is one apiId:stage of a usage plan with its method-level
// throttles, keyed "{resourcePath}/{httpMethod}" as API Gateway returns
// them (for example "/pets/GET").
type PlanStage struct {
	Ref       registry.StageRef   `json:"ref"`
	Throttles map[string]Throttle `json:"throttles,omitempty"`
}

// UsagePlan is the actual state of one usage plan of the environment.
type UsagePlan struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	// Tier is the value of the plan's stagehand:plan tag.
	Tier   string      `json:"tier"`
	Stages []PlanStage `json:"stages"`
	// Keys are the API key ids in the plan, sorted ascending; valid only
	// when KeysRead is true.
	Keys        []string `json:"keys,omitempty"`
	KeysRead    bool     `json:"keysRead"`
	Description string   `json:"description,omitempty"`
	// Plan-level limits, compared with the registry's Plan.
	RateLimit   float64 `json:"rateLimit,omitempty"`
	BurstLimit  int32   `json:"burstLimit,omitempty"`
	QuotaLimit  int32   `json:"quotaLimit,omitempty"`
	QuotaPeriod string  `json:"quotaPeriod,omitempty"`
}

func (p UsagePlan) stage(ref registry.StageRef) (PlanStage, bool) {
	for _, s := range p.Stages {
		if s.Ref == ref {
			return s, true
		}
	}
	return PlanStage{}, false
}

// Desired is what API Gateway must hold for one environment.
type Desired struct {
	// Stages must be in every usage plan of the environment.
	Stages []registry.StageRef
	// Retired must be in none.
	Retired []registry.StageRef
	// ThrottleSource maps a stage to the stage it replaces: when the stage
	// is added to a plan, the method throttles the plan has for the source
	// are copied to it in the same update.
	ThrottleSource map[registry.StageRef]registry.StageRef
	// KeyPlan maps each API key id that must be attached to the usage plan
	// id it belongs in. A key in a plan of the environment that is not in
	// KeyPlan, or that belongs to another plan, is detached.
	KeyPlan map[string]string
	// Specs maps a usage plan id to the registry plan it serves: its limits
	// and per-method throttles are part of the plan's one update. A plan
	// without a spec keeps its limits and gets the throttles of the stage
	// each new stage replaces (ThrottleSource).
	Specs map[string]PlanSpec
	// Orphans are usage plans tagged with the environment whose tier is no
	// longer a registry plan: they gain no stage (retired stages still
	// leave them, so they drain and can be deleted by hand) and keep no key.
	Orphans map[string]bool

	// keysByPlan is KeyPlan inverted, each list sorted (built lazily by
	// index; NewDesired builds it up front).
	keysByPlan map[string][]string
}

// NewDesired builds a Desired and its key index.
func NewDesired(stages, retired []registry.StageRef, source map[registry.StageRef]registry.StageRef, keyPlan map[string]string) Desired {
	d := Desired{Stages: stages, Retired: retired, ThrottleSource: source, KeyPlan: keyPlan}
	d.index()
	return d
}

func (d *Desired) index() {
	if d.keysByPlan != nil {
		return
	}
	counts := make(map[string]int)
	for _, planID := range d.KeyPlan {
		counts[planID]++
	}
	d.keysByPlan = make(map[string][]string, len(counts))
	for planID, n := range counts {
		d.keysByPlan[planID] = make([]string, 0, n)
	}
	for keyID, planID := range d.KeyPlan {
		d.keysByPlan[planID] = append(d.keysByPlan[planID], keyID)
	}
	for _, keys := range d.keysByPlan {
		slices.Sort(keys)
	}
}

// KeysFor returns the sorted key ids that belong in the usage plan.
func (d *Desired) KeysFor(planID string) []string {
	d.index()
	return d.keysByPlan[planID]
}

// PatchOp is one JSON-patch operation of UpdateUsagePlan.
type PatchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value string `json:"value"`
}

// PlanSpec is what the registry declares for one usage plan.
type PlanSpec struct {
	Tier        string
	Description string
	RateLimit   float64
	BurstLimit  int32
	QuotaLimit  int32
	QuotaPeriod string // empty: no quota
	// MethodThrottles are set on every stage of the plan (nil: not
	// declared; new stages copy their source stage's, as without a spec).
	MethodThrottles map[string]Throttle
}

// SpecFromPlan is the spec of a registry plan.
func SpecFromPlan(p registry.Plan) PlanSpec {
	s := PlanSpec{Tier: p.Name, Description: p.Description, RateLimit: p.RateLimit, BurstLimit: p.BurstLimit}
	if p.QuotaPeriod != "" && p.QuotaLimit > 0 {
		s.QuotaLimit, s.QuotaPeriod = p.QuotaLimit, p.QuotaPeriod
	}
	if p.MethodThrottles != nil {
		s.MethodThrottles = make(map[string]Throttle, len(p.MethodThrottles))
		for k, t := range p.MethodThrottles {
			s.MethodThrottles[k] = Throttle{Rate: t.RateLimit, Burst: t.BurstLimit}
		}
	}
	return s
}

// PlanUpdate is the single UpdateUsagePlan of one plan.
type PlanUpdate struct {
	PlanID  string              `json:"planId"`
	Tier    string              `json:"tier"`
	Added   []registry.StageRef `json:"added,omitempty"`
	Removed []registry.StageRef `json:"removed,omitempty"`
	// ThrottlesCopied counts the method throttles copied to added stages.
	ThrottlesCopied int `json:"throttlesCopied,omitempty"`
	// LimitsChanged: the update sets the plan's throttle, quota or
	// description to the registry's.
	LimitsChanged bool `json:"limitsChanged,omitempty"`
	// ThrottlesSet and ThrottlesRemoved count per-method throttles set to,
	// or removed to match, the registry's on the plan's stages.
	ThrottlesSet     int       `json:"throttlesSet,omitempty"`
	ThrottlesRemoved int       `json:"throttlesRemoved,omitempty"`
	Ops              []PatchOp `json:"ops"`
}

// KeyOp attaches a key to, or detaches it from, a usage plan.
type KeyOp struct {
	PlanID string `json:"planId"`
	KeyID  string `json:"keyId"`
}

// Operations is a plan: the updates and key operations that take API
// Gateway from the actual state to the desired one. The executor applies
// detaches first (a key may sit in only one plan per stage, so a misplaced
// key must leave before its plan gains a stage or the key joins its right
// plan), then updates, then attaches.
type Operations struct {
	Updates []PlanUpdate `json:"updates"`
	Detach  []KeyOp      `json:"detach"`
	Attach  []KeyOp      `json:"attach"`
}

// Empty reports whether there is nothing to do.
func (o Operations) Empty() bool {
	return len(o.Updates) == 0 && len(o.Detach) == 0 && len(o.Attach) == 0
}

// Plan computes the operations for every plan, in plan id order. Plans
// whose keys were not read get stage updates only.
func Plan(d Desired, plans []UsagePlan) Operations {
	d.index()
	sorted := slices.Clone(plans)
	slices.SortFunc(sorted, func(a, b UsagePlan) int { return cmp.Compare(a.ID, b.ID) })
	var ops Operations
	for _, p := range sorted {
		if u := StageUpdate(d, p); len(u.Ops) > 0 {
			ops.Updates = append(ops.Updates, u)
		}
		if !p.KeysRead {
			continue
		}
		attach, detach := KeyChanges(&d, p)
		for _, k := range detach {
			ops.Detach = append(ops.Detach, KeyOp{PlanID: p.ID, KeyID: k})
		}
		for _, k := range attach {
			ops.Attach = append(ops.Attach, KeyOp{PlanID: p.ID, KeyID: k})
		}
	}
	return ops
}

// StageUpdate returns the one update plan p needs (Ops empty: none): add
// each missing desired stage, copying the method throttles of the stage it
// replaces, and remove each retired stage p still has.
func StageUpdate(d Desired, p UsagePlan) PlanUpdate {
	u := PlanUpdate{PlanID: p.ID, Tier: p.Tier}
	spec, managed := d.Specs[p.ID]
	if managed {
		u.limitOps(spec, p)
	}
	for _, ref := range d.Stages {
		if d.Orphans[p.ID] {
			break
		}
		if have, ok := p.stage(ref); ok {
			if managed && spec.MethodThrottles != nil {
				u.throttleOps(ref, have.Throttles, spec.MethodThrottles)
			}
			continue
		}
		u.Added = append(u.Added, ref)
		u.Ops = append(u.Ops, PatchOp{Op: "add", Path: "/apiStages", Value: ref.String()})
		if managed && spec.MethodThrottles != nil {
			u.throttleOps(ref, nil, spec.MethodThrottles)
			continue
		}
		src, ok := d.ThrottleSource[ref]
		if !ok {
			continue
		}
		from, ok := p.stage(src)
		if !ok {
			continue
		}
		for _, method := range slices.Sorted(maps.Keys(from.Throttles)) {
			t := from.Throttles[method]
			base := "/apiStages/" + ref.String() + "/throttle/" + methodPath(method)
			// The rate is always copied (0 blocks the method); a burst of 0
			// is how the SDK reports an unset burst, so it is not copied.
			u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: base + "/rateLimit", Value: strconv.FormatFloat(t.Rate, 'f', -1, 64)})
			if t.Burst > 0 {
				u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: base + "/burstLimit", Value: strconv.FormatInt(int64(t.Burst), 10)})
			}
			u.ThrottlesCopied++
		}
	}
	for _, ref := range d.Retired {
		if slices.Contains(d.Stages, ref) {
			continue // a stage both desired and retired stays (desired wins)
		}
		if _, ok := p.stage(ref); ok {
			u.Removed = append(u.Removed, ref)
			u.Ops = append(u.Ops, PatchOp{Op: "remove", Path: "/apiStages", Value: ref.String()})
		}
	}
	return u
}

// limitOps sets the plan's description, throttle and quota to spec's.
// Patch paths as UpdateUsagePlan documents them: /description,
// /throttle/rateLimit, /throttle/burstLimit, /quota/limit, /quota/period
// (replace) and /throttle, /quota (remove).
func (u *PlanUpdate) limitOps(spec PlanSpec, p UsagePlan) {
	n := len(u.Ops)
	// An empty description is "not declared" (plan records written before
	// descriptions were registry data): the plan keeps its own.
	if spec.Description != "" && spec.Description != p.Description {
		u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: "/description", Value: spec.Description})
	}
	switch {
	case spec.RateLimit == 0 && spec.BurstLimit == 0:
		if p.RateLimit != 0 || p.BurstLimit != 0 {
			u.Ops = append(u.Ops, PatchOp{Op: "remove", Path: "/throttle"})
		}
	default:
		if spec.RateLimit != p.RateLimit {
			u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: "/throttle/rateLimit", Value: strconv.FormatFloat(spec.RateLimit, 'f', -1, 64)})
		}
		if spec.BurstLimit != p.BurstLimit {
			u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: "/throttle/burstLimit", Value: strconv.FormatInt(int64(spec.BurstLimit), 10)})
		}
	}
	switch {
	case spec.QuotaPeriod == "":
		if p.QuotaPeriod != "" {
			u.Ops = append(u.Ops, PatchOp{Op: "remove", Path: "/quota"})
		}
	default:
		if spec.QuotaLimit != p.QuotaLimit {
			u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: "/quota/limit", Value: strconv.FormatInt(int64(spec.QuotaLimit), 10)})
		}
		if spec.QuotaPeriod != p.QuotaPeriod {
			u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: "/quota/period", Value: spec.QuotaPeriod})
		}
	}
	u.LimitsChanged = len(u.Ops) > n
}

// throttleOps makes stage ref's per-method throttles (have) equal want:
// each missing or different one is replaced, each undeclared one removed
// (path /apiStages/{apiId}:{stage}/throttle/{resourcePath}/{httpMethod}).
func (u *PlanUpdate) throttleOps(ref registry.StageRef, have, want map[string]Throttle) {
	for _, method := range slices.Sorted(maps.Keys(want)) {
		t := want[method]
		h, ok := have[method]
		if ok && h == t {
			continue
		}
		base := "/apiStages/" + ref.String() + "/throttle/" + methodPath(method)
		if !ok || h.Rate != t.Rate {
			u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: base + "/rateLimit", Value: strconv.FormatFloat(t.Rate, 'f', -1, 64)})
		}
		if t.Burst != h.Burst {
			u.Ops = append(u.Ops, PatchOp{Op: "replace", Path: base + "/burstLimit", Value: strconv.FormatInt(int64(t.Burst), 10)})
		}
		u.ThrottlesSet++
	}
	for _, method := range slices.Sorted(maps.Keys(have)) {
		if _, ok := want[method]; !ok {
			u.Ops = append(u.Ops, PatchOp{Op: "remove", Path: "/apiStages/" + ref.String() + "/throttle/" + methodPath(method)})
			u.ThrottlesRemoved++
		}
	}
}

// TakeState copies what an UpdateUsagePlan response says about a plan
// (stages and limits) into p, keeping what the response does not carry
// (tier, keys).
func (p *UsagePlan) TakeState(from UsagePlan) {
	p.Stages, p.Description = from.Stages, from.Description
	p.RateLimit, p.BurstLimit, p.QuotaLimit, p.QuotaPeriod = from.RateLimit, from.BurstLimit, from.QuotaLimit, from.QuotaPeriod
}

// methodPath turns a throttle key "{resourcePath}/{httpMethod}" into the
// patch path segment "{escaped resourcePath}/{httpMethod}", escaping the
// resource path as a JSON pointer token ("/pets" -> "~1pets").
func methodPath(key string) string {
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return key
	}
	resource, method := key[:i], key[i+1:]
	if resource == "" {
		resource = "/"
	}
	return pointerEscaper.Replace(resource) + "/" + method
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// KeyChanges compares plan p's keys (p.KeysRead must be true) with the keys
// that belong in it: attach lists the missing ones, detach the ones that
// belong elsewhere or nowhere. Both are sorted.
func KeyChanges(d *Desired, p UsagePlan) (attach, detach []string) {
	want := d.KeysFor(p.ID)
	have := p.Keys
	i, j := 0, 0
	for i < len(want) || j < len(have) {
		switch {
		case j == len(have) || (i < len(want) && want[i] < have[j]):
			attach = append(attach, want[i])
			i++
		case i == len(want) || have[j] < want[i]:
			detach = append(detach, have[j])
			j++
		default:
			i++
			j++
		}
	}
	return attach, detach
}

// sortKeys sorts key ids in place and removes duplicates.
func sortKeys(keys []string) []string {
	sort.Strings(keys)
	return slices.Compact(keys)
}
