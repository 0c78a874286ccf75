// Package keyadmin is the key administration API: an HTTP face over the
// registry's service layer (internal/service) for platforms and internal
// portals, served by lambdas/keyadmin behind an API Gateway REST API with a
// Lambda proxy integration.
//
// The OpenAPI 3.1 document embedded in this package (openapi.yaml) is the
// contract and the routing table: every request is matched to one of its
// operations and validated against it (kin-openapi) before anything runs,
// and each operationId maps to one small function that turns the request
// into a service call and the result into a response. Nothing here decides
// anything about customers or keys; that is the service layer's job.
//
// Callers are IAM principals (API Gateway AWS_IAM authorization: the
// principal ARN in requestContext.identity.userArn) or, when a
// TokenVerifier is configured, bearers of a JWT with the admin scope. The
// caller is the actor of every audit entry a request writes.
//
// Errors are RFC 9457 problem details. Creates accept an Idempotency-Key,
// updates an If-Match (see docs/keyadmin.md for the rules). A key's secret
// appears only in the create and rotate responses; it is never logged.
package keyadmin

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// validationEngineVersion selects kin-openapi's own schema validator (see
// New).
const validationEngineVersion = "3.0.3"

// MaxBodyBytes is the largest request body accepted (413 above it).
const MaxBodyBytes = 64 << 10

// DefaultAdminScope is the scope a JWT must carry to use the API.
const DefaultAdminScope = "stagehand:admin"

// UsageReporter reports a customer's metered usage (service.UsageReader).
type UsageReporter interface {
	Usage(ctx context.Context, customerID, env string, start, end time.Time) (service.UsageReport, error)
}

var _ UsageReporter = (*service.UsageReader)(nil)

// Handler serves the key-admin API. Build it with New; it is safe for
// concurrent use.
type Handler struct {
	svc        *service.Service
	store      *registry.Store
	usage      UsageReporter
	env        string
	router     routers.Router
	ops        map[string]*operation
	validation *openapi3filter.Options
	log        *slog.Logger
	clock      clock.Clock
	jwt        TokenVerifier
	adminScope string
	origin     Origin
	pickups    SecretPickups
}

// SecretPickups hands out rotated keys' secrets once each
// (rotation.Pickups).
type SecretPickups interface {
	Take(ctx context.Context, customerID, keyID string) (string, error)
}

// WithSecretPickups enables POST /keys/{keyId}/secret; without it every
// pickup is 404.
func WithSecretPickups(p SecretPickups) Option { return func(h *Handler) { h.pickups = p } }

// Option configures a Handler.
type Option func(*Handler)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithClock sets the clock used for keys' effective status (default: the
// system clock).
func WithClock(c clock.Clock) Option { return func(h *Handler) { h.clock = c } }

// WithTokenVerifier lets requests without an IAM identity authenticate
// with a bearer JWT that carries scope (DefaultAdminScope when empty).
func WithTokenVerifier(v TokenVerifier, scope string) Option {
	return func(h *Handler) {
		h.jwt = v
		if scope != "" {
			h.adminScope = scope
		}
	}
}

// WithOrigin sets the REST APIs and the stage the function serves
// (required): every other event is refused with 403.
func WithOrigin(o Origin) Option { return func(h *Handler) { h.origin = o } }

// New returns a handler over the service layer. env is the environment
// this deployment serves: the default wherever a request may name one.
// WithOrigin is required.
func New(svc *service.Service, usage UsageReporter, env string, opts ...Option) (*Handler, error) {
	if svc == nil || usage == nil {
		return nil, errors.New("keyadmin: a service and a usage reporter are required")
	}
	if !keys.ValidEnv(env) {
		return nil, fmt.Errorf("keyadmin: environment %q: %w", env, keys.ErrInvalidEnv)
	}
	h := &Handler{
		svc: svc, store: svc.Store(), usage: usage, env: env,
		log: slog.Default(), clock: clock.System{}, adminScope: DefaultAdminScope,
		validation: &openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, // done before validation
		},
	}
	for _, o := range opts {
		o(h)
	}
	if err := h.origin.validate(); err != nil {
		return nil, fmt.Errorf("keyadmin: origin (WithOrigin): %w", err)
	}
	doc, err := Document()
	if err != nil {
		return nil, err
	}
	// Routing works on the path below the stage or base path, whatever the
	// host: the servers' URLs are documentation.
	doc.Servers = nil
	if h.router, err = legacy.NewRouter(doc); err != nil {
		return nil, fmt.Errorf("keyadmin: build router: %w", err)
	}
	// kin-openapi v0.152.0 validates a 3.1 document by compiling a JSON
	// Schema 2020-12 validator on every request (about 0.6 ms of CPU and
	// 600 KB of garbage per create-key), then, for schemas that use
	// component $refs but none of the 2020-12-only keywords, discards it
	// and runs its own schema validator. The document keeps to the keywords
	// both validators share (TestDocumentKeepsToSharedKeywords), so the
	// handler runs kin-openapi's own validator directly: the document was
	// loaded and checked as 3.1; only the validation engine is chosen here,
	// after the router has checked the document as 3.1.
	doc.OpenAPI = validationEngineVersion
	if h.ops, err = bindOperations(doc); err != nil {
		return nil, err
	}
	return h, nil
}

