package auth

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// The reference for what API Gateway does with the policy an authorizer
// returns, written from AWS's documentation and not from routes.go:
//
//   - A REST API request is the resource
//     arn:aws:execute-api:{region}:{account}:{api-id}/{stage}/{METHOD}/{resource-path}
//     ("Control access to a REST API with IAM permissions" and "API
//     Gateway ARN reference", API Gateway developer guide); the METHOD is
//     the request's own (an ANY method arrives as GET, POST, ...).
//   - A policy resource may hold the wildcards '*' (any combination of
//     characters, none included) and '?' (any single character); '*' also
//     expands over characters such as '/' ("IAM JSON policy elements:
//     Resource", section "Using wildcards in resource ARNs").
//   - An explicit Deny in any matching statement wins; otherwise a matching
//     Allow allows; otherwise the request is denied ("Policy evaluation
//     logic", IAM user guide).

// iamWildcardMatch reports whether the policy resource pattern matches
// resource, '*' matching any run of characters and '?' exactly one:
// a plain dynamic programme over (pattern prefix, resource prefix).
func iamWildcardMatch(pattern, resource string) bool {
	// m[j]: pattern[:i] matches resource[:j].
	m := make([]bool, len(resource)+1)
	m[0] = true
	for i := 0; i < len(pattern); i++ {
		next := make([]bool, len(resource)+1)
		switch pattern[i] {
		case '*':
			seen := false
			for j := 0; j <= len(resource); j++ {
				seen = seen || m[j]
				next[j] = seen
			}
		case '?':
			for j := 1; j <= len(resource); j++ {
				next[j] = m[j-1]
			}
		default:
			for j := 1; j <= len(resource); j++ {
				next[j] = m[j-1] && resource[j-1] == pattern[i]
			}
		}
		m = next
	}
	return m[len(resource)]
}

// iamAllows evaluates an authorizer's policy for execute-api:Invoke on
// resource as API Gateway does.
func iamAllows(doc events.APIGatewayCustomAuthorizerPolicy, resource string) bool {
	allowed := false
	for _, st := range doc.Statement {
		if !slices.ContainsFunc(st.Action, func(a string) bool { return iamWildcardMatch(a, "execute-api:Invoke") }) {
			continue
		}
		if !slices.ContainsFunc(st.Resource, func(r string) bool { return iamWildcardMatch(r, resource) }) {
			continue
		}
		switch st.Effect {
		case "Deny":
			return false
		case "Allow":
			allowed = true
		}
	}
	return allowed
}

// tableAllows evaluates the configured route table directly, as
// docs/authorizer.md states it: some route the caller's scopes reach (no
// scopes listed: any caller) has the request's method (or ANY / "*") and a
// path that matches, its '*' matching any run of characters, '/' included.
func tableAllows(routes []RouteConfig, scopes []string, method, path string) bool {
	for _, r := range routes {
		if len(r.Scopes) > 0 && !slices.ContainsFunc(r.Scopes, func(s string) bool { return slices.Contains(scopes, s) }) {
			continue
		}
		m := strings.ToUpper(r.Method)
		if m != "ANY" && m != "*" && m != method {
			continue
		}
		if iamWildcardMatch(r.Path, path) {
			return true
		}
	}
	return false
}

func TestIAMWildcardMatchReference(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"*/docs/*", "DELETE/admin/docs/1", true}, // the finding of issue 12
		{"GET/docs/*", "DELETE/admin/docs/1", false},
		{"GET/a?c", "GET/abc", true},
		{"GET/a?c", "GET/ac", false},
		{"GET/*", "GET/", true},
		{"a*", "a", true},
		{"", "", true},
		{"x", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+"~"+tc.s, func(t *testing.T) {
			if got := iamWildcardMatch(tc.pattern, tc.s); got != tc.want {
				t.Fatalf("iamWildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.s, got, tc.want)
			}
		})
	}
}

var (
	propSegments = []string{"a", "b", "docs", "admin", "orders"}
	propScopes   = []string{"s1", "s2", "s3"}
	propMethods  = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
)

func randomPath(r *rand.Rand, maxSegs int) string {
	n := r.IntN(maxSegs + 1)
	if n == 0 {
		return "/"
	}
	var b strings.Builder
	for range n {
		b.WriteString("/" + propSegments[r.IntN(len(propSegments))])
	}
	if r.IntN(6) == 0 {
		b.WriteString("/") // a trailing slash
	}
	return b.String()
}

