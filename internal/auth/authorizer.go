// Package auth is stagehand's API Gateway REQUEST authorizer: it accepts an
// API key (x-api-key) or a JWT (Authorization: Bearer), maps the caller to a
// customer through the registry, and returns an IAM policy that allows
// exactly the routes the caller's scopes permit, the customer's usage-plan
// key (usageIdentifierKey) and a context for the backend.
//
// Every failure is a 401 (Handle returns ErrUnauthorized); valid credentials
// without the scope for the requested route get a policy that does not allow
// it, which API Gateway turns into a 403. Decisions are cached in process
// (bounded LRUs with a TTL); see docs/authorizer.md for the revocation bound
// and the strict / resilient modes.
package auth

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"runtime/debug"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Registry is the part of the registry the authorizer reads.
// *registry.Store implements it.
type Registry interface {
	// GetKey returns registry.ErrNotFound (wrapped) if the key is absent.
	GetKey(ctx context.Context, keyID string) (registry.Key, error)
	GetSubscription(ctx context.Context, customerID, env string) (registry.Subscription, error)
	GetBinding(ctx context.Context, env, issuer, subject string) (registry.ClientBinding, error)
}

var _ Registry = (*registry.Store)(nil)

// TokenVerifier verifies JWTs; *jwtverify.Verifier implements it.
type TokenVerifier interface {
	// VerifyDigested verifies a token hashed with jwtverify.DigestOf; its
	// claims are read with Token.Claim.
	VerifyDigested(ctx context.Context, token string, d jwtverify.Digest) (jwtverify.Token, error)
	// KeyCurrent reports whether the key that verified a token is still
	// published; a cached verification is dropped when it is not.
	KeyCurrent(ref jwtverify.KeyRef) bool
}

var _ TokenVerifier = (*jwtverify.Verifier)(nil)

// ErrUnauthorized is what Handle returns for every rejection: a REQUEST
// authorizer that returns an error whose message is exactly "Unauthorized"
// makes API Gateway answer 401.
var ErrUnauthorized = errors.New("Unauthorized")

// Rejection reasons, returned (wrapped) by Authorize. All mean 401.
var (
	ErrInvalidKey          = errors.New("invalid API key")
	ErrKeyRevoked          = errors.New("API key revoked")
	ErrKeySuspended        = errors.New("API key suspended")
	ErrKeyExpired          = errors.New("API key expired")
	ErrKeyInactive         = errors.New("API key not active")
	ErrWrongEnvironment    = errors.New("credential is for another environment")
	ErrCustomerSuspended   = errors.New("customer suspended")
	ErrSourceIPNotAllowed  = errors.New("source IP not in the key's allowlist")
	ErrInvalidToken        = errors.New("invalid token")
	ErrNoClientID          = errors.New("token names no client")
	ErrUnknownClient       = errors.New("token client is not bound to a customer")
	ErrNotSubscribed       = errors.New("customer has no subscription in this environment")
	ErrNoUsageKey          = errors.New("subscription has no usage key yet")
	ErrRegistryUnavailable = errors.New("registry unavailable")
	ErrBadRequest          = errors.New("malformed authorizer request")
	ErrPolicyTooLarge      = errors.New("authorizer response would exceed 8 KiB")
	ErrCorruptRecord       = errors.New("registry record is invalid")
)

// Values of the "authMethod" context entry.
const (
	AuthMethodAPIKey = "api_key"
	AuthMethodJWT    = "jwt"
)

// Authorizer decides. Build it with New; it is safe for concurrent use.
type Authorizer struct {
	env      string
	settings Settings
	names    HeaderNames
	reg      Registry
	verifier TokenVerifier
	clock    clock.Clock
	log      *slog.Logger
	timeout  time.Duration
	ttl      time.Duration
	maxStale time.Duration
	mode     Mode
	reserve  int // bytes a wrapper adds to each response (WithContextReserve)

	routes   *routeTable
	policies *policyCache

	keys     *lru.Cache[keys.Hash, *keyEntry]
	tokens   *lru.Cache[[sha256.Size]byte, *tokenEntry] // nil: no token cache
	subs     *lru.Cache[string, *cached[registry.Subscription]]
	bindings *lru.Cache[bindKey, *cached[registry.ClientBinding]]
	// principals memoises JWT principals (see principalKey).
	principals *lru.Cache[principalKey, *principal]
	// unknown is the negative cache of keys the registry lacks, and the
	// unknown-key metric (unknownkeys.go).
	unknown *unknownKeys
	// denials counts denied requests per customer and key (denials.go).
	denials denials

	// downUntil (unix nanoseconds): after a registry failure, resilient mode
	// serves stale entries without calling the registry until then.
	downUntil atomic.Int64
}

