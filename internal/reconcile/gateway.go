package reconcile

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/smithy-go"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/iamgrant"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Gateway is the part of the API Gateway client the reconciler calls;
// *apigateway.Client implements it.
type Gateway interface {
	GetUsagePlans(ctx context.Context, in *apigateway.GetUsagePlansInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsagePlansOutput, error)
	GetUsagePlan(ctx context.Context, in *apigateway.GetUsagePlanInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsagePlanOutput, error)
	CreateUsagePlan(ctx context.Context, in *apigateway.CreateUsagePlanInput, optFns ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanOutput, error)
	UpdateUsagePlan(ctx context.Context, in *apigateway.UpdateUsagePlanInput, optFns ...func(*apigateway.Options)) (*apigateway.UpdateUsagePlanOutput, error)
	GetUsagePlanKeys(ctx context.Context, in *apigateway.GetUsagePlanKeysInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsagePlanKeysOutput, error)
	CreateUsagePlanKey(ctx context.Context, in *apigateway.CreateUsagePlanKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanKeyOutput, error)
	DeleteUsagePlanKey(ctx context.Context, in *apigateway.DeleteUsagePlanKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanKeyOutput, error)
	GetStage(ctx context.Context, in *apigateway.GetStageInput, optFns ...func(*apigateway.Options)) (*apigateway.GetStageOutput, error)
}

var _ Gateway = (*apigateway.Client)(nil)

// GatewayGrants are the IAM grants of the Gateway calls, kept next to the
// interface: the deployment and reconcile roles get exactly the grants of
// Gateway's methods (cdk/stacks derives them by reflection), and a method
// added to Gateway without a grant here fails the build's tests
// (iamgrant.Check). Writes are limited to usage plans tagged with the
// role's environment; a usage plan key inherits its plan's tags for
// access control.
var GatewayGrants = iamgrant.Table{
	"GetUsagePlans":      {Method: "GET", Path: "/usageplans"},
	"GetUsagePlan":       {Method: "GET", Path: "/usageplans/*"},
	"GetUsagePlanKeys":   {Method: "GET", Path: "/usageplans/*/keys"},
	"GetStage":           {Method: "GET", Path: "/restapis/*/stages/*"},
	"UpdateUsagePlan":    {Method: "PATCH", Path: "/usageplans/*", Scope: iamgrant.EnvResource},
	"CreateUsagePlanKey": {Method: "POST", Path: "/usageplans/*/keys", Scope: iamgrant.EnvResource},
	"DeleteUsagePlanKey": {Method: "DELETE", Path: "/usageplans/*/keys/*", Scope: iamgrant.EnvResource},
	// CreateUsagePlan joins Gateway when the registry owns the usage plans
	// (issue 11, section 1): a plan is created tagged stagehand:env (the
	// role's environment) and stagehand:plan, nothing else; creating with
	// tags is also authorized as apigateway:PUT on the new plan's tags.
	"CreateUsagePlan": {Method: "POST", Path: "/usageplans", Scope: iamgrant.EnvRequest, TagsPath: "/tags/*usageplans*"},
}

// pageLimit is the largest page API Gateway serves.
const pageLimit = 500

// Default account-wide call budget of one reconciler: API Gateway allows
// 10 control-plane requests per second (burst 40) per account, shared with
// CloudFormation, the console and the CLI, so one run keeps below it.
const (
	DefaultCallRate  = 8.0
	DefaultCallBurst = 20
)

// Client is rate-limited, retrying access to API Gateway on an injected
// clock. It counts calls per operation and retries. Safe for concurrent use.
type Client struct {
	gw     Gateway
	clock  clock.Clock
	retry  *retrier
	bucket *bucket

	mu    sync.Mutex
	calls map[string]int
}

// ClientOption configures a Client.
type ClientOption func(*clientConfig)

type clientConfig struct {
	clock  clock.Clock
	policy RetryPolicy
	seed   uint64
	rate   float64
	burst  int
}

// WithClientClock sets the clock for pacing and backoff (default: system).
func WithClientClock(c clock.Clock) ClientOption { return func(cfg *clientConfig) { cfg.clock = c } }

// WithRetryPolicy sets the retry policy.
func WithRetryPolicy(p RetryPolicy) ClientOption { return func(cfg *clientConfig) { cfg.policy = p } }

