package apigw

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
)

// Region is the region the emulator claims to be in (ARNs, domain names).
const Region = "us-east-1"

// maxBody bounds a request body; the real service rejects far smaller ones.
const maxBody = 1 << 20

// opRequest is one parsed request handed to an operation.
type opRequest struct {
	params map[string]string // path labels, unescaped
	query  url.Values
	body   []byte
}

func (r *opRequest) decode(v any) *apiError {
	if len(bytes.TrimSpace(r.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return badRequest("Invalid request body: %v", err)
	}
	return nil
}

// opFunc runs an operation with e.mu held (write or read lock as the route
// says) and returns the success status and body, or an error.
type opFunc func(e *Emulator, r *opRequest) (int, any, *apiError)

type route struct {
	method  string
	pattern []string // "{name}" segments capture a label
	op      string
	write   bool
	fn      opFunc
}

func rt(method, path, op string, write bool, fn opFunc) route {
	return route{method: method, pattern: strings.Split(strings.Trim(path, "/"), "/"), op: op, write: write, fn: fn}
}

// routes is the REST binding of every emulated operation, exactly as the
// SDK's serializers build it.
var routes = []route{
	rt("POST", "/restapis", "CreateRestApi", true, opCreateRestAPI),
	rt("GET", "/restapis", "GetRestApis", false, opGetRestAPIs),
	rt("GET", "/restapis/{restApiId}", "GetRestApi", false, opGetRestAPI),
	rt("DELETE", "/restapis/{restApiId}", "DeleteRestApi", true, opDeleteRestAPI),
	rt("POST", "/restapis/{restApiId}/deployments", "CreateDeployment", true, opCreateDeployment),
	rt("POST", "/restapis/{restApiId}/stages", "CreateStage", true, opCreateStage),
	rt("GET", "/restapis/{restApiId}/stages", "GetStages", false, opGetStages),
	rt("GET", "/restapis/{restApiId}/stages/{stageName}", "GetStage", false, opGetStage),
	rt("PATCH", "/restapis/{restApiId}/stages/{stageName}", "UpdateStage", true, opUpdateStage),
	rt("DELETE", "/restapis/{restApiId}/stages/{stageName}", "DeleteStage", true, opDeleteStage),

	rt("POST", "/usageplans", "CreateUsagePlan", true, opCreateUsagePlan),
	rt("GET", "/usageplans", "GetUsagePlans", false, opGetUsagePlans),
	rt("GET", "/usageplans/{usagePlanId}", "GetUsagePlan", false, opGetUsagePlan),
	rt("PATCH", "/usageplans/{usagePlanId}", "UpdateUsagePlan", true, opUpdateUsagePlan),
	rt("DELETE", "/usageplans/{usagePlanId}", "DeleteUsagePlan", true, opDeleteUsagePlan),
	rt("POST", "/usageplans/{usagePlanId}/keys", "CreateUsagePlanKey", true, opCreateUsagePlanKey),
	rt("GET", "/usageplans/{usagePlanId}/keys", "GetUsagePlanKeys", false, opGetUsagePlanKeys),
	rt("GET", "/usageplans/{usagePlanId}/keys/{keyId}", "GetUsagePlanKey", false, opGetUsagePlanKey),
	rt("DELETE", "/usageplans/{usagePlanId}/keys/{keyId}", "DeleteUsagePlanKey", true, opDeleteUsagePlanKey),
	rt("GET", "/usageplans/{usagePlanId}/usage", "GetUsage", false, opGetUsage),

	rt("POST", "/apikeys", "CreateApiKey", true, opCreateAPIKey),
	rt("GET", "/apikeys", "GetApiKeys", false, opGetAPIKeys),
	rt("GET", "/apikeys/{apiKey}", "GetApiKey", false, opGetAPIKey),
	rt("PATCH", "/apikeys/{apiKey}", "UpdateApiKey", true, opUpdateAPIKey),
	rt("DELETE", "/apikeys/{apiKey}", "DeleteApiKey", true, opDeleteAPIKey),

	rt("POST", "/domainnames", "CreateDomainName", true, opCreateDomainName),
	rt("GET", "/domainnames", "GetDomainNames", false, opGetDomainNames),
	rt("GET", "/domainnames/{domainName}", "GetDomainName", false, opGetDomainName),
	rt("DELETE", "/domainnames/{domainName}", "DeleteDomainName", true, opDeleteDomainName),
	rt("POST", "/domainnames/{domainName}/basepathmappings", "CreateBasePathMapping", true, opCreateBasePathMapping),
	rt("GET", "/domainnames/{domainName}/basepathmappings", "GetBasePathMappings", false, opGetBasePathMappings),
	rt("GET", "/domainnames/{domainName}/basepathmappings/{basePath}", "GetBasePathMapping", false, opGetBasePathMapping),
	rt("PATCH", "/domainnames/{domainName}/basepathmappings/{basePath}", "UpdateBasePathMapping", true, opUpdateBasePathMapping),
	rt("DELETE", "/domainnames/{domainName}/basepathmappings/{basePath}", "DeleteBasePathMapping", true, opDeleteBasePathMapping),

	rt("GET", "/tags/{resourceArn}", "GetTags", false, opGetTags),
	rt("PUT", "/tags/{resourceArn}", "TagResource", true, opTagResource),
	rt("DELETE", "/tags/{resourceArn}", "UntagResource", true, opUntagResource),
}

// match finds the route of r. Labels are split on the escaped path, so a
// label holding an escaped "/" (an ARN, a base path) stays one segment.
func match(r *http.Request) (*route, map[string]string, bool) {
	segs := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i := range routes {
		rte := &routes[i]
		if rte.method != r.Method || len(rte.pattern) != len(segs) {
			continue
		}
		params := map[string]string{}
		ok := true
		for j, p := range rte.pattern {
			if strings.HasPrefix(p, "{") {
				v, err := url.PathUnescape(segs[j])
				if err != nil || v == "" {
					ok = false
					break
				}
				params[strings.Trim(p, "{}")] = v
			} else if p != segs[j] {
				ok = false
				break
			}
		}
		if ok {
			return rte, params, true
		}
	}
	return nil, nil, false
}

// ServeHTTP answers one control-plane request: count it, apply latency,
// injected failures, injected throttling and the quotas (none of which take
// effect), then run the operation and apply the after-effect faults.
func (e *Emulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", strconv.FormatInt(time.Now().UnixNano(), 36))
	rte, params, ok := match(r)
	if !ok {
		writeError(w, notFound("Invalid request path %s %s", r.Method, r.URL.EscapedPath()))
		return
	}
	op := rte.op
	e.faults.recordCall(op, e.now())
	if r.Header.Get("Authorization") == "" {
		writeError(w, &apiError{status: http.StatusForbidden, code: codeMissingAuth, message: "Missing Authentication Token"})
		return
	}
	if d := e.faults.latencyFor(op); d > 0 {
		t := time.NewTimer(d)
		select {
		case <-r.Context().Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
	if status, ok := e.faults.takeFailNext(op); ok {
		writeError(w, injectedError(status))
		return
	}
	if status, ok := e.faults.targetFailure(op, params); ok {
		writeError(w, injectedError(status))
		return
	}
	if e.faults.throttled(op) {
		writeError(w, tooManyRequests(1))
		return
	}
	if retryAfter, ok := e.quotas.take(op, e.now()); !ok {
		writeError(w, tooManyRequests(retryAfter))
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		writeError(w, badRequest("Could not read request body"))
		return
	}
	req := &opRequest{params: params, query: r.URL.Query(), body: body}
	if op == "CreateApiKey" && req.query.Get("mode") == "import" {
		writeError(w, badRequest("ImportApiKeys is not emulated"))
		return
	}

	status, out, apiErr := e.run(rte, req)
	if apiErr != nil {
		writeError(w, apiErr)
		return
	}
	e.faults.recordApplied(op)
	if e.faults.takeDrop(op) {
		hijackAndClose(w)
		return
	}
	if status, ok := e.faults.takeFailAfter(op); ok {
		writeError(w, injectedError(status))
		return
	}
	writeJSON(w, status, out)
}

func (e *Emulator) run(rte *route, req *opRequest) (int, any, *apiError) {
	if rte.write {
		e.mu.Lock()
		defer e.mu.Unlock()
	} else {
		e.mu.RLock()
		defer e.mu.RUnlock()
	}
	return rte.fn(e, req)
}

// hijackAndClose closes the client connection without a response. If the
// connection cannot be hijacked (HTTP/2), it falls back to a 500.
func hijackAndClose(w http.ResponseWriter) {
	if hj, ok := w.(http.Hijacker); ok {
		if conn, _, err := hj.Hijack(); err == nil {
			_ = conn.Close()
			return
		}
	}
	writeError(w, injectedError(http.StatusInternalServerError))
}

func writeJSON(w http.ResponseWriter, status int, out any) {
	if out == nil {
		w.WriteHeader(status)
		return
	}
	body, err := json.Marshal(out)
	if err != nil {
		writeError(w, injectedError(http.StatusInternalServerError))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Start serves the emulator on a loopback httptest server (once; later calls
// return the same URL), stops it when the test ends, and returns its URL.
func (e *Emulator) Start(t testing.TB) string {
	t.Helper()
	e.srvMu.Lock()
	defer e.srvMu.Unlock()
	if e.srv == nil {
		e.srv = httptest.NewServer(e)
		srv := e.srv
		t.Cleanup(func() {
			srv.CloseClientConnections()
			srv.Close()
		})
	}
	return e.srv.URL
}

// Client starts the emulator if needed and returns a real SDK client pointed
// at it: region us-east-1, static dummy credentials, BaseEndpoint = the
// emulator, and no retries (aws.NopRetryer), so a test sees each response
// as the emulator sent it. Use ClientWithOptions to choose retries.
func (e *Emulator) Client(t testing.TB) *apigateway.Client {
	t.Helper()
	return e.ClientWithOptions(t, func(o *apigateway.Options) { o.Retryer = aws.NopRetryer{} })
}

// ClientWithOptions is Client with the SDK's default retryer (standard mode,
// 3 attempts) unless optFns change it; optFns run after the emulator's
// settings, so they can override anything.
func (e *Emulator) ClientWithOptions(t testing.TB, optFns ...func(*apigateway.Options)) *apigateway.Client {
	t.Helper()
	url := e.Start(t)
	e.srvMu.Lock()
	httpClient := e.srv.Client()
	e.srvMu.Unlock()
	opts := apigateway.Options{
		Region:       Region,
		BaseEndpoint: aws.String(url),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDEMULATOR", "emulator-secret", ""),
		HTTPClient:   httpClient,
	}
	for _, fn := range optFns {
		fn(&opts)
	}
	return apigateway.New(opts)
}

// Pagination, as the service does it: limit defaults to 25, at most 500;
// position is an opaque token (here the base64url of the last id returned).
const (
	defaultLimit = 25
	maxLimit     = 500
)

func pageLimit(q url.Values) (int, *apiError) {
	s := q.Get("limit")
	if s == "" {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > maxLimit {
		return 0, badRequest("Invalid limit %q: must be between 1 and %d", s, maxLimit)
	}
	if n == 0 {
		return defaultLimit, nil
	}
	return n, nil
}

func encodePosition(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}

func decodePosition(q url.Values) (string, *apiError) {
	p := q.Get("position")
	if p == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil || len(b) == 0 {
		return "", badRequest("Invalid position parameter")
	}
	return string(b), nil
}

// paginate walks ids (sorted) from the position, keeps those keep accepts,
// and stops after limit of them. It returns the kept ids and the next
// position ("" when the walk reached the end).
func paginate(ids []string, q url.Values, keep func(id string) bool) ([]string, string, *apiError) {
	limit, apiErr := pageLimit(q)
	if apiErr != nil {
		return nil, "", apiErr
	}
	last, apiErr := decodePosition(q)
	if apiErr != nil {
		return nil, "", apiErr
	}
	start := 0
	if last != "" {
		start = sortedIDs(ids).after(last)
	}
	var out []string
	for i := start; i < len(ids); i++ {
		if keep != nil && !keep(ids[i]) {
			continue
		}
		out = append(out, ids[i])
		if len(out) == limit {
			if i+1 < len(ids) {
				return out, encodePosition(ids[i]), nil
			}
			break
		}
	}
	return out, "", nil
}

// page is the wire shape of every paginated list: {"item": [...], "position": "..."}.
type page[T any] struct {
	Item     []T    `json:"item"`
	Position string `json:"position,omitempty"`
}

func epoch(t time.Time) int64 { return t.Unix() }
