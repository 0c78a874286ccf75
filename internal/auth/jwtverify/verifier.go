// Package jwtverify verifies JWTs for the authorizer: golang-jwt/jwt v5 with
// an explicit algorithm allowlist, keys from each issuer's JWKS URL (fetched
// at construction and refreshed in the background by MicahParks/jwkset, and
// re-fetched in the background — single-flight, rate-limited — when a token
// names an unknown kid), and optional HS256 secrets, one per issuer.
//
// A Verifier is safe for concurrent use. It never logs a token or a
// signature.
package jwtverify

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

// MaxTokenBytes is the largest token accepted; longer ones are rejected
// before any parsing.
const MaxTokenBytes = 8 << 10

// MaxHTTPTimeout caps every JWKS request.
const MaxHTTPTimeout = 2 * time.Second

// maxKIDLen bounds the kid header we are willing to look up or log.
const maxKIDLen = 256

// minRSABits is the smallest RSA modulus accepted.
const minRSABits = 2048

// minHS256SecretLen is RFC 7518's minimum HS256 key size (256 bits).
const minHS256SecretLen = 32

// Sentinel errors. Every rejection wraps one of these or a golang-jwt error
// (jwt.ErrTokenExpired, jwt.ErrTokenMalformed, ...).
var (
	ErrTokenTooLarge   = errors.New("token larger than 8 KiB")
	ErrUnknownIssuer   = errors.New("token issuer is not configured")
	ErrCritHeader      = errors.New("token has a crit header")
	ErrMissingKID      = errors.New("token has no usable kid header")
	ErrAlgNotAllowed   = errors.New("algorithm not allowed for this issuer")
	ErrKeyMismatch     = errors.New("JWKS key does not fit the token's algorithm")
	ErrAudience        = errors.New("token audience is not accepted")
	ErrLifetime        = errors.New("token lifetime exceeds the maximum")
	ErrBadSubject      = errors.New("token sub is not a string")
	ErrInvalidIssuerCf = errors.New("invalid issuer configuration")
	// ErrUnknownKID: the issuer's JWKS, as last fetched, has no key with
	// the token's kid. A background refetch has been started unless one is
	// running or one started less than the unknown-kid interval ago.
	ErrUnknownKID = errors.New("kid is not in the issuer's JWKS")
)

// Issuer is one trusted token issuer.
type Issuer struct {
	// Issuer is the exact "iss" value.
	Issuer string
	// JWKSURL is where the issuer publishes its public keys (https, or http
	// on a loopback host). Empty only for an HS256-only issuer.
	JWKSURL string
	// Audiences: a token must name at least one of them in "aud".
	Audiences []string
	// HS256 lets this issuer sign with its own secret (WithIssuerHS256Secret).
	HS256 bool
	// Typ, when set, is the "typ" header every token of this issuer must
	// carry (compared as TypMatches does): "at+jwt" keeps the issuer's ID
	// tokens, which may name the same audience, from passing as access
	// tokens (RFC 9068 §2.1, RFC 8725 §3.11).
	Typ string
}

// Token is a verified token's identity and claims.
type Token struct {
	Issuer  string
	Subject string
	Alg     string
	KID     string // empty for HS256
	JTI     string // for logs; may be empty
	Expires time.Time
	// Claims are all the token's claims (read-only), filled by Verify; nil
	// from VerifyLazy. Claim reads one claim either way.
	Claims jwt.MapClaims
	// Key identifies the key that verified the token (see KeyCurrent).
	Key KeyRef

	claims *claimSet
}

// KeyRef identifies the exact key that verified a token.
type KeyRef struct {
	issuer    *issuerKeys
	kid       string
	fp        uint64
	cacheable bool
}

// Verifier verifies tokens. Build it with New.
type Verifier struct {
	issuers     map[string]*issuerKeys
	methods     []string       // the algorithm allowlist
	validator   *jwt.Validator // exp (required), nbf, iat, with leeway
	lastHeader  atomic.Pointer[headerMemo]
	clock       clock.Clock
	maxLifetime time.Duration
	hsSecret    []byte            // WithHS256Secret: for HS256 issuers without their own
	hsSecrets   map[string][]byte // WithIssuerHS256Secret, by issuer
	log         *slog.Logger

	httpClient      *http.Client
	ctx             context.Context // bounds background fetches
	refresh         time.Duration
	unknownKIDEvery time.Duration
	leeway          time.Duration
}

