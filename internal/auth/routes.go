package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/events"
)

// routeSet is a set of route indexes (a 128-bit mask; see MaxRoutes).
type routeSet [2]uint64

func (s *routeSet) add(i int)              { s[i>>6] |= 1 << (i & 63) }
func (s routeSet) and(o routeSet) routeSet { return routeSet{s[0] & o[0], s[1] & o[1]} }
func (s routeSet) or(o routeSet) routeSet  { return routeSet{s[0] | o[0], s[1] | o[1]} }
func (s routeSet) empty() bool             { return s[0] == 0 && s[1] == 0 }

// each calls f for every index in s, in order.
func (s routeSet) each(f func(int)) {
	for w, word := range s {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			f(w*64 + b)
			word &^= 1 << b
		}
	}
}

// route is one configured route.
type route struct {
	cfg RouteConfig
	// patterns are the parts of execute-api ARNs after the stage, one per
	// HTTP method the route covers: ["GET/orders/*"], or, for ANY, one for
	// each of httpMethods ("GET/admin/*", "POST/admin/*", ...). Never
	// "*/admin/*": in a policy resource '*' also matches '/', so a
	// wildcard method would swallow path segments ("*/docs/*" matches
	// "DELETE/admin/docs/1").
	patterns []string
	claims   []claimCheck
}

// routeTable answers "which routes may a caller with these scopes (and
// claims) call" as a routeSet, computed without string building.
type routeTable struct {
	routes   []route
	byScope  map[string]routeSet // scope → routes that accept it
	open     routeSet            // routes that need no scope
	noClaims routeSet            // routes without claim checks
}

var validMethods = []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "*"}

// httpMethods are the methods a REST API's methodArn can carry (API
// Gateway's ANY method arrives as the request's own method): an ANY route
// expands into one policy resource for each.
var httpMethods = validMethods[:len(validMethods)-1]

// routePatterns returns the policy resource patterns (after the stage) of
// a route with this method (upper case, "*" for ANY) and path.
func routePatterns(method, path string) []string {
	if method != "*" {
		return []string{method + path}
	}
	out := make([]string, len(httpMethods))
	for i, m := range httpMethods {
		out[i] = m + path
	}
	return out
}

// newRouteTable validates the route table, including that the policy that
// allows every route fits in API Gateway's response limit.
func newRouteTable(cfgs []RouteConfig) (*routeTable, error) {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }
	switch {
	case len(cfgs) == 0:
		add("routes: at least one route is required (an empty table denies everything)")
	case len(cfgs) > MaxRoutes:
		add("routes: %d routes, at most %d", len(cfgs), MaxRoutes)
	}
	t := &routeTable{byScope: map[string]routeSet{}}
	seen := map[string]int{}
	for i, c := range cfgs {
		if i >= MaxRoutes {
			break
		}
		method := strings.ToUpper(c.Method)
		if method == "ANY" {
			method = "*"
		}
		if !slices.Contains(validMethods, method) {
			add("routes[%d]: method %q: want one of %v (or ANY)", i, c.Method, validMethods)
		}
		if err := checkPath(c.Path); err != nil {
			add("routes[%d]: %w", i, err)
		}
		pattern := method + c.Path
		if j, dup := seen[pattern]; dup {
			add("routes[%d]: same method and path as routes[%d]", i, j)
		}
		seen[pattern] = i
		r := route{cfg: c, patterns: routePatterns(method, c.Path)}
		r.cfg.Method = method
		if len(c.Scopes) == 0 {
			t.open.add(i)
		}
		for _, s := range c.Scopes {
			if !validScope(s) {
				add("routes[%d]: scope %q: want non-empty, printable, no spaces", i, s)
			}
			set := t.byScope[s]
			set.add(i)
			t.byScope[s] = set
		}
		for j, cc := range c.Claims {
			chk, err := newClaimCheck(cc)
			if err != nil {
				add("routes[%d].claims[%d]: %w", i, j, err)
			}
			r.claims = append(r.claims, chk)
		}
		if len(r.claims) == 0 {
			t.noClaims.add(i)
		}
		t.routes = append(t.routes, r)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if n := t.worstCaseResponseBytes(); n > MaxPolicyBytes {
		return nil, fmt.Errorf("routes: the policy allowing every route would need %d bytes in the worst case (stage name of %d characters, %d bytes reserved for context), over API Gateway's %d-byte limit: use fewer or broader (wildcard) routes",
			n, MaxStageNameLen, contextReserve, MaxPolicyBytes)
	}
	return t, nil
}