// operation is one operation of the document bound to its implementation.
type operation struct {
	id              string
	run             func(h *Handler, ctx context.Context, r *request) result
	hasBody         bool
	ifMatchRequired bool
	idempotent      bool
	pathParams      []string
}

// bindOperations pairs every operation of the document with its
// implementation; a missing or extra implementation is an error, so the
// document and the code cannot drift apart.
func bindOperations(doc *openapi3.T) (map[string]*operation, error) {
	ops := map[string]*operation{}
	for path, item := range doc.Paths.Map() {
		for _, o := range item.Operations() {
			run, ok := implementations[o.OperationID]
			if !ok {
				return nil, fmt.Errorf("keyadmin: operation %q (%s) has no implementation", o.OperationID, path)
			}
			op := &operation{id: o.OperationID, run: run, hasBody: o.RequestBody != nil}
			params := append(append(openapi3.Parameters{}, item.Parameters...), o.Parameters...)
			for _, p := range params {
				switch {
				case p.Value.In == openapi3.ParameterInPath:
					op.pathParams = append(op.pathParams, p.Value.Name)
				case p.Value.In == openapi3.ParameterInHeader && p.Value.Name == "If-Match":
					op.ifMatchRequired = p.Value.Required
				case p.Value.In == openapi3.ParameterInHeader && p.Value.Name == "Idempotency-Key":
					op.idempotent = true
				}
			}
			ops[o.OperationID] = op
		}
	}
	for id := range implementations {
		if ops[id] == nil {
			return nil, fmt.Errorf("keyadmin: implementation %q is not in the OpenAPI document", id)
		}
	}
	return ops, nil
}

// request is a validated request as an operation sees it.
type request struct {
	op        *operation
	actor     string
	params    map[string]string // path parameters
	query     url.Values
	body      []byte
	ifVersion int64                // from If-Match; 0: none or "*"
	idem      *service.Idempotency // from Idempotency-Key
}

// result is what an operation produced: a body to encode, or an error.
type result struct {
	status   int
	body     any
	etag     int64  // the item's version; 0: no ETag
	location string // path of a created resource, below the API's base
	replayed bool
	err      error
	problem  *problem
	warning  error // logged: the request succeeded with a degraded side effect
}

// Handle serves one API Gateway proxy request. It always returns a
// response (problem details for errors) and a nil error, so that API
// Gateway never turns a failure into an opaque 502.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	began := time.Now()
	path := routedPath(ev)
	res, who, op := h.serve(ctx, ev, path)
	resp := h.respond(ev, path, res)

	attrs := []slog.Attr{
		slog.String("requestId", ev.RequestContext.RequestID),
		slog.String("method", ev.HTTPMethod),
		slog.String("path", path),
		slog.Int("status", resp.StatusCode),
		slog.Int64("durationMs", time.Since(began).Milliseconds()),
	}
	if op != "" {
		attrs = append(attrs, slog.String("operation", op))
	}
	if who.actor != "" {
		attrs = append(attrs, slog.String("actor", who.actor), slog.String("auth", who.method))
	}
	level := slog.LevelInfo
	switch {
	case errors.Is(res.err, ErrForeignOrigin):
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("error", res.err.Error()))
	case resp.StatusCode >= 500:
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", errString(res.err)))
	case resp.StatusCode == http.StatusBadRequest:
		// Validation messages can quote what the client sent, which is no
		// business of the logs: log where the errors are, not what.
		attrs = append(attrs, slog.Any("invalid", invalidFields(res)))
	case res.err != nil:
		// Known outcomes (not found, conflict...): ids and states only.
		attrs = append(attrs, slog.String("error", res.err.Error()))
	case res.warning != nil:
		level = slog.LevelWarn
		attrs = append(attrs, slog.String("warning", res.warning.Error()))
	}
	h.log.LogAttrs(ctx, level, "keyadmin request", attrs...)
	return resp, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// invalidFields lists a 400's fields as "in:field".
func invalidFields(res result) []string {
	p := res.problem
	if p == nil && res.err != nil {
		p = problemFor(res.err)
	}
	out := []string{}
	if p != nil {
		for _, e := range p.Errors {
			out = append(out, e.In+":"+e.Field)
		}
	}
	return out
}