// WithJitterSeed seeds the backoff jitter (default: time-based).
func WithJitterSeed(seed uint64) ClientOption { return func(cfg *clientConfig) { cfg.seed = seed } }

// WithCallRate sets the client's call budget: rate per second and burst.
func WithCallRate(rate float64, burst int) ClientOption {
	return func(cfg *clientConfig) { cfg.rate, cfg.burst = rate, burst }
}

// NewClient wraps gw.
func NewClient(gw Gateway, opts ...ClientOption) *Client {
	cfg := clientConfig{clock: clock.System{}, seed: uint64(time.Now().UnixNano()), rate: DefaultCallRate, burst: DefaultCallBurst}
	for _, o := range opts {
		o(&cfg)
	}
	return &Client{
		gw: gw, clock: cfg.clock,
		retry:  newRetrier(cfg.clock, cfg.policy, cfg.seed),
		bucket: newBucket(cfg.rate, cfg.burst),
		calls:  map[string]int{},
	}
}

// Stats are a client's counters.
type Stats struct {
	// Calls per operation, as this client made them (retries inside the
	// SDK are not separate calls here; see Retries).
	Calls   map[string]int
	Retries int
}

// Reads is the number of read calls made.
func (s Stats) Reads() int {
	n := 0
	for op, c := range s.Calls {
		if strings.HasPrefix(op, "Get") {
			n += c
		}
	}
	return n
}

// Stats returns a copy of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	calls := make(map[string]int, len(c.calls))
	for k, v := range c.calls {
		calls[k] = v
	}
	return Stats{Calls: calls, Retries: int(c.retry.retries.Load())}
}

// ReadyAt is the earliest time the client's call budget allows a call.
func (c *Client) ReadyAt(now time.Time) time.Time { return c.bucket.readyAt(now) }

// call waits for the budget, then runs fn with the retry option.
func (c *Client) call(ctx context.Context, op string, fn func(opt func(*apigateway.Options)) error) error {
	for {
		now := c.clock.Now()
		at := c.bucket.take(now)
		if !at.After(now) {
			break
		}
		if err := c.clock.Sleep(ctx, at.Sub(now)); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.calls[op]++
	c.mu.Unlock()
	return fn(c.retry.option(ctx))
}

// ReadPlans returns the usage plans tagged stagehand:env=env, with their
// stages (keys not read).
func (c *Client) ReadPlans(ctx context.Context, env string) ([]UsagePlan, error) {
	var out []UsagePlan
	var position *string
	for {
		var page *apigateway.GetUsagePlansOutput
		err := c.call(ctx, "GetUsagePlans", func(opt func(*apigateway.Options)) error {
			var err error
			page, err = c.gw.GetUsagePlans(ctx, &apigateway.GetUsagePlansInput{Limit: aws.Int32(pageLimit), Position: position}, opt)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("get usage plans: %w", err)
		}
		for _, p := range page.Items {
			if p.Tags[TagEnv] == env && p.Tags[TagPlan] != "" {
				out = append(out, fromSDKPlan(p))
			}
		}
		if aws.ToString(page.Position) == "" {
			return out, nil
		}
		position = page.Position
	}
}

// ReadPlan reads one usage plan (keys not read).
func (c *Client) ReadPlan(ctx context.Context, planID string) (UsagePlan, error) {
	var out *apigateway.GetUsagePlanOutput
	err := c.call(ctx, "GetUsagePlan", func(opt func(*apigateway.Options)) error {
		var err error
		out, err = c.gw.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(planID)}, opt)
		return err
	})
	if err != nil {
		return UsagePlan{}, fmt.Errorf("get usage plan %s: %w", planID, err)
	}
	return fromSDKPlan(types.UsagePlan{ApiStages: out.ApiStages, Id: out.Id, Name: out.Name, Description: out.Description, Tags: out.Tags, Throttle: out.Throttle, Quota: out.Quota}), nil
}

// ReadKeys returns the sorted API key ids of a usage plan.
func (c *Client) ReadKeys(ctx context.Context, planID string) ([]string, error) {
	var keys []string
	var position *string
	for {
		var page *apigateway.GetUsagePlanKeysOutput
		err := c.call(ctx, "GetUsagePlanKeys", func(opt func(*apigateway.Options)) error {
			var err error
			page, err = c.gw.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{
				UsagePlanId: aws.String(planID), Limit: aws.Int32(pageLimit), Position: position}, opt)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("get keys of usage plan %s: %w", planID, err)
		}
		for _, k := range page.Items {
			keys = append(keys, aws.ToString(k.Id))
		}
		if aws.ToString(page.Position) == "" {
			return sortKeys(keys), nil
		}
		position = page.Position
	}
}