// Option configures an Authorizer.
type Option func(*Authorizer)

// WithVerifier sets the JWT verifier (without one, every JWT is rejected).
func WithVerifier(v TokenVerifier) Option { return func(a *Authorizer) { a.verifier = v } }

// WithClock sets the clock (default: system clock).
func WithClock(c clock.Clock) Option { return func(a *Authorizer) { a.clock = c } }

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(a *Authorizer) { a.log = l } }

// WithRegistryTimeout bounds each registry read (default 1 s).
func WithRegistryTimeout(d time.Duration) Option { return func(a *Authorizer) { a.timeout = d } }

// New builds an Authorizer from a validated Config.
func New(cfg Config, reg Registry, opts ...Option) (*Authorizer, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registry", ErrConfig)
	}
	s := cfg.Settings
	if s.LeewaySeconds == nil { // not from ParseSettings: validate now
		s.applyDefaults()
		if err := s.validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
	}
	if !keys.ValidEnv(cfg.Env) {
		return nil, fmt.Errorf("%w: environment %q", ErrConfig, cfg.Env)
	}
	rt, err := newRouteTable(s.Routes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	a := &Authorizer{
		env:      cfg.Env,
		settings: s,
		names:    HeaderNames{APIKey: s.APIKeyHeader, Token: s.TokenHeader, PreferJWT: s.PreferJWT},
		reg:      reg,
		clock:    clock.System{},
		log:      slog.Default(),
		timeout:  time.Second,
		ttl:      s.CacheTTL(),
		maxStale: s.MaxStaleness(),
		mode:     s.Mode,
		routes:   rt,
		policies: newPolicyCache(rt, 4096),
	}
	if a.mode != ModeResilient {
		a.maxStale = 0
	}
	for _, o := range opts {
		o(a)
	}
	n := s.CacheMaxEntries
	// lru.New fails only for a size < 1, which validate rules out.
	a.keys, _ = lru.New[keys.Hash, *keyEntry](n)
	a.tokens, _ = lru.New[[sha256.Size]byte, *tokenEntry](n)
	a.subs, _ = lru.New[string, *cached[registry.Subscription]](n)
	a.bindings, _ = lru.New[bindKey, *cached[registry.ClientBinding]](n)
	a.principals, _ = lru.New[principalKey, *principal](n)
	a.unknown = newUnknownKeys(s.UnknownKeyCacheTTL(), n)
	return a, nil
}

// principal is the registry-derived, request-independent part of a decision,
// with its response parts built once.
type principal struct {
	customerID string
	usageKey   string
	routes     routeSet
	context    map[string]any // shared by every response: read-only
	size       int            // JSON bytes of everything but the policy
}

// decision describes one request's outcome for the logs (never a secret).
type decision struct {
	method     string
	keyID      string
	kid        string
	jti        string
	issuer     string
	clientID   string
	customerID string
	allowed    bool
}

// Handle is the Lambda entry point: any rejection is ErrUnauthorized (401),
// logged with its reason; a panic is recovered into a 401 and an error log.
func (a *Authorizer) Handle(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (resp events.APIGatewayCustomAuthorizerResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			// The panic value could quote request data: log its type only.
			a.log.ErrorContext(ctx, "authorizer panic recovered",
				"panicType", fmt.Sprintf("%T", r), "stack", string(debug.Stack()),
				"requestId", req.RequestContext.RequestID)
			resp, err = events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
		}
	}()
	resp, d, err := a.authorize(ctx, &req)
	if err != nil {
		a.logRejection(ctx, &req, &d, err)
		a.denied(ctx, &d, 401)
		return events.APIGatewayCustomAuthorizerResponse{}, ErrUnauthorized
	}
	if !d.allowed {
		a.log.InfoContext(ctx, "forbidden: route not permitted for caller",
			"authMethod", d.method, "customerId", d.customerID, "keyId", d.keyID, "clientId", d.clientID,
			"methodArn", req.MethodArn, "requestId", req.RequestContext.RequestID)
		a.denied(ctx, &d, 403)
	}
	return resp, nil
}

