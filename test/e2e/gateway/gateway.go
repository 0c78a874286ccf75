// Package gateway is a local API Gateway data plane for end-to-end tests. It
// serves a custom domain the way a REST API with a REQUEST Lambda authorizer
// and apiKeySource AUTHORIZER does:
//
//  1. the domain's base path mapping (read from the API Gateway emulator,
//     which the cutover command changes) picks the REST API and stage;
//  2. the authorizer (the real handler, called in-process) decides: its
//     "Unauthorized" error is a 401, any other error a 500; the returned IAM
//     policy must allow the request's method ARN (an explicit Deny wins), else
//     403;
//  3. apiKeyRequired: the authorizer's usageIdentifierKey must be an enabled
//     API key in a usage plan that includes this API stage, else 403 — the
//     check that fails when re-association has not happened yet;
//  4. the plan's throttle (token bucket) and quota apply per key: 429;
//  5. the request goes to the backend with the authorizer context mapped to
//     headers, as the HTTP_PROXY integration does.
//
// Every response carries X-Stagehand-Stage: apiId/stage so tests can check
// which stage served it.
package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// Authorizer is the Lambda authorizer's handler signature.
type Authorizer func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// Header names the integration sets from the authorizer context.
const (
	HeaderStage      = "X-Stagehand-Stage"
	HeaderCustomerID = "X-Customer-Id"
	HeaderPlan       = "X-Customer-Plan"
	HeaderScopes     = "X-Customer-Scopes"
	HeaderKeyID      = "X-Key-Id"
	HeaderAuthMethod = "X-Auth-Method"
)

// Region and Account appear in the method ARNs the authorizer sees.
const (
	Region  = "us-east-1"
	Account = "123456789012"
)

// Gateway serves one custom domain.
type Gateway struct {
	emu       *apigw.Emulator
	domain    string
	authorize Authorizer
	proxy     *httputil.ReverseProxy
	clock     clock.Clock

	mu      sync.Mutex
	buckets map[string]*bucket // per usage plan + API key
	quota   map[string]int     // per usage plan + API key + period
}

// New returns a data plane for domain over the emulator's control-plane
// state, calling authorize and forwarding to backend. The clock drives
// throttling and quota periods (real time for live load).
func New(emu *apigw.Emulator, domain string, authorize Authorizer, backend *url.URL, clk clock.Clock) *Gateway {
	g := &Gateway{emu: emu, domain: domain, authorize: authorize, clock: clk,
		buckets: map[string]*bucket{}, quota: map[string]int{}}
	g.proxy = &httputil.ReverseProxy{
		Rewrite:  func(r *httputil.ProxyRequest) { r.SetURL(backend) },
		ErrorLog: log.New(io.Discard, "", 0), // clients hanging up at the end of a load run
	}
	return g
}

func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	apiID, stage, ok := g.emu.BasePathMapping(g.domain, "")
	if !ok {
		writeError(w, http.StatusForbidden, "Forbidden", "")
		return
	}
	stageTag := apiID + "/" + stage
	w.Header().Set(HeaderStage, stageTag)

	methodArn := fmt.Sprintf("arn:aws:execute-api:%s:%s:%s/%s/%s%s", Region, Account, apiID, stage, r.Method, r.URL.Path)
	resp, err := g.authorize(r.Context(), authorizerEvent(r, methodArn, apiID, stage))
	if err != nil {
		if err.Error() == "Unauthorized" {
			writeError(w, http.StatusUnauthorized, "Unauthorized", stageTag)
		} else {
			writeError(w, http.StatusInternalServerError, "Internal server error", stageTag)
		}
		return
	}
	if !allowed(resp.PolicyDocument, methodArn) {
		writeError(w, http.StatusForbidden, "User is not authorized to access this resource", stageTag)
		return
	}
	planID, throttle, quota, ok := g.emu.UsagePlanForKeyValue(resp.UsageIdentifierKey, apiID, stage)
	if !ok {
		writeError(w, http.StatusForbidden, "Forbidden", stageTag)
		return
	}
	keyID, _, _ := g.emu.APIKeyForValue(resp.UsageIdentifierKey)
	if status, msg := g.admit(planID, keyID, throttle, quota); status != 0 {
		writeError(w, status, msg, stageTag)
		return
	}
	g.emu.RecordUsage(keyID, planID, g.clock.Now())

	out := r.Clone(r.Context())
	for name, ctxKey := range map[string]string{
		HeaderCustomerID: "customerId", HeaderPlan: "plan", HeaderScopes: "scopes",
		HeaderKeyID: "keyId", HeaderAuthMethod: "authMethod",
	} {
		out.Header.Del(name) // a client cannot forge what the authorizer says
		if v, ok := resp.Context[ctxKey]; ok {
			out.Header.Set(name, fmt.Sprint(v))
		}
	}
	out.Header.Set(HeaderStage, stageTag)
	g.proxy.ServeHTTP(w, out)
}

