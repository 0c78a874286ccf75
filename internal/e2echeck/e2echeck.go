// Package e2echeck runs the end-to-end checks of a deployed stagehand
// environment through its public entry point (the custom domain, or a new
// stage's own invoke URL before cutover): the same requests a customer
// makes, with real keys and a real JWT, and the answers API Gateway, the
// authorizer, the usage plans and the backend must give.
//
// The checks (in the order they run):
//
//	key              a valid API key                    → 2xx
//	jwt              a valid JWT (Authorization: Bearer) → 2xx
//	no-credentials   no key, no token                   → 401
//	revoked-key      a revoked API key                  → 401
//	missing-scope    a key without the route's scope    → 403
//	customer-header  the backend received the customer id header (needs an
//	                 echo backend, see below)
//	origin-verify    a request straight to the backend, without the
//	                 origin-verify header, is rejected (401 or 403); only
//	                 with Config.BackendURL
//	rate-limit       a basic-plan key sent a bounded burst gets a 429
//	                 (runs last: it spends that key's burst)
//
// Echo backend assumption: the customer-header check GETs Config.EchoPath
// and expects the backend to answer with a JSON object whose "headers"
// member maps each request header it received to its value (a string or a
// list of strings), as httpbin's /headers and the http-https-echo image do.
// Header names are matched case-insensitively.
//
// Secrets (keys, the JWT) come in Credentials, which callers fill from the
// environment (CredentialsFromEnv); they are sent only as request headers
// and never appear in a Report, an error or a log line. Response bodies are
// never reported either (an echo body holds the caller's own key).
package e2echeck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

// Check names.
const (
	CheckKey            = "key"
	CheckJWT            = "jwt"
	CheckNoCredentials  = "no-credentials"
	CheckRevokedKey     = "revoked-key"
	CheckMissingScope   = "missing-scope"
	CheckCustomerHeader = "customer-header"
	CheckOriginVerify   = "origin-verify"
	CheckRateLimit      = "rate-limit"
)

// AllChecks lists every check in the order Run runs them.
var AllChecks = []string{
	CheckKey, CheckJWT, CheckNoCredentials, CheckRevokedKey, CheckMissingScope,
	CheckCustomerHeader, CheckOriginVerify, CheckRateLimit,
}

// Environment variables CredentialsFromEnv reads.
const (
	EnvKey        = "STAGEHAND_E2E_KEY"
	EnvJWT        = "STAGEHAND_E2E_JWT"
	EnvRevokedKey = "STAGEHAND_E2E_REVOKED_KEY"
	EnvNoScopeKey = "STAGEHAND_E2E_NO_SCOPE_KEY"
	EnvBasicKey   = "STAGEHAND_E2E_BASIC_KEY"
)

// Defaults of Config fields left empty.
const (
	DefaultPath            = "/"
	DefaultEchoPath        = "/headers"
	DefaultScopeMethod     = http.MethodPost
	DefaultAPIKeyHeader    = "x-api-key"
	DefaultCustomerHeader  = "X-Customer-Id"
	DefaultOriginHeader    = "X-Origin-Verify"
	DefaultRateMaxRequests = 300
	DefaultRateConcurrency = 8
	DefaultRequestTimeout  = 15 * time.Second
	// maxBody is how much of a response body is read (the echo check needs
	// the body; the others drain it so connections are reused).
	maxBody = 1 << 20
)

// Errors callers branch on.
var (
	// ErrInvalidConfig: a Config field is malformed, or a selected check
	// lacks its input (a credential, the backend URL).
	ErrInvalidConfig = errors.New("invalid end-to-end check configuration")
	// ErrChecksFailed: at least one check failed (see the Report).
	ErrChecksFailed = errors.New("end-to-end checks failed")
)

// Credentials are the secrets the checks send. They are never printed.
type Credentials struct {
	Key        string // an active key with the scope for Path and EchoPath
	JWT        string // a valid JWT bound to a customer
	RevokedKey string // a revoked key
	NoScopeKey string // an active key without the scope ScopeMethod/ScopePath needs
	BasicKey   string // an active key on the basic (lowest-rate) plan
}

// CredentialsFromEnv reads the STAGEHAND_E2E_* variables with getenv
// (os.Getenv in the CLI).
func CredentialsFromEnv(getenv func(string) string) Credentials {
	return Credentials{
		Key: getenv(EnvKey), JWT: getenv(EnvJWT), RevokedKey: getenv(EnvRevokedKey),
		NoScopeKey: getenv(EnvNoScopeKey), BasicKey: getenv(EnvBasicKey),
	}
}