type issuerKeys struct {
	cfg      Issuer
	store    *kidIndex // nil for an HS256-only issuer
	hsSecret []byte    // this issuer's HS256 secret, nil unless cfg.HS256

	// Unknown-kid refetches: at most one running (refetching) and one
	// started per unknown-kid interval (limiter).
	limiter    *rate.Limiter
	refetching atomic.Bool
	refetches  atomic.Int64 // started, for tests and logs
}

// Option configures a Verifier.
type Option func(*Verifier)

// WithClock sets the clock used for exp/nbf/iat (default: system clock).
func WithClock(c clock.Clock) Option { return func(v *Verifier) { v.clock = c } }

// WithLeeway sets the clock-skew allowance for exp, nbf and iat (default 30 s).
func WithLeeway(d time.Duration) Option { return func(v *Verifier) { v.leeway = d } }

// WithMaxLifetime sets the longest accepted token lifetime: exp − iat, or
// exp − now when iat is absent (default 24 h).
func WithMaxLifetime(d time.Duration) Option { return func(v *Verifier) { v.maxLifetime = d } }

// WithHS256Secret sets the HS256 secret of every HS256 issuer that has none
// of its own (WithIssuerHS256Secret). The secret must be at least 32 bytes.
// New refuses two HS256 issuers with the same secret, so this serves at
// most one of them.
func WithHS256Secret(secret []byte) Option {
	return func(v *Verifier) { v.hsSecret = slices.Clone(secret) }
}

// WithIssuerHS256Secret sets the HS256 secret of one issuer (which must be
// configured with HS256). Each HS256 issuer needs its own: whoever holds an
// issuer's secret can mint any token of that issuer, so a secret shared by
// two issuers would let one mint tokens for the other's client bindings.
func WithIssuerHS256Secret(issuer string, secret []byte) Option {
	return func(v *Verifier) {
		if v.hsSecrets == nil {
			v.hsSecrets = map[string][]byte{}
		}
		v.hsSecrets[issuer] = slices.Clone(secret)
	}
}

// ErrSharedSecret: two HS256 issuers have the same secret.
var ErrSharedSecret = errors.New("two HS256 issuers share one secret")

// WithHTTPClient sets the client for JWKS requests; its Timeout is capped at
// MaxHTTPTimeout (default: a client with that timeout).
func WithHTTPClient(c *http.Client) Option { return func(v *Verifier) { v.httpClient = c } }

// WithRefreshInterval sets the background JWKS refresh period (default 5 min).
func WithRefreshInterval(d time.Duration) Option { return func(v *Verifier) { v.refresh = d } }

// WithUnknownKIDRefresh sets the minimum time between two JWKS refetches
// triggered by unknown kids, per issuer (default 30 s).
func WithUnknownKIDRefresh(d time.Duration) Option {
	return func(v *Verifier) { v.unknownKIDEvery = d }
}

// WithLogger sets the logger for JWKS refresh failures (default slog.Default).
func WithLogger(l *slog.Logger) Option { return func(v *Verifier) { v.log = l } }

