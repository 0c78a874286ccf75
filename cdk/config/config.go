// Package config is the typed, validated configuration of one stagehand
// environment (dev, staging, prod) for the CDK app.
//
// Each environment is a JSON file in this directory (dev.json, staging.json,
// prod.json), embedded into the binary so that synthesis does not depend on
// the working directory. Unknown fields are rejected, so a typo fails synth
// instead of silently falling back to a default. Validation reports every
// problem at once, each prefixed with the JSON path of the offending field.
package config

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/stagehand-dev/stagehand/internal/auth"
	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

//go:embed *.json
var files embed.FS

// ErrInvalid marks a configuration that failed validation. The wrapped
// message lists every offending field by its JSON path.
var ErrInvalid = errors.New("invalid stagehand CDK configuration")

// ErrUnknownEnvironment is returned by Load for an environment without a
// configuration file.
var ErrUnknownEnvironment = errors.New("unknown environment")

// Defaults applied to fields left empty in a configuration file.
const (
	DefaultLambdaAssetRoot      = "build/lambda"
	DefaultImage                = "public.ecr.aws/nginx/nginx:stable"
	DefaultEventSource          = "stagehand.deployment"
	DefaultReconcileRateMinutes = 5
	DefaultMaxEventAgeHours     = 24
	DefaultRetryAttempts        = 185
	DefaultCPUArchitecture      = "X86_64"
)

// Config is one environment's configuration.
type Config struct {
	// Env is the environment name; it must match the file name (dev.json
	// holds "dev"). It names stacks (Network-<env>), the API stage and tags.
	Env string `json:"env"`
	// Account and Region, when both set, pin the stacks to an environment.
	// Left empty, the stacks are environment-agnostic and synthesize with no
	// AWS credentials. Pinning both also requires AvailabilityZones, so that
	// synth never needs an availability-zone lookup.
	Account string `json:"account,omitempty"`
	Region  string `json:"region,omitempty"`
	// AvailabilityZones are the two AZs of the VPC when Account and Region
	// are pinned.
	AvailabilityZones []string `json:"availabilityZones,omitempty"`
	// TerminationProtection turns on CloudFormation termination protection
	// for the long-lived Network and Shared stacks.
	TerminationProtection bool `json:"terminationProtection"`
	// LambdaAssetRoot is the directory holding <function>/bootstrap, built
	// by `make lambdas`. Relative paths are relative to the directory synth
	// runs in (the repository root, where cdk.json lives).
	LambdaAssetRoot string `json:"lambdaAssetRoot,omitempty"`
	// DomainName and CertificateArn, when both set, add the Domain-<env>
	// stack (a regional custom domain). The base path mapping is owned by
	// `stagehand cutover`, not by CloudFormation.
	DomainName     string `json:"domainName,omitempty"`
	CertificateArn string `json:"certificateArn,omitempty"`
	// LegacyColourExports keeps publishing the automatic exports
	// (ExportsOutput…) that colour and Network stacks deployed before the
	// SSM-parameter wiring import, so that Shared and Network can be
	// deployed while such a stack is live. Turn it off once both colours
	// and Network have been deployed with the new wiring (docs/cdk.md,
	// "Cross-stack wiring").
	LegacyColourExports bool `json:"legacyColourExports,omitempty"`

	Network  Network  `json:"network"`
	Service  Service  `json:"service"`
	Registry Registry `json:"registry"`
	// Plans are the usage-plan tiers of this environment, declared here and
	// put into the registry by `stagehand plans apply`; the reconciler owns
	// the API Gateway usage plans (no CloudFormation resource does).
	Plans []Plan `json:"plans"`
	// RetainLegacyUsagePlans is for one release of an environment whose
	// Shared stack still has the CloudFormation usage plans of earlier
	// releases: they stay in the template unchanged, with DeletionPolicy and
	// UpdateReplacePolicy Retain, so that the next deploy without them
	// leaves them in place for the registry to own (docs/cdk.md, "Migrating
	// usage plans to the registry"). Never set in a shipped configuration.
	RetainLegacyUsagePlans bool    `json:"retainLegacyUsagePlans,omitempty"`
	Events                 Events  `json:"events"`
	Lambdas                Lambdas `json:"lambdas"`
	API                    API     `json:"api"`
	// KeyAdmin configures the key administration API of the shared stack.
	KeyAdmin KeyAdmin `json:"keyAdmin"`
	// Portal, when set, adds the operator console and customer portal
	// (lambdas/portal) to the shared stack; see portal.go.
	Portal *Portal `json:"portal,omitempty"`
	Alarms Alarms  `json:"alarms"`
	// Jobs and Billing configure the scheduled jobs' optional integrations
	// (jobs.go): the anomaly topic and the Stripe sink.
	Jobs    *Jobs    `json:"jobs,omitempty"`
	Billing *Billing `json:"billing,omitempty"`
	// Authorizer is passed verbatim (compacted) to the authorizer function
	// as AUTHORIZER_CONFIG. Its fields are owned by the authorizer
	// (internal/auth.Settings); validation runs the authorizer's own parser
	// on it and checks that it fits Lambda's 4 KB environment limit.
	Authorizer json.RawMessage `json:"authorizer"`
}