// Authorize decides one request. A nil error means the caller is
// authenticated: the response's policy allows the requested route, or does
// not (then API Gateway answers 403). An error (see the Err* reasons) means
// 401.
func (a *Authorizer) Authorize(ctx context.Context, req *events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
	resp, _, err := a.authorize(ctx, req)
	return resp, err
}

func (a *Authorizer) authorize(ctx context.Context, req *events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, decision, error) {
	var d decision
	cred, err := ParseCredentials(req, a.names)
	if err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, d, err
	}
	arn, ok := parseMethodARN(req.MethodArn)
	if !ok {
		return events.APIGatewayCustomAuthorizerResponse{}, d, fmt.Errorf("%w: methodArn", ErrBadRequest)
	}
	now := a.clock.Now()
	var p *principal
	if cred.Kind == CredentialAPIKey {
		d.method = AuthMethodAPIKey
		p, err = a.authorizeKey(ctx, cred.Value, req.RequestContext.Identity.SourceIP, now, &d)
	} else {
		d.method = AuthMethodJWT
		p, err = a.authorizeJWT(ctx, cred.Value, now, &d)
	}
	if err != nil {
		return events.APIGatewayCustomAuthorizerResponse{}, d, err
	}
	d.customerID = p.customerID
	pol := a.policies.get(arn.prefix, p.routes)
	if pol == nil {
		return events.APIGatewayCustomAuthorizerResponse{}, d, fmt.Errorf("%w: methodArn holds a wildcard", ErrBadRequest)
	}
	if pol.size+p.size+a.reserve > MaxPolicyBytes {
		return events.APIGatewayCustomAuthorizerResponse{}, d, fmt.Errorf("%w: %d bytes", ErrPolicyTooLarge, pol.size+p.size+a.reserve)
	}
	d.allowed = a.routes.permits(p.routes, arn.methodPath)
	return events.APIGatewayCustomAuthorizerResponse{
		PrincipalID:        p.customerID,
		PolicyDocument:     pol.doc,
		Context:            p.context,
		UsageIdentifierKey: p.usageKey,
	}, d, nil
}

// API keys.

// keyEntry is a cached API-key decision: the key record (status and expiry
// are re-evaluated on every request), its parsed allowlist, and the
// principal. at is when the oldest registry read behind it was made.
type keyEntry struct {
	at             time.Time
	err            error // rejection known from the records alone
	key            registry.Key
	allow          []netip.Prefix
	customerStatus registry.CustomerStatus
	p              *principal
}

