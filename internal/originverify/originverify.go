// Package originverify delivers the origin-verify value from Secrets
// Manager to the backend without putting it in API Gateway's
// configuration, and checks it on the backend side.
//
// The authorizer (Sender) reads the secret at cold start and every refresh
// interval, and returns the value to send in its context (ContextKey); the
// REST API maps context.authorizer.originVerify to the X-Origin-Verify
// header. The backend (Checker) accepts every value Secrets Manager holds
// under AWSCURRENT, AWSPENDING and AWSPREVIOUS.
//
// Rotation: putting a new value moves AWSCURRENT to it and AWSPREVIOUS to
// the old one. The Sender keeps sending the AWSPREVIOUS value until the
// AWSCURRENT version is PromoteAfter old (by its CreatedDate), so that every
// backend (which refreshes at least that often) knows the new value before
// the first request carries it; the old value stays accepted until the next
// rotation. docs/cdk.md ("Origin verify") states the timing rules.
//
// Neither side ever logs the value, and errors never contain it.
package originverify

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
)

// Secrets Manager staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// ContextKey is the authorizer context entry holding the value to send; the
// integration maps context.authorizer.<ContextKey> to the header.
const ContextKey = "originVerify"

// Header is the request header that carries the value to the backend.
const Header = "X-Origin-Verify"

// MaxValueBytes bounds a value; ContextReserve is what the Sender adds to
// an authorizer response at most (`,"originVerify":"<value>"`), for the
// authorizer's 8 KiB size check (auth.WithContextReserve).
const (
	MaxValueBytes  = 128
	ContextReserve = len(`,"":""`) + len(ContextKey) + MaxValueBytes
)

// Defaults: the Sender and the Checker refresh every DefaultRefresh; the
// Sender promotes a new AWSCURRENT after DefaultPromoteAfter.
const (
	DefaultRefresh      = 5 * time.Minute
	DefaultPromoteAfter = 15 * time.Minute
	defaultFetchTimeout = 2 * time.Second
	// maxRetryAfter bounds how long a failed refresh waits before the next
	// try (the last good values are served meanwhile).
	maxRetryAfter = 30 * time.Second
)

// Sentinel errors.
var (
	// ErrNoValue: the secret has no AWSCURRENT value (or it is empty).
	ErrNoValue = errors.New("origin-verify secret has no current value")
	// ErrBadValue: a value is longer than MaxValueBytes or has a character
	// outside printable ASCII (or a quote or backslash): it could not be
	// sent as a header as it is.
	ErrBadValue = errors.New("origin-verify value is not 1 to 128 printable ASCII characters without quotes or backslashes")
	// ErrConfig: invalid options.
	ErrConfig = errors.New("invalid origin-verify configuration")
)

// SecretGetter is the one Secrets Manager call both sides make.
// *secretsmanager.Client implements it.
type SecretGetter interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ SecretGetter = (*secretsmanager.Client)(nil)

// Versions are the secret's values by staging label at one moment. Empty
// strings are labels no version carries.
type Versions struct {
	Current, Pending, Previous string
	// CurrentCreated is the AWSCURRENT version's CreatedDate.
	CurrentCreated time.Time
}

// Fetch reads the AWSCURRENT, AWSPENDING and AWSPREVIOUS values of
// secretID. A missing AWSPENDING or AWSPREVIOUS is not an error; a missing
// or empty AWSCURRENT is ErrNoValue.
func Fetch(ctx context.Context, sm SecretGetter, secretID string) (Versions, error) {
	var v Versions
	for _, stage := range []string{StageCurrent, StagePending, StagePrevious} {
		out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
			SecretId:     aws.String(secretID),
			VersionStage: aws.String(stage),
		})
		var nf *types.ResourceNotFoundException
		switch {
		case err == nil:
		case stage != StageCurrent && errors.As(err, &nf):
			continue
		default:
			return Versions{}, fmt.Errorf("get origin-verify secret %s (%s): %w", secretID, stage, err)
		}
		value := aws.ToString(out.SecretString)
		if value != "" && !validValue(value) {
			return Versions{}, fmt.Errorf("origin-verify secret %s (%s): %w", secretID, stage, ErrBadValue)
		}
		switch stage {
		case StageCurrent:
			if value == "" {
				return Versions{}, fmt.Errorf("origin-verify secret %s: %w", secretID, ErrNoValue)
			}
			v.Current = value
			v.CurrentCreated = aws.ToTime(out.CreatedDate)
		case StagePending:
			v.Pending = value
		case StagePrevious:
			v.Previous = value
		}
	}
	return v, nil
}