// Config says where and what to check. Zero fields take the defaults above.
type Config struct {
	// BaseURL is the entry point: https://api.example.com (the domain) or a
	// stage's invoke URL (https://id.execute-api.region.amazonaws.com/dev).
	BaseURL string
	// Path is what the key, JWT, no-credentials, revoked-key and rate-limit
	// checks request with GET.
	Path string
	// EchoPath is what the customer-header check requests (and, with
	// BackendURL, the origin-verify check).
	EchoPath string
	// ScopeMethod and ScopePath are the request the no-scope key must be
	// refused for (default POST Path: a read-only key cannot write).
	ScopeMethod string
	ScopePath   string
	// APIKeyHeader carries API keys (the authorizer's apiKeyHeader).
	APIKeyHeader string
	// CustomerHeader is the header the integration adds for the backend.
	CustomerHeader string
	// ExpectCustomerID, when set, is the value CustomerHeader must carry
	// for Credentials.Key's customer.
	ExpectCustomerID string
	// BackendURL is the backend reached directly (the NLB, from inside the
	// VPC). Empty: the origin-verify check is not selected by default.
	BackendURL string
	// RateMaxRequests bounds the rate-limit burst; RateConcurrency is how
	// many requests are in flight at once.
	RateMaxRequests int
	RateConcurrency int
	// Checks selects checks by name; empty selects every check whose input
	// is configured by default (all but origin-verify without BackendURL).
	Checks []string
	// Credentials are the secrets.
	Credentials Credentials
}

// Result is one check's outcome. It never holds a secret or a body.
type Result struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	// Want and Got describe the expected and observed answers
	// ("HTTP 401", "HTTP 429 within 300 requests").
	Want string `json:"want"`
	Got  string `json:"got"`
	// Requests is how many requests the check sent.
	Requests int `json:"requests"`
	// Detail explains a failure (and names API Gateway's request id).
	Detail     string `json:"detail,omitempty"`
	DurationMS int64  `json:"durationMs"`
}

// Report is the outcome of a run.
type Report struct {
	BaseURL  string   `json:"baseUrl"`
	Passed   bool     `json:"passed"`
	Failed   []string `json:"failed"`
	Requests int      `json:"requests"`
	Checks   []Result `json:"checks"`
}

// Option configures a Checker.
type Option func(*Checker)

// WithHTTPClient sets the HTTP client (default: 15 s timeout, redirects not
// followed, so a redirect is reported as what it is).
func WithHTTPClient(c *http.Client) Option {
	return func(ch *Checker) {
		if c != nil {
			ch.http = c
		}
	}
}

// WithClock sets the clock that times the checks (default clock.System).
func WithClock(c clock.Clock) Option {
	return func(ch *Checker) {
		if c != nil {
			ch.clock = c
		}
	}
}

// WithLogger sets the structured logger (default: discard). It logs one
// line per check: name, outcome, status; never a credential.
func WithLogger(l *slog.Logger) Option {
	return func(ch *Checker) {
		if l != nil {
			ch.log = l
		}
	}
}

// Checker runs the checks of one Config.
type Checker struct {
	cfg    Config
	checks []string
	http   *http.Client
	clock  clock.Clock
	log    *slog.Logger
}