// New builds a Verifier and fetches every issuer's JWKS once, concurrently,
// before returning. A JWKS that cannot be fetched now is logged, not fatal:
// its keys are fetched again in the background and on the first unknown kid.
// ctx bounds the background refresh goroutines (cancel it to stop them).
func New(ctx context.Context, issuers []Issuer, opts ...Option) (*Verifier, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	v := &Verifier{
		clock:           clock.System{},
		leeway:          30 * time.Second,
		maxLifetime:     24 * time.Hour,
		refresh:         5 * time.Minute,
		unknownKIDEvery: 30 * time.Second,
		log:             slog.Default(),
		issuers:         make(map[string]*issuerKeys, len(issuers)),
		ctx:             ctx,
	}
	for _, o := range opts {
		o(v)
	}
	if v.hsSecret != nil && len(v.hsSecret) < minHS256SecretLen {
		return nil, fmt.Errorf("HS256 secret: %w: want at least %d bytes", ErrInvalidIssuerCf, minHS256SecretLen)
	}
	for is, sec := range v.hsSecrets {
		if len(sec) < minHS256SecretLen {
			return nil, fmt.Errorf("HS256 secret of issuer %q: %w: want at least %d bytes", is, ErrInvalidIssuerCf, minHS256SecretLen)
		}
		if !slices.ContainsFunc(issuers, func(i Issuer) bool { return i.Issuer == is && i.HS256 }) {
			return nil, fmt.Errorf("%w: HS256 secret for %q, which is not an HS256 issuer", ErrInvalidIssuerCf, is)
		}
	}
	if len(issuers) == 0 {
		return nil, fmt.Errorf("%w: no issuers", ErrInvalidIssuerCf)
	}
	client := &http.Client{Timeout: MaxHTTPTimeout}
	if v.httpClient != nil {
		c := *v.httpClient
		if c.Timeout <= 0 || c.Timeout > MaxHTTPTimeout {
			c.Timeout = MaxHTTPTimeout
		}
		client = &c
	}
	v.httpClient = client

	methods := []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}
	for _, is := range issuers {
		if err := v.checkIssuer(is); err != nil {
			return nil, err
		}
		if is.HS256 && !slices.Contains(methods, "HS256") {
			methods = append(methods, "HS256")
		}
		ik := &issuerKeys{cfg: is}
		if is.HS256 {
			ik.hsSecret = v.hsSecrets[is.Issuer]
			if ik.hsSecret == nil {
				ik.hsSecret = v.hsSecret
			}
			for _, other := range v.issuers {
				if other.hsSecret != nil && bytes.Equal(other.hsSecret, ik.hsSecret) {
					return nil, fmt.Errorf("%w: %w: %q and %q", ErrInvalidIssuerCf, ErrSharedSecret, other.cfg.Issuer, is.Issuer)
				}
			}
		}
		v.issuers[is.Issuer] = ik
	}
	v.methods = methods
	v.validator = jwt.NewValidator(
		jwt.WithLeeway(v.leeway),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithTimeFunc(v.clock.Now),
	)

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, ik := range v.issuers {
		if ik.cfg.JWKSURL == "" {
			continue
		}
		wg.Go(func() {
			if err := v.connect(ctx, ik); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return v, nil
}

func (v *Verifier) checkIssuer(is Issuer) error {
	switch {
	case is.Issuer == "":
		return fmt.Errorf("%w: empty issuer", ErrInvalidIssuerCf)
	case v.issuers[is.Issuer] != nil:
		return fmt.Errorf("%w: issuer %q listed twice", ErrInvalidIssuerCf, is.Issuer)
	case len(is.Audiences) == 0:
		return fmt.Errorf("%w: issuer %q has no audiences", ErrInvalidIssuerCf, is.Issuer)
	case is.JWKSURL == "" && !is.HS256:
		return fmt.Errorf("%w: issuer %q has neither a JWKS URL nor HS256", ErrInvalidIssuerCf, is.Issuer)
	case is.HS256 && v.hsSecret == nil && v.hsSecrets[is.Issuer] == nil:
		return fmt.Errorf("%w: issuer %q uses HS256 but no secret is configured", ErrInvalidIssuerCf, is.Issuer)
	}
	if is.JWKSURL != "" {
		if err := CheckJWKSURL(is.JWKSURL); err != nil {
			return fmt.Errorf("%w: issuer %q: %w", ErrInvalidIssuerCf, is.Issuer, err)
		}
	}
	return nil
}

// CheckJWKSURL accepts https URLs, and http ones only on a loopback host
// (local tests and emulators).
func CheckJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("jwks url: %w", err)
	}
	switch {
	case u.Host == "":
		return fmt.Errorf("jwks url %q has no host", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && (u.Hostname() == "127.0.0.1" || u.Hostname() == "::1" || u.Hostname() == "localhost"):
		return nil
	}
	return fmt.Errorf("jwks url %q must use https", raw)
}

// connect wires one issuer: our kid index as the storage, and the jwkset
// HTTP storage around it (first fetch now, background refresh every
// refresh interval). Unknown kids are refetched by refetch, in the
// background.
func (v *Verifier) connect(ctx context.Context, ik *issuerKeys) error {
	u := ik.cfg.JWKSURL
	onErr := func(ctx context.Context, err error) {
		v.log.ErrorContext(ctx, "jwks refresh failed", "issuer", ik.cfg.Issuer, "jwksUrl", u, "error", err)
	}
	idx := newKidIndex()
	if _, err := jwkset.NewStorageFromHTTP(u, jwkset.HTTPClientStorageOptions{
		Client:                    v.httpClient,
		Ctx:                       ctx,
		HTTPTimeout:               MaxHTTPTimeout,
		NoErrorReturnFirstHTTPReq: true,
		RefreshErrorHandler:       onErr,
		RefreshInterval:           v.refresh,
		Storage:                   idx,
	}); err != nil {
		return fmt.Errorf("jwks for issuer %q: %w", ik.cfg.Issuer, err)
	}
	ik.store = idx
	ik.limiter = rate.NewLimiter(rate.Every(v.unknownKIDEvery), 1)
	return nil
}

// refetch starts a background fetch of the issuer's JWKS after a token
// named a kid it does not hold, unless a refetch is running (single
// flight) or one started less than the unknown-kid interval ago (rate
// limit). The request that asked never waits for it: it fails with
// ErrUnknownKID, and the first request after the new set lands verifies.
// The fetch runs under the verifier's context with the HTTP client's
// timeout (at most MaxHTTPTimeout), not under the request's.
func (v *Verifier) refetch(ik *issuerKeys) {
	if !ik.refetching.CompareAndSwap(false, true) {
		return
	}
	if !ik.limiter.Allow() {
		ik.refetching.Store(false)
		return
	}
	ik.refetches.Add(1)
	go func() {
		defer ik.refetching.Store(false)
		ctx, cancel := context.WithTimeout(v.ctx, MaxHTTPTimeout)
		defer cancel()
		if err := fetchJWKS(ctx, v.httpClient, ik.cfg.JWKSURL, ik.store); err != nil {
			v.log.ErrorContext(ctx, "jwks refetch for an unknown kid failed", "issuer", ik.cfg.Issuer, "jwksUrl", ik.cfg.JWKSURL, "error", err)
		}
	}()
}

// maxJWKSBytes bounds a JWKS response.
const maxJWKSBytes = 1 << 20

// fetchJWKS reads the JWKS at u into store as jwkset's HTTP storage does
// (keys of unsupported types skipped), replacing every key.
func fetchJWKS(ctx context.Context, client *http.Client, u string, store jwkset.Storage) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("jwks request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("jwks fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("jwks fetch: %w: %d", jwkset.ErrInvalidHTTPStatusCode, resp.StatusCode)
	}
	var set jwkset.JWKSMarshal
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxJWKSBytes)).Decode(&set); err != nil {
		return fmt.Errorf("jwks decode: %w", err)
	}
	keys := make([]jwkset.JWK, 0, len(set.Keys))
	for _, m := range set.Keys {
		j, err := jwkset.NewJWKFromMarshal(m, jwkset.JWKMarshalOptions{Private: true}, jwkset.JWKValidateOptions{})
		switch {
		case errors.Is(err, jwkset.ErrUnsupportedKey):
			continue
		case err != nil:
			return fmt.Errorf("jwks key: %w", err)
		}
		keys = append(keys, j)
	}
	return store.KeyReplaceAll(ctx, keys)
}