// Network configures the VPC.
type Network struct {
	// CIDR of the VPC, e.g. 10.20.0.0/16.
	CIDR string `json:"cidr"`
	// NatGateways is 0 (isolated private subnets, AWS services reached
	// through VPC endpoints only) or the number of NAT gateways, which adds
	// public subnets. An image outside private ECR needs a NAT gateway.
	NatGateways int `json:"natGateways"`
	// FlowLogRetentionDays is the retention of the VPC flow log group.
	FlowLogRetentionDays int `json:"flowLogRetentionDays"`
	// LoadBalancerDeletionProtection turns on the internal NLB's deletion
	// protection (on in prod): a stack deletion or a replacing update then
	// fails instead of removing what every live colour's VPC Link targets.
	LoadBalancerDeletionProtection bool `json:"loadBalancerDeletionProtection"`
}

// Service configures the Fargate service behind the NLB.
type Service struct {
	Image           string `json:"image,omitempty"`
	CPUArchitecture string `json:"cpuArchitecture,omitempty"` // X86_64 or ARM64
	ContainerPort   int    `json:"containerPort"`
	ListenerPort    int    `json:"listenerPort"`
	CPU             int    `json:"cpu"`
	MemoryMiB       int    `json:"memoryMiB"`
	DesiredCount    int    `json:"desiredCount"`
	// HealthCheckPath, when set, makes the NLB target group health check
	// HTTP on this path; empty means a TCP check.
	HealthCheckPath            string `json:"healthCheckPath,omitempty"`
	HealthCheckIntervalSeconds int    `json:"healthCheckIntervalSeconds"`
	HealthyThresholdCount      int    `json:"healthyThresholdCount"`
	UnhealthyThresholdCount    int    `json:"unhealthyThresholdCount"`
	DeregistrationDelaySeconds int    `json:"deregistrationDelaySeconds"`
	LogRetentionDays           int    `json:"logRetentionDays"`
}

// Registry configures the registry table.
type Registry struct {
	// TableName defaults to stagehand-<env>-registry.
	TableName          string `json:"tableName,omitempty"`
	DeletionProtection bool   `json:"deletionProtection"`
	// CustomerManagedKey encrypts the table with a KMS key created in the
	// shared stack instead of the AWS-managed key.
	CustomerManagedKey bool `json:"customerManagedKey"`
}

// Plan is one usage-plan tier.
type Plan struct {
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	RateLimit   float64 `json:"rateLimit"`
	BurstLimit  int     `json:"burstLimit"`
	// QuotaLimit and QuotaPeriod (DAY, WEEK or MONTH) set a request quota;
	// a zero QuotaLimit means no quota.
	QuotaLimit  int    `json:"quotaLimit"`
	QuotaPeriod string `json:"quotaPeriod,omitempty"`
	// MethodThrottles are per-method throttles set on every stage of the
	// tier's usage plan, keyed "{resourcePath}/{httpMethod}" ("/pets/GET").
	// Omitted: `stagehand plans apply` keeps what the registry has.
	MethodThrottles map[string]Throttle `json:"methodThrottles,omitempty"`
}

// RegistryPlan is the tier as `stagehand plans apply` puts it into the
// registry, which owns the usage plans (no CloudFormation resource does).
func (p Plan) RegistryPlan(env string) registry.Plan {
	out := registry.Plan{Env: env, Name: p.Name, Description: p.Description, RateLimit: p.RateLimit,
		BurstLimit: int32(p.BurstLimit), QuotaLimit: int32(p.QuotaLimit), QuotaPeriod: p.QuotaPeriod}
	if p.MethodThrottles != nil {
		out.MethodThrottles = make(map[string]registry.MethodThrottle, len(p.MethodThrottles))
		for k, t := range p.MethodThrottles {
			out.MethodThrottles[k] = registry.MethodThrottle{RateLimit: t.RateLimit, BurstLimit: int32(t.BurstLimit)}
		}
	}
	return out
}

