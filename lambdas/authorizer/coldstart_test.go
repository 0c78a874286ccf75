package main

// Cold start, measured two ways, without any test hook in the binary:
//
//   - TestBootstrapFirstDecision builds the real bootstrap (amd64 and arm64,
//     the Makefile's flags), checks both are ≤ 15 MB, and runs the amd64
//     one exactly as Lambda does: AWS_LAMBDA_RUNTIME_API points at a
//     loopback emulation of the Lambda Runtime API, which hands it one
//     REQUEST event and receives the decision. The registry is DynamoDB
//     Local, the JWKS a loopback server. It logs process start → decision.
//   - BenchmarkColdStartProcess repeats that process start b.N times
//     (ns/op = process start to first decision); BenchmarkSetupToFirstDecision
//     measures the same in process: setup (config, AWS config, store, JWKS
//     prefetch) plus the first Handle.

import (
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
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

const maxBinaryBytes = 15 << 20

// fixture is a seeded registry table, a JWKS server and the environment the
// authorizer needs.
type fixture struct {
	env    map[string]string
	apiKey string
	event  events.APIGatewayCustomAuthorizerRequestTypeRequest
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	client, table := ddbtest.NewTable(t)
	store := registry.New(client, table)
	if _, err := store.PutPlan(ctx, registry.Plan{Env: "test", Name: "standard", UsagePlanID: "up1"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateCustomer(ctx, registry.Customer{ID: "cust_acme", Name: "Acme"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Subscribe(ctx, registry.Subscription{CustomerID: "cust_acme", Env: "test", Plan: "standard", UsageKeyID: "uk1", UsageKeyValue: "usage-key-acme-0123456789"}, "test"); err != nil {
		t.Fatal(err)
	}
	secret, err := keys.New("test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CreateKey(ctx, registry.Key{ID: secret.ID, Hash: secret.Hash.String(), CustomerID: "cust_acme", Env: "test",
		DisplayPrefix: secret.DisplayPrefix, Scopes: []string{"orders:read"}}, "test"); err != nil {
		t.Fatal(err)
	}
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{{"kty": "RSA", "kid": "k1", "n": b64(rk.N.Bytes()), "e": b64(big.NewInt(int64(rk.E)).Bytes())}}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(jwks) }))
	t.Cleanup(srv.Close)
	cfg := `{"issuers":[{"issuer":"https://auth.example.com/","jwksUrl":"` + srv.URL + `","audiences":["https://api.example.com"]}],
		"clientIdClaims":["client_id","azp"],
		"routes":[{"method":"GET","path":"/orders/*","scopes":["orders:read"]},{"method":"*","path":"/admin/*","scopes":["admin"]}]}`
	ev := events.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type: "REQUEST", MethodArn: "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/orders/42",
		Resource: "/orders/{id}", Path: "/orders/42", HTTPMethod: "GET",
		Headers: map[string]string{"x-api-key": secret.Plaintext},
	}
	ev.RequestContext.Identity.SourceIP = "203.0.113.10"
	return &fixture{
		apiKey: secret.Plaintext,
		event:  ev,
		env: map[string]string{
			"STAGEHAND_ENV":               "test",
			"STAGEHAND_TABLE":             table,
			"AUTHORIZER_CONFIG":           cfg,
			"AWS_REGION":                  "us-east-1", // DynamoDB Local keeps tables per region and access key
			"AWS_ACCESS_KEY_ID":           "local",
			"AWS_SECRET_ACCESS_KEY":       "local",
			"AWS_ENDPOINT_URL_DYNAMODB":   ddbtest.Endpoint(t),
			"AWS_CONFIG_FILE":             os.DevNull,
			"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
			"AWS_EC2_METADATA_DISABLED":   "true",
			// Lambda sets no CA bundle; a developer machine may, and parsing
			// it would be measured as cold start by the in-process benchmark.
			"AWS_CA_BUNDLE": "",
		},
	}
}

// build compiles the bootstrap as the Makefile does.
func build(t testing.TB, goarch string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap-"+goarch)
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+goarch, "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build (%s): %v\n%s", goarch, err, b)
	}
	return out
}

// runtimeAPI emulates the Lambda Runtime API for one invocation.
type runtimeAPI struct {
	srv      *httptest.Server
	event    []byte
	served   chan struct{}
	response chan []byte
}

