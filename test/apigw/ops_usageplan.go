package apigw

import (
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

func (e *Emulator) plan(id string) (*usagePlan, *apiError) {
	p := e.st.plans[id]
	if p == nil {
		return nil, notFound("Invalid Usage Plan ID specified")
	}
	return p, nil
}

func (e *Emulator) stageExists(apiID, stageName string) bool {
	a := e.st.apis[apiID]
	return a != nil && a.stages[stageName] != nil
}

func throttleIn(w *wireThrottle) (*throttle, *apiError) {
	if w == nil {
		return nil, nil
	}
	if (w.RateLimit != nil && *w.RateLimit < 0) || (w.BurstLimit != nil && *w.BurstLimit < 0) {
		return nil, badRequest("Throttle rate and burst limits must be non-negative")
	}
	return &throttle{rate: w.RateLimit, burst: w.BurstLimit}, nil
}

func quotaIn(w *wireQuota) *quota {
	if w == nil {
		return nil
	}
	q := &quota{}
	if w.Limit != nil {
		q.limit = *w.Limit
	}
	if w.Offset != nil {
		q.offset = *w.Offset
	}
	if w.Period != nil {
		q.period = *w.Period
	}
	return q
}

// validatePlan checks what must hold after a create or a patch: a valid
// quota, at most MethodThrottles method throttles per stage, and no API key
// of the plan in another plan that shares one of the stages in added (the
// stages the patch added; the others were checked when they were added).
func (e *Emulator) validatePlan(p *usagePlan, added []planStage) *apiError {
	if q := p.quota; q != nil {
		if q.period != "DAY" && q.period != "WEEK" && q.period != "MONTH" {
			return badRequest("Invalid Usage Plan quota period specified. Must be one of [DAY, WEEK, MONTH]")
		}
		if q.limit < 0 || q.offset < 0 {
			return badRequest("Usage Plan quota limit and offset must be non-negative")
		}
	}
	if t := p.throttle; t != nil {
		if (t.rate != nil && *t.rate < 0) || (t.burst != nil && *t.burst < 0) {
			return badRequest("Throttle rate and burst limits must be non-negative")
		}
	}
	for _, s := range p.stages {
		if n := len(s.throttle); n > e.cfg.limits.MethodThrottles {
			return badRequest("API Stage %s has %d method-level throttling settings; the limit is %d", s.ref(), n, e.cfg.limits.MethodThrottles)
		}
	}
	if len(added) == 0 {
		return nil
	}
	for _, keyID := range p.keyIDs {
		if apiErr := e.sharedStage(e.st.keys[keyID], p, added); apiErr != nil {
			return apiErr
		}
	}
	return nil
}

// sharedStage enforces "a given API key can only be associated with one
// usage plan for each stage": key must not be in another plan than p that
// includes one of stages.
func (e *Emulator) sharedStage(key *apiKey, p *usagePlan, stages []planStage) *apiError {
	if key == nil {
		return nil
	}
	for otherID := range key.planIDs {
		if otherID == p.id {
			continue
		}
		other := e.st.plans[otherID]
		for _, s := range stages {
			if other.stageIndex(s.apiID, s.stage) >= 0 {
				return badRequest("Usage Plan %s cannot be added because API Key %s cannot reference multiple Usage Plans with the same API Stage: %s", p.id, key.id, s.ref())
			}
		}
	}
	return nil
}

func opCreateUsagePlan(e *Emulator, r *opRequest) (int, any, *apiError) {
	var in struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		APIStages   []wireAPIStage    `json:"apiStages"`
		Throttle    *wireThrottle     `json:"throttle"`
		Quota       *wireQuota        `json:"quota"`
		Tags        map[string]string `json:"tags"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	t, apiErr := throttleIn(in.Throttle)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var stages []planStage
	for _, ws := range in.APIStages {
		s := planStage{apiID: ws.APIID, stage: ws.Stage}
		if len(ws.Throttle) > 0 {
			s.throttle = make(map[string]throttle, len(ws.Throttle))
			for k, wt := range ws.Throttle {
				mt, apiErr := throttleIn(&wt)
				if apiErr != nil {
					return 0, nil, apiErr
				}
				s.throttle[k] = *mt
			}
		}
		stages = append(stages, s)
	}
	p, apiErr := e.createUsagePlan(in.Name, in.Description, stages, t, quotaIn(in.Quota), in.Tags)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusCreated, p.wire(), nil
}

func (e *Emulator) createUsagePlan(name, description string, stages []planStage, t *throttle, q *quota, tags map[string]string) (*usagePlan, *apiError) {
	if name == "" {
		return nil, badRequest("Usage Plan name is required")
	}
	if len(e.st.plans) >= e.cfg.limits.UsagePlans {
		return nil, limitExceeded("Cannot exceed the limit of %d usage plans", e.cfg.limits.UsagePlans)
	}
	p := &usagePlan{name: name, description: description, throttle: t, quota: q, tags: maps.Clone(tags)}
	for _, s := range stages {
		if !e.stageExists(s.apiID, s.stage) {
			return nil, badRequest("Invalid API Stage {api: %s, stage: %s} specified for usageplan %s", s.apiID, s.stage, name)
		}
		if p.stageIndex(s.apiID, s.stage) >= 0 {
			return nil, conflict("API Stage %s is already associated with the usage plan", s.ref())
		}
		p.stages = append(p.stages, planStage{apiID: s.apiID, stage: s.stage, throttle: maps.Clone(s.throttle)})
	}
	if apiErr := e.validatePlan(p, nil); apiErr != nil {
		return nil, apiErr
	}
	p.id = e.newID(6, func(id string) bool { return e.st.plans[id] != nil })
	e.st.plans[p.id] = p
	e.st.planIDs.insert(p.id)
	return p, nil
}

func opGetUsagePlan(e *Emulator, r *opRequest) (int, any, *apiError) {
	p, apiErr := e.plan(r.params["usagePlanId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, p.wire(), nil
}

func opGetUsagePlans(e *Emulator, r *opRequest) (int, any, *apiError) {
	ids := []string(e.st.planIDs)
	if keyID := r.query.Get("keyId"); keyID != "" {
		k := e.st.keys[keyID]
		if k == nil {
			return 0, nil, notFound("Invalid API Key identifier specified")
		}
		ids = slices.Sorted(maps.Keys(k.planIDs))
	}
	page1, next, apiErr := paginate(ids, r.query, nil)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	out := page[wireUsagePlan]{Item: []wireUsagePlan{}, Position: next}
	for _, id := range page1 {
		out.Item = append(out.Item, e.st.plans[id].wire())
	}
	return http.StatusOK, out, nil
}

func opDeleteUsagePlan(e *Emulator, r *opRequest) (int, any, *apiError) {
	p, apiErr := e.plan(r.params["usagePlanId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	if len(p.stages) > 0 {
		return 0, nil, badRequest("Cannot delete Usage Plan %s because there are API Stages associated with it, including %s", p.id, p.stages[0].ref())
	}
	for _, keyID := range p.keyIDs {
		if k := e.st.keys[keyID]; k != nil {
			delete(k.planIDs, p.id)
		}
	}
	delete(e.st.plans, p.id)
	e.st.planIDs.remove(p.id)
	return http.StatusAccepted, nil, nil
}

// opUpdateUsagePlan applies the patch operations to a copy of the plan and
// commits the copy only if every operation and the final checks succeed.
func opUpdateUsagePlan(e *Emulator, r *opRequest) (int, any, *apiError) {
	p, apiErr := e.plan(r.params["usagePlanId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in patchRequest
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	next := p.clone()
	for _, op := range in.PatchOperations {
		if apiErr := e.patchUsagePlan(next, op); apiErr != nil {
			return 0, nil, apiErr
		}
	}
	var added []planStage
	for _, s := range next.stages {
		if p.stageIndex(s.apiID, s.stage) < 0 {
			added = append(added, s)
		}
	}
	if apiErr := e.validatePlan(next, added); apiErr != nil {
		return 0, nil, apiErr
	}
	e.st.plans[p.id] = next
	return http.StatusOK, next.wire(), nil
}

const removePaths = "[/apiStages, /quota, /throttle, /productCode, /apiStages/<apidId:stageName>/throttle/<resourcePath>/<httpMethod>, /apiStages/<apidId:stageName>/throttle]"

func invalidPatchPath(op patchOperation) *apiError {
	if op.Op == "remove" {
		return badRequest("Invalid patch path '%s' specified for op 'remove'. Must be one of: %s", op.Path, removePaths)
	}
	return badRequest("Invalid patch path '%s' specified for op '%s'", op.Path, op.Op)
}

func (e *Emulator) patchUsagePlan(p *usagePlan, op patchOperation) *apiError {
	switch op.Op {
	case "add", "remove", "replace":
	default:
		return badRequest("Invalid patch operation specified. Must be 'add'|'remove'|'replace'")
	}
	setter := op.Op == "add" || op.Op == "replace"
	switch op.Path {
	case "/name":
		if !setter || op.value() == "" {
			return invalidPatchPath(op)
		}
		p.name = op.value()
	case "/description":
		p.description = ""
		if setter {
			p.description = op.value()
		}
	case "/productCode":
		return badRequest("AWS Marketplace product codes are not emulated")
	case "/throttle":
		if setter {
			return invalidPatchPath(op)
		}
		p.throttle = nil
	case "/throttle/rateLimit", "/throttle/burstLimit":
		if !setter {
			return invalidPatchPath(op)
		}
		if p.throttle == nil {
			p.throttle = &throttle{}
		}
		return setThrottleField(p.throttle, strings.TrimPrefix(op.Path, "/throttle/"), op.value())
	case "/quota":
		if setter {
			return invalidPatchPath(op)
		}
		p.quota = nil
	case "/quota/limit", "/quota/offset", "/quota/period":
		if !setter {
			return invalidPatchPath(op)
		}
		if p.quota == nil {
			p.quota = &quota{}
		}
		return setQuotaField(p.quota, strings.TrimPrefix(op.Path, "/quota/"), op.value())
	case "/apiStages":
		return e.patchPlanStages(p, op)
	default:
		if strings.HasPrefix(op.Path, "/apiStages/") {
			return e.patchStageThrottle(p, op)
		}
		return invalidPatchPath(op)
	}
	return nil
}

func setThrottleField(t *throttle, field, value string) *apiError {
	switch field {
	case "rateLimit":
		v, err := strconv.ParseFloat(value, 64)
		if err != nil || v < 0 {
			return badRequest("Invalid rate limit value %q", value)
		}
		t.rate = &v
	case "burstLimit":
		v, err := strconv.ParseInt(value, 10, 32)
		if err != nil || v < 0 {
			return badRequest("Invalid burst limit value %q", value)
		}
		b := int32(v)
		t.burst = &b
	}
	return nil
}

func setQuotaField(q *quota, field, value string) *apiError {
	if field == "period" {
		q.period = value
		return nil
	}
	v, err := strconv.ParseInt(value, 10, 32)
	if err != nil || v < 0 {
		return badRequest("Invalid quota %s value %q", field, value)
	}
	if field == "limit" {
		q.limit = int32(v)
	} else {
		q.offset = int32(v)
	}
	return nil
}

func parseStageRef(ref string) (apiID, stageName string, ok bool) {
	apiID, stageName, ok = strings.Cut(ref, ":")
	return apiID, stageName, ok && apiID != "" && stageName != "" && !strings.Contains(stageName, ":")
}

// patchPlanStages is add or remove of "/apiStages" with value "apiId:stage".
func (e *Emulator) patchPlanStages(p *usagePlan, op patchOperation) *apiError {
	if op.Op == "replace" {
		return invalidPatchPath(op)
	}
	apiID, stageName, ok := parseStageRef(op.value())
	if !ok {
		return badRequest("Invalid API Stage specified")
	}
	i := p.stageIndex(apiID, stageName)
	if op.Op == "remove" {
		if i < 0 {
			return notFound("API Stage %s:%s is not associated with usage plan %s", apiID, stageName, p.id)
		}
		p.stages = slices.Delete(p.stages, i, i+1)
		return nil
	}
	if !e.stageExists(apiID, stageName) {
		return badRequest("Invalid API Stage {api: %s, stage: %s} specified for usageplan %s", apiID, stageName, p.id)
	}
	if i >= 0 {
		return conflict("API Stage %s:%s is already associated with usage plan %s", apiID, stageName, p.id)
	}
	p.stages = append(p.stages, planStage{apiID: apiID, stage: stageName})
	return nil
}

var pathUnescaper = strings.NewReplacer("~1", "/", "~0", "~")

var httpMethods = map[string]bool{"GET": true, "PUT": true, "POST": true, "DELETE": true, "PATCH": true, "HEAD": true, "OPTIONS": true, "*": true}

// patchStageThrottle handles "/apiStages/{apiId}:{stage}/throttle[...]":
//
//	replace|add  .../throttle                                   value = JSON map
//	remove       .../throttle
//	replace|add  .../throttle/{resourcePath}/{httpMethod}/rateLimit|burstLimit
//	remove       .../throttle/{resourcePath}/{httpMethod}
//
// resourcePath is JSON-pointer escaped ("~1pets" for "/pets"); an unescaped
// path ("/pets") is accepted too. The map key is resourcePath/httpMethod,
// for example "/pets/GET" (or "//GET" for the root resource).
func (e *Emulator) patchStageThrottle(p *usagePlan, op patchOperation) *apiError {
	ref, tail, _ := strings.Cut(strings.TrimPrefix(op.Path, "/apiStages/"), "/")
	apiID, stageName, ok := parseStageRef(ref)
	if !ok || (tail != "throttle" && !strings.HasPrefix(tail, "throttle/")) {
		return invalidPatchPath(op)
	}
	i := p.stageIndex(apiID, stageName)
	if i < 0 {
		return notFound("API Stage %s:%s is not associated with usage plan %s", apiID, stageName, p.id)
	}
	s := &p.stages[i]
	setter := op.Op == "add" || op.Op == "replace"
	if tail == "throttle" {
		if !setter {
			s.throttle = nil
			return nil
		}
		var in map[string]wireThrottle
		if err := json.Unmarshal([]byte(op.value()), &in); err != nil {
			return badRequest("Invalid throttle value: %v", err)
		}
		s.throttle = make(map[string]throttle, len(in))
		for k, wt := range in {
			t, apiErr := throttleIn(&wt)
			if apiErr != nil {
				return apiErr
			}
			s.throttle[k] = *t
		}
		return nil
	}
	segs := strings.Split(strings.TrimPrefix(tail, "throttle/"), "/")
	field := ""
	if last := segs[len(segs)-1]; last == "rateLimit" || last == "burstLimit" {
		field, segs = last, segs[:len(segs)-1]
	}
	if len(segs) < 2 {
		return invalidPatchPath(op)
	}
	method := segs[len(segs)-1]
	resource := pathUnescaper.Replace(strings.Join(segs[:len(segs)-1], "/"))
	if !strings.HasPrefix(resource, "/") {
		resource = "/" + resource
	}
	if !httpMethods[method] {
		return badRequest("Invalid HTTP method %q in patch path %s", method, op.Path)
	}
	key := resource + "/" + method
	switch {
	case !setter && field == "":
		if _, ok := s.throttle[key]; !ok {
			return notFound("No method-level throttling for %s in API Stage %s", key, s.ref())
		}
		delete(s.throttle, key)
		return nil
	case setter && field != "":
		if s.throttle == nil {
			s.throttle = map[string]throttle{}
		}
		t := s.throttle[key]
		if apiErr := setThrottleField(&t, field, op.value()); apiErr != nil {
			return apiErr
		}
		s.throttle[key] = t
		return nil
	default:
		return invalidPatchPath(op)
	}
}