func randomSubset(r *rand.Rand, of []string) []string {
	var out []string
	for _, s := range of {
		if r.IntN(2) == 0 {
			out = append(out, s)
		}
	}
	return out
}

// randomRoutes builds a valid route table of 1..8 routes.
func randomRoutes(r *rand.Rand) []RouteConfig {
	methods := append(slices.Clone(propMethods), "ANY", "*", "any", "get")
	var routes []RouteConfig
	seen := map[string]bool{}
	for n := 1 + r.IntN(8); len(routes) < n; {
		path := randomPath(r, 3)
		switch r.IntN(3) {
		case 0: // a prefix: "/docs/*" or "/*"
			path = strings.TrimSuffix(path, "/") + "/*"
		case 1: // "/docs*"
			path += "*"
		}
		m := methods[r.IntN(len(methods))]
		key := strings.ToUpper(m) + path
		if m == "ANY" || m == "any" {
			key = "*" + path
		}
		if seen[key] {
			continue
		}
		seen[key] = true
		routes = append(routes, RouteConfig{Method: m, Path: path, Scopes: randomSubset(r, propScopes)})
	}
	return routes
}

// randomRequest picks a method and a path, often a route's path with its
// wildcard filled in and segments put before it (how ANY routes used to
// leak).
func randomRequest(r *rand.Rand, routes []RouteConfig) (method, path string) {
	method = propMethods[r.IntN(len(propMethods))]
	if r.IntN(2) == 0 {
		return method, randomPath(r, 4)
	}
	p := routes[r.IntN(len(routes))].Path
	p = strings.Replace(p, "*", strings.TrimPrefix(randomPath(r, 2), "/"), 1)
	if r.IntN(2) == 0 {
		p = "/" + propSegments[r.IntN(len(propSegments))] + p
	}
	return method, p
}

// TestCachedPolicyMatchesRouteTable is the property of issue 12 item 1:
// for random route tables, callers and requests, the policy the authorizer
// returns — cached and handed by API Gateway to every later request of the
// caller on the stage — allows a request exactly when evaluating the route
// table directly allows it. The policy is evaluated with iamAllows, the
// documentation-derived reference above.
func TestCachedPolicyMatchesRouteTable(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 12))
	const tables, callers, requests = 150, 3, 40
	for ti := range tables {
		routes := randomRoutes(r)
		reg := newFakeRegistry()
		reg.seed()
		a, err := New(Config{Env: testEnv, Table: "t", Settings: Settings{Routes: routes}}, reg)
		if err != nil {
			t.Fatalf("table %d %+v: %v", ti, routes, err)
		}
		for range callers {
			scopes := randomSubset(r, propScopes)
			secret := reg.addKey(t, func(k *registry.Key) { k.Scopes = scopes })
			var cachedPolicy *events.APIGatewayCustomAuthorizerPolicy
			for range requests {
				method, path := randomRequest(r, routes)
				ev := events.APIGatewayCustomAuthorizerRequestTypeRequest{
					Type:      "REQUEST",
					MethodArn: testStagePfx + method + path,
					Headers:   map[string]string{"x-api-key": secret.Plaintext},
				}
				resp, err := a.Authorize(context.Background(), &ev)
				if err != nil {
					t.Fatalf("Authorize %s %s: %v", method, path, err)
				}
				if cachedPolicy == nil {
					cachedPolicy = &resp.PolicyDocument
				} else if diff := cmp.Diff(*cachedPolicy, resp.PolicyDocument); diff != "" {
					t.Fatalf("the caller's policy depends on the request (-first +now):\n%s", diff)
				}
				got := iamAllows(*cachedPolicy, ev.MethodArn)
				want := tableAllows(routes, scopes, method, path)
				if got != want {
					t.Fatalf("seed %d table %d: routes %s, caller scopes %v, request %s %s: cached policy allows = %v, route table allows = %v\npolicy resources %v",
						seed, ti, fmtRoutes(routes), scopes, method, path, got, want, cachedPolicy.Statement[0].Resource)
				}
			}
		}
	}
}

func fmtRoutes(routes []RouteConfig) string {
	var b strings.Builder
	for _, r := range routes {
		fmt.Fprintf(&b, "[%s %s %v] ", r.Method, r.Path, r.Scopes)
	}
	return b.String()
}