// validValue: 1 to MaxValueBytes characters from '!' to '~' except '"' and
// '\' (header-safe, and its JSON encoding is itself).
func validValue(v string) bool {
	if len(v) > MaxValueBytes {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < '!' || c > '~' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// Option configures a Sender or a Checker.
type Option func(*settings)

type settings struct {
	refresh      time.Duration
	promoteAfter time.Duration
	fetchTimeout time.Duration
	now          func() time.Time
	log          *slog.Logger
}

// WithRefresh sets how often the secret is read again (default 5 min).
func WithRefresh(d time.Duration) Option { return func(s *settings) { s.refresh = d } }

// WithPromoteAfter sets how old an AWSCURRENT version must be before the
// Sender sends it (default 15 min). It must be at least the backends'
// refresh interval.
func WithPromoteAfter(d time.Duration) Option { return func(s *settings) { s.promoteAfter = d } }

// WithFetchTimeout bounds one refresh (default 2 s).
func WithFetchTimeout(d time.Duration) Option { return func(s *settings) { s.fetchTimeout = d } }

// WithClock sets the time source (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *settings) { s.now = now } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(s *settings) { s.log = l } }

func newSettings(opts []Option) (settings, error) {
	s := settings{
		refresh:      DefaultRefresh,
		promoteAfter: DefaultPromoteAfter,
		fetchTimeout: defaultFetchTimeout,
		now:          time.Now,
		log:          slog.Default(),
	}
	for _, o := range opts {
		o(&s)
	}
	switch {
	case s.refresh <= 0:
		return s, fmt.Errorf("%w: refresh interval %s must be positive", ErrConfig, s.refresh)
	case s.promoteAfter < 0:
		return s, fmt.Errorf("%w: promote-after %s is negative", ErrConfig, s.promoteAfter)
	case s.fetchTimeout <= 0:
		return s, fmt.Errorf("%w: fetch timeout %s must be positive", ErrConfig, s.fetchTimeout)
	case s.now == nil || s.log == nil:
		return s, fmt.Errorf("%w: nil clock or logger", ErrConfig)
	}
	return s, nil
}

// source holds the last good Versions and refreshes them when due, one
// caller at a time; the others keep using the last good ones.
type source struct {
	sm       SecretGetter
	secretID string
	s        settings

	versions atomic.Pointer[Versions]
	// due is when the next refresh should run (unix nanoseconds).
	due     atomic.Int64
	refresh sync.Mutex
}

func newSource(ctx context.Context, sm SecretGetter, secretID string, opts []Option) (*source, error) {
	if sm == nil || secretID == "" {
		return nil, fmt.Errorf("%w: Secrets Manager client and secret id are required", ErrConfig)
	}
	s, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	src := &source{sm: sm, secretID: secretID, s: s}
	if err := src.load(ctx); err != nil {
		return nil, err
	}
	return src, nil
}

func (src *source) load(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, src.s.fetchTimeout)
	defer cancel()
	v, err := Fetch(ctx, src.sm, src.secretID)
	if err != nil {
		return err
	}
	src.versions.Store(&v)
	src.due.Store(src.s.now().Add(src.s.refresh).UnixNano())
	return nil
}

// current returns the last good Versions, refreshing them first when due.
// A failed refresh keeps them and is retried after a short wait.
func (src *source) current(ctx context.Context, now time.Time) *Versions {
	if now.UnixNano() >= src.due.Load() && src.refresh.TryLock() {
		if now.UnixNano() >= src.due.Load() {
			if err := src.load(ctx); err != nil {
				src.due.Store(now.Add(min(src.s.refresh, maxRetryAfter)).UnixNano())
				src.s.log.WarnContext(ctx, "origin-verify refresh failed: serving the last known values",
					"secretId", src.secretID, "error", err)
			}
		}
		src.refresh.Unlock()
	}
	return src.versions.Load()
}

// Sender chooses the value the authorizer sends. Build it with NewSender;
// it is safe for concurrent use.
type Sender struct{ src *source }

// NewSender reads the secret (a failure is a cold-start error: without the
// value every backend request would be rejected).
func NewSender(ctx context.Context, sm SecretGetter, secretID string, opts ...Option) (*Sender, error) {
	src, err := newSource(ctx, sm, secretID, opts)
	if err != nil {
		return nil, err
	}
	return &Sender{src: src}, nil
}

// Value returns the value to send now: AWSPREVIOUS while the AWSCURRENT
// version is younger than the promote-after delay (and an AWSPREVIOUS
// exists), AWSCURRENT otherwise.
func (s *Sender) Value(ctx context.Context) string {
	now := s.src.s.now()
	return choose(s.src.current(ctx, now), now, s.src.s.promoteAfter)
}

func choose(v *Versions, now time.Time, promoteAfter time.Duration) string {
	if v.Previous != "" && now.Sub(v.CurrentCreated) < promoteAfter {
		return v.Previous
	}
	return v.Current
}

// Checker is the backend's side: it accepts the values of AWSCURRENT,
// AWSPENDING and AWSPREVIOUS, refreshed every refresh interval. It is safe
// for concurrent use.
type Checker struct{ src *source }

// NewChecker reads the secret; a failure is a start-up error.
func NewChecker(ctx context.Context, sm SecretGetter, secretID string, opts ...Option) (*Checker, error) {
	src, err := newSource(ctx, sm, secretID, opts)
	if err != nil {
		return nil, err
	}
	return &Checker{src: src}, nil
}

// Valid reports whether got is one of the accepted values (compared in
// constant time; an empty value is never valid).
func (c *Checker) Valid(ctx context.Context, got string) bool {
	if got == "" {
		return false
	}
	v := c.src.current(ctx, c.src.s.now())
	ok := 0
	for _, want := range [...]string{v.Current, v.Pending, v.Previous} {
		if want != "" {
			ok |= subtle.ConstantTimeCompare([]byte(got), []byte(want))
		}
	}
	return ok == 1
}
