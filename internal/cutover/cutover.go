// Package cutover moves a custom domain's base path mapping from one REST
// API stage to another: the step of a blue/green deploy that moves traffic.
//
// The mapping is owned by this package (through `stagehand cutover`), not by
// CloudFormation: the CDK stacks deliberately declare no base path mapping,
// so a stack update never moves traffic back behind the pipeline's back.
//
// One cutover reads the mapping (GetBasePathMapping), checks that the target
// stage exists (GetStage) and then creates the mapping
// (CreateBasePathMapping) or replaces /restapiId and /stage in one
// UpdateBasePathMapping call, which API Gateway applies atomically. A guard
// (Request.ExpectCurrent) refuses to move a mapping that points at an API the
// caller did not expect, so two pipelines (or a pipeline and a person) cannot
// fight over the domain. The read and the write are two calls: API Gateway
// has no conditional update, so the guard narrows the race to the time
// between them; deploy.yml's concurrency group closes it for the pipeline.
package cutover

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// NoBasePath is how API Gateway names the empty base path ("" in a
// Request): the mapping of the domain's root.
const NoBasePath = "(none)"

// API is the part of the API Gateway client a cutover uses.
type API interface {
	GetDomainName(ctx context.Context, in *apigateway.GetDomainNameInput, optFns ...func(*apigateway.Options)) (*apigateway.GetDomainNameOutput, error)
	GetStage(ctx context.Context, in *apigateway.GetStageInput, optFns ...func(*apigateway.Options)) (*apigateway.GetStageOutput, error)
	GetBasePathMapping(ctx context.Context, in *apigateway.GetBasePathMappingInput, optFns ...func(*apigateway.Options)) (*apigateway.GetBasePathMappingOutput, error)
	CreateBasePathMapping(ctx context.Context, in *apigateway.CreateBasePathMappingInput, optFns ...func(*apigateway.Options)) (*apigateway.CreateBasePathMappingOutput, error)
	UpdateBasePathMapping(ctx context.Context, in *apigateway.UpdateBasePathMappingInput, optFns ...func(*apigateway.Options)) (*apigateway.UpdateBasePathMappingOutput, error)
}

var _ API = (*apigateway.Client)(nil)

// Errors callers branch on (check with errors.Is).
var (
	// ErrInvalidRequest: a field of the Request is missing or malformed.
	ErrInvalidRequest = errors.New("invalid cutover request")
	// ErrDomainNotFound: the custom domain name does not exist.
	ErrDomainNotFound = errors.New("custom domain name not found")
	// ErrTargetNotFound: the target REST API or stage does not exist.
	ErrTargetNotFound = errors.New("target API stage not found")
	// ErrUnexpectedTarget: the mapping points somewhere other than
	// Request.ExpectCurrent; nothing was changed.
	ErrUnexpectedTarget = errors.New("base path mapping does not point at the expected API")
)

// Target is what a base path mapping points at. An empty Stage means every
// stage of the API (API Gateway's own meaning); stagehand always sets one.
type Target struct {
	APIID string `json:"apiId"`
	Stage string `json:"stage"`
}

func (t Target) String() string {
	if t.Stage == "" {
		return t.APIID
	}
	return t.APIID + "/" + t.Stage
}

// Request is one cutover.
type Request struct {
	// Domain is the custom domain name (api.example.com).
	Domain string
	// BasePath is the mapping's base path; "" (or "(none)") is the root.
	BasePath string
	// To is where the mapping must point afterwards.
	To Target
	// ExpectCurrent, when set, is the API id the mapping must point at now;
	// any other API, or no mapping at all, fails with ErrUnexpectedTarget
	// and changes nothing. A mapping that already points at To is left
	// alone and is not an error, so a re-run is safe.
	ExpectCurrent string
	// DryRun checks everything and reports what would change, changing
	// nothing.
	DryRun bool
}

// Action is what a cutover did (or, in a dry run, would do).
type Action string

// Actions.
const (
	ActionCreated   Action = "created"
	ActionUpdated   Action = "updated"
	ActionUnchanged Action = "unchanged"
)

// Result reports one cutover.
type Result struct {
	Domain   string `json:"domain"`
	BasePath string `json:"basePath"`
	// Previous is where the mapping pointed before; nil if there was none.
	Previous *Target `json:"previous"`
	// Current is where it points now (or would, in a dry run).
	Current Target `json:"current"`
	Action  Action `json:"action"`
	DryRun  bool   `json:"dryRun"`
}

// Option configures a Cutter.
type Option func(*Cutter)

// WithLogger sets the structured logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *Cutter) {
		if l != nil {
			c.log = l
		}
	}
}

// Cutter moves base path mappings. It is safe for concurrent use.
type Cutter struct {
	api API
	log *slog.Logger
}

// New returns a Cutter over api (an *apigateway.Client in production).
func New(api API, opts ...Option) *Cutter {
	c := &Cutter{api: api, log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
	for _, o := range opts {
		o(c)
	}
	return c
}

var (
	// API Gateway ids are 10 lowercase alphanumerics; accept any short
	// [a-z0-9] id so an emulator's ids work too.
	apiIDPattern = regexp.MustCompile(`^[a-z0-9]{1,64}$`)
	// Stage names: letters, digits, hyphens and underscores, up to 128.
	stagePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
	// Base paths: no leading slash; letters, digits and . _ - / (API
	// Gateway allows a multi-level path such as v1/orders).
	basePathPattern = regexp.MustCompile(`^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$`)
)

func (r Request) validate() error {
	var problems []string
	if r.Domain == "" {
		problems = append(problems, "domain is required")
	}
	if r.BasePath != "" && r.BasePath != NoBasePath && !basePathPattern.MatchString(r.BasePath) {
		problems = append(problems, fmt.Sprintf("base path %q is not valid (letters, digits, . _ - and inner /)", r.BasePath))
	}
	if !apiIDPattern.MatchString(r.To.APIID) {
		problems = append(problems, fmt.Sprintf("api id %q is not valid", r.To.APIID))
	}
	if !stagePattern.MatchString(r.To.Stage) {
		problems = append(problems, fmt.Sprintf("stage %q is not valid", r.To.Stage))
	}
	if r.ExpectCurrent != "" && !apiIDPattern.MatchString(r.ExpectCurrent) {
		problems = append(problems, fmt.Sprintf("expected current api id %q is not valid", r.ExpectCurrent))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, joinProblems(problems))
	}
	return nil
}