// Events configures the EventBridge wiring.
type Events struct {
	// Source of deployment events on the default bus.
	Source               string `json:"source,omitempty"`
	ReconcileRateMinutes int    `json:"reconcileRateMinutes,omitempty"`
	// MaxEventAgeHours and RetryAttempts are the rule targets' retry policy.
	MaxEventAgeHours int `json:"maxEventAgeHours,omitempty"`
	RetryAttempts    int `json:"retryAttempts,omitempty"`
}

// Function sizes one Lambda function.
type Function struct {
	MemoryMiB      int `json:"memoryMiB"`
	TimeoutSeconds int `json:"timeoutSeconds"`
}

// Lambdas configures the functions.
type Lambdas struct {
	LogRetentionDays int      `json:"logRetentionDays"`
	Authorizer       Function `json:"authorizer"`
	Deployment       Function `json:"deployment"`
	Reconcile        Function `json:"reconcile"`
	KeyAdmin         Function `json:"keyAdmin"`
}

// Throttle is a steady-state rate (requests per second) and a burst.
type Throttle struct {
	RateLimit  float64 `json:"rateLimit"`
	BurstLimit int     `json:"burstLimit"`
}

// API configures each colour's REST API.
type API struct {
	// AuthorizerResultTTLSeconds is API Gateway's authorizer cache TTL.
	// 0 (the default) turns API Gateway's cache off: the authorizer's own
	// in-process cache does the work, and callers with an API key and
	// callers with a JWT (different headers) both reach the authorizer.
	AuthorizerResultTTLSeconds int `json:"authorizerResultTtlSeconds"`
	// IdentitySources are mapping expressions such as
	// method.request.header.x-api-key. At most one is allowed, and exactly
	// one when the TTL is above 0 (it is then the cache key): API Gateway
	// answers 401 without calling the authorizer when an identity source is
	// missing, and key callers and JWT callers send different headers.
	IdentitySources []string `json:"identitySources,omitempty"`
	// MethodThrottle applies to every method of the stage (/*/*).
	MethodThrottle         Throttle `json:"methodThrottle"`
	AccessLogRetentionDays int      `json:"accessLogRetentionDays"`
	// LoggingLevel is the stage's execution logging: ERROR or INFO.
	LoggingLevel string `json:"loggingLevel"`
	// CORSAllowOrigin is the Access-Control-Allow-Origin of gateway error
	// responses (401, 403, 429).
	CORSAllowOrigin string `json:"corsAllowOrigin"`
	// ManageAccountCloudWatchRole makes the shared stack set API Gateway's
	// account-level CloudWatch role (required for stage logging). It is one
	// setting per account and region: exactly one environment of each
	// account and region turns it on (the shipped files assume dev and
	// staging share an account, where dev owns it, and prod has its own);
	// see docs/cdk.md.
	ManageAccountCloudWatchRole bool `json:"manageAccountCloudWatchRole"`
	// WebACLArn, when set, associates a WAFv2 web ACL with each stage.
	WebACLArn string `json:"webAclArn,omitempty"`
	// WebACLRateLimit, when above 0 (and WebACLArn is empty), makes each
	// colour's stack create a web ACL whose one rule blocks a source IP
	// above this many requests per five minutes (a WAF rate-based rule).
	WebACLRateLimit int `json:"webAclRateLimit,omitempty"`
}

// KeyAdmin configures the key administration API (lambdas/keyadmin): a
// REST API in the shared stack whose methods all use IAM authorization
// (SigV4), with a Lambda proxy integration.
type KeyAdmin struct {
	// Throttle applies to every method of the API's stage.
	Throttle Throttle `json:"throttle"`
	// AccessLogRetentionDays is the retention of the stage's access log.
	AccessLogRetentionDays int `json:"accessLogRetentionDays"`
	// VPCEndpointIDs, when set, make the API PRIVATE and reachable only
	// through these execute-api interface endpoints: its resource policy
	// denies every request whose aws:SourceVpce is not one of them. Empty:
	// a REGIONAL API whose only gate is IAM.
	VPCEndpointIDs []string `json:"vpcEndpointIds,omitempty"`
	// JWT, when set, adds the JWT route: a second REST API (same function)
	// whose methods take no IAM signature; the function itself verifies a
	// bearer JWT from this issuer carrying the admin scope.
	JWT *KeyAdminJWT `json:"jwt,omitempty"`
}

// KeyAdminJWT configures the key-admin API's optional JWT route; the
// fields become the function's KEYADMIN_JWT_* environment variables.
type KeyAdminJWT struct {
	Issuer    string   `json:"issuer"`
	JWKSURL   string   `json:"jwksUrl"`
	Audiences []string `json:"audiences"`
	// Scope is the admin scope a token must carry (the function's default,
	// stagehand:admin, when empty).
	Scope string `json:"scope,omitempty"`
}

