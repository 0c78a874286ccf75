package keyadmin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// TestMain runs the suite against DynamoDB Local, then checks what the
// whole suite produced: no secret in any log line, secrets only in the
// responses that issued them, and (on a full run) a success response for
// every operation of the OpenAPI document.
func TestMain(m *testing.M) { os.Exit(runSuite(m)) }

func runSuite(m *testing.M) int {
	code := ddbtest.Run(m)
	if code != 0 {
		return code
	}
	if err := suite.check(); err != nil {
		fmt.Fprintf(os.Stderr, "--- FAIL: suite-wide check\n%v\n", err)
		return 1
	}
	return 0
}

// testOrigin is the APIs the fixtures come from: abcdef1234 (IAM) and
// ghijk56789 (the JWT route), stage v1.
var testOrigin = keyadmin.Origin{APIID: "abcdef1234", JWTAPIID: "ghijk56789", Stage: "v1"}

// t0 is when every test world starts (a virtual clock).
var t0 = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// operator is the IAM principal of the request fixtures.
const operator = "arn:aws:sts::123456789012:assumed-role/platform-operator/alice"

// suite records, across every test, the log output of every handler, each
// response, and each secret the API issued.
var suite = newRecorder()

type recorded struct {
	op     string
	status int
	body   string
}

type recorder struct {
	mu        sync.Mutex
	logs      bytes.Buffer
	logger    *slog.Logger
	responses []recorded
	// secrets maps each issued secret (and key hash, and test token) to the
	// index of the response allowed to contain it (-1: none may).
	secrets map[string]int
	covered map[string]bool
}

