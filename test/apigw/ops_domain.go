package apigw

import (
	"maps"
	"net/http"
	"slices"
)

// noBasePath is how API Gateway names the empty base path.
const noBasePath = "(none)"

func normalizeBasePath(p string) string {
	if p == "" {
		return noBasePath
	}
	return p
}

func (e *Emulator) domain(name string) (*domainName, *apiError) {
	d := e.st.domains[name]
	if d == nil {
		return nil, notFound("Invalid domain name identifier specified")
	}
	return d, nil
}

func opCreateDomainName(e *Emulator, r *opRequest) (int, any, *apiError) {
	var in struct {
		DomainName             string                     `json:"domainName"`
		CertificateARN         string                     `json:"certificateArn"`
		RegionalCertificateARN string                     `json:"regionalCertificateArn"`
		EndpointConfiguration  *wireEndpointConfiguration `json:"endpointConfiguration"`
		SecurityPolicy         string                     `json:"securityPolicy"`
		Tags                   map[string]string          `json:"tags"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	if in.DomainName == "" {
		return 0, nil, badRequest("Domain name is required")
	}
	if e.st.domains[in.DomainName] != nil {
		return 0, nil, badRequest("The domain name you provided already exists.")
	}
	regional := in.EndpointConfiguration != nil && slices.Contains(in.EndpointConfiguration.Types, "REGIONAL")
	cert := in.CertificateARN
	if regional {
		cert = in.RegionalCertificateARN
	}
	if cert == "" {
		return 0, nil, badRequest("A certificate ARN is required for domain name %s", in.DomainName)
	}
	policy := in.SecurityPolicy
	if policy == "" {
		policy = "TLS_1_2"
	}
	d := &domainName{
		name: in.DomainName, regional: regional, certARN: cert, securityPol: policy, created: e.now(),
		tags: maps.Clone(in.Tags), mappings: map[string]*basePathMapping{},
	}
	suffix := e.newID(10, func(string) bool { return false })
	if regional {
		d.regionalName = "d-" + suffix + ".execute-api." + Region + ".amazonaws.com"
	} else {
		d.edgeName = "d" + suffix + ".cloudfront.net"
	}
	e.st.domains[d.name] = d
	e.st.domainIDs.insert(d.name)
	return http.StatusCreated, d.wire(), nil
}

func opGetDomainName(e *Emulator, r *opRequest) (int, any, *apiError) {
	d, apiErr := e.domain(r.params["domainName"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, d.wire(), nil
}

func opGetDomainNames(e *Emulator, r *opRequest) (int, any, *apiError) {
	names, next, apiErr := paginate(e.st.domainIDs, r.query, nil)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	out := page[wireDomainName]{Item: []wireDomainName{}, Position: next}
	for _, n := range names {
		out.Item = append(out.Item, e.st.domains[n].wire())
	}
	return http.StatusOK, out, nil
}

func opDeleteDomainName(e *Emulator, r *opRequest) (int, any, *apiError) {
	d, apiErr := e.domain(r.params["domainName"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	delete(e.st.domains, d.name)
	e.st.domainIDs.remove(d.name)
	return http.StatusAccepted, nil, nil
}

// checkMappingTarget validates the API and stage a mapping points at.
func (e *Emulator) checkMappingTarget(apiID, stageName string) *apiError {
	a := e.st.apis[apiID]
	if a == nil {
		return notFound("Invalid REST API identifier specified")
	}
	if stageName != "" && a.stages[stageName] == nil {
		return badRequest("Invalid stage identifier specified")
	}
	return nil
}

func opCreateBasePathMapping(e *Emulator, r *opRequest) (int, any, *apiError) {
	d, apiErr := e.domain(r.params["domainName"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in struct {
		BasePath  string `json:"basePath"`
		RestAPIID string `json:"restApiId"`
		Stage     string `json:"stage"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	if apiErr := e.checkMappingTarget(in.RestAPIID, in.Stage); apiErr != nil {
		return 0, nil, apiErr
	}
	bp := normalizeBasePath(in.BasePath)
	if d.mappings[bp] != nil {
		return 0, nil, conflict("Base path already exists for this domain name")
	}
	m := &basePathMapping{basePath: bp, restAPIID: in.RestAPIID, stage: in.Stage}
	d.mappings[bp] = m
	d.mappingPaths.insert(bp)
	return http.StatusCreated, m.wire(), nil
}

func (e *Emulator) mapping(r *opRequest) (*domainName, *basePathMapping, *apiError) {
	d, apiErr := e.domain(r.params["domainName"])
	if apiErr != nil {
		return nil, nil, apiErr
	}
	m := d.mappings[normalizeBasePath(r.params["basePath"])]
	if m == nil {
		return nil, nil, notFound("Invalid base path mapping identifier specified")
	}
	return d, m, nil
}

func opGetBasePathMapping(e *Emulator, r *opRequest) (int, any, *apiError) {
	_, m, apiErr := e.mapping(r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	return http.StatusOK, m.wire(), nil
}

func opGetBasePathMappings(e *Emulator, r *opRequest) (int, any, *apiError) {
	d, apiErr := e.domain(r.params["domainName"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	paths, next, apiErr := paginate(d.mappingPaths, r.query, nil)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	out := page[wireBasePathMapping]{Item: []wireBasePathMapping{}, Position: next}
	for _, p := range paths {
		out.Item = append(out.Item, d.mappings[p].wire())
	}
	return http.StatusOK, out, nil
}

// opUpdateBasePathMapping replaces /restapiId, /stage and /basePath; all
// operations apply or none (a blue/green cutover patches restapiId and
// stage in one call).
func opUpdateBasePathMapping(e *Emulator, r *opRequest) (int, any, *apiError) {
	d, m, apiErr := e.mapping(r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in patchRequest
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	next := *m
	for _, op := range in.PatchOperations {
		if op.Op != "replace" {
			return 0, nil, badRequest("Invalid patch operation specified. Must be 'replace' for path %s", op.Path)
		}
		switch op.Path {
		case "/restapiId":
			next.restAPIID = op.value()
		case "/stage":
			next.stage = op.value()
		case "/basePath":
			next.basePath = normalizeBasePath(op.value())
		default:
			return 0, nil, badRequest("Invalid patch path '%s' specified for op 'replace'. Must be one of: [/basePath, /restapiId, /stage]", op.Path)
		}
	}
	if apiErr := e.checkMappingTarget(next.restAPIID, next.stage); apiErr != nil {
		return 0, nil, apiErr
	}
	if next.basePath != m.basePath {
		if d.mappings[next.basePath] != nil {
			return 0, nil, conflict("Base path already exists for this domain name")
		}
		delete(d.mappings, m.basePath)
		d.mappingPaths.remove(m.basePath)
		d.mappingPaths.insert(next.basePath)
	}
	*m = next
	d.mappings[m.basePath] = m
	return http.StatusOK, m.wire(), nil
}

func opDeleteBasePathMapping(e *Emulator, r *opRequest) (int, any, *apiError) {
	d, m, apiErr := e.mapping(r)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	delete(d.mappings, m.basePath)
	d.mappingPaths.remove(m.basePath)
	return http.StatusAccepted, nil, nil
}