// KeyAdminEnv returns the key-admin function's environment: the
// environment name, the registry table (table, which the stack knows only
// as a token) and, with the JWT route, its settings.
func (c *Config) KeyAdminEnv(table string) map[string]string {
	env := map[string]string{keyadmin.EnvStage: c.Env, keyadmin.EnvTable: table}
	if j := c.KeyAdmin.JWT; j != nil {
		env[keyadmin.EnvJWTIssuer] = j.Issuer
		env[keyadmin.EnvJWTJWKSURL] = j.JWKSURL
		env[keyadmin.EnvJWTAud] = strings.Join(j.Audiences, ",")
		if j.Scope != "" {
			env[keyadmin.EnvJWTScope] = j.Scope
		}
	}
	return env
}

// Alarms configures CloudWatch alarms.
type Alarms struct {
	// AuthorizerP99LatencyMs is the p99 duration above which the authorizer
	// latency alarm fires.
	AuthorizerP99LatencyMs int `json:"authorizerP99LatencyMs"`
	// Email, when set, subscribes an address to the alarm topic.
	Email string `json:"email,omitempty"`
}

// Environments lists the environments that have an embedded configuration.
func Environments() []string {
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		return nil
	}
	var envs []string
	for _, e := range entries {
		if name, ok := strings.CutSuffix(e.Name(), ".json"); ok {
			envs = append(envs, name)
		}
	}
	sort.Strings(envs)
	return envs
}

// Load returns the embedded configuration of env, with defaults applied and
// validated.
func Load(env string) (*Config, error) {
	data, err := files.ReadFile(env + ".json")
	if err != nil {
		return nil, fmt.Errorf("%w %q: known environments are %s", ErrUnknownEnvironment, env, strings.Join(Environments(), ", "))
	}
	cfg, err := Parse(data, "cdk/config/"+env+".json")
	if err != nil {
		return nil, err
	}
	if cfg.Env != env {
		return nil, fmt.Errorf("%w: cdk/config/%s.json: env: must be %q, got %q", ErrInvalid, env, env, cfg.Env)
	}
	return cfg, nil
}

// LoadFile reads, defaults and validates a configuration file outside the
// embedded set (for an extra environment or a test).
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// Parse decodes a configuration (rejecting unknown fields), applies
// defaults and validates it. source names the input in error messages.
func Parse(data []byte, source string) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, source, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: %s: trailing data after the JSON object", ErrInvalid, source)
	}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return &cfg, nil
}

// ApplyDefaults fills fields left empty with their defaults.
func (c *Config) ApplyDefaults() {
	if c.LambdaAssetRoot == "" {
		c.LambdaAssetRoot = DefaultLambdaAssetRoot
	}
	if c.Service.Image == "" {
		c.Service.Image = DefaultImage
	}
	if c.Service.CPUArchitecture == "" {
		c.Service.CPUArchitecture = DefaultCPUArchitecture
	}
	if c.Registry.TableName == "" && c.Env != "" {
		c.Registry.TableName = "stagehand-" + c.Env + "-registry"
	}
	if c.Events.Source == "" {
		c.Events.Source = DefaultEventSource
	}
	if c.Events.ReconcileRateMinutes == 0 {
		c.Events.ReconcileRateMinutes = DefaultReconcileRateMinutes
	}
	if c.Events.MaxEventAgeHours == 0 {
		c.Events.MaxEventAgeHours = DefaultMaxEventAgeHours
	}
	if c.Events.RetryAttempts == 0 {
		c.Events.RetryAttempts = DefaultRetryAttempts
	}
}

// AuthorizerJSON returns the authorizer object compacted, as the
// AUTHORIZER_CONFIG environment variable carries it.
func (c *Config) AuthorizerJSON() (string, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, c.Authorizer); err != nil {
		return "", fmt.Errorf("compact authorizer config: %w", err)
	}
	return buf.String(), nil
}

// HasDomain reports whether the Domain-<env> stack is configured.
func (c *Config) HasDomain() bool { return c.DomainName != "" && c.CertificateArn != "" }

// Pinned reports whether the stacks are pinned to an account and region.
func (c *Config) Pinned() bool { return c.Account != "" && c.Region != "" }

// Limits that validation enforces.
const (
	// maxAuthorizerJSON leaves room under Lambda's 4 KB environment limit
	// for the other variables (env name, table name).
	maxAuthorizerJSON = 3584
	maxAuthorizerTTL  = 3600
	// maxIntegrationTimeout is API Gateway's default integration timeout
	// (seconds): a key-admin function running longer is never waited for.
	maxIntegrationTimeout = 29
	// maxVPCEndpoints keeps the resource policy and endpoint configuration
	// small.
	maxVPCEndpoints = 10
)

