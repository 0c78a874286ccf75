package apigw

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// rawCall sends one signed-looking request (the emulator checks only that an
// Authorization header is present) and returns status, headers and body.
func rawCall(t *testing.T, base, method, path string, body []byte, auth bool) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx(t), method, base+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if auth {
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEMULATOR/20260302/us-east-1/apigateway/aws4_request")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

func fixtureBytes(t *testing.T, name string, vars map[string]string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return []byte(expand(string(b), vars))
}

// expand replaces {{NAME}} placeholders.
func expand(s string, vars map[string]string) string {
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	return s
}

func decodeJSON(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("invalid JSON %q: %v", b, err)
	}
	return v
}

// TestWireFixtures replays request fixtures over plain HTTP and compares the
// raw JSON responses with response fixtures: member names, nesting, status
// codes and error headers exactly as the REST-JSON protocol carries them.
func TestWireFixtures(t *testing.T) {
	e := New(WithoutQuotas())
	base := e.Start(t)
	vars := map[string]string{"API_ID": e.SeedRestAPI("pets", "blue", "green")}

	steps := []struct {
		name, method, path string
		request            string // fixture file, "" for no body
		wantStatus         int
		wantError          string // x-amzn-ErrorType
		response           string // fixture file
	}{
		{name: "CreateUsagePlan", method: "POST", path: "/usageplans", request: "create_usage_plan.request.json", wantStatus: 201, response: "create_usage_plan.response.json"},
		{name: "UpdateUsagePlan multi-op with ~1 paths", method: "PATCH", path: "/usageplans/{{PLAN_ID}}", request: "update_usage_plan.request.json", wantStatus: 200, response: "update_usage_plan.response.json"},
		{name: "GetUsagePlans", method: "GET", path: "/usageplans?limit=500", wantStatus: 200, response: "get_usage_plans.response.json"},
		{name: "DeleteUsagePlan with stages", method: "DELETE", path: "/usageplans/{{PLAN_ID}}", wantStatus: 400, wantError: "BadRequestException", response: "delete_usage_plan_with_stages.response.json"},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			var body []byte
			if st.request != "" {
				body = fixtureBytes(t, st.request, vars)
			}
			status, hdr, got := rawCall(t, base, st.method, expand(st.path, vars), body, true)
			if status != st.wantStatus || hdr.Get("x-amzn-ErrorType") != st.wantError {
				t.Fatalf("status %d, x-amzn-ErrorType %q (body %s); want %d, %q", status, hdr.Get("x-amzn-ErrorType"), got, st.wantStatus, st.wantError)
			}
			if st.name == "CreateUsagePlan" {
				var created struct{ ID string }
				if err := json.Unmarshal(got, &created); err != nil {
					t.Fatal(err)
				}
				vars["PLAN_ID"] = created.ID
			}
			want := decodeJSON(t, fixtureBytes(t, st.response, vars))
			if diff := cmp.Diff(want, decodeJSON(t, got)); diff != "" {
				t.Errorf("response (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWireErrors(t *testing.T) {
	e := New(WithoutQuotas())
	base := e.Start(t)
	tests := []struct {
		name        string
		method      string
		path        string
		body        string
		auth        bool
		setup       func()
		wantStatus  int
		wantError   string
		wantRetryAf string
	}{
		{name: "unsigned request", method: "GET", path: "/usageplans", wantStatus: 403, wantError: "MissingAuthenticationTokenException"},
		{name: "unknown path", method: "GET", path: "/nothing-here", auth: true, wantStatus: 404, wantError: "NotFoundException"},
		{name: "unknown plan", method: "GET", path: "/usageplans/abc123", auth: true, wantStatus: 404, wantError: "NotFoundException"},
		{name: "bad JSON body", method: "POST", path: "/usageplans", body: `{"name":`, auth: true, wantStatus: 400, wantError: "BadRequestException"},
		{name: "ImportApiKeys is not emulated", method: "POST", path: "/apikeys?mode=import&format=csv", auth: true, wantStatus: 400, wantError: "BadRequestException"},
		{name: "injected 503 carries Retry-After", method: "GET", path: "/apikeys", auth: true,
			setup: func() { e.FailNext("GetApiKeys", 1, 503) }, wantStatus: 503, wantError: "ServiceUnavailableException", wantRetryAf: "1"},
		{name: "throttled 429 carries Retry-After", method: "GET", path: "/apikeys", auth: true,
			setup: func() { e.SetThrottleRate("GetApiKeys", 1) }, wantStatus: 429, wantError: "TooManyRequestsException", wantRetryAf: "1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.ClearFaults()
			if tc.setup != nil {
				tc.setup()
			}
			status, hdr, got := rawCall(t, base, tc.method, tc.path, []byte(tc.body), tc.auth)
			if status != tc.wantStatus || hdr.Get("x-amzn-ErrorType") != tc.wantError || hdr.Get("Retry-After") != tc.wantRetryAf {
				t.Errorf("status %d, error type %q, Retry-After %q; want %d, %q, %q", status, hdr.Get("x-amzn-ErrorType"), hdr.Get("Retry-After"), tc.wantStatus, tc.wantError, tc.wantRetryAf)
			}
			var msg struct {
				Message string `json:"message"`
			}
			if err := json.Unmarshal(got, &msg); err != nil || msg.Message == "" {
				t.Errorf("error body %q has no message", got)
			}
		})
	}
}