// KeyCount returns how many keys the issuer's JWKS currently holds (for
// cold-start logs and tests).
func (v *Verifier) KeyCount(issuer string) int {
	ik := v.issuers[issuer]
	if ik == nil || ik.store == nil {
		return 0
	}
	return len(ik.store.snap.Load().keys)
}

// KeyCurrent reports whether the key that verified a token is still
// published unchanged (always true for HS256). A cached verification must be
// dropped once this turns false.
func (v *Verifier) KeyCurrent(r KeyRef) bool {
	if !r.cacheable || r.issuer == nil {
		return false
	}
	if r.issuer.store == nil {
		return true // HS256: the secret is fixed for the process's life
	}
	return r.issuer.store.current(r.kid, r.fp)
}

// Cacheable reports whether a verification may be cached (false when the
// key set changed while the token was being verified).
func (r KeyRef) Cacheable() bool { return r.cacheable }

// Verify parses and fully verifies token: size, structure, algorithm
// allowlist, issuer, key, signature, exp (required), nbf, iat, audience and
// maximum lifetime. Token.Claims holds every claim. The error never contains
// the token.
func (v *Verifier) Verify(ctx context.Context, token string) (Token, error) {
	tok, err := v.VerifyLazy(ctx, token)
	if err != nil {
		return Token{}, err
	}
	if tok.Claims, err = tok.claims.Map(); err != nil {
		// Not reached: the payload was checked when the claims were parsed.
		return Token{}, fmt.Errorf("%w: %w", jwt.ErrTokenMalformed, err)
	}
	return tok, nil
}

// VerifyLazy verifies exactly like Verify but does not build Token.Claims
// (it is nil): claims are decoded one at a time, when read with
// Token.Claim. This is the authorizer's hot path, where building a map of
// every claim would cost more than the rest of the decision. The token is
// parsed by the verifier itself and its signature verified by golang-jwt's
// signing method (see parse.go).
func (v *Verifier) VerifyLazy(ctx context.Context, token string) (Token, error) {
	return v.verifyToken(ctx, token, nil)
}