var (
	envPattern            = regexp.MustCompile(`^[a-z][a-z0-9]{1,15}$`)
	accountPattern        = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern         = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]$`)
	cidrPattern           = regexp.MustCompile(`^([0-9]{1,3}\.){3}[0-9]{1,3}/(1[6-9]|2[0-4])$`)
	identitySourcePattern = regexp.MustCompile(`^(method\.request\.(header|querystring)\.[A-Za-z0-9_.-]+|stageVariables\.[A-Za-z0-9_]+|context\.[A-Za-z0-9_.]+)$`)
	tableNamePattern      = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,255}$`)
	certArnPattern        = regexp.MustCompile(`^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]+$`)
	webACLArnPattern      = regexp.MustCompile(`^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/.+$`)
	domainPattern         = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
	eventSourcePattern    = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,256}$`)
	privateECRPattern     = regexp.MustCompile(`^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/`)
	headerSafeOrigin      = regexp.MustCompile(`^(\*|https?://[A-Za-z0-9.:-]+)$`)
	vpcEndpointPattern    = regexp.MustCompile(`^vpce-[0-9a-f]{8,17}$`)
)

// RetentionDays are the retention periods CloudWatch Logs accepts.
var RetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}

// Fargate CPU (units) to the memory sizes (MiB) it accepts, for the common
// sizes; larger sizes are accepted in 1 GiB steps by validMemory.
var fargateMemory = map[int][2]int{
	256:  {512, 2048},
	512:  {1024, 4096},
	1024: {2048, 8192},
	2048: {4096, 16384},
	4096: {8192, 30720},
}

// Validate checks every field and returns one error (wrapping ErrInvalid)
// that lists each problem by JSON path.
func (c *Config) Validate() error {
	v := &validator{}
	c.validateTop(v)
	c.validateNetwork(v)
	c.validateService(v)
	c.validatePlans(v)
	c.validateEvents(v)
	c.validateLambdas(v)
	c.validateAPI(v)
	c.validateKeyAdmin(v)
	c.validatePortal(v)
	c.validateJobs(v)
	c.validateAuthorizer(v)
	c.validateAuthorizerCacheKey(v)
	if c.Alarms.AuthorizerP99LatencyMs < 1 || c.Alarms.AuthorizerP99LatencyMs > 30000 {
		v.add("alarms.authorizerP99LatencyMs", "must be between 1 and 30000, got %d", c.Alarms.AuthorizerP99LatencyMs)
	}
	if c.Alarms.Email != "" && !strings.Contains(c.Alarms.Email, "@") {
		v.add("alarms.email", "must be an email address, got %q", c.Alarms.Email)
	}
	return v.err()
}

func (c *Config) validateTop(v *validator) {
	if !envPattern.MatchString(c.Env) {
		v.add("env", "must match %s, got %q", envPattern, c.Env)
	}
	if c.Account != "" && !accountPattern.MatchString(c.Account) {
		v.add("account", "must be a 12-digit account id, got %q", c.Account)
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		v.add("region", "must be a region such as eu-west-1, got %q", c.Region)
	}
	if (c.Account == "") != (c.Region == "") {
		v.add("account", "account and region must be set together (or both left empty for environment-agnostic stacks)")
	}
	switch {
	case c.Pinned() && len(c.AvailabilityZones) != 2:
		v.add("availabilityZones", "must list exactly 2 zones when account and region are set, so synth needs no AZ lookup; got %d", len(c.AvailabilityZones))
	case !c.Pinned() && len(c.AvailabilityZones) > 0:
		v.add("availabilityZones", "only allowed when account and region are set")
	}
	for i, az := range c.AvailabilityZones {
		if !strings.HasPrefix(az, c.Region) {
			v.add(fmt.Sprintf("availabilityZones[%d]", i), "must be a zone of region %q, got %q", c.Region, az)
		}
	}
	if strings.TrimSpace(c.LambdaAssetRoot) == "" {
		v.add("lambdaAssetRoot", "must not be empty")
	}
	if (c.DomainName == "") != (c.CertificateArn == "") {
		v.add("domainName", "domainName and certificateArn must be set together")
	}
	if c.DomainName != "" && !domainPattern.MatchString(c.DomainName) {
		v.add("domainName", "must be a lower-case DNS name, got %q", c.DomainName)
	}
	if c.CertificateArn != "" && !certArnPattern.MatchString(c.CertificateArn) {
		v.add("certificateArn", "must be an ACM certificate ARN, got %q", c.CertificateArn)
	}
	if c.Registry.TableName != "" && !tableNamePattern.MatchString(c.Registry.TableName) {
		v.add("registry.tableName", "must be a valid DynamoDB table name, got %q", c.Registry.TableName)
	}
}