func joinProblems(p []string) string {
	out := p[0]
	for _, s := range p[1:] {
		out += "; " + s
	}
	return out
}

// wireBasePath is the base path as the API's URL names it.
func wireBasePath(p string) string {
	if p == "" {
		return NoBasePath
	}
	return p
}

// Current returns where domain's basePath mapping points, or nil when the
// domain has no such mapping. An unknown domain is ErrDomainNotFound.
func (c *Cutter) Current(ctx context.Context, domain, basePath string) (*Target, error) {
	if domain == "" {
		return nil, fmt.Errorf("%w: domain is required", ErrInvalidRequest)
	}
	bp := wireBasePath(basePath)
	out, err := c.api.GetBasePathMapping(ctx, &apigateway.GetBasePathMappingInput{
		DomainName: aws.String(domain), BasePath: aws.String(bp),
	})
	var nf *types.NotFoundException
	switch {
	case err == nil:
		return &Target{APIID: aws.ToString(out.RestApiId), Stage: aws.ToString(out.Stage)}, nil
	case !errors.As(err, &nf):
		return nil, fmt.Errorf("get base path mapping %s/%s: %w", domain, bp, err)
	}
	// Not found: the mapping, or the whole domain? Ask the domain.
	if _, err := c.api.GetDomainName(ctx, &apigateway.GetDomainNameInput{DomainName: aws.String(domain)}); err != nil {
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%w: %s", ErrDomainNotFound, domain)
		}
		return nil, fmt.Errorf("get domain name %s: %w", domain, err)
	}
	return nil, nil
}

// Cutover points req.Domain's base path mapping at req.To (see Request for
// the guard and dry-run rules) and reports what it did.
func (c *Cutter) Cutover(ctx context.Context, req Request) (Result, error) {
	if err := req.validate(); err != nil {
		return Result{}, err
	}
	bp := wireBasePath(req.BasePath)
	res := Result{Domain: req.Domain, BasePath: bp, Current: req.To, DryRun: req.DryRun}

	prev, err := c.Current(ctx, req.Domain, req.BasePath)
	if err != nil {
		return res, err
	}
	res.Previous = prev
	if prev != nil && *prev == req.To {
		res.Action = ActionUnchanged
		return res, nil
	}
	if req.ExpectCurrent != "" && (prev == nil || prev.APIID != req.ExpectCurrent) {
		now := "no mapping"
		if prev != nil {
			now = prev.String()
		}
		res.Current = targetOrZero(prev)
		return res, fmt.Errorf("%w: %s/%s points at %s, expected %s; refusing to move it to %s",
			ErrUnexpectedTarget, req.Domain, bp, now, req.ExpectCurrent, req.To)
	}
	if _, err := c.api.GetStage(ctx, &apigateway.GetStageInput{
		RestApiId: aws.String(req.To.APIID), StageName: aws.String(req.To.Stage),
	}); err != nil {
		res.Current = targetOrZero(prev)
		var nf *types.NotFoundException
		if errors.As(err, &nf) {
			return res, fmt.Errorf("%w: %s", ErrTargetNotFound, req.To)
		}
		return res, fmt.Errorf("get stage %s: %w", req.To, err)
	}

	res.Action = ActionUpdated
	if prev == nil {
		res.Action = ActionCreated
	}
	if req.DryRun {
		return res, nil
	}
	if prev == nil {
		in := &apigateway.CreateBasePathMappingInput{
			DomainName: aws.String(req.Domain), RestApiId: aws.String(req.To.APIID), Stage: aws.String(req.To.Stage),
		}
		if req.BasePath != "" && req.BasePath != NoBasePath {
			in.BasePath = aws.String(req.BasePath)
		}
		if _, err := c.api.CreateBasePathMapping(ctx, in); err != nil {
			res.Current = Target{}
			return res, fmt.Errorf("create base path mapping %s/%s -> %s: %w", req.Domain, bp, req.To, err)
		}
	} else {
		// Both replacements in one call: API Gateway applies them together,
		// so no request is ever routed to the new API with the old stage.
		if _, err := c.api.UpdateBasePathMapping(ctx, &apigateway.UpdateBasePathMappingInput{
			DomainName: aws.String(req.Domain), BasePath: aws.String(bp),
			PatchOperations: []types.PatchOperation{
				{Op: types.OpReplace, Path: aws.String("/restapiId"), Value: aws.String(req.To.APIID)},
				{Op: types.OpReplace, Path: aws.String("/stage"), Value: aws.String(req.To.Stage)},
			},
		}); err != nil {
			res.Current = *prev
			return res, fmt.Errorf("update base path mapping %s/%s %s -> %s: %w", req.Domain, bp, prev, req.To, err)
		}
	}
	c.log.InfoContext(ctx, "base path mapping moved",
		"domain", req.Domain, "basePath", bp, "from", targetOrZero(prev).String(), "to", req.To.String(), "action", string(res.Action))
	return res, nil
}

func targetOrZero(t *Target) Target {
	if t == nil {
		return Target{}
	}
	return *t
}