// StageExists reports whether apiId:stage exists.
func (c *Client) StageExists(ctx context.Context, ref registry.StageRef) (bool, error) {
	err := c.call(ctx, "GetStage", func(opt func(*apigateway.Options)) error {
		_, err := c.gw.GetStage(ctx, &apigateway.GetStageInput{RestApiId: aws.String(ref.APIID), StageName: aws.String(ref.Stage)}, opt)
		return err
	})
	if err == nil {
		return true, nil
	}
	if errorCode(err) == "NotFoundException" {
		return false, nil
	}
	return false, fmt.Errorf("get stage %s: %w", ref, err)
}

// UpdatePlan sends exactly one UpdateUsagePlan request (the SDK does not
// retry it) and returns the plan as updated. The caller holds a pacer slot
// for it: UpdateUsagePlan's quota (one request per 20 s per account) counts
// every request, so a retry is the caller's, in a slot of its own.
func (c *Client) UpdatePlan(ctx context.Context, planID string, ops []PatchOp) (UsagePlan, error) {
	patch := make([]types.PatchOperation, len(ops))
	for i, o := range ops {
		patch[i] = types.PatchOperation{Op: types.Op(o.Op), Path: aws.String(o.Path), Value: aws.String(o.Value)}
	}
	var out *apigateway.UpdateUsagePlanOutput
	err := c.call(ctx, "UpdateUsagePlan", func(func(*apigateway.Options)) error {
		var err error
		out, err = c.gw.UpdateUsagePlan(ctx, &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(planID), PatchOperations: patch}, noRetries)
		return err
	})
	if err != nil {
		return UsagePlan{}, fmt.Errorf("update usage plan %s: %w", planID, err)
	}
	return fromSDKPlan(types.UsagePlan{ApiStages: out.ApiStages, Id: out.Id, Name: out.Name, Description: out.Description, Tags: out.Tags, Throttle: out.Throttle, Quota: out.Quota}), nil
}

// PlanName is the name of the usage plan the reconciler creates for a tier.
func PlanName(env, tier string) string { return "stagehand-" + env + "-" + tier }

// CreatePlan creates the usage plan of tier from spec, with stages (each
// with spec's per-method throttles) and the tags stagehand:env and
// stagehand:plan, so that a run that dies before recording its id adopts
// it by tag. CreateUsagePlan is not UpdateUsagePlan: it falls under API
// Gateway's default control-plane rate, not the 1 per 20 s quota, so it is
// paced by the call budget only.
func (c *Client) CreatePlan(ctx context.Context, env string, spec PlanSpec, stages []registry.StageRef) (UsagePlan, error) {
	in := &apigateway.CreateUsagePlanInput{
		Name: aws.String(PlanName(env, spec.Tier)),
		Tags: map[string]string{TagEnv: env, TagPlan: spec.Tier},
	}
	if spec.Description != "" {
		in.Description = aws.String(spec.Description)
	}
	if spec.RateLimit != 0 || spec.BurstLimit != 0 {
		in.Throttle = &types.ThrottleSettings{RateLimit: spec.RateLimit, BurstLimit: spec.BurstLimit}
	}
	if spec.QuotaPeriod != "" {
		in.Quota = &types.QuotaSettings{Limit: spec.QuotaLimit, Period: types.QuotaPeriodType(spec.QuotaPeriod)}
	}
	for _, ref := range stages {
		s := types.ApiStage{ApiId: aws.String(ref.APIID), Stage: aws.String(ref.Stage)}
		if len(spec.MethodThrottles) > 0 {
			s.Throttle = make(map[string]types.ThrottleSettings, len(spec.MethodThrottles))
			for k, t := range spec.MethodThrottles {
				s.Throttle[k] = types.ThrottleSettings{RateLimit: t.Rate, BurstLimit: t.Burst}
			}
		}
		in.ApiStages = append(in.ApiStages, s)
	}
	var out *apigateway.CreateUsagePlanOutput
	err := c.call(ctx, "CreateUsagePlan", func(opt func(*apigateway.Options)) error {
		var err error
		out, err = c.gw.CreateUsagePlan(ctx, in, opt)
		return err
	})
	if err != nil {
		return UsagePlan{}, fmt.Errorf("create usage plan for tier %s: %w", spec.Tier, err)
	}
	return fromSDKPlan(types.UsagePlan{ApiStages: out.ApiStages, Id: out.Id, Name: out.Name, Description: out.Description, Tags: out.Tags, Throttle: out.Throttle, Quota: out.Quota}), nil
}