func (c *Config) validateNetwork(v *validator) {
	n := c.Network
	if !cidrPattern.MatchString(n.CIDR) {
		v.add("network.cidr", "must be an IPv4 CIDR with a prefix between /16 and /24, got %q", n.CIDR)
	}
	if n.NatGateways < 0 || n.NatGateways > 2 {
		v.add("network.natGateways", "must be 0, 1 or 2, got %d", n.NatGateways)
	}
	checkRetention(v, "network.flowLogRetentionDays", n.FlowLogRetentionDays)
}

func (c *Config) validateService(v *validator) {
	s := c.Service
	if s.Image == "" {
		v.add("service.image", "must not be empty")
	}
	if c.Network.NatGateways == 0 && s.Image != "" && !privateECRPattern.MatchString(s.Image) {
		v.add("service.image", "%q is not in private ECR, which is the only registry the VPC endpoints reach; set network.natGateways to 1 or more, or push the image to private ECR", s.Image)
	}
	if s.CPUArchitecture != "X86_64" && s.CPUArchitecture != "ARM64" {
		v.add("service.cpuArchitecture", "must be X86_64 or ARM64, got %q", s.CPUArchitecture)
	}
	checkPort(v, "service.containerPort", s.ContainerPort)
	checkPort(v, "service.listenerPort", s.ListenerPort)
	if mem, ok := fargateMemory[s.CPU]; !ok {
		v.add("service.cpu", "must be a Fargate CPU size (256, 512, 1024, 2048, 4096), got %d", s.CPU)
	} else if s.MemoryMiB < mem[0] || s.MemoryMiB > mem[1] || s.MemoryMiB%512 != 0 {
		v.add("service.memoryMiB", "must be a multiple of 512 between %d and %d for cpu %d, got %d", mem[0], mem[1], s.CPU, s.MemoryMiB)
	}
	if s.DesiredCount < 1 || s.DesiredCount > 100 {
		v.add("service.desiredCount", "must be between 1 and 100, got %d", s.DesiredCount)
	}
	if s.HealthCheckPath != "" && !strings.HasPrefix(s.HealthCheckPath, "/") {
		v.add("service.healthCheckPath", "must start with /, got %q", s.HealthCheckPath)
	}
	if s.HealthCheckIntervalSeconds < 5 || s.HealthCheckIntervalSeconds > 300 {
		v.add("service.healthCheckIntervalSeconds", "must be between 5 and 300, got %d", s.HealthCheckIntervalSeconds)
	}
	if s.HealthyThresholdCount < 2 || s.HealthyThresholdCount > 10 {
		v.add("service.healthyThresholdCount", "must be between 2 and 10, got %d", s.HealthyThresholdCount)
	}
	if s.UnhealthyThresholdCount < 2 || s.UnhealthyThresholdCount > 10 {
		v.add("service.unhealthyThresholdCount", "must be between 2 and 10, got %d", s.UnhealthyThresholdCount)
	}
	if s.DeregistrationDelaySeconds < 0 || s.DeregistrationDelaySeconds > 3600 {
		v.add("service.deregistrationDelaySeconds", "must be between 0 and 3600, got %d", s.DeregistrationDelaySeconds)
	}
	checkRetention(v, "service.logRetentionDays", s.LogRetentionDays)
}

func (c *Config) validatePlans(v *validator) {
	if len(c.Plans) == 0 {
		v.add("plans", "must define at least one tier")
	}
	seen := map[string]bool{}
	for i, p := range c.Plans {
		path := fmt.Sprintf("plans[%d]", i)
		// The plan rules every entry point shares (registry.Plan.Validate's
		// parts, one problem per part so a file's errors come at once) ...
		for _, err := range []error{
			registry.ValidatePlanName(p.Name),
			registry.ValidateThrottle(p.RateLimit, int64(p.BurstLimit)),
			registry.ValidateQuota(int64(p.QuotaLimit), p.QuotaPeriod),
		} {
			var fe *registry.PlanFieldError
			if errors.As(err, &fe) {
				v.add(path+"."+fe.Field, "%s", fe.Reason)
			}
		}
		// ... and one for deployed tiers only: every tier throttles.
		if p.RateLimit == 0 && p.BurstLimit == 0 {
			v.add(path+".rateLimit", "a tier must throttle: set rateLimit and burstLimit above 0")
		}
		if seen[p.Name] {
			v.add(path+".name", "duplicate tier %q", p.Name)
		}
		seen[p.Name] = true
		var fe *registry.PlanFieldError
		if err := registry.ValidateMethodThrottles(p.RegistryPlan(c.Env).MethodThrottles); errors.As(err, &fe) {
			v.add(path+"."+fe.Field, "%s", fe.Reason)
		}
	}
}