// VerifyDigested is VerifyLazy for a caller that has hashed the token
// already (d = DigestOf(token)): an RS256 signature is then checked against
// d's digest of the signing input instead of hashing it again. A d of
// another token is ignored.
func (v *Verifier) VerifyDigested(ctx context.Context, token string, d Digest) (Token, error) {
	return v.verifyToken(ctx, token, &d)
}

// Claim returns the claim called name as jwt.MapClaims holds it (string,
// float64, bool, nil, []any or map[string]any), from Claims when Verify
// filled it, else decoded from the token on each call.
func (t Token) Claim(name string) (any, bool) {
	if t.Claims != nil {
		v, ok := t.Claims[name]
		return v, ok
	}
	if t.claims == nil {
		return nil, false
	}
	return t.claims.Claim(name)
}

// StringClaim returns the claim called name if it is a JSON string: what
// Claim returns when its value is a string, without boxing it.
func (t Token) StringClaim(name string) (string, bool) {
	if t.Claims != nil {
		s, ok := t.Claims[name].(string)
		return s, ok
	}
	if t.claims == nil {
		return "", false
	}
	return t.claims.stringClaim(name)
}

// key returns the issuer's key for kid and its fingerprint, from the kid
// index (one map lookup), with keyfunc's check that the JWK's "alg", when
// set, is the token's, and RFC 7517's "use" / "key_ops" (a key published
// for encryption, or whose operations exclude verify, verifies nothing). A
// kid the index does not hold starts a background refetch (see refetch)
// and fails now.
func (v *Verifier) key(ik *issuerKeys, kid, alg string) (key any, fp uint64, cacheable bool, err error) {
	e, ok := ik.store.snap.Load().keys[kid]
	switch {
	case !ok:
		v.refetch(ik)
		return nil, 0, false, fmt.Errorf("%w: %w", ErrUnknownKID, jwkset.ErrKeyNotFound)
	case e.dup:
		return nil, 0, false, ErrDuplicateKID
	case e.unusable != nil:
		return nil, 0, false, e.unusable
	case e.alg != "" && e.alg != alg:
		return nil, 0, false, fmt.Errorf(`%w: JWK "alg" parameter value %q does not match token "alg" parameter value %q`, keyfunc.ErrKeyfunc, e.alg, alg)
	}
	return e.key, e.fp, true, nil
}

func (v *Verifier) checkAudience(ik *issuerKeys, claims *claimSet) error {
	ok, err := claims.audienceHas(ik.cfg.Audiences)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrAudience, err)
	}
	if !ok {
		return ErrAudience
	}
	return nil
}

func (v *Verifier) checkLifetime(claims *claimSet, exp time.Time) error {
	start := v.clock.Now()
	if iat, ok, _ := claims.issuedAt(); ok {
		start = iat
	}
	if exp.Sub(start) > v.maxLifetime {
		return fmt.Errorf("%w (%s)", ErrLifetime, v.maxLifetime)
	}
	return nil
}

// keyFitsAlg refuses a JWKS key whose type does not match the token's
// algorithm (for example an "oct" key offered for RS256, or a P-384 key for
// ES256), and RSA keys shorter than 2048 bits.
func keyFitsAlg(alg string, key any) error {
	switch alg {
	case "RS256", "RS384", "RS512", "PS256":
		k, ok := key.(*rsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an RSA key, got %T", ErrKeyMismatch, alg, key)
		}
		if k.N.BitLen() < minRSABits {
			return fmt.Errorf("%w: RSA key of %d bits", ErrKeyMismatch, k.N.BitLen())
		}
		return nil
	case "ES256", "ES384":
		k, ok := key.(*ecdsa.PublicKey)
		if !ok {
			return fmt.Errorf("%w: %s needs an EC key, got %T", ErrKeyMismatch, alg, key)
		}
		want := elliptic.P256()
		if alg == "ES384" {
			want = elliptic.P384()
		}
		if k.Curve != want {
			return fmt.Errorf("%w: %s with curve %s", ErrKeyMismatch, alg, k.Curve.Params().Name)
		}
		return nil
	case "EdDSA":
		if _, ok := key.(ed25519.PublicKey); !ok {
			return fmt.Errorf("%w: EdDSA needs an Ed25519 key, got %T", ErrKeyMismatch, key)
		}
		return nil
	}
	return fmt.Errorf("%w: %s", ErrAlgNotAllowed, alg)
}
