package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/golang-jwt/jwt/v5"

	"github.com/stagehand-dev/stagehand/internal/auth"
	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/apigw"
	"github.com/stagehand-dev/stagehand/test/e2e/gateway"
	"github.com/stagehand-dev/stagehand/test/eventbus"
)

const (
	envName  = "dev"
	domain   = "api.example.com"
	issuer   = "https://idp.example.com/"
	audience = "https://api.example.com"
	// cacheTTL is the authorizer's in-process decision cache; API Gateway's
	// own authorizer cache is off (TTL 0), so revocation takes effect within
	// cacheTTL: the documented bound.
	cacheTTL = 2 * time.Second
)

func TestMain(m *testing.M) {
	// No test may reach AWS: every endpoint not set explicitly is a closed port.
	os.Setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
	os.Setenv("AWS_ACCESS_KEY_ID", "local")
	os.Setenv("AWS_SECRET_ACCESS_KEY", "local")
	os.Setenv("AWS_REGION", "us-east-1")
	os.Exit(ddbtest.Run(m))
}

// world is one local deployment of stagehand: registry on DynamoDB Local,
// API Gateway's control plane (emulator, virtual clock for its quotas), an
// event bus, the real authorizer behind a local data plane for the custom
// domain, and a backend.
type world struct {
	t     *testing.T
	ctx   context.Context
	table string
	store *registry.Store
	svc   *service.Service
	emu   *apigw.Emulator
	// declared are the plans of the environment's config file (plansFile).
	declared  []map[string]any
	plansFile string
	emuURL    string
	gw        *apigateway.Client
	vclock    *clock.Skipping // API Gateway quotas and re-association pacing: real time that skips ahead when someone sleeps
	bus       *eventbus.Bus
	busURL    string
	signKey   *rsa.PrivateKey
	authz     *auth.Authorizer
	edge      *httptest.Server // the custom domain
	plans     map[string]string

	mu       sync.Mutex
	mappings []mappingChange // the base path mapping over time
}

type mappingChange struct {
	before, after time.Time
	stage         string // apiId/stage
}

func newWorld(t *testing.T, emuOpts ...apigw.Option) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), vclock: clock.NewSkipping()}
	client, table := ddbtest.NewTable(t)
	w.table = table
	w.store = registry.New(client, table)
	w.emu = apigw.New(append([]apigw.Option{apigw.WithClock(w.vclock)}, emuOpts...)...)
	w.emuURL = w.emu.Start(t)
	// The SDK's standard retries, as the CLI and the Lambdas have them.
	w.gw = w.emu.ClientWithOptions(t, func(o *apigateway.Options) { o.RetryMaxAttempts = 8 })
	w.svc = service.New(w.store, service.NewAPIGatewayUsageKeys(w.gw))
	w.bus = eventbus.New()
	w.busURL = w.bus.Start(t)

	// The identity provider: one RSA key, served as a JWKS on loopback.
	var err error
	if w.signKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		pub := w.signKey.PublicKey
		_ = json.NewEncoder(rw).Encode(map[string]any{"keys": []map[string]string{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	}))
	t.Cleanup(jwks.Close)

	// The usage plans are the registry's: runCycle declares them in a
	// config file and applies it (stagehand plans apply), then the
	// reconciler creates them (see plans_test.go).
	w.plans = map[string]string{}
	if _, err := w.gw.CreateDomainName(w.ctx, &apigateway.CreateDomainNameInput{DomainName: aws.String(domain),
		RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/e2e"),
		EndpointConfiguration:  &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}}}); err != nil {
		t.Fatal(err)
	}

	// The authorizer, built from the same configuration CDK passes it.
	settings := map[string]any{
		"mode": "strict", "cacheTtlSeconds": int(cacheTTL / time.Second), "maxTokenLifetimeSeconds": 3600,
		"issuers": []map[string]any{{"issuer": issuer, "jwksUrl": jwks.URL, "audiences": []string{audience}}},
		"routes": []map[string]any{
			{"method": "GET", "path": "/orders/*", "scopes": []string{"orders:read"}},
			{"method": "POST", "path": "/orders", "scopes": []string{"orders:write"}},
		},
	}
	raw, _ := json.Marshal(settings)
	vars := map[string]string{"STAGEHAND_ENV": envName, "STAGEHAND_TABLE": table, "AUTHORIZER_CONFIG": string(raw)}
	cfg, err := auth.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	v, err := jwtverify.New(w.ctx, cfg.Settings.VerifierIssuers(), cfg.Settings.VerifierOptions(quiet)...)
	if err != nil {
		t.Fatal(err)
	}
	if w.authz, err = auth.New(cfg, w.store, auth.WithVerifier(v), auth.WithLogger(quiet)); err != nil {
		t.Fatal(err)
	}

	// The backend echoes which stage the integration says it came through
	// and which customer the authorizer named.
	backend := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("X-Backend-Saw-Customer", r.Header.Get(gateway.HeaderCustomerID))
		rw.Header().Set("X-Backend-Saw-Stage", r.Header.Get(gateway.HeaderStage))
		_, _ = io.WriteString(rw, "ok")
	}))
	t.Cleanup(backend.Close)
	bu, _ := url.Parse(backend.URL)
	w.edge = httptest.NewServer(gateway.New(w.emu, domain, w.authz.Handle, bu, clock.System{}))
	t.Cleanup(w.edge.Close)
	return w
}

