// Package registry is stagehand's source of truth: customers, their plans and
// API Gateway metering keys per environment, customer-facing API keys (hashed),
// JWT client bindings, deployment records and an append-only audit trail, all
// in one DynamoDB table (single-table design).
//
// # Table layout
//
// Base table: PK (S), SK (S). Two sparse global secondary indexes, both
// projecting all attributes: GSI1 (GSI1PK, GSI1SK) and GSI2 (GSI2PK, GSI2SK).
// TTL attribute: "ttl" (epoch seconds) on items that may lapse.
//
//	item            PK                         SK                    GSI1PK / GSI1SK            GSI2PK / GSI2SK
//	customer        CUST#<customerId>          PROFILE               -                          CUSTOMERS / <customerId>
//	subscription    CUST#<customerId>          ENV#<env>             -                          ENV#<env>#SUBS / <customerId>
//	key             KEY#<keyId>                KEY                   CUST#<customerId> / KEY#<env>#<keyId>   ENV#<env>#KEYS / <keyId>
//	plan            ENV#<env>                  PLAN#<name>           -                          -
//	binding         BIND#<env>#<issuer>#<sub>  BIND                  CUST#<customerId> / BIND#<env>#<issuer>#<sub>  -
//	deployment      ENV#<env>                  DEPLOY#<seq, 20 digits>  -                       -
//	latest deploy   ENV#<env>                  DEPLOY#LATEST         -                          -
//	env stages      ENV#<env>                  STAGES                -                          -
//	run progress    ENV#<env>                  RUN                   -                          -
//	pacer slot      PACER#apigateway           <operation>           -                          -
//	audit           AUDIT#<subject>            <RFC3339Nano>#<rand>  -                          -
//	idempotency     IDEMP#<actor hash>#<key>   IDEMP                 -                          -   (TTL "ttl": 24 h)
//
// A key's id is derived from the SHA-256 hash of its secret (see package
// keys), so "key by hash" and "key by id" are both one GetItem on
// KEY#<keyId>; the full stored hash is compared before a key is trusted.
//
// Access patterns (no Scan anywhere):
//   - key by hash / by id:            GetItem  KEY#<keyId>, KEY
//   - keys by customer:               Query    GSI1 CUST#<customerId>, begins_with KEY#
//   - keys by environment:            Query    GSI2 ENV#<env>#KEYS (paginated)
//   - customer by id:                 GetItem  CUST#<customerId>, PROFILE
//   - customers (all):                Query    GSI2 CUSTOMERS (paginated)
//   - subscription (customer, env):   GetItem  CUST#<customerId>, ENV#<env>
//   - subscriptions by environment:   Query    GSI2 ENV#<env>#SUBS (paginated, for reconcile)
//   - plans by environment:           Query    ENV#<env>, begins_with PLAN#
//   - binding by issuer+subject:      GetItem  BIND#<env>#<issuer>#<subject>, BIND
//   - latest deployment by env:       GetItem  ENV#<env>, DEPLOY#LATEST
//   - deployments by env (history):   Query    ENV#<env>, begins_with DEPLOY#0 (descending)
//   - desired stages of an env:       GetItem  ENV#<env>, STAGES (conditional put on version)
//   - reconcile lease + progress:     GetItem/conditional UpdateItem ENV#<env>, RUN (epoch-ms lease)
//   - account-wide pacer token:       conditional UpdateItem PACER#apigateway, UpdateUsagePlan
//   - audit by customer:              Query    AUDIT#<customerId> (descending)
//   - idempotency record:             GetItem  IDEMP#<actor hash>#<key>, IDEMP (put in the create's own transaction)
package registry

import (
	"errors"
	"time"
)

