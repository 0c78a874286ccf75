package registry

import (
	"errors"
	"fmt"
	"math"
	"regexp"
)

// The one set of rules for a plan's fields. The CLI (plans put), the
// service layer (a plan named in subscribe and change-plan, so the key-admin
// API too) and the CDK configuration files (cdk/config) all call these; a
// new plan field gets its rule here.

// PlanNamePattern is what a plan (tier) name looks like: a lower-case
// letter, then up to 31 lower-case letters, digits or '-' ("basic",
// "pro-2024"). The name tags the API Gateway usage plan and appears in the
// audit trail, so it is kept to characters that are safe everywhere.
const PlanNamePattern = `^[a-z][a-z0-9-]{0,31}$`

var planNameRE = regexp.MustCompile(PlanNamePattern)

// Quota periods, as API Gateway names them.
const (
	QuotaDay   = "DAY"
	QuotaWeek  = "WEEK"
	QuotaMonth = "MONTH"
)

// ErrInvalidPlan marks every PlanFieldError; test with errors.Is.
var ErrInvalidPlan = errors.New("invalid plan")

// PlanFieldError names the plan field that is wrong and why. Field is the
// JSON name (name, rateLimit, burstLimit, quotaLimit, quotaPeriod,
// methodThrottles).
type PlanFieldError struct {
	Field  string
	Reason string
}

func (e *PlanFieldError) Error() string { return e.Field + ": " + e.Reason }

// Is makes errors.Is(err, ErrInvalidPlan) true.
func (e *PlanFieldError) Is(target error) bool { return target == ErrInvalidPlan }

func planErr(field, format string, args ...any) error {
	return &PlanFieldError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidatePlanName checks a plan name against PlanNamePattern.
func ValidatePlanName(name string) error {
	if !planNameRE.MatchString(name) {
		return planErr("name", "%q must be a lower-case letter then up to 31 lower-case letters, digits or '-' (%s)", name, PlanNamePattern)
	}
	return nil
}

// ValidateThrottle checks a steady-state rate (requests per second) and a
// burst. Both are zero (no throttling) or both above zero: API Gateway
// throttles with a token bucket, so a rate with a zero burst admits no
// request at all and a burst with a zero rate admits `burst` requests and
// then none, ever. rate must be a finite number; AWS documents minimum 0 for
// both (AWS::ApiGateway::UsagePlan ThrottleSettings).
func ValidateThrottle(rate float64, burst int64) error {
	switch {
	case math.IsNaN(rate) || math.IsInf(rate, 0) || rate < 0:
		return planErr("rateLimit", "must be a number of requests per second, 0 or more, got %g", rate)
	case burst < 0:
		return planErr("burstLimit", "must be 0 or more, got %d", burst)
	case burst > math.MaxInt32:
		return planErr("burstLimit", "must be at most %d, got %d", math.MaxInt32, burst)
	case rate > 0 && burst == 0:
		return planErr("burstLimit", "must be above 0 when rateLimit is set (a token bucket of size 0 admits nothing), got 0")
	case rate == 0 && burst > 0:
		return planErr("rateLimit", "must be above 0 when burstLimit is set (the bucket would never refill), got 0")
	}
	return nil
}

// ValidateQuota checks a request quota: a limit of 0 is no quota and takes
// no period; a positive limit takes DAY, WEEK or MONTH.
func ValidateQuota(limit int64, period string) error {
	switch {
	case limit < 0:
		return planErr("quotaLimit", "must be 0 (no quota) or more, got %d", limit)
	case limit > math.MaxInt32:
		return planErr("quotaLimit", "must be at most %d, got %d", math.MaxInt32, limit)
	case limit > 0 && period != QuotaDay && period != QuotaWeek && period != QuotaMonth:
		return planErr("quotaPeriod", "must be DAY, WEEK or MONTH when quotaLimit is set, got %q", period)
	case limit == 0 && period != "":
		return planErr("quotaPeriod", "must be empty when quotaLimit is 0 (no quota), got %q", period)
	}
	return nil
}

// Validate checks every field of a plan an operator sets: the name, the
// throttle, the quota and the per-method throttles. It returns the first
// problem as a *PlanFieldError.
func (p Plan) Validate() error {
	if err := ValidatePlanName(p.Name); err != nil {
		return err
	}
	if err := ValidateThrottle(p.RateLimit, int64(p.BurstLimit)); err != nil {
		return err
	}
	if err := ValidateQuota(int64(p.QuotaLimit), p.QuotaPeriod); err != nil {
		return err
	}
	return ValidateMethodThrottles(p.MethodThrottles)
}