// stagehand runs the CLI in-process with the flags the deploy workflow
// passes, against this world's endpoints.
func (w *world) stagehand(args ...string) (string, error) {
	var out, errb bytes.Buffer
	full := append([]string{"--env", envName, "--table", w.table, "--endpoint", ddbtest.Endpoint(w.t),
		"--apigateway-endpoint", w.emuURL, "--events-endpoint", w.busURL, "--region", "us-east-1", "--actor", "e2e"}, args...)
	if code := cli.Execute(w.ctx, full, &out, &errb); code != 0 {
		return out.String(), fmt.Errorf("stagehand %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

func (w *world) mustStagehand(args ...string) string {
	w.t.Helper()
	out, err := w.stagehand(args...)
	if err != nil {
		w.t.Fatal(err)
	}
	return out
}

// cutover moves the domain with the CLI and records the window in which
// the change took effect (somewhere inside the CLI call).
func (w *world) cutover(apiID string) {
	w.t.Helper()
	before := time.Now()
	w.mustStagehand("cutover", "--domain", domain, "--api-id", apiID, "--stage", envName)
	w.mu.Lock()
	w.mappings = append(w.mappings, mappingChange{before: before, after: time.Now(), stage: apiID + "/" + envName})
	w.mu.Unlock()
}

// allowedStages is every stage the domain could have been mapped to at some
// instant of [from, to]: the one in force at from, and old and new of every
// change whose window overlaps the request.
func (w *world) allowedStages(from, to time.Time) map[string]bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	allowed := map[string]bool{}
	inForce := ""
	for _, m := range w.mappings {
		if m.after.Before(from) {
			inForce = m.stage
			continue
		}
		if m.before.After(to) {
			break
		}
		allowed[inForce] = true
		inForce = m.stage
		allowed[inForce] = true
	}
	allowed[inForce] = true
	return allowed
}

// customer is a paying customer with a key and a JWT client.
type customer struct {
	id     string
	keyID  string
	secret string
	token  string
}

// addCustomer subscribes a customer with the CLI's service layer and issues
// a key and a JWT client bound to it.
func (w *world) addCustomer(id, tier string) customer {
	w.t.Helper()
	if _, err := w.svc.CreateCustomer(w.ctx, id, "Customer "+id, "e2e"); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.svc.Subscribe(w.ctx, id, envName, tier, nil, "e2e"); err != nil {
		w.t.Fatal(err)
	}
	k, secret, err := w.svc.CreateKey(w.ctx, service.CreateKeyInput{CustomerID: id, Env: envName, Scopes: []string{"orders:read", "orders:write"}}, "e2e")
	if err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.svc.PutBinding(w.ctx, registry.ClientBinding{Env: envName, Issuer: issuer, Subject: "client-" + id, CustomerID: id}, "e2e"); err != nil {
		w.t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": "client-" + id, "scope": "orders:read orders:write",
		"iat": time.Now().Unix(), "exp": time.Now().Add(30 * time.Minute).Unix(),
	})
	tok.Header["kid"] = "k1"
	signed, err := tok.SignedString(w.signKey)
	if err != nil {
		w.t.Fatal(err)
	}
	return customer{id: id, keyID: k.ID, secret: secret.Plaintext, token: signed}
}

// result is one request through the domain.
type result struct {
	client   int
	jwt      bool
	customer string
	status   int
	stage    string // the stage that answered (X-Stagehand-Stage)
	sawStage string // the stage the backend was reached through
	start    time.Time
	end      time.Time
	err      error
}

// load sends requests through the domain from n clients (API keys and JWTs
// alternating) until stop is closed or each client has sent max requests.
func (w *world) load(custs []customer, n, max int, stop <-chan struct{}) <-chan []result {
	done := make(chan []result, 1)
	var mu sync.Mutex
	var all []result
	var wg sync.WaitGroup
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: n}}
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := custs[i%len(custs)]
			useJWT := i%2 == 1
			var mine []result
			for range max {
				select {
				case <-stop:
					mu.Lock()
					all = append(all, mine...)
					mu.Unlock()
					return
				default:
				}
				req, _ := http.NewRequest(http.MethodGet, w.edge.URL+"/orders/42", nil)
				if useJWT {
					req.Header.Set("Authorization", "Bearer "+c.token)
				} else {
					req.Header.Set("x-api-key", c.secret)
				}
				r := result{client: i, jwt: useJWT, customer: c.id, start: time.Now()}
				resp, err := httpc.Do(req)
				r.end = time.Now()
				if err != nil {
					r.err = err
				} else {
					r.status = resp.StatusCode
					r.stage = resp.Header.Get(gateway.HeaderStage)
					r.sawStage = resp.Header.Get("X-Backend-Saw-Stage")
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mine = append(mine, r)
				time.Sleep(2 * time.Millisecond)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}()
	}
	go func() {
		wg.Wait()
		slices.SortFunc(all, func(a, b result) int { return a.start.Compare(b.start) })
		done <- all
	}()
	return done
}
