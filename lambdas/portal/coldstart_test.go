package main

// Process cold start: the real bootstrap (linux/amd64, the Makefile's
// flags) run exactly as Lambda runs it: AWS_LAMBDA_RUNTIME_API points at a
// loopback emulation of the Lambda Runtime API, which hands it one API
// Gateway proxy event (GET /) and receives the page. The registry is
// DynamoDB Local, the OpenID provider the loopback test issuer. The test
// logs process start → first page.

import (
	"encoding/json"
	"fmt"
	"io"
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
)

func buildBootstrap(t testing.TB) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w", "-o", out, ".")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

// runtimeAPI emulates the Lambda Runtime API for one invocation.
func runtimeAPI(t testing.TB, event []byte) (string, <-chan []byte) {
	served := make(chan struct{}, 1)
	response := make(chan []byte, 1)
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch {
		case req.Method == http.MethodGet && req.URL.Path == "/2018-06-01/runtime/invocation/next":
			select {
			case served <- struct{}{}:
			default: // the second poll waits until the test ends
				select {
				case <-done:
				case <-req.Context().Done():
				}
				return
			}
			w.Header().Set("Lambda-Runtime-Aws-Request-Id", "req-1")
			w.Header().Set("Lambda-Runtime-Deadline-Ms", fmt.Sprint(time.Now().Add(30*time.Second).UnixMilli()))
			w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:portal")
			_, _ = w.Write(event)
		case req.Method == http.MethodPost && strings.HasPrefix(req.URL.Path, "/2018-06-01/runtime/invocation/req-1/"):
			b, _ := io.ReadAll(req.Body)
			if strings.HasSuffix(req.URL.Path, "/error") {
				b = append([]byte("ERROR "), b...)
			}
			response <- b
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(func() { close(done); srv.Close() })
	return strings.TrimPrefix(srv.URL, "http://"), response
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProcessColdStartToFirstPage(t *testing.T) {
	getenv, _, _ := setup(t)
	bin := buildBootstrap(t)
	ev, _ := json.Marshal(events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/", Headers: map[string]string{"Host": "127.0.0.1:1"}})
	api, response := runtimeAPI(t, ev)
	cmd := exec.Command(bin)
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + api, "PATH=/usr/bin:/bin", "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local",
		"AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", "AWS_ENDPOINT_URL=http://127.0.0.1:9"}
	for _, k := range []string{"STAGEHAND_ENV", "STAGEHAND_TABLE", "STAGEHAND_PUBLIC_URL", "STAGEHAND_INSECURE_COOKIES", "STAGEHAND_OIDC_ISSUER",
		"STAGEHAND_OIDC_CLIENT_ID", "STAGEHAND_PORTAL_SECRET", "STAGEHAND_DYNAMODB_ENDPOINT"} {
		cmd.Env = append(cmd.Env, k+"="+getenv(k))
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	select {
	case b := <-response:
		took := time.Since(start)
		var res events.APIGatewayProxyResponse
		if err := json.Unmarshal(b, &res); err != nil || res.StatusCode != http.StatusOK || !strings.Contains(res.Body, "/portal/login") {
			t.Fatalf("first page: %v %.300s\nstderr:\n%s", err, b, stderr.String())
		}
		t.Logf("process start to first page: %v", took)
	case <-time.After(60 * time.Second):
		t.Fatalf("no page within 60 s; stderr:\n%s", stderr.String())
	}
}
