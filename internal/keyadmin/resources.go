package keyadmin

import (
	"time"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// The API's representations (components/schemas of openapi.yaml). They are
// separate from the registry's types so that the storage layout and the
// public contract can change independently.

type customerJSON struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
	Version   int64     `json:"version"`
}

func customerOf(c registry.Customer) customerJSON {
	return customerJSON{ID: c.ID, Name: c.Name, Status: string(c.Status), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, Version: c.Version}
}

type subscriptionJSON struct {
	CustomerID     string    `json:"customerId"`
	Env            string    `json:"env"`
	Plan           string    `json:"plan"`
	CustomerStatus string    `json:"customerStatus"`
	UsageKeyID     string    `json:"usageKeyId"`
	CreatedAt      time.Time `json:"createdAt"`
	UpdatedAt      time.Time `json:"updatedAt"`
	Version        int64     `json:"version"`
}

// subscriptionOf leaves out the metering key's value: it is an identifier
// the authorizer returns to API Gateway, not something callers need.
func subscriptionOf(s registry.Subscription) subscriptionJSON {
	return subscriptionJSON{
		CustomerID: s.CustomerID, Env: s.Env, Plan: s.Plan, CustomerStatus: string(s.CustomerStatus),
		UsageKeyID: s.UsageKeyID, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, Version: s.Version,
	}
}

type keyJSON struct {
	ID              string     `json:"id"`
	CustomerID      string     `json:"customerId"`
	Env             string     `json:"env"`
	Name            string     `json:"name,omitempty"`
	DisplayPrefix   string     `json:"displayPrefix"`
	Status          string     `json:"status"`
	EffectiveStatus string     `json:"effectiveStatus"`
	Scopes          []string   `json:"scopes"`
	AllowedCIDRs    []string   `json:"allowedCidrs"`
	ExpiresAt       *time.Time `json:"expiresAt,omitempty"`
	RotatedTo       string     `json:"rotatedTo,omitempty"`
	RotatedFrom     string     `json:"rotatedFrom,omitempty"`
	CreatedAt       time.Time  `json:"createdAt"`
	UpdatedAt       time.Time  `json:"updatedAt"`
	Version         int64      `json:"version"`
}

// keyOf never includes the hash; the secret has its own field in the
// create and rotate responses only.
func keyOf(k registry.Key, now time.Time) keyJSON {
	return keyJSON{
		ID: k.ID, CustomerID: k.CustomerID, Env: k.Env, Name: k.Name, DisplayPrefix: k.DisplayPrefix,
		Status: string(k.Status), EffectiveStatus: string(k.EffectiveStatus(now)),
		Scopes: nonNil(k.Scopes), AllowedCIDRs: nonNil(k.AllowedCIDRs), ExpiresAt: k.ExpiresAt,
		RotatedTo: k.RotatedTo, RotatedFrom: k.RotatedFrom, CreatedAt: k.CreatedAt, UpdatedAt: k.UpdatedAt, Version: k.Version,
	}
}

type keyCreatedJSON struct {
	Key    keyJSON `json:"key"`
	Secret string  `json:"secret,omitempty"`
}

type keyRotatedJSON struct {
	Key      keyJSON `json:"key"`
	Previous keyJSON `json:"previous"`
	Secret   string  `json:"secret,omitempty"`
}

type planJSON struct {
	Env         string    `json:"env"`
	Name        string    `json:"name"`
	UsagePlanID string    `json:"usagePlanId"`
	RateLimit   float64   `json:"rateLimit"`
	BurstLimit  int32     `json:"burstLimit"`
	QuotaLimit  int32     `json:"quotaLimit"`
	QuotaPeriod string    `json:"quotaPeriod,omitempty"`
	UpdatedAt   time.Time `json:"updatedAt"`
}

func planOf(p registry.Plan) planJSON {
	return planJSON{Env: p.Env, Name: p.Name, UsagePlanID: p.UsagePlanID, RateLimit: p.RateLimit, BurstLimit: p.BurstLimit,
		QuotaLimit: p.QuotaLimit, QuotaPeriod: p.QuotaPeriod, UpdatedAt: p.UpdatedAt}
}