func newRuntimeAPI(t testing.TB, event []byte) *runtimeAPI {
	r := &runtimeAPI{event: event, served: make(chan struct{}, 1), response: make(chan []byte, 1)}
	done := make(chan struct{})
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.Method == http.MethodGet && req.URL.Path == "/2018-06-01/runtime/invocation/next":
			select {
			case r.served <- struct{}{}:
			default: // second poll: hold it until the test ends
				select {
				case <-done:
				case <-req.Context().Done():
				}
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(30*time.Second).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:authorizer")
			_, _ = w.Write(r.event)
		case req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/2018-06-01/runtime/invocation/req-1/"):
			b, _ := io.ReadAll(req.Body)
			if strings.HasSuffix(req.URL.Path, "/error") {
				b = append([]byte("ERROR "), b...)
			}
			r.response <- b
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(func() { close(done); r.srv.Close() })
	return r
}

// startProcess runs the binary under the emulated runtime and returns the
// first decision and the time from process start to receiving it.
func startProcess(t testing.TB, bin string, f *fixture) ([]byte, time.Duration, string) {
	t.Helper()
	ev, err := json.Marshal(f.event)
	if err != nil {
		t.Fatal(err)
	}
	api := newRuntimeAPI(t, ev)
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + strings.TrimPrefix(api.srv.URL, "http://"), "PATH=/usr/bin:/bin"}
	for k, v := range f.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	stderr := &lockedBuilder{}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	select {
	case resp := <-api.response:
		return resp, time.Since(start), stderr.String()
	case <-time.After(60 * time.Second):
		t.Fatalf("no decision within 60 s; stderr:\n%s", stderr.String())
	}
	return nil, 0, ""
}

// lockedBuilder collects the process's stderr, which is written by
// os/exec's copying goroutine while the test may read it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBootstrapFirstDecision(t *testing.T) {
	for _, arch := range []string{"arm64", "amd64"} {
		fi, err := os.Stat(build(t, arch))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bootstrap linux/%s: %.2f MB", arch, float64(fi.Size())/(1<<20))
		if fi.Size() > maxBinaryBytes {
			t.Errorf("bootstrap linux/%s is %d bytes, over %d", arch, fi.Size(), maxBinaryBytes)
		}
	}
	bin := build(t, "amd64")
	f := newFixture(t)
	raw, elapsed, logs := startProcess(t, bin, f)
	var resp events.APIGatewayCustomAuthorizerResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("decode decision %q: %v; logs:\n%s", raw, err, logs)
	}
	if resp.PrincipalID != "cust_acme" || resp.UsageIdentifierKey != "usage-key-acme-0123456789" ||
		len(resp.PolicyDocument.Statement) != 1 || resp.PolicyDocument.Statement[0].Effect != "Allow" {
		t.Fatalf("decision %s", raw)
	}
	if strings.Contains(string(raw), f.apiKey) {
		t.Fatalf("decision echoes the API key")
	}
	t.Logf("process start → first decision (JWKS prefetched from loopback, DynamoDB Local): %v", elapsed)
}

func TestSetupRejectsBadConfig(t *testing.T) {
	_, err := setup(context.Background(), func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err == nil || !strings.Contains(err.Error(), "STAGEHAND_ENV") {
		t.Fatalf("setup with no environment: %v", err)
	}
}

func BenchmarkColdStartProcess(b *testing.B) {
	bin := build(b, "amd64")
	f := newFixture(b)
	for b.Loop() {
		if raw, _, logs := startProcess(b, bin, f); !strings.Contains(string(raw), "cust_acme") {
			b.Fatalf("decision %s; logs:\n%s", raw, logs)
		}
	}
}

func BenchmarkSetupToFirstDecision(b *testing.B) {
	f := newFixture(b)
	for k, v := range f.env {
		b.Setenv(k, v)
	}
	logger := slog.New(slog.DiscardHandler)
	for b.Loop() {
		ctx, cancel := context.WithCancel(context.Background())
		a, err := setup(ctx, os.Getenv, logger)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := a.Handle(ctx, f.event); err != nil {
			b.Fatal(err)
		}
		cancel() // stops the JWKS refresh goroutines
	}
}
