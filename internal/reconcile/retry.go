package reconcile

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

// Retries go through aws-sdk-go-v2's standard retryer (retry.NewStandard):
// it decides what is retryable (TooManyRequestsException and the other
// throttling codes, 500/502/503/504, connection errors) and how many
// attempts a call gets. Three things are ours:
//
//   - the backoff is "full jitter" (a uniform draw in [0, min(cap,
//     base·2^attempt)]) from an injected random source, at least the
//     Retry-After the service sent, so runs are repeatable in tests;
//   - the SDK's retry-quota token bucket is off (ratelimit.None): stagehand
//     paces its own calls (the account-wide call budget and the
//     UpdateUsagePlan pacer), and a quota that empties after a few hundred
//     throttled calls would turn a 30 % throttling episode into failures;
//   - the wait happens on the injected clock. The SDK's retry middleware
//     sleeps in real time on whatever RetryDelay returns, so the retryer
//     installed for each call (per-operation options) sleeps the delay on
//     the clock, with that call's context, and returns 0 to the middleware.
//     With clock.System that is an ordinary sleep; with clock.Virtual a
//     test spanning hours of backoff runs in milliseconds.
//
// LimitExceededException is the SDK's "throttle" code list but API Gateway
// uses it for account limits (an API key in more than 10 usage plans), which
// no retry fixes, so it is not retried.

// RetryPolicy configures retries of API Gateway calls.
type RetryPolicy struct {
	// MaxAttempts per call, the first included (default 8).
	MaxAttempts int
	// BaseDelay is the backoff before the first retry's cap (default 500 ms).
	BaseDelay time.Duration
	// MaxBackoff caps one backoff (default 20 s).
	MaxBackoff time.Duration
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = 500 * time.Millisecond
	}
	if p.MaxBackoff <= 0 {
		p.MaxBackoff = 20 * time.Second
	}
	return p
}

// retrier builds the per-call retry option and counts retries.
type retrier struct {
	clock   clock.Clock
	policy  RetryPolicy
	inner   aws.RetryerV2
	retries atomic.Int64

	mu  sync.Mutex
	rng *rand.Rand
}

func newRetrier(c clock.Clock, policy RetryPolicy, seed uint64) *retrier {
	r := &retrier{clock: c, policy: policy.withDefaults(), rng: rand.New(rand.NewPCG(seed, 0x7e7))}
	std := retry.NewStandard(func(o *retry.StandardOptions) {
		o.MaxBackoff = r.policy.MaxBackoff
		o.Backoff = retry.BackoffDelayerFunc(r.backoff)
		o.RateLimiter = ratelimit.None
		o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(notLimitExceeded)}, o.Retryables...)
	})
	r.inner = retry.AddWithMaxAttempts(std, r.policy.MaxAttempts).(aws.RetryerV2)
	return r
}

// IsTransient reports whether err is one a later attempt may not see:
// throttling, a 5xx, a connection error, or retries exhausted on those.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if notLimitExceeded(err) == aws.FalseTernary {
		return false
	}
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func notLimitExceeded(err error) aws.Ternary {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode() == "LimitExceededException" {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

// backoff is full jitter, at least the server's Retry-After.
func (r *retrier) backoff(attempt int, err error) (time.Duration, error) {
	ceiling := float64(r.policy.BaseDelay) * math.Pow(2, float64(max(attempt-1, 0)))
	ceiling = math.Min(ceiling, float64(r.policy.MaxBackoff))
	r.mu.Lock()
	d := time.Duration(r.rng.Float64() * ceiling)
	r.mu.Unlock()
	if ra := retryAfter(err); ra > d {
		d = min(ra, r.policy.MaxBackoff)
	}
	return d, nil
}

func retryAfter(err error) time.Duration {
	var re *smithyhttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0
	}
	return parseRetryAfter(re.Response.Header)
}

func parseRetryAfter(h http.Header) time.Duration {
	s := h.Get("Retry-After")
	if s == "" {
		return 0
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

// option is the per-call option that installs a clock-sleeping retryer
// bound to ctx.
func (r *retrier) option(ctx context.Context) func(*apigateway.Options) {
	return func(o *apigateway.Options) {
		o.Retryer = &clockRetryer{RetryerV2: r.inner, r: r, ctx: ctx}
	}
}

// clockRetryer is the standard retryer with its delay slept on the clock.
// It lives for one call (it holds that call's context).
type clockRetryer struct {
	aws.RetryerV2
	r   *retrier
	ctx context.Context
}

// RetryDelay sleeps the standard retryer's delay on the injected clock and
// tells the SDK middleware to wait no more.
func (c *clockRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	d, derr := c.RetryerV2.RetryDelay(attempt, err)
	if derr != nil {
		return 0, derr
	}
	c.r.retries.Add(1)
	if serr := c.r.clock.Sleep(c.ctx, d); serr != nil {
		return 0, serr
	}
	return 0, nil
}