func (c *Config) validateEvents(v *validator) {
	e := c.Events
	if !eventSourcePattern.MatchString(e.Source) || strings.HasPrefix(e.Source, "aws.") {
		v.add("events.source", "must be a custom event source (letters, digits, . _ -; not aws.*), got %q", e.Source)
	}
	if e.ReconcileRateMinutes < 1 || e.ReconcileRateMinutes > 1440 {
		v.add("events.reconcileRateMinutes", "must be between 1 and 1440, got %d", e.ReconcileRateMinutes)
	}
	if e.MaxEventAgeHours < 1 || e.MaxEventAgeHours > 24 {
		v.add("events.maxEventAgeHours", "must be between 1 and 24 (EventBridge's maximum), got %d", e.MaxEventAgeHours)
	}
	if e.RetryAttempts < 0 || e.RetryAttempts > 185 {
		v.add("events.retryAttempts", "must be between 0 and 185 (EventBridge's maximum), got %d", e.RetryAttempts)
	}
}

func (c *Config) validateLambdas(v *validator) {
	checkRetention(v, "lambdas.logRetentionDays", c.Lambdas.LogRetentionDays)
	for name, f := range map[string]Function{
		"authorizer": c.Lambdas.Authorizer,
		"deployment": c.Lambdas.Deployment,
		"reconcile":  c.Lambdas.Reconcile,
		"keyAdmin":   c.Lambdas.KeyAdmin,
	} {
		path := "lambdas." + name
		if f.MemoryMiB < 128 || f.MemoryMiB > 10240 {
			v.add(path+".memoryMiB", "must be between 128 and 10240, got %d", f.MemoryMiB)
		}
		if f.TimeoutSeconds < 1 || f.TimeoutSeconds > 900 {
			v.add(path+".timeoutSeconds", "must be between 1 and 900, got %d", f.TimeoutSeconds)
		}
	}
	// API Gateway waits at most 10 s for an authorizer.
	if c.Lambdas.Authorizer.TimeoutSeconds > 10 {
		v.add("lambdas.authorizer.timeoutSeconds", "must be at most 10 (API Gateway's authorizer limit), got %d", c.Lambdas.Authorizer.TimeoutSeconds)
	}
	if c.Lambdas.KeyAdmin.TimeoutSeconds > maxIntegrationTimeout {
		v.add("lambdas.keyAdmin.timeoutSeconds", "must be at most %d (API Gateway's integration timeout), got %d", maxIntegrationTimeout, c.Lambdas.KeyAdmin.TimeoutSeconds)
	}
}

func (c *Config) validateAPI(v *validator) {
	a := c.API
	if a.AuthorizerResultTTLSeconds < 0 || a.AuthorizerResultTTLSeconds > maxAuthorizerTTL {
		v.add("api.authorizerResultTtlSeconds", "must be between 0 and %d, got %d", maxAuthorizerTTL, a.AuthorizerResultTTLSeconds)
	}
	switch {
	case a.AuthorizerResultTTLSeconds > 0 && len(a.IdentitySources) != 1:
		v.add("api.identitySources", "must list exactly one identity source when api.authorizerResultTtlSeconds is above 0 (got %d): with caching on, API Gateway answers 401 without calling the authorizer unless every identity source is present, and API-key callers and JWT callers send different headers; set authorizerResultTtlSeconds to 0 (the authorizer caches in process) or use one header every caller sends", len(a.IdentitySources))
	case len(a.IdentitySources) > 1:
		v.add("api.identitySources", "must list at most one identity source (got %d): API Gateway may reject a request that lacks any of them before calling the authorizer, and API-key callers and JWT callers send different headers", len(a.IdentitySources))
	}
	for i, s := range a.IdentitySources {
		if !identitySourcePattern.MatchString(s) {
			v.add(fmt.Sprintf("api.identitySources[%d]", i), "must be a mapping expression such as method.request.header.x-api-key, got %q", s)
		}
	}
	if a.MethodThrottle.RateLimit <= 0 {
		v.add("api.methodThrottle.rateLimit", "must be above 0, got %g", a.MethodThrottle.RateLimit)
	}
	if a.MethodThrottle.BurstLimit < 1 {
		v.add("api.methodThrottle.burstLimit", "must be at least 1, got %d", a.MethodThrottle.BurstLimit)
	}
	checkRetention(v, "api.accessLogRetentionDays", a.AccessLogRetentionDays)
	if a.LoggingLevel != "ERROR" && a.LoggingLevel != "INFO" {
		v.add("api.loggingLevel", "must be ERROR or INFO (execution logging stays on), got %q", a.LoggingLevel)
	}
	if !headerSafeOrigin.MatchString(a.CORSAllowOrigin) {
		v.add("api.corsAllowOrigin", "must be * or an origin such as https://app.example.com, got %q", a.CORSAllowOrigin)
	}
	if a.WebACLArn != "" && !webACLArnPattern.MatchString(a.WebACLArn) {
		v.add("api.webAclArn", "must be a regional WAFv2 web ACL ARN, got %q", a.WebACLArn)
	}
	switch {
	case a.WebACLRateLimit != 0 && a.WebACLArn != "":
		v.add("api.webAclRateLimit", "cannot be combined with api.webAclArn (a stage has one web ACL): add the rate-based rule to that web ACL instead (docs/authorizer.md)")
	case a.WebACLRateLimit != 0 && (a.WebACLRateLimit < 100 || a.WebACLRateLimit > 2_000_000_000):
		v.add("api.webAclRateLimit", "must be 0 (off) or between 100 and 2000000000 requests per 5 minutes per IP, got %d", a.WebACLRateLimit)
	}
}