// New validates cfg, fills its defaults and returns a Checker.
func New(cfg Config, opts ...Option) (*Checker, error) {
	c := &Checker{
		http: &http.Client{
			Timeout:       DefaultRequestTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		clock: clock.System{},
		log:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(c)
	}
	cfg.Path = orDefault(cfg.Path, DefaultPath)
	cfg.EchoPath = orDefault(cfg.EchoPath, DefaultEchoPath)
	cfg.ScopeMethod = strings.ToUpper(orDefault(cfg.ScopeMethod, DefaultScopeMethod))
	cfg.ScopePath = orDefault(cfg.ScopePath, cfg.Path)
	cfg.APIKeyHeader = orDefault(cfg.APIKeyHeader, DefaultAPIKeyHeader)
	cfg.CustomerHeader = orDefault(cfg.CustomerHeader, DefaultCustomerHeader)
	if cfg.RateMaxRequests == 0 {
		cfg.RateMaxRequests = DefaultRateMaxRequests
	}
	if cfg.RateConcurrency == 0 {
		cfg.RateConcurrency = DefaultRateConcurrency
	}

	var problems []string
	for name, u := range map[string]string{"base URL": cfg.BaseURL, "backend URL": cfg.BackendURL} {
		if u == "" && name == "backend URL" {
			continue
		}
		p, err := url.Parse(u)
		switch {
		case err != nil:
			problems = append(problems, name+" is not a URL")
		case p.User != nil:
			problems = append(problems, name+" must not hold credentials")
		case (p.Scheme != "http" && p.Scheme != "https") || p.Host == "":
			problems = append(problems, fmt.Sprintf("%s %q is not an http(s) URL", name, u))
		}
	}
	for name, p := range map[string]string{"path": cfg.Path, "echo path": cfg.EchoPath, "scope path": cfg.ScopePath} {
		if !strings.HasPrefix(p, "/") {
			problems = append(problems, fmt.Sprintf("%s %q must start with /", name, p))
		}
	}
	if cfg.RateMaxRequests < 1 || cfg.RateMaxRequests > 10000 {
		problems = append(problems, fmt.Sprintf("rate max requests %d is not in 1..10000", cfg.RateMaxRequests))
	}
	if cfg.RateConcurrency < 1 || cfg.RateConcurrency > 64 {
		problems = append(problems, fmt.Sprintf("rate concurrency %d is not in 1..64", cfg.RateConcurrency))
	}

	var selected []string
	for _, name := range cfg.Checks {
		if name = strings.TrimSpace(name); name != "" {
			selected = append(selected, name)
		}
	}
	if len(selected) == 0 {
		for _, name := range AllChecks {
			if name != CheckOriginVerify || cfg.BackendURL != "" {
				selected = append(selected, name)
			}
		}
	}
	for _, name := range selected {
		if !slices.Contains(AllChecks, name) {
			problems = append(problems, fmt.Sprintf("unknown check %q (known: %s)", name, strings.Join(AllChecks, ", ")))
			continue
		}
		if missing := cfg.missingInput(name); missing != "" {
			problems = append(problems, fmt.Sprintf("check %s needs %s", name, missing))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(slices.Compact(problems), "; "))
	}
	// Run in AllChecks order whatever order they were selected in.
	for _, name := range AllChecks {
		if slices.Contains(selected, name) {
			c.checks = append(c.checks, name)
		}
	}
	c.cfg = cfg
	return c, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// missingInput names what check needs and cfg lacks ("" when complete).
func (cfg Config) missingInput(check string) string {
	switch check {
	case CheckKey, CheckCustomerHeader:
		if cfg.Credentials.Key == "" {
			return EnvKey
		}
	case CheckJWT:
		if cfg.Credentials.JWT == "" {
			return EnvJWT
		}
	case CheckRevokedKey:
		if cfg.Credentials.RevokedKey == "" {
			return EnvRevokedKey
		}
	case CheckMissingScope:
		if cfg.Credentials.NoScopeKey == "" {
			return EnvNoScopeKey
		}
	case CheckRateLimit:
		if cfg.Credentials.BasicKey == "" {
			return EnvBasicKey
		}
	case CheckOriginVerify:
		if cfg.BackendURL == "" {
			return "a backend URL"
		}
	}
	return ""
}

// Checks returns the selected checks in run order.
func (c *Checker) Checks() []string { return slices.Clone(c.checks) }

// Run runs the selected checks one after the other and reports them all; it
// returns an error wrapping ErrChecksFailed when any failed, or the context's
// error when ctx ended first (the report then holds the checks that ran).
func (c *Checker) Run(ctx context.Context) (Report, error) {
	rep := Report{BaseURL: c.cfg.BaseURL, Failed: []string{}, Checks: []Result{}}
	for _, name := range c.checks {
		if err := ctx.Err(); err != nil {
			return rep, fmt.Errorf("end-to-end checks stopped before %s: %w", name, err)
		}
		start := c.clock.Now()
		r := c.run(ctx, name)
		r.Name = name
		r.DurationMS = c.clock.Now().Sub(start).Milliseconds()
		rep.Checks = append(rep.Checks, r)
		rep.Requests += r.Requests
		if !r.Passed {
			rep.Failed = append(rep.Failed, name)
		}
		c.log.InfoContext(ctx, "e2e check", "check", name, "passed", r.Passed, "got", r.Got, "requests", r.Requests)
	}
	rep.Passed = len(rep.Failed) == 0
	if !rep.Passed {
		return rep, fmt.Errorf("%w: %d of %d failed: %s", ErrChecksFailed, len(rep.Failed), len(rep.Checks), strings.Join(rep.Failed, ", "))
	}
	return rep, nil
}

func (c *Checker) run(ctx context.Context, name string) Result {
	cfg := c.cfg
	creds := cfg.Credentials
	key := func(v string) http.Header { return http.Header{http.CanonicalHeaderKey(cfg.APIKeyHeader): {v}} }
	switch name {
	case CheckKey:
		return c.expectStatus(ctx, http.MethodGet, cfg.BaseURL, cfg.Path, key(creds.Key), is2xx, "2xx",
			"a valid API key was not accepted")
	case CheckJWT:
		return c.expectStatus(ctx, http.MethodGet, cfg.BaseURL, cfg.Path, http.Header{"Authorization": {"Bearer " + creds.JWT}}, is2xx, "2xx",
			"a valid JWT was not accepted")
	case CheckNoCredentials:
		return c.expectStatus(ctx, http.MethodGet, cfg.BaseURL, cfg.Path, nil, isStatus(http.StatusUnauthorized), "HTTP 401",
			"a request without credentials was not refused with 401")
	case CheckRevokedKey:
		return c.expectStatus(ctx, http.MethodGet, cfg.BaseURL, cfg.Path, key(creds.RevokedKey), isStatus(http.StatusUnauthorized), "HTTP 401",
			"a revoked key was not refused with 401")
	case CheckMissingScope:
		return c.expectStatus(ctx, cfg.ScopeMethod, cfg.BaseURL, cfg.ScopePath, key(creds.NoScopeKey), isStatus(http.StatusForbidden), "HTTP 403",
			fmt.Sprintf("a key without the scope for %s %s was not refused with 403", cfg.ScopeMethod, cfg.ScopePath))
	case CheckCustomerHeader:
		return c.customerHeader(ctx, key(creds.Key))
	case CheckOriginVerify:
		return c.expectStatus(ctx, http.MethodGet, cfg.BackendURL, cfg.EchoPath, nil,
			func(s int) bool { return s == http.StatusUnauthorized || s == http.StatusForbidden }, "HTTP 401 or 403",
			"the backend answered a request without the "+DefaultOriginHeader+" header")
	case CheckRateLimit:
		return c.rateLimit(ctx, key(creds.BasicKey))
	}
	return Result{Detail: "unknown check"}
}

func is2xx(s int) bool { return s >= 200 && s < 300 }

func isStatus(want int) func(int) bool { return func(s int) bool { return s == want } }

// response is what the checks keep of an answer: never the body, except
// for the echo check, which parses it and drops it.
type response struct {
	status    int
	errorType string // x-amzn-ErrorType, when API Gateway set it
	requestID string // x-amzn-RequestId / apigw-requestid
	body      []byte
}

func (r response) String() string {
	s := fmt.Sprintf("HTTP %d", r.status)
	if r.errorType != "" {
		s += " " + r.errorType
	}
	return s
}

func (r response) idNote() string {
	if r.requestID == "" {
		return ""
	}
	return " (request id " + r.requestID + ")"
}

// do sends one request. The error never holds a header value.
func (c *Checker) do(ctx context.Context, method, base, path string, h http.Header, keepBody bool) (response, error) {
	u := strings.TrimSuffix(base, "/") + path
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return response{}, fmt.Errorf("build request %s %s: %w", method, path, err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	req.Header.Set("User-Agent", "stagehand-e2e/1")
	resp, err := c.http.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	r := response{
		status:    resp.StatusCode,
		errorType: strings.SplitN(resp.Header.Get("x-amzn-ErrorType"), ":", 2)[0],
		requestID: resp.Header.Get("x-amzn-RequestId"),
	}
	if r.requestID == "" {
		r.requestID = resp.Header.Get("apigw-requestid")
	}
	if keepBody {
		r.body, err = io.ReadAll(io.LimitReader(resp.Body, maxBody))
		if err != nil {
			return r, fmt.Errorf("%s %s: read body: %w", method, path, err)
		}
	} else {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
	}
	return r, nil
}

func (c *Checker) expectStatus(ctx context.Context, method, base, path string, h http.Header, ok func(int) bool, want, failure string) Result {
	res := Result{Want: want, Requests: 1}
	r, err := c.do(ctx, method, base, path, h, false)
	if err != nil {
		res.Got = "no response"
		res.Detail = err.Error()
		return res
	}
	res.Got = r.String()
	res.Passed = ok(r.status)
	if !res.Passed {
		res.Detail = failure + r.idNote()
	}
	return res
}

func (c *Checker) customerHeader(ctx context.Context, h http.Header) Result {
	cfg := c.cfg
	res := Result{Want: cfg.CustomerHeader + " reaches the backend", Requests: 1}
	if cfg.ExpectCustomerID != "" {
		res.Want = fmt.Sprintf("%s: %s reaches the backend", cfg.CustomerHeader, cfg.ExpectCustomerID)
	}
	r, err := c.do(ctx, http.MethodGet, cfg.BaseURL, cfg.EchoPath, h, true)
	if err != nil {
		res.Got, res.Detail = "no response", err.Error()
		return res
	}
	res.Got = r.String()
	if !is2xx(r.status) {
		res.Detail = "the echo request with a valid key was not accepted" + r.idNote()
		return res
	}
	got, found, err := EchoedHeader(r.body, cfg.CustomerHeader)
	switch {
	case err != nil:
		res.Detail = err.Error() + "; the backend must echo request headers (see docs/deploy.md)"
	case !found || got == "":
		res.Got += ", header absent"
		res.Detail = "the backend did not receive " + cfg.CustomerHeader + r.idNote()
	case cfg.ExpectCustomerID != "" && got != cfg.ExpectCustomerID:
		res.Got += fmt.Sprintf(", %s: %s", cfg.CustomerHeader, got)
		res.Detail = "the backend received another customer id" + r.idNote()
	default:
		// A customer id is an identifier, not a secret: showing it helps.
		res.Got += fmt.Sprintf(", %s: %s", cfg.CustomerHeader, got)
		res.Passed = true
	}
	return res
}

// EchoedHeader finds header (case-insensitively) in an echo backend's JSON
// answer: an object whose "headers" member maps names to a string or a
// list of strings (the first is returned). found is false when the header is
// absent; err says the body is not such an answer.
func EchoedHeader(body []byte, header string) (value string, found bool, err error) {
	var echo struct {
		Headers map[string]json.RawMessage `json:"headers"`
	}
	if err := json.Unmarshal(body, &echo); err != nil {
		return "", false, fmt.Errorf("echo answer is not JSON: %w", err)
	}
	if echo.Headers == nil {
		return "", false, errors.New(`echo answer has no "headers" object`)
	}
	// Sorted, so that an echo holding one header under two spellings
	// always gives the same answer.
	for _, name := range slices.Sorted(maps.Keys(echo.Headers)) {
		if !strings.EqualFold(name, header) {
			continue
		}
		raw := echo.Headers[name]
		var one string
		if json.Unmarshal(raw, &one) == nil {
			return one, true, nil
		}
		var many []string
		if json.Unmarshal(raw, &many) == nil {
			if len(many) == 0 {
				return "", true, nil
			}
			return many[0], true, nil
		}
		return "", false, fmt.Errorf("echoed header %s is neither a string nor a list of strings", header)
	}
	return "", false, nil
}

// rateLimit sends up to RateMaxRequests GETs with the basic key,
// RateConcurrency at a time, and sends no new one after the first 429 (the
// requests already in flight finish and are counted). It passes when a 429
// came and every other answer was 2xx.
func (c *Checker) rateLimit(ctx context.Context, h http.Header) Result {
	cfg := c.cfg
	res := Result{Want: fmt.Sprintf("HTTP 429 within %d requests", cfg.RateMaxRequests)}

	var (
		mu       sync.Mutex
		sent     int
		limited  int // 429s
		accepted int // 2xx
		other    []string
		errs     int
		firstErr error
	)
	take := func() bool {
		mu.Lock()
		defer mu.Unlock()
		if limited > 0 || sent >= cfg.RateMaxRequests || ctx.Err() != nil {
			return false
		}
		sent++
		return true
	}
	var wg sync.WaitGroup
	for range cfg.RateConcurrency {
		wg.Go(func() {
			for take() {
				r, err := c.do(ctx, http.MethodGet, cfg.BaseURL, cfg.Path, h, false)
				mu.Lock()
				switch {
				case err != nil:
					errs++
					if firstErr == nil {
						firstErr = err
					}
				case r.status == http.StatusTooManyRequests:
					limited++
				case is2xx(r.status):
					accepted++
				default:
					other = append(other, r.String())
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()

	res.Requests = sent
	res.Got = fmt.Sprintf("%d accepted, %d throttled", accepted, limited)
	if len(other) > 0 {
		slices.Sort(other)
		res.Got += ", other: " + strings.Join(slices.Compact(other), ", ")
	}
	switch {
	case errs > 0:
		res.Got += fmt.Sprintf(", %d without response", errs)
		res.Detail = "requests failed during the burst: " + firstErr.Error()
	case len(other) > 0:
		res.Detail = "answers other than 2xx or 429 during the burst"
	case limited == 0:
		res.Detail = fmt.Sprintf("no 429 after %d requests: the basic plan's rate limit did not apply", sent)
	default:
		res.Passed = true
	}
	return res
}