// Sentinel errors callers branch on with errors.Is.
var (
	// ErrNotFound: the item does not exist.
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a create found an item with the same id.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: a conditional write lost to a concurrent change (stale
	// version); re-read and retry, or give up.
	ErrConflict = errors.New("conflict: changed concurrently")
	// ErrInvalidTransition: the requested status change is not allowed
	// (for example reviving a revoked key).
	ErrInvalidTransition = errors.New("invalid status transition")
	// ErrStaleDeployment: a deployment event whose sequence is not newer than
	// the environment's latest.
	ErrStaleDeployment = errors.New("stale deployment: a newer sequence is recorded")
)

// CustomerStatus is whether a customer may call the API at all.
type CustomerStatus string

// Customer statuses.
const (
	CustomerActive    CustomerStatus = "active"
	CustomerSuspended CustomerStatus = "suspended"
)

// Customer is who pays.
type Customer struct {
	ID        string         `dynamodbav:"customerId" json:"id"`
	Name      string         `dynamodbav:"name" json:"name"`
	Status    CustomerStatus `dynamodbav:"status" json:"status"`
	CreatedAt time.Time      `dynamodbav:"createdAt" json:"createdAt"`
	UpdatedAt time.Time      `dynamodbav:"updatedAt" json:"updatedAt"`
	// Version increases on every update; conditional writes compare it.
	Version int64 `dynamodbav:"version" json:"version"`
}

// Subscription is a customer's presence in one environment: its plan tier and
// the API Gateway API key that meters it there (the usage identifier). Every
// customer key and JWT client of that customer in that environment maps to
// this one API Gateway key, so quotas survive key rotation.
//
// CustomerStatus is a copy of the customer's status, kept in step in the same
// transaction that changes the customer, so that the authorizer needs only
// the key and the subscription to decide.
type Subscription struct {
	CustomerID     string         `dynamodbav:"customerId" json:"customerId"`
	Env            string         `dynamodbav:"env" json:"env"`
	Plan           string         `dynamodbav:"plan" json:"plan"`
	CustomerStatus CustomerStatus `dynamodbav:"customerStatus" json:"customerStatus"`
	// UsageKeyID is the API Gateway API key id (for usage plan key calls).
	UsageKeyID string `dynamodbav:"usageKeyId" json:"usageKeyId"`
	// UsageKeyValue is the API Gateway API key value that the authorizer
	// returns as usageIdentifierKey. With apiKeySource AUTHORIZER it is a
	// metering identifier, not a credential: API Gateway ignores it when a
	// client sends it. It is never printed by the CLI.
	UsageKeyValue string    `dynamodbav:"usageKeyValue" json:"-"`
	CreatedAt     time.Time `dynamodbav:"createdAt" json:"createdAt"`
	UpdatedAt     time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
	Version       int64     `dynamodbav:"version" json:"version"`
}

// Plan is a named tier in one environment, mapped 1:1 to an API Gateway
// usage plan. The registry owns the plan: the reconciler creates the usage
// plan when it is missing (name stagehand-<env>-<name>, tags stagehand:env
// and stagehand:plan), adopts an existing one tagged with the tier, records
// its id in UsagePlanID and keeps its limits and per-method throttles equal
// to these fields. No CloudFormation resource owns a usage plan, so no stack
// update can reset its stages (aws-cdk#32544); see docs/cdk.md.
type Plan struct {
	Env         string  `dynamodbav:"env" json:"env"`
	Name        string  `dynamodbav:"name" json:"name"`
	Description string  `dynamodbav:"description,omitempty" json:"description,omitempty"`
	UsagePlanID string  `dynamodbav:"usagePlanId" json:"usagePlanId"`
	RateLimit   float64 `dynamodbav:"rateLimit" json:"rateLimit"`
	BurstLimit  int32   `dynamodbav:"burstLimit" json:"burstLimit"`
	QuotaLimit  int32   `dynamodbav:"quotaLimit" json:"quotaLimit"`
	QuotaPeriod string  `dynamodbav:"quotaPeriod" json:"quotaPeriod"` // DAY, WEEK or MONTH; empty: no quota
	// MethodThrottles are the per-method throttles the usage plan sets on
	// every stage it includes, keyed "{resourcePath}/{httpMethod}" as API
	// Gateway keys them ("/pets/GET", "/pets/*", "//GET" for the root). A
	// nil map means "not declared yet": the reconciler adopts the live usage
	// plan's throttles and records them here; an empty map means none.
	MethodThrottles map[string]MethodThrottle `dynamodbav:"methodThrottles" json:"methodThrottles"`
	UpdatedAt       time.Time                 `dynamodbav:"updatedAt" json:"updatedAt"`
}

// MethodThrottle is one method's rate (requests per second; 0 blocks the
// method) and burst (0: API Gateway's default).
type MethodThrottle struct {
	RateLimit  float64 `dynamodbav:"rateLimit" json:"rateLimit"`
	BurstLimit int32   `dynamodbav:"burstLimit" json:"burstLimit"`
}

// KeyStatus is a customer key's stored status. A key whose ExpiresAt has
// passed is expired whatever its stored status (see Key.EffectiveStatus).
type KeyStatus string

// Key statuses.
const (
	KeyActive    KeyStatus = "active"
	KeySuspended KeyStatus = "suspended"
	KeyRevoked   KeyStatus = "revoked"
	KeyExpired   KeyStatus = "expired"
)

// Key is a customer-facing API key. Only the SHA-256 hash of the secret is
// stored; the plaintext exists once, when the key is created.
type Key struct {
	ID            string    `dynamodbav:"keyId" json:"id"`
	Hash          string    `dynamodbav:"hash" json:"-"` // hex SHA-256 of the secret
	CustomerID    string    `dynamodbav:"customerId" json:"customerId"`
	Env           string    `dynamodbav:"env" json:"env"`
	Name          string    `dynamodbav:"name,omitempty" json:"name,omitempty"`
	DisplayPrefix string    `dynamodbav:"displayPrefix" json:"displayPrefix"`
	Status        KeyStatus `dynamodbav:"status" json:"status"`
	Scopes        []string  `dynamodbav:"scopes,omitempty" json:"scopes,omitempty"`
	// AllowedCIDRs restricts source IPs (IPv4 and IPv6 prefixes); empty
	// means any address.
	AllowedCIDRs []string `dynamodbav:"allowedCidrs,omitempty" json:"allowedCidrs,omitempty"`
	// ExpiresAt, when set, is when the key stops working. Rotation sets it
	// on the old key to the end of the grace period.
	ExpiresAt   *time.Time `dynamodbav:"expiresAt,omitempty" json:"expiresAt,omitempty"`
	RotatedTo   string     `dynamodbav:"rotatedTo,omitempty" json:"rotatedTo,omitempty"`
	RotatedFrom string     `dynamodbav:"rotatedFrom,omitempty" json:"rotatedFrom,omitempty"`
	CreatedAt   time.Time  `dynamodbav:"createdAt" json:"createdAt"`
	UpdatedAt   time.Time  `dynamodbav:"updatedAt" json:"updatedAt"`
	Version     int64      `dynamodbav:"version" json:"version"`
}

// EffectiveStatus is the key's status at now: expired once ExpiresAt has
// passed, otherwise the stored status.
func (k Key) EffectiveStatus(now time.Time) KeyStatus {
	if k.Status == KeyActive && k.ExpiresAt != nil && !now.Before(*k.ExpiresAt) {
		return KeyExpired
	}
	return k.Status
}

// ClientBinding maps a JWT client (issuer + subject, or issuer + client_id)
// to a customer in one environment.
type ClientBinding struct {
	Env        string `dynamodbav:"env" json:"env"`
	Issuer     string `dynamodbav:"issuer" json:"issuer"`
	Subject    string `dynamodbav:"subject" json:"subject"`
	CustomerID string `dynamodbav:"customerId" json:"customerId"`
	// Scopes, when set, caps what this client may do (intersected with the
	// token's own scopes by the authorizer).
	Scopes    []string  `dynamodbav:"scopes,omitempty" json:"scopes,omitempty"`
	CreatedAt time.Time `dynamodbav:"createdAt" json:"createdAt"`
}

// DeploymentState is where a deployment record is in its life.
type DeploymentState string

// Deployment states.
const (
	DeploymentReceived   DeploymentState = "received"
	DeploymentAssociated DeploymentState = "associated"
	DeploymentFailed     DeploymentState = "failed"
	DeploymentRetired    DeploymentState = "retired"
)

// DeploymentCounts are what a re-association changed.
type DeploymentCounts struct {
	PlansUpdated int   `dynamodbav:"plansUpdated" json:"plansUpdated"`
	KeysAttached int   `dynamodbav:"keysAttached" json:"keysAttached"`
	KeysRemoved  int   `dynamodbav:"keysRemoved" json:"keysRemoved"`
	Retries      int   `dynamodbav:"retries" json:"retries"`
	DurationMS   int64 `dynamodbav:"durationMs" json:"durationMs"`
	// FailingPlans are the usage plans whose update kept failing past the
	// reconciler's bound in this run: reported, not waited for.
	FailingPlans []string `dynamodbav:"failingPlans,omitempty" json:"failingPlans,omitempty"`
}

// Deployment is one record per deploy event.
type Deployment struct {
	Env        string           `dynamodbav:"env" json:"env"`
	Sequence   int64            `dynamodbav:"sequence" json:"sequence"`
	APIID      string           `dynamodbav:"apiId" json:"apiId"`
	Stage      string           `dynamodbav:"stage" json:"stage"`
	Colour     string           `dynamodbav:"colour" json:"colour"`
	StackName  string           `dynamodbav:"stackName,omitempty" json:"stackName,omitempty"`
	GitSHA     string           `dynamodbav:"gitSha,omitempty" json:"gitSha,omitempty"`
	State      DeploymentState  `dynamodbav:"state" json:"state"`
	Reason     string           `dynamodbav:"reason,omitempty" json:"reason,omitempty"`
	Counts     DeploymentCounts `dynamodbav:"counts" json:"counts"`
	ReceivedAt time.Time        `dynamodbav:"receivedAt" json:"receivedAt"`
	UpdatedAt  time.Time        `dynamodbav:"updatedAt" json:"updatedAt"`
}

// AuditEntry is one append-only record of a change. It never holds a secret:
// keys appear by id or display prefix.
type AuditEntry struct {
	// Subject is the customer id the change concerns, or "env:<env>" for
	// environment-level changes (plans, deployments).
	Subject string            `dynamodbav:"subject" json:"subject"`
	At      time.Time         `dynamodbav:"at" json:"at"`
	Actor   string            `dynamodbav:"actor" json:"actor"`
	Action  string            `dynamodbav:"action" json:"action"`
	Target  string            `dynamodbav:"target" json:"target"`
	Details map[string]string `dynamodbav:"details,omitempty" json:"details,omitempty"`
}

// Page is one page of a paginated listing. Next is empty on the last page;
// pass it back unchanged to get the following page.
type Page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}