func newRecorder() *recorder {
	r := &recorder{secrets: map[string]int{}, covered: map[string]bool{}}
	r.logger = slog.New(slog.NewJSONHandler(logWriter{r}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return r
}

type logWriter struct{ r *recorder }

func (w logWriter) Write(p []byte) (int, error) {
	w.r.mu.Lock()
	defer w.r.mu.Unlock()
	return w.r.logs.Write(p)
}

// add records a response; a createKey or rotateKey response that carries a
// secret registers it as the only response allowed to contain it.
func (r *recorder) add(op string, status int, body string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.responses = append(r.responses, recorded{op: op, status: status, body: body})
	if status < 300 && op != "" {
		r.covered[op] = true
	}
	if (op == "createKey" || op == "rotateKey" || op == "takeKeySecret") && status < 300 {
		var b struct {
			Secret string `json:"secret"`
		}
		if json.Unmarshal([]byte(body), &b) == nil && b.Secret != "" {
			r.secrets[b.Secret] = len(r.responses) - 1
			r.secrets[keys.HashKey(b.Secret).String()] = -1
		}
	}
}

// forbid registers a string no response and no log line may contain.
func (r *recorder) forbid(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.secrets[s] = -1
}

// leaks returns every place a secret appears where it must not.
func (r *recorder) leaks() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	logs := r.logs.String()
	for s, allowed := range r.secrets {
		if strings.Contains(logs, s) {
			out = append(out, fmt.Sprintf("a secret (%.11s…) appears in the logs", s))
		}
		for i, resp := range r.responses {
			if i != allowed && strings.Contains(resp.body, s) {
				out = append(out, fmt.Sprintf("a secret (%.11s…) appears in a %s response (status %d)", s, resp.op, resp.status))
			}
		}
	}
	return out
}

func (r *recorder) check() error {
	var errs []error
	for _, l := range r.leaks() {
		errs = append(errs, errors.New(l))
	}
	r.mu.Lock()
	n := len(r.secrets)
	r.mu.Unlock()
	if n == 0 && fullRun() {
		errs = append(errs, errors.New("no secret was issued: the leak check checked nothing"))
	}
	if fullRun() {
		doc := document()
		for _, item := range doc.Paths.Map() {
			for _, op := range item.Operations() {
				if !r.covered[op.OperationID] {
					errs = append(errs, fmt.Errorf("operation %s never answered with success", op.OperationID))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// fullRun reports whether every test ran (no -run filter).
func fullRun() bool {
	f := flag.Lookup("test.run")
	return f == nil || f.Value.String() == ""
}

var (
	docOnce   sync.Once
	docShared *openapi3.T
	docRouter routers.Router
)

// document is the OpenAPI document and a router over it, for checking
// responses.
func document() *openapi3.T {
	docOnce.Do(func() {
		doc, err := keyadmin.Document()
		if err != nil {
			panic(err)
		}
		doc.Servers = nil
		r, err := legacy.NewRouter(doc)
		if err != nil {
			panic(err)
		}
		docShared, docRouter = doc, r
	})
	return docShared
}

// world is one test's API: a fresh registry table, an API Gateway
// emulator, the service layer and the handler, on a virtual clock.
type world struct {
	h     *keyadmin.Handler
	store *registry.Store
	svc   *service.Service
	gw    *apigw.Emulator
	gwc   *apigateway.Client
	db    *dynamodb.Client
	table string
	clock *clock.Virtual
	plans map[string]string // plan name → usage plan id
}

func newWorld(t testing.TB, opts ...keyadmin.Option) *world {
	t.Helper()
	db, table := ddbtest.NewTable(t)
	clk := clock.NewVirtual(t0)
	gw := apigw.New(apigw.WithoutQuotas(), apigw.WithClock(clk))
	gwc := gw.Client(t)
	store := registry.New(db, table, registry.WithClock(clk))
	svc := service.New(store, service.NewAPIGatewayUsageKeys(gwc), service.WithClock(clk))
	base := []keyadmin.Option{keyadmin.WithLogger(suite.logger), keyadmin.WithClock(clk), keyadmin.WithOrigin(testOrigin)}
	h, err := keyadmin.New(svc, service.NewUsageReader(store, gwc), "dev", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{h: h, store: store, svc: svc, gw: gw, gwc: gwc, db: db, table: table, clock: clk, plans: map[string]string{}}
	ctx := context.Background()
	for _, p := range []struct {
		name  string
		quota int32
	}{{"basic", 1000}, {"standard", 10000}} {
		up, err := gwc.CreateUsagePlan(ctx, &apigateway.CreateUsagePlanInput{Name: aws.String(p.name)})
		if err != nil {
			t.Fatal(err)
		}
		w.plans[p.name] = aws.ToString(up.Id)
		if _, err := store.PutPlan(ctx, registry.Plan{Env: "dev", Name: p.name, UsagePlanID: w.plans[p.name],
			RateLimit: 10, BurstLimit: 20, QuotaLimit: p.quota, QuotaPeriod: "DAY"}, "seed"); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// customer creates an active customer subscribed to basic in dev.
func (w *world) customer(t testing.TB, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := w.svc.CreateCustomer(ctx, id, "Customer "+id, "seed"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Subscribe(ctx, id, "dev", "basic", nil, "seed"); err != nil {
		t.Fatal(err)
	}
	// Audit entries sort by time: what a test does comes after the seed.
	w.clock.Advance(time.Second)
}

// key issues a key for customer through the API and returns its id and
// secret.
func (w *world) key(t testing.TB, customer string) (string, string) {
	t.Helper()
	r := w.do(t, "POST", "/customers/"+customer+"/keys", body(`{"scopes":["orders:read"]}`))
	r.want(t, http.StatusCreated)
	var out struct {
		Key    struct{ ID string }
		Secret string
	}
	r.decode(t, &out)
	return out.Key.ID, out.Secret
}

// req describes a request; opts modify it.
type req struct {
	fixture string
	method  string
	path    string
	body    *string
	query   url.Values
	headers map[string]string
	drop    []string // headers to remove
	anon    bool     // no IAM identity
	arn     string
}

type opt func(*req)

func body(s string) opt { return func(r *req) { r.body = &s } }
func header(k, v string) opt {
	return func(r *req) { r.headers[k] = v }
}
func without(k string) opt    { return func(r *req) { r.drop = append(r.drop, k) } }
func query(k, v string) opt   { return func(r *req) { r.query.Add(k, v) } }
func ifMatch(v int64) opt     { return header("If-Match", fmt.Sprintf("%q", fmt.Sprint(v))) }
func idemKey(k string) opt    { return header("Idempotency-Key", k) }
func fixture(name string) opt { return func(r *req) { r.fixture = name } }
func anonymous() opt          { return func(r *req) { r.anon = true } }
func as(arn string) opt       { return func(r *req) { r.arn = arn } }

// event builds an API Gateway REST proxy event from a fixture: the method,
// path, query, headers and body are replaced, everything else (request
// context, identity, the SigV4 headers) is the fixture's.
func event(t testing.TB, method, path string, opts ...opt) events.APIGatewayProxyRequest {
	t.Helper()
	r := &req{method: method, path: path, query: url.Values{}, headers: map[string]string{}}
	for _, o := range opts {
		o(r)
	}
	if r.fixture == "" {
		r.fixture = "iam-get-customer.json"
		if r.body != nil {
			r.fixture = "iam-create-customer.json"
		}
	}
	ev := loadFixture(t, r.fixture)
	ev.HTTPMethod, ev.Path = method, path
	ev.PathParameters = map[string]string{"proxy": strings.TrimPrefix(path, "/")}
	ev.RequestContext.HTTPMethod, ev.RequestContext.Path = method, "/"+ev.RequestContext.Stage+path
	if r.body != nil {
		ev.Body = *r.body
	} else {
		ev.Body = ""
	}
	if len(r.query) > 0 {
		ev.QueryStringParameters, ev.MultiValueQueryStringParameters = map[string]string{}, map[string][]string{}
		for k, vs := range r.query {
			ev.QueryStringParameters[k] = vs[len(vs)-1]
			ev.MultiValueQueryStringParameters[k] = vs
		}
	}
	setHeader := func(k, v string) {
		for old := range ev.Headers {
			if strings.EqualFold(old, k) {
				delete(ev.Headers, old)
				delete(ev.MultiValueHeaders, old)
			}
		}
		if v != "" {
			ev.Headers[k], ev.MultiValueHeaders[k] = v, []string{v}
		}
	}
	for _, k := range r.drop {
		setHeader(k, "")
	}
	for _, k := range slices.Sorted(maps.Keys(r.headers)) {
		setHeader(k, r.headers[k])
	}
	if r.anon {
		ev.RequestContext.Identity.UserArn, ev.RequestContext.Identity.Caller = "", ""
	}
	if r.arn != "" {
		ev.RequestContext.Identity.UserArn = r.arn
	}
	return ev
}

var fixtureCache sync.Map

func loadFixture(t testing.TB, name string) events.APIGatewayProxyRequest {
	t.Helper()
	raw, ok := fixtureCache.Load(name)
	if !ok {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ = fixtureCache.LoadOrStore(name, b)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw.([]byte), &ev); err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	if ev.Headers == nil {
		ev.Headers = map[string]string{}
	}
	if ev.MultiValueHeaders == nil {
		ev.MultiValueHeaders = map[string][]string{}
	}
	return ev
}

// resp is a response as a client sees it.
type resp struct {
	op     string
	Status int
	Header http.Header
	Body   []byte
}

func (r *resp) want(t testing.TB, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d: %s", r.op, r.Status, status, r.Body)
	}
}

func (r *resp) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decode %s: %v", r.op, r.Body, err)
	}
}

// problemBody is an RFC 9457 problem as the API sends it.
type problemBody struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []fieldError `json:"errors"`
}

type fieldError struct {
	In      string `json:"in"`
	Field   string `json:"field"`
	Pointer string `json:"pointer,omitempty"`
	Reason  string `json:"reason"`
}

func (r *resp) problem(t testing.TB) problemBody {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("%s: Content-Type %q, want application/problem+json", r.op, ct)
	}
	var p problemBody
	r.decode(t, &p)
	return p
}

// do sends a request built by event through the handler.
func (w *world) do(t testing.TB, method, path string, opts ...opt) *resp {
	t.Helper()
	return w.send(t, event(t, method, path, opts...))
}

// send runs the handler on ev, checks the response against the OpenAPI
// document and records it for the suite-wide checks.
func (w *world) send(t testing.TB, ev events.APIGatewayProxyRequest) *resp {
	t.Helper()
	out, err := w.h.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	r := &resp{Status: out.StatusCode, Header: http.Header{}, Body: []byte(out.Body)}
	for k, v := range out.Headers {
		r.Header.Set(k, v)
	}
	r.op = checkResponse(t, ev, out, r.Header)
	suite.add(r.op, r.Status, out.Body)
	return r
}

// checkResponse validates a response against the operation the request
// matches (every status must be documented); responses to requests that
// match no operation must still be problem details. It returns the
// operation id ("" when none).
func checkResponse(t testing.TB, ev events.APIGatewayProxyRequest, out events.APIGatewayProxyResponse, header http.Header) string {
	t.Helper()
	doc := document()
	u := &url.URL{Path: ev.Path, RawQuery: url.Values(ev.MultiValueQueryStringParameters).Encode()}
	hreq, err := http.NewRequest(ev.HTTPMethod, u.String(), strings.NewReader(ev.Body))
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			hreq.Header.Add(k, v)
		}
	}
	route, params, err := docRouter.FindRoute(hreq)
	if err != nil {
		var p any
		if err := json.Unmarshal([]byte(out.Body), &p); err != nil {
			t.Errorf("%s %s: unrouted response is not JSON: %v", ev.HTTPMethod, ev.Path, err)
			return ""
		}
		if err := doc.Components.Schemas["Problem"].Value.VisitJSON(p, openapi3.EnableJSONSchema2020()); err != nil {
			t.Errorf("%s %s: unrouted response is not a Problem: %v", ev.HTTPMethod, ev.Path, err)
		}
		return ""
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hreq, PathParams: params, Route: route},
		Status:                 out.StatusCode,
		Header:                 header,
		Body:                   io.NopCloser(strings.NewReader(out.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	})
	if err != nil {
		t.Errorf("%s response %d does not match the OpenAPI document: %v\nbody: %s", route.Operation.OperationID, out.StatusCode, err, out.Body)
	}
	return route.Operation.OperationID
}

func (r *recorder) logText() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.String()
}