func (c *Config) validateKeyAdmin(v *validator) {
	k := c.KeyAdmin
	if k.Throttle.RateLimit <= 0 {
		v.add("keyAdmin.throttle.rateLimit", "must be above 0, got %g", k.Throttle.RateLimit)
	}
	if k.Throttle.BurstLimit < 1 {
		v.add("keyAdmin.throttle.burstLimit", "must be at least 1, got %d", k.Throttle.BurstLimit)
	}
	checkRetention(v, "keyAdmin.accessLogRetentionDays", k.AccessLogRetentionDays)
	if len(k.VPCEndpointIDs) > maxVPCEndpoints {
		v.add("keyAdmin.vpcEndpointIds", "must list at most %d endpoints, got %d", maxVPCEndpoints, len(k.VPCEndpointIDs))
	}
	seen := map[string]bool{}
	for i, id := range k.VPCEndpointIDs {
		path := fmt.Sprintf("keyAdmin.vpcEndpointIds[%d]", i)
		if !vpcEndpointPattern.MatchString(id) {
			v.add(path, "must be a VPC endpoint id such as vpce-0123456789abcdef0, got %q", id)
		}
		if seen[id] {
			v.add(path, "duplicate endpoint %q", id)
		}
		seen[id] = true
	}
	if k.JWT == nil {
		return
	}
	if strings.TrimSpace(k.JWT.Issuer) == "" {
		v.add("keyAdmin.jwt.issuer", "must be the tokens' exact iss")
	}
	// The function's own parser: a JWT setting it would reject at cold
	// start fails synth instead.
	env := c.KeyAdminEnv("registry-table")
	// The stack adds the APIs' ids (tokens until deploy) and stage.
	env[keyadmin.EnvAPIID], env[keyadmin.EnvJWTAPIID], env[keyadmin.EnvAPIStage] = "placeholdr", "placeholdj", "v1"
	if _, err := keyadmin.ConfigFromEnv(func(name string) string { return env[name] }); err != nil {
		v.add("keyAdmin.jwt", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
}

func (c *Config) validateAuthorizer(v *validator) {
	trimmed := bytes.TrimSpace(c.Authorizer)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		v.add("authorizer", "must be a JSON object (passed verbatim to the authorizer as AUTHORIZER_CONFIG)")
		return
	}
	compact, err := c.AuthorizerJSON()
	if err != nil {
		v.add("authorizer", "%v", err)
		return
	}
	if len(compact) > maxAuthorizerJSON {
		v.add("authorizer", "is %d bytes compacted; at most %d fit in Lambda's 4 KB environment", len(compact), maxAuthorizerJSON)
	}
	// The authorizer's own parser: a setting it would reject at cold start
	// fails synth instead.
	if _, err := auth.ParseSettings([]byte(compact)); err != nil {
		v.add("authorizer", "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
	}
}

func checkRetention(v *validator, path string, days int) {
	for _, d := range RetentionDays {
		if d == days {
			return
		}
	}
	v.add(path, "must be one of CloudWatch Logs' retention periods %v, got %d", RetentionDays, days)
}

func checkPort(v *validator, path string, port int) {
	if port < 1 || port > 65535 {
		v.add(path, "must be a TCP port (1-65535), got %d", port)
	}
}

// validator collects field errors.
type validator struct{ problems []string }

func (v *validator) add(path, format string, args ...any) {
	v.problems = append(v.problems, path+": "+fmt.Sprintf(format, args...))
}

func (v *validator) err() error {
	if len(v.problems) == 0 {
		return nil
	}
	sort.Strings(v.problems)
	return fmt.Errorf("%w:\n  %s", ErrInvalid, strings.Join(v.problems, "\n  "))
}