// checkPath accepts "/" followed by URL path characters, and "*" only as
// the last character. In a policy resource '*' matches any characters, '/'
// included, so a '*' inside a path ("/users/*/orders") would also cover
// "/users/a/b/orders": routes are exact paths or prefixes, nothing between.
func checkPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return fmt.Errorf("path %q must start with /", p)
	}
	if i := strings.IndexByte(p, '*'); i >= 0 && i != len(p)-1 {
		return fmt.Errorf("path %q: * is allowed only as the last character (a policy wildcard also matches /, so a * inside a path would span segments)", p)
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("/-._~!$&'()*+,;=:@%", c) >= 0
		if !ok {
			return fmt.Errorf("path %q: character %q not allowed (use * for path parameters)", p, c)
		}
	}
	return nil
}

func validScope(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f || s[i] == '"' || s[i] == '\\' {
			return false
		}
	}
	return true
}

// forScopes returns the routes that need no scope or accept one of scopes.
func (t *routeTable) forScopes(scopes []string) routeSet {
	s := t.open
	for _, sc := range scopes {
		s = s.or(t.byScope[sc])
	}
	return s
}

// claimsPass returns the routes whose claim checks all pass for the token
// whose claims claim reads (routes without checks always pass).
func (t *routeTable) claimsPass(claim claimFunc) routeSet {
	s := t.noClaims
	for i := range t.routes {
		r := &t.routes[i]
		if len(r.claims) == 0 {
			continue
		}
		ok := true
		for _, c := range r.claims {
			if !c.passValue(claim(c.claim)) {
				ok = false
				break
			}
		}
		if ok {
			s.add(i)
		}
	}
	return s
}

// permits reports whether one of the routes in set matches methodPath
// ("GET/orders/12"), with the same wildcard rule API Gateway applies to the
// policy's resources: that is how the authorizer knows a Deny (403) is
// coming, for its logs.
func (t *routeTable) permits(set routeSet, methodPath string) bool {
	for w, word := range set {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			for _, p := range t.routes[w*64+b].patterns {
				if globMatch(p, methodPath) {
					return true
				}
			}
			word &^= 1 << b
		}
	}
	return false
}

// globMatch matches s against pattern where '*' matches any sequence of
// characters (including '/'), as in IAM resource ARNs. Linear time.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// methodARN is a parsed execute-api method ARN:
// arn:aws:execute-api:{region}:{account}:{apiId}/{stage}/{METHOD}/{path}.
type methodARN struct {
	// prefix is everything up to and including the "/" after the stage.
	prefix string
	// methodPath is "{METHOD}/{path}", e.g. "GET/orders/12".
	methodPath string
}

// parseMethodARN splits a method ARN without allocating.
func parseMethodARN(s string) (methodARN, bool) {
	const svc = "execute-api"
	rest := s
	var fields [5]string
	for i := range fields {
		j := strings.IndexByte(rest, ':')
		if j < 0 {
			return methodARN{}, false
		}
		fields[i], rest = rest[:j], rest[j+1:]
	}
	if fields[0] != "arn" || fields[1] == "" || fields[2] != svc || fields[3] == "" || fields[4] == "" {
		return methodARN{}, false
	}
	api := strings.IndexByte(rest, '/')
	if api <= 0 {
		return methodARN{}, false
	}
	stage := strings.IndexByte(rest[api+1:], '/')
	if stage <= 0 {
		return methodARN{}, false
	}
	cut := len(s) - len(rest) + api + 1 + stage + 1
	mp := s[cut:]
	if m := strings.IndexByte(mp, '/'); m <= 0 {
		return methodARN{}, false
	}
	return methodARN{prefix: s[:cut], methodPath: mp}, true
}

// Policy building and caching.

const (
	policyVersion = "2012-10-17"
	invokeAction  = "execute-api:Invoke"
	// contextReserve is what the load-time size check leaves for
	// principalId, context and usageIdentifierKey; the exact size is checked
	// for every response.
	contextReserve = 1536
	// worstPrefix is the longest ARN prefix assumed at load time.
	worstPrefixLen = len("arn:aws-us-gov:execute-api:ap-southeast-99:123456789012:abcdefghij/") + MaxStageNameLen + 1
	// responseOverhead covers the response's fixed JSON around policy and
	// context.
	responseOverhead = len(`{"principalId":"","policyDocument":,"context":,"usageIdentifierKey":""}`)
)

var invokeActions = []string{invokeAction}

// policy is a ready-to-return policy document with its JSON size.
type policy struct {
	doc  events.APIGatewayCustomAuthorizerPolicy
	size int
}

