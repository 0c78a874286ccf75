// Package e2echecktest plays a deployed stagehand environment on loopback
// for tests of the end-to-end checks: a fake gateway that answers as API
// Gateway with the authorizer and usage plans would (200, 401, 403, 429 by
// credential), an echo backend behind it, and a backend reached directly
// that wants the origin-verify header. Faults make it misbehave one way at
// a time, so a test can show each check catches its failure.
package e2echecktest

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/e2echeck"
)

// Values the fake environment knows.
const (
	// CustomerID is the customer of Creds.Key and Creds.JWT.
	CustomerID = "acme"
	// Burst is how many basic-key requests pass before the first 429.
	Burst = 20
	// OriginSecret is the origin-verify value the direct backend wants.
	OriginSecret = "origin-secret-for-tests"
	// EchoPath is the path the backend echoes request headers on.
	EchoPath = "/headers"
)

// Creds are the credentials the fake gateway accepts (dummy values shaped
// like stagehand keys; none is a real secret).
var Creds = e2echeck.Credentials{
	Key:        "sh_test_KEYkeyKEYkeyKEYkeyKEYkeyKEYkey000001",
	JWT:        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzdmMtNDIifQ.c2lnbmF0dXJl",
	RevokedKey: "sh_test_REVOKEDrevokedREVOKEDrevokedRE000002",
	NoScopeKey: "sh_test_READONLYreadonlyREADONLYreadon000003",
	BasicKey:   "sh_test_BASICbasicBASICbasicBASICbasic000004",
}

// Faults make the fake environment wrong in one way each.
type Faults struct {
	OpenWithoutCredentials      bool // 200 to a request with no credentials
	AcceptRevoked               bool // the revoked key works
	IgnoreScopes                bool // a read-only key may POST
	RejectJWT                   bool // the valid JWT gets 401
	RejectKey                   bool // the valid key gets 401
	ForbidInsteadOfUnauthorized bool // bad credentials get 403, not 401
	DropCustomerHeader          bool // the integration forgets X-Customer-Id
	WrongCustomer               bool // the integration sends another customer
	EchoHTML                    bool // the backend serves a page, not an echo
	NoThrottle                  bool // the basic plan never answers 429
	ServerErrorsInBurst         bool // every 5th basic-key request gets 502
	BackendOpen                 bool // the direct backend ignores origin-verify
}

// Env is a running fake environment.
type Env struct {
	// GatewayURL is the fake custom domain; BackendURL the backend reached
	// directly.
	GatewayURL string
	BackendURL string

	faults Faults
	mu     sync.Mutex
	basic  int
	calls  int
}

// Start serves the fake gateway and backend on loopback until the test ends.
func Start(t testing.TB, f Faults) *Env {
	t.Helper()
	e := &Env{faults: f}
	gw := httptest.NewServer(http.HandlerFunc(e.gateway))
	t.Cleanup(gw.Close)
	be := httptest.NewServer(http.HandlerFunc(e.backend))
	t.Cleanup(be.Close)
	e.GatewayURL, e.BackendURL = gw.URL, be.URL
	return e
}

// BasicRequests is how many requests the basic key sent.
func (e *Env) BasicRequests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.basic
}

// Calls is how many requests reached the gateway.
func (e *Env) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

type caller struct {
	customer string
	write    bool
	basic    bool
}

func apiError(w http.ResponseWriter, status int, errType, msg string) {
	w.Header().Set("x-amzn-ErrorType", errType)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

func (e *Env) gateway(w http.ResponseWriter, r *http.Request) {
	f := e.faults
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	w.Header().Set("x-amzn-RequestId", "req-0001")
	key, auth := r.Header.Get("x-api-key"), r.Header.Get("Authorization")
	var c *caller
	switch {
	case key == Creds.Key && !f.RejectKey:
		c = &caller{customer: CustomerID, write: true}
	case key == Creds.BasicKey:
		c = &caller{customer: "basicco", basic: true}
	case key == Creds.NoScopeKey:
		c = &caller{customer: "readonly"}
	case key == Creds.RevokedKey && f.AcceptRevoked:
		c = &caller{customer: CustomerID, write: true}
	case key == "" && auth == "Bearer "+Creds.JWT && !f.RejectJWT:
		c = &caller{customer: CustomerID, write: true}
	case key == "" && auth == "" && f.OpenWithoutCredentials:
		c = &caller{customer: "anonymous", write: true}
	}
	if c == nil {
		if f.ForbidInsteadOfUnauthorized {
			apiError(w, http.StatusForbidden, "AccessDeniedException", "User is not authorized to access this resource")
			return
		}
		// API Gateway's body echoes nothing, but a careless one might: the
		// checks must never print what comes back.
		apiError(w, http.StatusUnauthorized, "UnauthorizedException", "Unauthorized "+key)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !c.write && !f.IgnoreScopes {
		apiError(w, http.StatusForbidden, "AccessDeniedException", "User is not authorized to access this resource")
		return
	}
	if c.basic {
		e.mu.Lock()
		e.basic++
		n := e.basic
		e.mu.Unlock()
		if f.ServerErrorsInBurst && n%5 == 0 {
			apiError(w, http.StatusBadGateway, "", "Internal server error")
			return
		}
		if n > Burst && !f.NoThrottle {
			apiError(w, http.StatusTooManyRequests, "", "Too Many Requests")
			return
		}
	}
	// The integration adds the authorizer context and the origin secret.
	r.Header.Set("X-Origin-Verify", OriginSecret)
	switch {
	case f.DropCustomerHeader:
	case f.WrongCustomer:
		r.Header.Set("X-Customer-Id", "globex")
	default:
		r.Header.Set("X-Customer-Id", c.customer)
	}
	e.backend(w, r)
}

// backend wants the origin secret, then echoes headers on EchoPath.
func (e *Env) backend(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Origin-Verify") != OriginSecret && !e.faults.BackendOpen {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	if r.URL.Path != EchoPath {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	if e.faults.EchoHTML {
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte("<html><body><h1>Welcome to nginx!</h1></body></html>\n"))
		return
	}
	headers := map[string]string{}
	for k, v := range r.Header {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"path": r.URL.Path, "method": r.Method, "headers": headers})
}