func (a *Authorizer) authorizeKey(ctx context.Context, key, sourceIP string, now time.Time, d *decision) (*principal, error) {
	if err := keys.ValidateFor(key, a.env); err != nil {
		if errors.Is(err, keys.ErrWrongEnvironment) {
			return nil, fmt.Errorf("%w: %w", ErrWrongEnvironment, err)
		}
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	h := keys.HashKey(key)
	e, err := a.keyEntry(ctx, h, now)
	if err != nil {
		d.keyID = h.ID()
		return nil, err
	}
	d.keyID = e.key.ID
	// Each rejection names the key's customer, for the denial count
	// (denials.go); an allowed request does nothing more than before.
	if e.err != nil {
		d.customerID = e.key.CustomerID
		return nil, e.err
	}
	switch st := e.key.EffectiveStatus(now); st {
	case registry.KeyActive:
	case registry.KeyRevoked:
		d.customerID = e.key.CustomerID
		return nil, ErrKeyRevoked
	case registry.KeySuspended:
		d.customerID = e.key.CustomerID
		return nil, ErrKeySuspended
	case registry.KeyExpired:
		d.customerID = e.key.CustomerID
		return nil, ErrKeyExpired
	default:
		d.customerID = e.key.CustomerID
		return nil, fmt.Errorf("%w: status %q", ErrKeyInactive, st)
	}
	if e.customerStatus != registry.CustomerActive {
		d.customerID = e.key.CustomerID
		return nil, ErrCustomerSuspended
	}
	if len(e.allow) > 0 {
		ip, err := netip.ParseAddr(sourceIP)
		if err != nil || !keys.Allowed(e.allow, ip) {
			d.customerID = e.key.CustomerID
			return nil, ErrSourceIPNotAllowed
		}
	}
	return e.p, nil
}

// keyEntry returns the cached entry for h, re-reading the registry once it
// is older than the TTL.
func (a *Authorizer) keyEntry(ctx context.Context, h keys.Hash, now time.Time) (*keyEntry, error) {
	old, ok := a.keys.Get(h)
	if ok && now.Sub(old.at) < a.ttl {
		return old, nil
	}
	if ok && a.serveStale(old.at, now) {
		return old, nil
	}
	if !ok && a.unknown.known(h, now) {
		a.unknownKey(ctx, now)
		return nil, fmt.Errorf("%w: %s (negative cache)", ErrUnknownKey, h.ID())
	}
	e, err := a.loadKey(ctx, h, now)
	if isUnknownKey(err) {
		a.unknown.remember(h, now)
		a.unknownKey(ctx, now)
	}
	if err != nil {
		if errors.Is(err, ErrRegistryUnavailable) && ok && now.Sub(old.at) <= a.maxStale {
			a.log.WarnContext(ctx, "registry unavailable: serving last known API-key decision",
				"keyId", old.key.ID, "age", now.Sub(old.at).String(), "error", err)
			return old, nil
		}
		if ok {
			a.keys.Remove(h)
		}
		return nil, err
	}
	a.keys.Add(h, e)
	return e, nil
}

// loadKey reads the key (one GetItem by id) and its subscription (usually
// cached).
func (a *Authorizer) loadKey(ctx context.Context, h keys.Hash, now time.Time) (*keyEntry, error) {
	id := h.ID()
	k, err := call(ctx, a, now, func(ctx context.Context) (registry.Key, error) { return a.reg.GetKey(ctx, id) })
	if errors.Is(err, registry.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	if err != nil {
		return nil, err
	}
	stored, err := keys.ParseHash(k.Hash)
	if err != nil {
		return nil, fmt.Errorf("%w: key %s: %w", ErrCorruptRecord, id, err)
	}
	if !stored.Equal(h) {
		return nil, fmt.Errorf("%w: key %s: stored hash differs", ErrInvalidKey, id)
	}
	e := &keyEntry{at: now, key: k}
	if k.Env != a.env {
		e.err = fmt.Errorf("%w: key %s is registered for %q", ErrWrongEnvironment, id, k.Env)
		return e, nil
	}
	if e.allow, err = keys.ParseAllowlist(k.AllowedCIDRs); err != nil {
		e.err = fmt.Errorf("%w: key %s: %w", ErrCorruptRecord, id, err)
		return e, nil
	}
	sub, err := a.subscription(ctx, k.CustomerID, now)
	if err != nil {
		return nil, err
	}
	e.at = minTime(e.at, sub.at)
	if sub.err != nil {
		e.err = sub.err
		return e, nil
	}
	e.customerStatus = sub.v.CustomerStatus
	e.p, e.err = a.newPrincipal(k.CustomerID, id, sub.v, k.Scopes, AuthMethodAPIKey, "", a.routes.forScopes(k.Scopes))
	return e, nil
}

// JWTs.

// tokenEntry is a verified token (cached until its exp, or until the key
// that verified it leaves the JWKS) plus the registry-derived principal of
// its client (refreshed after the TTL).
type tokenEntry struct {
	expires     time.Time
	key         jwtverify.KeyRef
	issuer      string
	clientID    string
	kid         string
	jti         string
	scopes      []string
	scopeKey    string // scopes joined by spaces
	claimRoutes routeSet

	at  time.Time // of p/err
	p   *principal
	err error // registry-derived rejection
}

type bindKey struct{ issuer, subject string }

// principalKey identifies a JWT client's principal: the exact cached
// binding and subscription records (a refresh makes new ones) plus the
// token's effective scopes and permitted routes.
type principalKey struct {
	binding *cached[registry.ClientBinding]
	sub     *cached[registry.Subscription]
	scopes  string
	routes  routeSet
}

func (a *Authorizer) authorizeJWT(ctx context.Context, token string, now time.Time, d *decision) (*principal, error) {
	if a.verifier == nil {
		return nil, fmt.Errorf("%w: no JWT issuers configured", ErrInvalidToken)
	}
	if len(token) > jwtverify.MaxTokenBytes {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, jwtverify.ErrTokenTooLarge)
	}
	// One hash of the token gives the cache key and, on a miss, the
	// digest an RS256 signature is checked against.
	dg := jwtverify.DigestOf(token)
	te, cached := a.cachedToken(dg.Key, now)
	if !cached {
		tok, err := a.verifier.VerifyDigested(ctx, token, dg)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		te = &tokenEntry{
			expires: tok.Expires, key: tok.Key, issuer: tok.Issuer, kid: tok.KID, jti: tok.JTI,
			claimRoutes: a.routes.claimsPass(tok.Claim),
		}
		te.scopes, te.scopeKey = tokenScopes(&tok)
		d.kid, d.jti, d.issuer = te.kid, te.jti, te.issuer
		if te.clientID, err = a.clientID(&tok); err != nil {
			return nil, err
		}
	}
	d.kid, d.jti, d.issuer, d.clientID = te.kid, te.jti, te.issuer, te.clientID
	known := te.p != nil || te.err != nil
	if !known || now.Sub(te.at) >= a.ttl && !a.serveStale(te.at, now) {
		// A fresh entry is this request's own: resolveClient may fill it
		// in. A cached one is shared, so it gets a copy.
		next, err := a.resolveClient(ctx, te, !cached, now)
		switch {
		case err == nil:
			te = next
			if te.key.Cacheable() {
				a.tokens.Add(dg.Key, te)
			}
		case errors.Is(err, ErrRegistryUnavailable) && known && now.Sub(te.at) <= a.maxStale:
			a.log.WarnContext(ctx, "registry unavailable: serving last known JWT-client decision",
				"issuer", te.issuer, "clientId", te.clientID, "age", now.Sub(te.at).String(), "error", err)
		default:
			return nil, err
		}
	}
	if te.err != nil {
		return nil, te.err
	}
	return te.p, nil
}

// cachedToken returns a still-valid cached verification.
func (a *Authorizer) cachedToken(th [sha256.Size]byte, now time.Time) (*tokenEntry, bool) {
	te, ok := a.tokens.Get(th)
	if !ok {
		return nil, false
	}
	if !now.Before(te.expires) || !a.verifier.KeyCurrent(te.key) {
		a.tokens.Remove(th)
		return nil, false
	}
	return te, true
}

// resolveClient maps a verified token's client to its customer: binding
// (cached) then subscription (cached). It returns the resolved entry: te
// itself when owned, else a copy (te is then shared through the token cache
// and must not change). Registry rejections are kept in it (cached like
// grants).
func (a *Authorizer) resolveClient(ctx context.Context, te *tokenEntry, owned bool, now time.Time) (*tokenEntry, error) {
	issuer, clientID := te.issuer, te.clientID
	b, err := lookup(ctx, a, a.bindings, bindKey{issuer, clientID}, now,
		func(ctx context.Context) (registry.ClientBinding, error) {
			return a.reg.GetBinding(ctx, a.env, issuer, clientID)
		})
	if err != nil {
		return nil, err
	}
	next := te
	if !owned {
		c := *te
		next = &c
	}
	next.p, next.err, next.at = nil, nil, minTime(now, b.at)
	if b.err != nil {
		next.err = fmt.Errorf("%w: issuer %q client %q", ErrUnknownClient, te.issuer, te.clientID)
		return next, nil
	}
	sub, err := a.subscription(ctx, b.v.CustomerID, now)
	if err != nil {
		return nil, err
	}
	next.at = minTime(next.at, sub.at)
	if sub.err != nil {
		next.err = sub.err
		return next, nil
	}
	if sub.v.CustomerStatus != registry.CustomerActive {
		next.err = fmt.Errorf("%w: %s", ErrCustomerSuspended, b.v.CustomerID)
		return next, nil
	}
	scopes, scopeKey := te.scopes, te.scopeKey
	if len(b.v.Scopes) > 0 {
		scopes = intersect(scopes, b.v.Scopes)
		scopeKey = strings.Join(scopes, " ")
	}
	routes := a.routes.forScopes(scopes).and(te.claimRoutes)
	// Many tokens of one client share a principal: reuse it while the
	// binding and subscription records behind it are the same.
	mk := principalKey{binding: b, sub: sub, scopes: scopeKey, routes: routes}
	if p, ok := a.principals.Get(mk); ok {
		next.p = p
		return next, nil
	}
	next.p, next.err = a.newPrincipal(b.v.CustomerID, "", sub.v, scopes, AuthMethodJWT, te.clientID, routes)
	if next.err == nil {
		a.principals.Add(mk, next.p)
	}
	return next, nil
}

// clientID is the token's client: the first configured clientIdClaims
// claim present, or "sub" when none is configured.
func (a *Authorizer) clientID(tok *jwtverify.Token) (string, error) {
	if len(a.settings.ClientIDClaims) == 0 {
		if tok.Subject == "" {
			return "", fmt.Errorf("%w: no sub", ErrNoClientID)
		}
		return tok.Subject, nil
	}
	for _, c := range a.settings.ClientIDClaims {
		if s, ok := tok.StringClaim(c); ok && s != "" {
			return s, nil
		}
	}
	return "", fmt.Errorf("%w: none of %v", ErrNoClientID, a.settings.ClientIDClaims)
}

// claimFunc reads one claim of a verified token (jwtverify.Token.Claim).
type claimFunc func(name string) (any, bool)

// tokenScopes reads "scope" (space-separated) and "scp" (array or string),
// and returns them also joined by single spaces.
func tokenScopes(tok *jwtverify.Token) (scopes []string, joined string) {
	scope, hasScope := tok.StringClaim("scope")
	if hasScope {
		scopes = strings.Fields(scope)
	}
	scp, _ := tok.Claim("scp")
	switch s := scp.(type) {
	case nil:
		if hasScope && isJoined(scope, scopes) {
			return scopes, scope // the usual case: no second copy
		}
	case string:
		scopes = append(scopes, strings.Fields(s)...)
	case []any:
		for _, e := range s {
			if str, ok := e.(string); ok && validScope(str) {
				scopes = append(scopes, str)
			}
		}
	}
	return scopes, strings.Join(scopes, " ")
}

// isJoined reports whether s is exactly strings.Join(fields, " "), where
// fields is strings.Fields(s): no leading, trailing or repeated white space,
// and every separator a plain space.
func isJoined(s string, fields []string) bool {
	if len(fields) == 0 {
		return s == ""
	}
	n := len(fields) - 1
	for _, f := range fields {
		n += len(f)
	}
	// A one-byte separator other than ' ' is one of these; any other white
	// space is longer than one byte and would break the count.
	return n == len(s) && !strings.ContainsAny(s, "\t\n\v\f\r")
}

func intersect(have, allowed []string) []string {
	out := make([]string, 0, len(have))
	for _, s := range have {
		for _, t := range allowed {
			if s == t {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// Registry reads with caching and resilience.

// cached is a registry read kept for the TTL; err holds a cached "not
// found" (negative caching keeps a flood of requests for an unbound client
// from reaching DynamoDB).
type cached[V any] struct {
	at  time.Time
	v   V
	err error
}

func (a *Authorizer) subscription(ctx context.Context, customerID string, now time.Time) (*cached[registry.Subscription], error) {
	e, err := lookup(ctx, a, a.subs, customerID, now, func(ctx context.Context) (registry.Subscription, error) {
		return a.reg.GetSubscription(ctx, customerID, a.env)
	})
	if err != nil {
		return nil, err
	}
	if e.err != nil && !errors.Is(e.err, ErrNotSubscribed) {
		e = &cached[registry.Subscription]{at: e.at, err: fmt.Errorf("%w: %s", ErrNotSubscribed, customerID)}
	}
	return e, nil
}

// lookup serves k from c while fresh, else reads it; in resilient mode a
// failed read falls back to an entry up to maxStaleness old.
func lookup[K comparable, V any](ctx context.Context, a *Authorizer, c *lru.Cache[K, *cached[V]], k K, now time.Time, fetch func(context.Context) (V, error)) (*cached[V], error) {
	old, ok := c.Get(k)
	if ok && (now.Sub(old.at) < a.ttl || a.serveStale(old.at, now)) {
		return old, nil
	}
	v, err := call(ctx, a, now, fetch)
	var e *cached[V]
	switch {
	case err == nil:
		e = &cached[V]{at: now, v: v}
	case errors.Is(err, registry.ErrNotFound):
		e = &cached[V]{at: now, err: err}
	case ok && now.Sub(old.at) <= a.maxStale:
		a.log.WarnContext(ctx, "registry unavailable: serving last known record", "age", now.Sub(old.at).String(), "error", err)
		return old, nil
	default:
		return nil, err
	}
	c.Add(k, e)
	return e, nil
}

// serveStale: in resilient mode, right after a registry failure, an entry
// within maxStaleness is served without calling the registry again (so an
// outage does not add a timeout to every request).
func (a *Authorizer) serveStale(at, now time.Time) bool {
	return a.mode == ModeResilient && now.UnixNano() < a.downUntil.Load() && now.Sub(at) <= a.maxStale
}

// call runs one registry read with the timeout. registry.ErrNotFound is
// passed through; any other failure becomes ErrRegistryUnavailable and opens
// a short window in which resilient mode serves stale entries.
func call[V any](ctx context.Context, a *Authorizer, now time.Time, f func(context.Context) (V, error)) (V, error) {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	v, err := f(ctx)
	switch {
	case err == nil:
		return v, nil
	case errors.Is(err, registry.ErrNotFound):
		return v, err
	}
	a.downUntil.Store(now.Add(min(a.ttl, 5*time.Second)).UnixNano())
	var zero V
	return zero, fmt.Errorf("%w: %w", ErrRegistryUnavailable, err)
}

// newPrincipal builds the response parts shared by every request of this
// caller: context and usage key, and their JSON size.
func (a *Authorizer) newPrincipal(customerID, keyID string, sub registry.Subscription, scopes []string, method, clientID string, routes routeSet) (*principal, error) {
	if sub.UsageKeyValue == "" {
		return nil, fmt.Errorf("%w: customer %s", ErrNoUsageKey, customerID)
	}
	ctx := map[string]any{
		"customerId": customerID,
		"keyId":      keyID,
		"plan":       sub.Plan,
		"scopes":     strings.Join(scopes, " "),
		"authMethod": method,
	}
	if clientID != "" {
		ctx["clientId"] = clientID
	}
	b, err := json.Marshal(struct {
		P string         `json:"p"`
		C map[string]any `json:"c"`
		U string         `json:"u"`
	}{customerID, ctx, sub.UsageKeyValue})
	if err != nil {
		return nil, fmt.Errorf("%w: context: %w", ErrCorruptRecord, err)
	}
	return &principal{
		customerID: customerID,
		usageKey:   sub.UsageKeyValue,
		routes:     routes,
		context:    ctx,
		size:       len(b) + responseOverhead,
	}, nil
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// logRejection logs a 401 with its reason and identifiers, never the
// credential itself.
func (a *Authorizer) logRejection(ctx context.Context, req *events.APIGatewayCustomAuthorizerRequestTypeRequest, d *decision, err error) {
	level := slog.LevelInfo
	if errors.Is(err, ErrRegistryUnavailable) || errors.Is(err, ErrCorruptRecord) ||
		errors.Is(err, ErrPolicyTooLarge) || errors.Is(err, ErrBadRequest) || errors.Is(err, ErrNoUsageKey) {
		level = slog.LevelError
	}
	a.log.Log(ctx, level, "unauthorized",
		"reason", err.Error(),
		"authMethod", d.method,
		"keyId", d.keyID,
		"issuer", d.issuer,
		"clientId", d.clientID,
		"kid", d.kid,
		"jti", d.jti,
		"sourceIp", req.RequestContext.Identity.SourceIP,
		"requestId", req.RequestContext.RequestID,
	)
}