// serve authenticates, routes and validates the request, then runs its
// operation.
func (h *Handler) serve(ctx context.Context, ev events.APIGatewayProxyRequest, path string) (result, identity, string) {
	via, p, err := h.routeOf(ev)
	if p != nil {
		return result{problem: p, err: err}, identity{}, ""
	}
	who, p := h.authenticate(ctx, ev, via)
	if p != nil {
		return result{problem: p}, who, ""
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return result{problem: newProblem(http.StatusBadRequest, "The body is not valid base64.")}, who, ""
		}
	}
	if len(body) > MaxBodyBytes {
		return result{problem: newProblem(http.StatusRequestEntityTooLarge, fmt.Sprintf("The body is larger than %d bytes.", MaxBodyBytes))}, who, ""
	}
	req, err := httpRequest(ctx, ev, path, body)
	if err != nil {
		return result{problem: newProblem(http.StatusBadRequest, "The request URL is malformed.")}, who, ""
	}
	route, params, err := h.router.FindRoute(req)
	if err != nil {
		return result{problem: h.routeProblem(req, err)}, who, ""
	}
	op := h.ops[route.Operation.OperationID]
	if len(body) > 0 {
		if !op.hasBody {
			return result{problem: newProblem(http.StatusBadRequest, "This operation takes no body.")}, who, op.id
		}
		if mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type")); err != nil || mt != "application/json" {
			return result{problem: newProblem(http.StatusUnsupportedMediaType, "Send the body as application/json.")}, who, op.id
		}
	}
	if op.ifMatchRequired && req.Header.Get("If-Match") == "" {
		return result{problem: newProblem(http.StatusPreconditionRequired,
			"This update needs an If-Match header with the ETag of the version it is based on.")}, who, op.id
	}
	if err := openapi3filter.ValidateRequest(ctx, &openapi3filter.RequestValidationInput{
		Request: req, PathParams: params, Route: route, Options: h.validation,
	}); err != nil {
		return result{problem: validationProblem(err), err: err}, who, op.id
	}
	r := &request{op: op, actor: who.actor, params: params, query: req.URL.Query(), body: body}
	r.ifVersion = parseIfMatch(req.Header.Get("If-Match"))
	if key := req.Header.Get("Idempotency-Key"); key != "" && op.idempotent {
		r.idem = &service.Idempotency{Key: key, Operation: op.id, Fingerprint: fingerprint(op.id, path, body)}
	}
	return op.run(h, ctx, r), who, op.id
}

// routeProblem is 404 for an unknown path and 405 (with Allow) for a known
// path with another method.
func (h *Handler) routeProblem(req *http.Request, err error) *problem {
	var re *routers.RouteError
	if !errors.As(err, &re) {
		return newProblem(http.StatusNotFound, "No such resource.")
	}
	// The router tells "method not allowed" only for paths without
	// parameters: ask it about every method.
	var allow []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		if _, _, err := h.router.FindRoute(probe); err == nil {
			allow = append(allow, m)
		}
	}
	if len(allow) == 0 {
		return newProblem(http.StatusNotFound, "No such resource.")
	}
	p := newProblem(http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here.", req.Method))
	p.allow = strings.Join(allow, ", ")
	return p
}

// routedPath is the request path below the stage and any custom-domain base
// path: the API Gateway resource template with the path parameters filled
// in ("/{proxy+}" with proxy "customers/acme" is "/customers/acme"). Only
// without a resource does it fall back to the event's path.
func routedPath(ev events.APIGatewayProxyRequest) string {
	if ev.Resource == "" {
		return ev.Path
	}
	var b strings.Builder
	rest := ev.Resource
	for {
		i := strings.IndexByte(rest, '{')
		j := strings.IndexByte(rest, '}')
		if i < 0 || j < i {
			b.WriteString(rest)
			return b.String()
		}
		b.WriteString(rest[:i])
		name := strings.TrimSuffix(rest[i+1:j], "+")
		b.WriteString(ev.PathParameters[name])
		rest = rest[j+1:]
	}
}