// TestANYRouteDoesNotSpanOtherRoutes: the two scope bypasses of issue 12,
// evaluated with the reference.
func TestANYRouteDoesNotSpanOtherRoutes(t *testing.T) {
	tests := []struct {
		name    string
		routes  []RouteConfig
		scopes  []string
		request string // METHOD/path
	}{
		{name: "open ANY /docs/* does not cover DELETE /admin/docs/1",
			routes: []RouteConfig{
				{Method: "ANY", Path: "/docs/*"},
				{Method: "DELETE", Path: "/admin/*", Scopes: []string{"admin"}},
			},
			request: "DELETE/admin/docs/1"},
		{name: "ANY /admin/* does not cover GET /orders/admin/1",
			routes: []RouteConfig{
				{Method: "*", Path: "/admin/*", Scopes: []string{"admin"}},
				{Method: "GET", Path: "/orders/*", Scopes: []string{"orders:read"}},
			},
			scopes: []string{"admin"}, request: "GET/orders/admin/1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newFakeRegistry()
			reg.seed()
			a, err := New(Config{Env: testEnv, Table: "t", Settings: Settings{Routes: tc.routes}}, reg)
			if err != nil {
				t.Fatal(err)
			}
			secret := reg.addKey(t, func(k *registry.Key) { k.Scopes = tc.scopes })
			ev := events.APIGatewayCustomAuthorizerRequestTypeRequest{
				MethodArn: testStagePfx + tc.request,
				Headers:   map[string]string{"x-api-key": secret.Plaintext},
			}
			resp, err := a.Authorize(context.Background(), &ev)
			if err != nil {
				t.Fatal(err)
			}
			if iamAllows(resp.PolicyDocument, ev.MethodArn) {
				t.Fatalf("policy %v allows %s", resp.PolicyDocument.Statement[0].Resource, tc.request)
			}
		})
	}
}

// TestANYRouteExpandsWithinBudget: an ANY route costs one policy resource
// per method, and the 8 KiB budget checked at load counts them all.
func TestANYRouteExpandsWithinBudget(t *testing.T) {
	rt, err := newRouteTable([]RouteConfig{{Method: "ANY", Path: "/admin/*"}, {Method: "GET", Path: "/admin/*"}})
	if err != nil {
		t.Fatal(err)
	}
	var all routeSet
	all.add(0)
	all.add(1)
	got := rt.buildPolicy("p/", all).doc.Statement[0].Resource
	want := []string{"p/GET/admin/*", "p/POST/admin/*", "p/PUT/admin/*", "p/PATCH/admin/*", "p/DELETE/admin/*", "p/HEAD/admin/*", "p/OPTIONS/admin/*"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("resources (-want +got):\n%s", diff)
	}
	// Six ANY routes of ~40 characters are 42 resources: over the budget
	// that fits about 36 (TestPolicySizeLimit).
	routes := bigRoutes(6, 40)
	for i := range routes {
		routes[i].Method = "ANY"
	}
	if _, err := newRouteTable(routes); err == nil || !strings.Contains(err.Error(), "8192-byte limit") {
		t.Fatalf("six ANY routes of 40 characters: error %v, want the size limit", err)
	}
}

// TestWildcardOnlyAtPathEnd: a '*' inside a path would span segments in
// the policy; it is refused at load, as is a methodArn holding a wildcard.
func TestWildcardOnlyAtPathEnd(t *testing.T) {
	for _, p := range []string{"/users/*/orders", "/*/admin", "/a**"} {
		if _, err := newRouteTable([]RouteConfig{{Method: "GET", Path: p}}); err == nil {
			t.Errorf("path %q accepted", p)
		}
	}
	for _, p := range []string{"/users/*", "/*", "/orders*", "/"} {
		if _, err := newRouteTable([]RouteConfig{{Method: "GET", Path: p}}); err != nil {
			t.Errorf("path %q refused: %v", p, err)
		}
	}
	h := newHarness(t)
	secret := h.reg.addKey(t, nil)
	for _, arn := range []string{
		"arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/*/GET/orders/1",
		"arn:aws:execute-api:eu-west-1:123456789012:*/prod/GET/orders/1",
		"arn:aws:execute-api:eu-west-1:12345678901?:a1/prod/GET/orders/1",
	} {
		ev := events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: arn, Headers: map[string]string{"x-api-key": secret.Plaintext}}
		if _, err := h.a.Authorize(context.Background(), &ev); err == nil {
			t.Errorf("methodArn %q: accepted", arn)
		}
	}
}