type bindingJSON struct {
	Env        string    `json:"env"`
	Issuer     string    `json:"issuer"`
	Subject    string    `json:"subject"`
	CustomerID string    `json:"customerId"`
	Scopes     []string  `json:"scopes"`
	CreatedAt  time.Time `json:"createdAt"`
}

func bindingOf(b registry.ClientBinding) bindingJSON {
	return bindingJSON{Env: b.Env, Issuer: b.Issuer, Subject: b.Subject, CustomerID: b.CustomerID, Scopes: nonNil(b.Scopes), CreatedAt: b.CreatedAt}
}

type usageJSON struct {
	CustomerID  string    `json:"customerId"`
	Env         string    `json:"env"`
	Plan        string    `json:"plan"`
	UsagePlanID string    `json:"usagePlanId"`
	UsageKeyID  string    `json:"usageKeyId"`
	Start       string    `json:"start"`
	End         string    `json:"end"`
	Days        []dayJSON `json:"days"`
}

type dayJSON struct {
	Date      string `json:"date"`
	Used      int64  `json:"used"`
	Remaining int64  `json:"remaining"`
}

func usageOf(u service.UsageReport) usageJSON {
	out := usageJSON{CustomerID: u.CustomerID, Env: u.Env, Plan: u.Plan, UsagePlanID: u.UsagePlanID, UsageKeyID: u.UsageKeyID,
		Start: u.Start, End: u.End, Days: make([]dayJSON, 0, len(u.Days))}
	for _, d := range u.Days {
		out.Days = append(out.Days, dayJSON{Date: d.Date, Used: d.Used, Remaining: d.Remaining})
	}
	return out
}

type auditJSON struct {
	At      time.Time         `json:"at"`
	Actor   string            `json:"actor"`
	Action  string            `json:"action"`
	Target  string            `json:"target"`
	Details map[string]string `json:"details,omitempty"`
}

func auditOf(e registry.AuditEntry) auditJSON {
	return auditJSON{At: e.At, Actor: e.Actor, Action: e.Action, Target: e.Target, Details: e.Details}
}

type deploymentJSON struct {
	Env        string     `json:"env"`
	Sequence   int64      `json:"sequence"`
	APIID      string     `json:"apiId"`
	Stage      string     `json:"stage"`
	Colour     string     `json:"colour"`
	StackName  string     `json:"stackName,omitempty"`
	GitSHA     string     `json:"gitSha,omitempty"`
	State      string     `json:"state"`
	Reason     string     `json:"reason,omitempty"`
	Counts     countsJSON `json:"counts"`
	ReceivedAt time.Time  `json:"receivedAt"`
	UpdatedAt  time.Time  `json:"updatedAt"`
}

type countsJSON struct {
	PlansUpdated int   `json:"plansUpdated"`
	KeysAttached int   `json:"keysAttached"`
	KeysRemoved  int   `json:"keysRemoved"`
	Retries      int   `json:"retries"`
	DurationMS   int64 `json:"durationMs"`
}

func deploymentOf(d registry.Deployment) deploymentJSON {
	c := d.Counts
	return deploymentJSON{
		Env: d.Env, Sequence: d.Sequence, APIID: d.APIID, Stage: d.Stage, Colour: d.Colour, StackName: d.StackName,
		GitSHA: d.GitSHA, State: string(d.State), Reason: d.Reason, ReceivedAt: d.ReceivedAt, UpdatedAt: d.UpdatedAt,
		Counts: countsJSON{PlansUpdated: c.PlansUpdated, KeysAttached: c.KeysAttached, KeysRemoved: c.KeysRemoved, Retries: c.Retries, DurationMS: c.DurationMS},
	}
}

// page is one page of a listing; list is the same without a cursor.
type page[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

type list[T any] struct {
	Items []T `json:"items"`
}

// mapItems converts a slice, never returning nil (an empty list is []).
func mapItems[A, B any](in []A, f func(A) B) []B {
	out := make([]B, 0, len(in))
	for _, a := range in {
		out = append(out, f(a))
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