// AttachKey adds a key to a usage plan; a key already there is success.
func (c *Client) AttachKey(ctx context.Context, planID, keyID string) error {
	err := c.call(ctx, "CreateUsagePlanKey", func(opt func(*apigateway.Options)) error {
		_, err := c.gw.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{
			UsagePlanId: aws.String(planID), KeyId: aws.String(keyID), KeyType: aws.String("API_KEY")}, opt)
		return err
	})
	if err != nil && errorCode(err) != "ConflictException" {
		return fmt.Errorf("attach key %s to usage plan %s: %w", keyID, planID, err)
	}
	return nil
}

// DetachKey removes a key from a usage plan; a key already gone is success.
func (c *Client) DetachKey(ctx context.Context, planID, keyID string) error {
	err := c.call(ctx, "DeleteUsagePlanKey", func(opt func(*apigateway.Options)) error {
		_, err := c.gw.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: aws.String(planID), KeyId: aws.String(keyID)}, opt)
		return err
	})
	if err != nil && errorCode(err) != "NotFoundException" {
		return fmt.Errorf("detach key %s from usage plan %s: %w", keyID, planID, err)
	}
	return nil
}

// noRetries makes a call one request: the SDK's own retryer would send
// attempts the pacer never saw.
func noRetries(o *apigateway.Options) { o.Retryer = aws.NopRetryer{} }

// errorCode returns the API error code of err ("" if none).
func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// errorMessage returns the API error message of err ("" if none).
func errorMessage(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorMessage()
	}
	return ""
}

func fromSDKPlan(p types.UsagePlan) UsagePlan {
	out := UsagePlan{ID: aws.ToString(p.Id), Name: aws.ToString(p.Name), Description: aws.ToString(p.Description), Tier: p.Tags[TagPlan]}
	for _, s := range p.ApiStages {
		ps := PlanStage{Ref: registry.StageRef{APIID: aws.ToString(s.ApiId), Stage: aws.ToString(s.Stage)}}
		if len(s.Throttle) > 0 {
			ps.Throttles = make(map[string]Throttle, len(s.Throttle))
			for k, t := range s.Throttle {
				ps.Throttles[k] = Throttle{Rate: t.RateLimit, Burst: t.BurstLimit}
			}
		}
		out.Stages = append(out.Stages, ps)
	}
	if p.Throttle != nil {
		out.RateLimit, out.BurstLimit = p.Throttle.RateLimit, p.Throttle.BurstLimit
	}
	if p.Quota != nil {
		out.QuotaLimit, out.QuotaPeriod = p.Quota.Limit, string(p.Quota.Period)
	}
	return out
}

// bucket is a token bucket on explicit times (no goroutine, no real clock).
type bucket struct {
	mu     sync.Mutex
	every  time.Duration
	burst  float64
	tokens float64
	last   time.Time
}

func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 || burst <= 0 {
		return &bucket{} // unlimited
	}
	return &bucket{every: time.Duration(float64(time.Second) / rate), burst: float64(burst), tokens: float64(burst)}
}

func (b *bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	if el := now.Sub(b.last); el > 0 {
		b.tokens = math.Min(b.burst, b.tokens+float64(el)/float64(b.every))
		b.last = now
	}
}

// readyAt is when a token is available.
func (b *bucket) readyAt(now time.Time) time.Time {
	if b.every == 0 {
		return now
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		return now
	}
	return now.Add(time.Duration(math.Ceil((1 - b.tokens) * float64(b.every))))
}

// take consumes a token if one is available now and returns now; otherwise
// it returns when one will be.
func (b *bucket) take(now time.Time) time.Time {
	if b.every == 0 {
		return now
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill(now)
	if b.tokens >= 1 {
		b.tokens--
		return now
	}
	return now.Add(time.Duration(math.Ceil((1 - b.tokens) * float64(b.every))))
}