func authorizerEvent(r *http.Request, methodArn, apiID, stage string) events.APIGatewayCustomAuthorizerRequestTypeRequest {
	headers := map[string]string{}
	multi := map[string][]string{}
	for name, vals := range r.Header {
		headers[name] = vals[len(vals)-1]
		multi[name] = vals
	}
	query := map[string]string{}
	for name, vals := range r.URL.Query() {
		query[name] = vals[len(vals)-1]
	}
	ip, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		ip = r.RemoteAddr
	}
	if fwd := r.Header.Get("X-Test-Source-Ip"); fwd != "" {
		ip = fwd // lets a test play a caller from another address
	}
	return events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:                  "REQUEST",
		MethodArn:             methodArn,
		Resource:              "/{proxy+}",
		Path:                  r.URL.Path,
		HTTPMethod:            r.Method,
		Headers:               headers,
		MultiValueHeaders:     multi,
		QueryStringParameters: query,
		PathParameters:        map[string]string{"proxy": strings.TrimPrefix(r.URL.Path, "/")},
		RequestContext: events.APIGatewayCustomAuthorizerRequestTypeRequestContext{
			Path: r.URL.Path, AccountID: Account, ResourcePath: "/{proxy+}", Stage: stage, APIID: apiID,
			HTTPMethod: r.Method, RequestID: fmt.Sprintf("req-%d", time.Now().UnixNano()),
			Identity: events.APIGatewayCustomAuthorizerRequestTypeRequestIdentity{SourceIP: ip},
		},
	}
}

// allowed evaluates an authorizer policy for one method ARN the way API
// Gateway does: an explicit Deny wins, then an Allow must match.
func allowed(doc events.APIGatewayCustomAuthorizerPolicy, methodArn string) bool {
	allow := false
	for _, st := range doc.Statement {
		if !actionMatches(st.Action) {
			continue
		}
		for _, res := range st.Resource {
			if !globMatch(res, methodArn) {
				continue
			}
			if strings.EqualFold(st.Effect, "Deny") {
				return false
			}
			if strings.EqualFold(st.Effect, "Allow") {
				allow = true
			}
		}
	}
	return allow
}

func actionMatches(actions []string) bool {
	for _, a := range actions {
		if globMatch(a, "execute-api:Invoke") {
			return true
		}
	}
	return false
}

// globMatch matches IAM wildcards: * any run of characters, ? one character.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	star, mark := -1, 0
	for sx < len(s) {
		switch {
		case px < len(pattern) && (pattern[px] == '?' || pattern[px] == s[sx]):
			px++
			sx++
		case px < len(pattern) && pattern[px] == '*':
			star, mark = px, sx
			px++
		case star >= 0:
			px = star + 1
			mark++
			sx = mark
		default:
			return false
		}
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}

// admit applies the plan's throttle and quota to one request of keyID.
func (g *Gateway) admit(planID, keyID string, throttle *apigw.Throttle, quota *apigw.Quota) (int, string) {
	now := g.clock.Now()
	g.mu.Lock()
	defer g.mu.Unlock()
	id := planID + "/" + keyID
	if throttle != nil && throttle.RateLimit > 0 {
		b := g.buckets[id]
		if b == nil {
			b = &bucket{tokens: float64(max(throttle.BurstLimit, 1)), last: now}
			g.buckets[id] = b
		}
		if !b.take(now, throttle.RateLimit, float64(max(throttle.BurstLimit, 1))) {
			return http.StatusTooManyRequests, "Too Many Requests"
		}
	}
	if quota != nil && quota.Limit > 0 {
		qid := id + "/" + period(now, quota.Period)
		if g.quota[qid] >= int(quota.Limit) {
			return http.StatusTooManyRequests, "Limit Exceeded"
		}
		g.quota[qid]++
	}
	return 0, ""
}

func period(t time.Time, p string) string {
	t = t.UTC()
	switch p {
	case "WEEK":
		y, w := t.ISOWeek()
		return fmt.Sprintf("%d-W%02d", y, w)
	case "MONTH":
		return t.Format("2006-01")
	default:
		return t.Format("2006-01-02")
	}
}

type bucket struct {
	tokens float64
	last   time.Time
}

func (b *bucket) take(now time.Time, rate, burst float64) bool {
	if el := now.Sub(b.last).Seconds(); el > 0 {
		b.tokens = min(burst, b.tokens+el*rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

func writeError(w http.ResponseWriter, status int, msg, stage string) {
	w.Header().Set("Content-Type", "application/json")
	if stage != "" {
		w.Header().Set(HeaderStage, stage)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}