// buildPolicy returns the policy for callers allowed exactly set on the
// stage whose ARN prefix is prefix: one Allow statement listing every
// allowed route, or, when set is empty, a Deny of the whole stage. Either
// is correct on every route of the stage, so API Gateway may cache it.
func (t *routeTable) buildPolicy(prefix string, set routeSet) *policy {
	var st events.IAMPolicyStatement
	if set.empty() {
		st = events.IAMPolicyStatement{Action: invokeActions, Effect: "Deny", Resource: []string{prefix + "*"}}
	} else {
		res := make([]string, 0, 8)
		seen := make(map[string]bool, 8)
		set.each(func(i int) {
			for _, p := range t.routes[i].patterns {
				if !seen[p] { // an ANY route and a GET route on one path
					seen[p] = true
					res = append(res, prefix+p)
				}
			}
		})
		st = events.IAMPolicyStatement{Action: invokeActions, Effect: "Allow", Resource: res}
	}
	doc := events.APIGatewayCustomAuthorizerPolicy{Version: policyVersion, Statement: []events.IAMPolicyStatement{st}}
	b, err := json.Marshal(doc)
	size := len(b)
	if err != nil { // cannot happen for strings; fail closed via size
		size = MaxPolicyBytes + 1
	}
	return &policy{doc: doc, size: size}
}

func (t *routeTable) worstCaseResponseBytes() int {
	var all routeSet
	for i := range t.routes {
		all.add(i)
	}
	prefix := strings.Repeat("x", worstPrefixLen)
	return t.buildPolicy(prefix, all).size + contextReserve + responseOverhead
}

// policyCache memoises policies per (stage ARN prefix, route set), so the
// hot path builds no strings. It holds at most max entries and starts over
// when full (policies are cheap to rebuild; the working set is a handful of
// stages times a handful of scope combinations).
type policyCache struct {
	table *routeTable
	max   int
	mu    sync.RWMutex
	m     map[policyKey]*policy
}

type policyKey struct {
	prefix string
	set    routeSet
}

func newPolicyCache(t *routeTable, max int) *policyCache {
	return &policyCache{table: t, max: max, m: make(map[policyKey]*policy)}
}

// get returns the policy for set on the stage whose ARN prefix is prefix,
// or nil for a prefix holding a policy wildcard ('*' or '?'): API
// Gateway never sends one (stage names are [A-Za-z0-9_-]), and a resource
// built from it would span other APIs or stages.
func (c *policyCache) get(prefix string, set routeSet) *policy {
	c.mu.RLock()
	p, ok := c.m[policyKey{prefix, set}]
	c.mu.RUnlock()
	if ok {
		return p
	}
	if strings.ContainsAny(prefix, "*?") {
		return nil
	}
	prefix = strings.Clone(prefix) // do not pin the request's methodArn
	p = c.table.buildPolicy(prefix, set)
	c.mu.Lock()
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[policyKey{prefix, set}] = p
	c.mu.Unlock()
	return p
}

// Claim checks.

type claimOp uint8

const (
	opEquals claimOp = iota + 1
	opContains
	opOneOf
)

type claimCheck struct {
	claim  string
	op     claimOp
	values []any // string, float64 or bool
}

func newClaimCheck(c ClaimCheck) (claimCheck, error) {
	chk := claimCheck{claim: c.Claim}
	n := 0
	if c.Equals != nil {
		n++
		chk.op, chk.values = opEquals, []any{c.Equals}
	}
	if c.Contains != nil {
		n++
		chk.op, chk.values = opContains, []any{c.Contains}
	}
	if c.OneOf != nil {
		n++
		chk.op, chk.values = opOneOf, c.OneOf
	}
	switch {
	case c.Claim == "":
		return chk, errors.New("claim name is empty")
	case n != 1:
		return chk, fmt.Errorf("claim %q: set exactly one of equals, contains, oneOf", c.Claim)
	case len(chk.values) == 0:
		return chk, fmt.Errorf("claim %q: oneOf is empty", c.Claim)
	}
	for _, v := range chk.values {
		switch v.(type) {
		case string, float64, bool:
		default:
			return chk, fmt.Errorf("claim %q: value %v: want a string, number or boolean", c.Claim, v)
		}
	}
	return chk, nil
}

// passValue checks the claim's value v (ok: the token has the claim).
func (c claimCheck) passValue(v any, ok bool) bool {
	if !ok {
		return false
	}
	switch c.op {
	case opEquals, opOneOf:
		for _, w := range c.values {
			if scalarEqual(v, w) {
				return true
			}
		}
	case opContains:
		w := c.values[0]
		switch list := v.(type) {
		case []any:
			for _, e := range list {
				if scalarEqual(e, w) {
					return true
				}
			}
		case string:
			ws, ok := w.(string)
			return ok && slices.Contains(strings.Fields(list), ws)
		}
	}
	return false
}

// scalarEqual compares JSON scalars; anything else is unequal.
func scalarEqual(v, w any) bool {
	switch v := v.(type) {
	case string:
		s, ok := w.(string)
		return ok && v == s
	case float64:
		f, ok := w.(float64)
		return ok && v == f
	case bool:
		b, ok := w.(bool)
		return ok && v == b
	}
	return false
}
