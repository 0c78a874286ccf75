package apigw

import (
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

func (e *Emulator) api(id string) (*restAPI, *apiError) {
	a := e.st.apis[id]
	if a == nil {
		return nil, notFound("Invalid API identifier specified %s", id)
	}
	return a, nil
}

func (e *Emulator) stage(apiID, name string) (*restAPI, *stage, *apiError) {
	a, apiErr := e.api(apiID)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	s := a.stages[name]
	if s == nil {
		return nil, nil, notFound("Invalid stage identifier specified")
	}
	return a, s, nil
}

func opCreateRestAPI(e *Emulator, r *opRequest) (int, any, *apiError) {
	var in struct {
		Name                  string                     `json:"name"`
		Description           string                     `json:"description"`
		APIKeySource          string                     `json:"apiKeySource"`
		EndpointConfiguration *wireEndpointConfiguration `json:"endpointConfiguration"`
		Tags                  map[string]string          `json:"tags"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	if in.Name == "" {
		return 0, nil, badRequest("Invalid REST API name specified")
	}
	source := in.APIKeySource
	if source == "" {
		source = "HEADER"
	}
	if source != "HEADER" && source != "AUTHORIZER" {
		return 0, nil, badRequest("Invalid API Key source %s, must be one of [HEADER, AUTHORIZER]", source)
	}
	types := []string{"EDGE"}
	if in.EndpointConfiguration != nil && len(in.EndpointConfiguration.Types) > 0 {
		types = in.EndpointConfiguration.Types
	}
	a := e.createRestAPI(in.Name, in.Description, source, types, in.Tags)
	return http.StatusCreated, a.wire(), nil
}

func (e *Emulator) createRestAPI(name, description, source string, types []string, tags map[string]string) *restAPI {
	now := e.now()
	a := &restAPI{
		id:   e.newID(10, func(id string) bool { return e.st.apis[id] != nil }),
		name: name, description: description, created: now, apiKeySource: source,
		endpointTypes: slices.Clone(types), tags: maps.Clone(tags),
		deployments: map[string]*deployment{}, stages: map[string]*stage{},
	}
	e.st.apis[a.id] = a
	e.st.apiIDs.insert(a.id)
	return a
}

func opGetRestAPI(e *Emulator, r *opRequest) (int, any, *apiError) {
	a, apiErr := e.api(r.params["restApiId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, a.wire(), nil
}

func opGetRestAPIs(e *Emulator, r *opRequest) (int, any, *apiError) {
	ids, next, apiErr := paginate(e.st.apiIDs, r.query, nil)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	out := page[wireRestAPI]{Item: []wireRestAPI{}, Position: next}
	for _, id := range ids {
		out.Item = append(out.Item, e.st.apis[id].wire())
	}
	return http.StatusOK, out, nil
}

func opDeleteRestAPI(e *Emulator, r *opRequest) (int, any, *apiError) {
	a, apiErr := e.api(r.params["restApiId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	for name := range a.stages {
		if apiErr := e.stageDeletable(a.id, name); apiErr != nil {
			return 0, nil, apiErr
		}
	}
	delete(e.st.apis, a.id)
	e.st.apiIDs.remove(a.id)
	return http.StatusAccepted, nil, nil
}

// stageDeletable refuses to delete a stage a usage plan still includes
// (unless WithoutStageDeleteProtection).
func (e *Emulator) stageDeletable(apiID, stageName string) *apiError {
	if !e.cfg.stageDeleteProtection {
		return nil
	}
	for _, id := range e.st.planIDs {
		if e.st.plans[id].stageIndex(apiID, stageName) >= 0 {
			return badRequest("Cannot delete stage %s of API %s because it is associated with usage plan %s", stageName, apiID, id)
		}
	}
	return nil
}

func opCreateDeployment(e *Emulator, r *opRequest) (int, any, *apiError) {
	a, apiErr := e.api(r.params["restApiId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in struct {
		Description      string            `json:"description"`
		StageName        string            `json:"stageName"`
		StageDescription string            `json:"stageDescription"`
		Variables        map[string]string `json:"variables"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	d := e.createDeployment(a, in.Description)
	if in.StageName != "" {
		if s := a.stages[in.StageName]; s != nil {
			s.deploymentID, s.updated = d.id, e.now()
		} else {
			e.createStage(a, in.StageName, d.id, in.StageDescription, in.Variables, nil)
		}
	}
	return http.StatusCreated, wireDeployment{ID: d.id, Description: d.description, CreatedDate: epoch(d.created)}, nil
}

func (e *Emulator) createDeployment(a *restAPI, description string) *deployment {
	d := &deployment{
		id:          e.newID(6, func(id string) bool { return a.deployments[id] != nil }),
		description: description, created: e.now(),
	}
	a.deployments[d.id] = d
	return d
}

func (e *Emulator) createStage(a *restAPI, name, deploymentID, description string, vars, tags map[string]string) *stage {
	now := e.now()
	s := &stage{
		name: name, deploymentID: deploymentID, description: description, created: now, updated: now,
		variables: maps.Clone(vars), methodSettings: map[string]methodSetting{}, tags: maps.Clone(tags),
	}
	a.stages[name] = s
	return s
}

func opCreateStage(e *Emulator, r *opRequest) (int, any, *apiError) {
	a, apiErr := e.api(r.params["restApiId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in struct {
		StageName    string            `json:"stageName"`
		DeploymentID string            `json:"deploymentId"`
		Description  string            `json:"description"`
		Variables    map[string]string `json:"variables"`
		Tags         map[string]string `json:"tags"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	if in.StageName == "" || strings.ContainsAny(in.StageName, "/: ") {
		return 0, nil, badRequest("Invalid stage name %q", in.StageName)
	}
	if a.deployments[in.DeploymentID] == nil {
		return 0, nil, badRequest("Invalid deployment identifier specified")
	}
	if a.stages[in.StageName] != nil {
		return 0, nil, conflict("Stage already exists")
	}
	s := e.createStage(a, in.StageName, in.DeploymentID, in.Description, in.Variables, in.Tags)
	return http.StatusCreated, s.wire(), nil
}

func opGetStage(e *Emulator, r *opRequest) (int, any, *apiError) {
	_, s, apiErr := e.stage(r.params["restApiId"], r.params["stageName"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, s.wire(), nil
}

func opGetStages(e *Emulator, r *opRequest) (int, any, *apiError) {
	a, apiErr := e.api(r.params["restApiId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	names := slices.Sorted(maps.Keys(a.stages))
	out := struct {
		Item []wireStage `json:"item"`
	}{Item: []wireStage{}}
	for _, n := range names {
		s := a.stages[n]
		if d := r.query.Get("deploymentId"); d != "" && s.deploymentID != d {
			continue
		}
		out.Item = append(out.Item, s.wire())
	}
	return http.StatusOK, out, nil
}

func opDeleteStage(e *Emulator, r *opRequest) (int, any, *apiError) {
	a, s, apiErr := e.stage(r.params["restApiId"], r.params["stageName"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	if apiErr := e.stageDeletable(a.id, s.name); apiErr != nil {
		return 0, nil, apiErr
	}
	delete(a.stages, s.name)
	return http.StatusAccepted, nil, nil
}

// opUpdateStage applies the patch operations stagehand needs: method
// throttling ("/{resourcePath}/{httpMethod}/throttling/rateLimit|burstLimit",
// resource path escaped with ~1, "*/*" for every method), /description,
// /deploymentId and /variables/{name}. All operations apply or none.
func opUpdateStage(e *Emulator, r *opRequest) (int, any, *apiError) {
	a, s, apiErr := e.stage(r.params["restApiId"], r.params["stageName"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in patchRequest
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	next := *s
	next.variables = maps.Clone(s.variables)
	next.methodSettings = maps.Clone(s.methodSettings)
	for _, p := range in.PatchOperations {
		if apiErr := patchStage(a, &next, p); apiErr != nil {
			return 0, nil, apiErr
		}
	}
	next.updated = e.now()
	*s = next
	return http.StatusOK, s.wire(), nil
}

func patchStage(a *restAPI, s *stage, p patchOperation) *apiError {
	switch {
	case p.Path == "/description" && (p.Op == "replace" || p.Op == "add"):
		s.description = p.value()
		return nil
	case p.Path == "/deploymentId" && p.Op == "replace":
		if a.deployments[p.value()] == nil {
			return badRequest("Invalid deployment identifier specified")
		}
		s.deploymentID = p.value()
		return nil
	case strings.HasPrefix(p.Path, "/variables/"):
		name := strings.TrimPrefix(p.Path, "/variables/")
		switch p.Op {
		case "replace", "add":
			if s.variables == nil {
				s.variables = map[string]string{}
			}
			s.variables[name] = p.value()
		case "remove":
			delete(s.variables, name)
		default:
			return badRequest("Invalid patch operation specified. Must be one of: [add, remove, replace]")
		}
		return nil
	}
	// "/{resourcePath}/{httpMethod}/throttling/{rateLimit|burstLimit}"
	segs := strings.Split(strings.TrimPrefix(p.Path, "/"), "/")
	if len(segs) != 4 || segs[2] != "throttling" {
		return badRequest("Invalid patch path %s", p.Path)
	}
	key := segs[0] + "/" + segs[1]
	m := s.methodSettings[key]
	switch {
	case p.Op == "remove":
		switch segs[3] {
		case "rateLimit":
			m.rate = nil
		case "burstLimit":
			m.burst = nil
		default:
			return badRequest("Invalid patch path %s", p.Path)
		}
	case p.Op == "replace" && segs[3] == "rateLimit":
		v, err := strconv.ParseFloat(p.value(), 64)
		if err != nil || v < 0 {
			return badRequest("Invalid rate limit %q", p.value())
		}
		m.rate = &v
	case p.Op == "replace" && segs[3] == "burstLimit":
		v, err := strconv.ParseInt(p.value(), 10, 32)
		if err != nil || v < 0 {
			return badRequest("Invalid burst limit %q", p.value())
		}
		b := int32(v)
		m.burst = &b
	default:
		return badRequest("Invalid patch path %s", p.Path)
	}
	if m.rate == nil && m.burst == nil {
		delete(s.methodSettings, key)
	} else {
		s.methodSettings[key] = m
	}
	return nil
}