// httpRequest rebuilds the HTTP request the validator checks.
func httpRequest(ctx context.Context, ev events.APIGatewayProxyRequest, path string, body []byte) (*http.Request, error) {
	q := url.Values{}
	for k, vs := range ev.MultiValueQueryStringParameters {
		q[k] = append(q[k], vs...)
	}
	for k, v := range ev.QueryStringParameters {
		if _, ok := q[k]; !ok {
			q.Set(k, v)
		}
	}
	u := &url.URL{Scheme: "https", Host: "keyadmin.invalid", Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, ev.HTTPMethod, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, v := range ev.Headers {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	return req, nil
}

// respond encodes a result as an API Gateway proxy response.
func (h *Handler) respond(ev events.APIGatewayProxyRequest, path string, res result) events.APIGatewayProxyResponse {
	headers := map[string]string{
		// Responses can carry a key's only copy: never cache them.
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
	p := res.problem
	if p == nil && res.err != nil {
		p = problemFor(res.err)
	}
	if p != nil {
		p.Instance = path
		p.RequestID = ev.RequestContext.RequestID
		if p.allow != "" {
			headers["Allow"] = p.allow
		}
		if p.challenge != "" {
			headers["WWW-Authenticate"] = p.challenge
		}
		headers["Content-Type"] = "application/problem+json"
		return events.APIGatewayProxyResponse{StatusCode: p.Status, Headers: headers, Body: mustJSON(p)}
	}
	if res.etag > 0 {
		headers["ETag"] = etag(res.etag)
	}
	if res.location != "" {
		headers["Location"] = basePrefix(ev, path) + res.location
	}
	if res.replayed {
		headers["Idempotency-Replayed"] = "true"
	}
	resp := events.APIGatewayProxyResponse{StatusCode: res.status, Headers: headers}
	if res.body != nil {
		headers["Content-Type"] = "application/json"
		resp.Body = mustJSON(res.body)
	}
	return resp
}

// basePrefix is what the caller's URL path has before the routed path (the
// stage, or a custom domain's base path), so that Location resolves.
func basePrefix(ev events.APIGatewayProxyRequest, path string) string {
	if full := ev.RequestContext.Path; full != "" && strings.HasSuffix(full, path) {
		return strings.TrimSuffix(full, path)
	}
	return ""
}

// identity is who is calling, for the audit trail and the logs.
type identity struct {
	actor  string // IAM principal ARN, or "jwt:<subject>"
	method string // "iam" or "jwt"
}

// authenticate takes, on the IAM API, the IAM principal API Gateway
// verified (SigV4) and, on the JWT route's API, verifies a bearer JWT when
// a verifier is configured. API Gateway fills requestContext.identity
// itself; a client calling through API Gateway cannot set it.
func (h *Handler) authenticate(ctx context.Context, ev events.APIGatewayProxyRequest, via route) (identity, *problem) {
	unauthorized := unauthorizedOn(via)
	if via == routeIAM {
		id := ev.RequestContext.Identity
		if id.UserArn != "" {
			return identity{actor: id.UserArn, method: "iam"}, nil
		}
		if id.Caller != "" {
			return identity{actor: id.Caller, method: "iam"}, nil
		}
		return identity{}, unauthorized
	}
	if via != routeJWT || h.jwt == nil {
		return identity{}, unauthorized
	}
	token, ok := bearerToken(ev)
	if !ok {
		return identity{}, unauthorized
	}
	sub, scopes, err := h.jwt.Verify(ctx, token)
	if err != nil {
		// The error never contains the token (jwtverify's contract).
		h.log.LogAttrs(ctx, slog.LevelInfo, "keyadmin token rejected",
			slog.String("requestId", ev.RequestContext.RequestID), slog.String("reason", err.Error()))
		return identity{}, unauthorized
	}
	who := identity{actor: "jwt:" + sub, method: "jwt"}
	if !slices.Contains(scopes, h.adminScope) {
		return who, newProblem(http.StatusForbidden, fmt.Sprintf("The token does not carry the %s scope.", h.adminScope))
	}
	return who, nil
}

// unauthorizedOn is the 401 of the API a request came through: each API
// tells, in its detail and its WWW-Authenticate challenge (RFC 9110
// §11.6.1: a 401 carries one), only the credential it takes. The IAM API
// ignores bearer tokens, so it never offers one; its challenge names the
// SigV4 scheme as it appears in a signed request's Authorization header
// ("Authorization: AWS4-HMAC-SHA256 Credential=…": IAM User Guide,
// "Authentication methods", reference_sigv-authentication-methods).
func unauthorizedOn(via route) *problem {
	if via == routeJWT {
		p := newProblem(http.StatusUnauthorized, "Send an admin bearer token: Authorization: Bearer <JWT>.")
		p.challenge = `Bearer realm="stagehand-keyadmin"`
		return p
	}
	p := newProblem(http.StatusUnauthorized, "Sign the request with SigV4 (AWS IAM credentials).")
	p.challenge = "AWS4-HMAC-SHA256"
	return p
}

func bearerToken(ev events.APIGatewayProxyRequest) (string, bool) {
	v := ""
	for k, vs := range ev.MultiValueHeaders {
		if strings.EqualFold(k, "Authorization") && len(vs) > 0 {
			v = vs[0]
		}
	}
	for k, s := range ev.Headers {
		if v == "" && strings.EqualFold(k, "Authorization") {
			v = s
		}
	}
	scheme, token, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return "", false
	}
	return strings.TrimSpace(token), true
}
