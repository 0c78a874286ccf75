package apigw

import (
	"fmt"
	"maps"
	"slices"
	"time"
)

// Throttle is a rate limit in requests per second and a burst.
type Throttle struct {
	RateLimit  float64
	BurstLimit int32
}

// Quota is a usage plan quota: Limit requests per Period (DAY, WEEK or
// MONTH); Offset as the API defines it.
type Quota struct {
	Limit  int32
	Offset int32
	Period string
}

// StageRef names an API stage.
type StageRef struct {
	APIID string
	Stage string
}

func (t *throttle) export() *Throttle {
	if t == nil {
		return nil
	}
	out := &Throttle{}
	if t.rate != nil {
		out.RateLimit = *t.rate
	}
	if t.burst != nil {
		out.BurstLimit = *t.burst
	}
	return out
}

func (t *Throttle) internal() *throttle {
	if t == nil {
		return nil
	}
	r, b := t.RateLimit, t.BurstLimit
	return &throttle{rate: &r, burst: &b}
}

// ---- Read access for a local data plane ----

// UsagePlanForKeyValue is the decision API Gateway makes for a request that
// carries an API key: is there an enabled API key with this value in a usage
// plan that includes apiID:stage? If so it returns that plan's id, its
// throttle and its quota (nil when the plan has none).
func (e *Emulator) UsagePlanForKeyValue(apiKeyValue, apiID, stage string) (planID string, throttle *Throttle, quota *Quota, ok bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	k := e.st.keys[e.st.keyValues[apiKeyValue]]
	if k == nil || !k.enabled {
		return "", nil, nil, false
	}
	for _, id := range slices.Sorted(maps.Keys(k.planIDs)) {
		p := e.st.plans[id]
		if p.stageIndex(apiID, stage) < 0 {
			continue
		}
		if p.quota != nil {
			quota = &Quota{Limit: p.quota.limit, Offset: p.quota.offset, Period: p.quota.period}
		}
		return p.id, p.throttle.export(), quota, true
	}
	return "", nil, nil, false
}

// APIKeyForValue returns the id of the API key with this value and whether it
// is enabled.
func (e *Emulator) APIKeyForValue(apiKeyValue string) (keyID string, enabled bool, ok bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	k := e.st.keys[e.st.keyValues[apiKeyValue]]
	if k == nil {
		return "", false, false
	}
	return k.id, k.enabled, true
}

// MethodThrottle returns the method-level throttle a usage plan sets for
// resourcePath (unescaped, for example "/pets") and httpMethod on
// apiID:stage.
func (e *Emulator) MethodThrottle(planID, apiID, stage, resourcePath, httpMethod string) (Throttle, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	p := e.st.plans[planID]
	if p == nil {
		return Throttle{}, false
	}
	i := p.stageIndex(apiID, stage)
	if i < 0 {
		return Throttle{}, false
	}
	t, ok := p.stages[i].throttle[resourcePath+"/"+httpMethod]
	if !ok {
		return Throttle{}, false
	}
	return *t.export(), true
}

// RecordUsage counts one request of keyID under planID on the UTC day of at,
// for GetUsage to report.
func (e *Emulator) RecordUsage(keyID, planID string, at time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.st.usage[usageKey{planID: planID, keyID: keyID, day: at.UTC().Format(dayLayout)}]++
}

// BasePathMapping returns the API and stage that domain's basePath ("" or
// "(none)" for the empty base path) is mapped to.
func (e *Emulator) BasePathMapping(domain, basePath string) (apiID, stage string, ok bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	d := e.st.domains[domain]
	if d == nil {
		return "", "", false
	}
	m := d.mappings[normalizeBasePath(basePath)]
	if m == nil {
		return "", "", false
	}
	return m.restAPIID, m.stage, true
}

// ---- Direct state helpers for tests ----
//
// They change state without going through HTTP: no quota, no fault, no
// counter. They apply the same validation as the matching operation.

// WipeAPIStages removes every API stage from a usage plan, as a
// CloudFormation update of a plan that declares ApiStages does to stages
// attached outside the template.
func (e *Emulator) WipeAPIStages(usagePlanID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	p, apiErr := e.plan(usagePlanID)
	if apiErr != nil {
		return fmt.Errorf("wipe API stages of %s: %w", usagePlanID, apiErr)
	}
	p.stages = nil
	return nil
}

// AttachKeyDirectly adds an API key to a usage plan as someone would by hand
// in the console, with CreateUsagePlanKey's checks.
func (e *Emulator) AttachKeyDirectly(planID, keyID string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, apiErr := e.attachKey(planID, keyID); apiErr != nil {
		return fmt.Errorf("attach key %s to plan %s: %w", keyID, planID, apiErr)
	}
	return nil
}

// SeedRestAPI creates a regional REST API with one deployment and the named
// stages on it, and returns the API id.
func (e *Emulator) SeedRestAPI(name string, stages ...string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	a := e.createRestAPI(name, "", "HEADER", []string{"REGIONAL"}, nil)
	d := e.createDeployment(a, "")
	for _, s := range stages {
		e.createStage(a, s, d.id, "", nil, nil)
	}
	return a.id
}

// SeedKey describes an API key for SeedAPIKey. An empty Value is generated.
type SeedKey struct {
	Name        string
	Description string
	Value       string
	CustomerID  string
	Enabled     bool
	Tags        map[string]string
}

// SeedAPIKey creates an API key (with CreateApiKey's checks and limits) and
// returns its id and value.
func (e *Emulator) SeedAPIKey(k SeedKey) (id, value string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	key, apiErr := e.createAPIKey(k.Name, k.Description, k.Value, k.CustomerID, k.Enabled, k.Tags)
	if apiErr != nil {
		return "", "", fmt.Errorf("seed API key %q: %w", k.Name, apiErr)
	}
	return key.id, key.value, nil
}

// SeedPlan describes a usage plan for SeedUsagePlan.
type SeedPlan struct {
	Name        string
	Description string
	Stages      []StageRef
	Throttle    *Throttle
	Quota       *Quota
	Tags        map[string]string
}

// SeedUsagePlan creates a usage plan (with CreateUsagePlan's checks and
// limits) and returns its id.
func (e *Emulator) SeedUsagePlan(p SeedPlan) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var stages []planStage
	for _, s := range p.Stages {
		stages = append(stages, planStage{apiID: s.APIID, stage: s.Stage})
	}
	var q *quota
	if p.Quota != nil {
		q = &quota{limit: p.Quota.Limit, offset: p.Quota.Offset, period: p.Quota.Period}
	}
	plan, apiErr := e.createUsagePlan(p.Name, p.Description, stages, p.Throttle.internal(), q, p.Tags)
	if apiErr != nil {
		return "", fmt.Errorf("seed usage plan %q: %w", p.Name, apiErr)
	}
	return plan.id, nil
}
