package apigw

import (
	"maps"
	"net/http"
	"strconv"
	"strings"
)

func (e *Emulator) key(id string) (*apiKey, *apiError) {
	k := e.st.keys[id]
	if k == nil {
		return nil, notFound("Invalid API Key identifier specified")
	}
	return k, nil
}

func opCreateAPIKey(e *Emulator, r *opRequest) (int, any, *apiError) {
	var in struct {
		Name        string            `json:"name"`
		Description string            `json:"description"`
		Value       string            `json:"value"`
		Enabled     bool              `json:"enabled"`
		CustomerID  string            `json:"customerId"`
		Tags        map[string]string `json:"tags"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	k, apiErr := e.createAPIKey(in.Name, in.Description, in.Value, in.CustomerID, in.Enabled, in.Tags)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusCreated, k.wire(true), nil
}

func (e *Emulator) createAPIKey(name, description, value, customerID string, enabled bool, tags map[string]string) (*apiKey, *apiError) {
	if len(e.st.keys) >= e.cfg.limits.APIKeys {
		return nil, limitExceeded("Cannot exceed the limit of %d API keys", e.cfg.limits.APIKeys)
	}
	if value == "" {
		value = e.newKeyValue()
	} else {
		if n := len(value); n < 20 || n > 128 {
			return nil, badRequest("API Key value must be between 20 and 128 characters long")
		}
		if _, used := e.st.keyValues[value]; used {
			return nil, conflict("API Key already exists")
		}
	}
	now := e.now()
	k := &apiKey{
		id:   e.newID(10, func(id string) bool { return e.st.keys[id] != nil }),
		name: name, description: description, value: value, customerID: customerID, enabled: enabled,
		created: now, updated: now, tags: maps.Clone(tags), planIDs: map[string]struct{}{},
	}
	e.st.keys[k.id] = k
	e.st.keyIDs.insert(k.id)
	e.st.keyValues[value] = k.id
	return k, nil
}

func boolQuery(r *opRequest, name string) bool {
	b, _ := strconv.ParseBool(r.query.Get(name))
	return b
}

func opGetAPIKey(e *Emulator, r *opRequest) (int, any, *apiError) {
	k, apiErr := e.key(r.params["apiKey"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, k.wire(boolQuery(r, "includeValue")), nil
}

// opGetAPIKeys lists keys in id order. "name" is a prefix filter on the key
// name and "customerId" an exact filter.
func opGetAPIKeys(e *Emulator, r *opRequest) (int, any, *apiError) {
	prefix, customer := r.query.Get("name"), r.query.Get("customerId")
	var keep func(string) bool
	if prefix != "" || customer != "" {
		keep = func(id string) bool {
			k := e.st.keys[id]
			return strings.HasPrefix(k.name, prefix) && (customer == "" || k.customerID == customer)
		}
	}
	ids, next, apiErr := paginate(e.st.keyIDs, r.query, keep)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	include := boolQuery(r, "includeValues")
	out := page[wireAPIKey]{Item: make([]wireAPIKey, 0, len(ids)), Position: next}
	for _, id := range ids {
		out.Item = append(out.Item, e.st.keys[id].wire(include))
	}
	return http.StatusOK, out, nil
}

func opUpdateAPIKey(e *Emulator, r *opRequest) (int, any, *apiError) {
	k, apiErr := e.key(r.params["apiKey"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in patchRequest
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	next := *k
	for _, op := range in.PatchOperations {
		if op.Op != "replace" {
			return 0, nil, badRequest("Invalid patch operation specified. Must be 'replace' for path %s", op.Path)
		}
		switch op.Path {
		case "/name":
			next.name = op.value()
		case "/description":
			next.description = op.value()
		case "/customerId":
			next.customerID = op.value()
		case "/enabled":
			b, err := strconv.ParseBool(op.value())
			if err != nil {
				return 0, nil, badRequest("Invalid value for /enabled: %q", op.value())
			}
			next.enabled = b
		default:
			return 0, nil, badRequest("Invalid patch path '%s' specified for op 'replace'. Must be one of: [/name, /description, /enabled, /customerId]", op.Path)
		}
	}
	next.updated = e.now()
	*k = next
	return http.StatusOK, k.wire(false), nil
}

func opDeleteAPIKey(e *Emulator, r *opRequest) (int, any, *apiError) {
	k, apiErr := e.key(r.params["apiKey"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	for planID := range k.planIDs {
		if p := e.st.plans[planID]; p != nil {
			p.keyIDs.remove(k.id)
		}
	}
	delete(e.st.keys, k.id)
	e.st.keyIDs.remove(k.id)
	delete(e.st.keyValues, k.value)
	return http.StatusAccepted, nil, nil
}

func opCreateUsagePlanKey(e *Emulator, r *opRequest) (int, any, *apiError) {
	var in struct {
		KeyID   string `json:"keyId"`
		KeyType string `json:"keyType"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	if in.KeyType != "API_KEY" {
		return 0, nil, badRequest("Invalid key type %q: must be API_KEY", in.KeyType)
	}
	k, apiErr := e.attachKey(r.params["usagePlanId"], in.KeyID)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusCreated, k.wirePlanKey(), nil
}

// attachKey adds a key to a plan with the service's checks: both exist, the
// key is not already in the plan (ConflictException), the key is in fewer
// than PlansPerKey plans, and no other plan of the key shares a stage with
// this plan (BadRequestException).
func (e *Emulator) attachKey(planID, keyID string) (*apiKey, *apiError) {
	p, apiErr := e.plan(planID)
	if apiErr != nil {
		return nil, apiErr
	}
	k, apiErr := e.key(keyID)
	if apiErr != nil {
		return nil, apiErr
	}
	if p.keyIDs.has(k.id) {
		return nil, conflict("Usage Plan %s already contains API Key %s", p.id, k.id)
	}
	if len(k.planIDs) >= e.cfg.limits.PlansPerKey {
		return nil, limitExceeded("API Key %s cannot be added to more than %d usage plans", k.id, e.cfg.limits.PlansPerKey)
	}
	if apiErr := e.sharedStage(k, p, p.stages); apiErr != nil {
		return nil, apiErr
	}
	p.keyIDs.insert(k.id)
	k.planIDs[p.id] = struct{}{}
	return k, nil
}

func (e *Emulator) planKey(r *opRequest) (*usagePlan, *apiKey, *apiError) {
	p, apiErr := e.plan(r.params["usagePlanId"])
	if apiErr != nil {
		return nil, nil, apiErr
	}
	id := r.params["keyId"]
	if !p.keyIDs.has(id) {
		return nil, nil, notFound("Invalid Usage Plan Key identifier specified")
	}
	return p, e.st.keys[id], nil
}

func opGetUsagePlanKey(e *Emulator, r *opRequest) (int, any, *apiError) {
	_, k, apiErr := e.planKey(r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, k.wirePlanKey(), nil
}

func opGetUsagePlanKeys(e *Emulator, r *opRequest) (int, any, *apiError) {
	p, apiErr := e.plan(r.params["usagePlanId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var keep func(string) bool
	if prefix := r.query.Get("name"); prefix != "" {
		keep = func(id string) bool { return strings.HasPrefix(e.st.keys[id].name, prefix) }
	}
	ids, next, apiErr := paginate(p.keyIDs, r.query, keep)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	out := page[wireUsagePlanKey]{Item: make([]wireUsagePlanKey, 0, len(ids)), Position: next}
	for _, id := range ids {
		out.Item = append(out.Item, e.st.keys[id].wirePlanKey())
	}
	return http.StatusOK, out, nil
}

func opDeleteUsagePlanKey(e *Emulator, r *opRequest) (int, any, *apiError) {
	p, k, apiErr := e.planKey(r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	p.keyIDs.remove(k.id)
	delete(k.planIDs, p.id)
	return http.StatusAccepted, nil, nil
}
