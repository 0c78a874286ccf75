package keyadmin_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// auditTrail returns a subject's audit entries (newest first) as
// "action by actor" lines.
func auditTrail(t *testing.T, w *world, subject string) []string {
	t.Helper()
	p, err := w.store.ListAudit(context.Background(), subject, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range p.Items {
		out = append(out, e.Action+" by "+e.Actor)
	}
	return out
}

type customerBody struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Status  string `json:"status"`
	Version int64  `json:"version"`
}

func TestCustomerRoutes(t *testing.T) {
	w := newWorld(t)
	tick := func() { w.clock.Advance(time.Second) }

	r := w.do(t, "POST", "/customers", body(`{"id":"globex","name":"Globex"}`))
	r.want(t, http.StatusCreated)
	if got := r.Header.Get("Location"); got != "/v1/customers/globex" {
		t.Errorf("Location = %q, want /v1/customers/globex", got)
	}
	if got := r.Header.Get("ETag"); got != `"1"` {
		t.Errorf("ETag = %q", got)
	}
	tick()

	steps := []struct {
		name   string
		method string
		path   string
		opts   []opt
		want   customerBody
	}{
		{"get", "GET", "/customers/globex", nil, customerBody{"globex", "Globex", "active", 1}},
		{"rename", "PATCH", "/customers/globex", []opt{ifMatch(1), body(`{"name":"Globex Corp"}`)}, customerBody{"globex", "Globex Corp", "active", 2}},
		{"suspend without If-Match", "POST", "/customers/globex/suspend", nil, customerBody{"globex", "Globex Corp", "suspended", 3}},
		{"suspend again changes nothing", "POST", "/customers/globex/suspend", nil, customerBody{"globex", "Globex Corp", "suspended", 3}},
		{"resume with If-Match", "POST", "/customers/globex/resume", []opt{ifMatch(3)}, customerBody{"globex", "Globex Corp", "active", 4}},
		{"delete is a soft delete", "DELETE", "/customers/globex", []opt{ifMatch(4)}, customerBody{"globex", "Globex Corp", "suspended", 5}},
		{"get after delete", "GET", "/customers/globex", nil, customerBody{"globex", "Globex Corp", "suspended", 5}},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(t, tc.method, tc.path, tc.opts...)
			r.want(t, http.StatusOK)
			var got customerBody
			r.decode(t, &got)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("customer (-want +got):\n%s", d)
			}
			if et := r.Header.Get("ETag"); et != `"`+itoa(tc.want.Version)+`"` {
				t.Errorf("ETag = %s, want version %d", et, tc.want.Version)
			}
			tick()
		})
	}

	t.Run("list", func(t *testing.T) {
		r := w.do(t, "GET", "/customers")
		r.want(t, http.StatusOK)
		var got struct{ Items []customerBody }
		r.decode(t, &got)
		if len(got.Items) != 1 || got.Items[0].ID != "globex" {
			t.Errorf("list = %+v", got.Items)
		}
	})

	t.Run("every change is audited with the caller's identity", func(t *testing.T) {
		want := []string{
			"customer.suspend by " + operator,
			"customer.resume by " + operator,
			"customer.suspend by " + operator,
			"customer.rename by " + operator,
			"customer.create by " + operator,
		}
		if d := cmp.Diff(want, auditTrail(t, w, "globex")); d != "" {
			t.Errorf("audit (-want +got):\n%s", d)
		}
		r := w.do(t, "GET", "/customers/globex/audit")
		r.want(t, http.StatusOK)
		var page struct {
			Items []struct{ Actor, Action, Target string }
		}
		r.decode(t, &page)
		if len(page.Items) != len(want) || page.Items[0].Actor != operator || page.Items[0].Target != "globex" {
			t.Errorf("GET audit = %+v", page.Items)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestSubscriptionRoutes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.svc.CreateCustomer(ctx, "globex", "Globex", "seed"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	type subBody struct {
		CustomerID, Env, Plan, CustomerStatus, UsageKeyID string
		Version                                           int64
	}

	r := w.do(t, "POST", "/customers/globex/subscriptions", body(`{"plan":"basic"}`))
	r.want(t, http.StatusCreated)
	var sub subBody
	r.decode(t, &sub)
	if sub.Env != "dev" || sub.Plan != "basic" || sub.UsageKeyID == "" || sub.Version != 1 {
		t.Fatalf("subscription = %+v (env must default to dev)", sub)
	}
	if loc := r.Header.Get("Location"); loc != "/v1/customers/globex/subscriptions/dev" {
		t.Errorf("Location = %q", loc)
	}
	planKeys := func(plan string) []string {
		out, err := w.gwc.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(w.plans[plan])})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, k := range out.Items {
			ids = append(ids, aws.ToString(k.Id))
		}
		return ids
	}
	if got := planKeys("basic"); !slices.Equal(got, []string{sub.UsageKeyID}) {
		t.Errorf("basic usage plan keys = %v, want the metering key %s", got, sub.UsageKeyID)
	}

	r = w.do(t, "GET", "/customers/globex/subscriptions")
	r.want(t, http.StatusOK)
	var list struct{ Items []subBody }
	r.decode(t, &list)
	if d := cmp.Diff([]subBody{sub}, list.Items); d != "" {
		t.Errorf("list (-want +got):\n%s", d)
	}

	r = w.do(t, "GET", "/customers/globex/subscriptions/dev")
	r.want(t, http.StatusOK)
	if r.Header.Get("ETag") != `"1"` {
		t.Errorf("ETag = %q", r.Header.Get("ETag"))
	}

	w.clock.Advance(time.Second)
	r = w.do(t, "PATCH", "/customers/globex/subscriptions/dev", ifMatch(1), body(`{"plan":"standard"}`))
	r.want(t, http.StatusOK)
	var moved subBody
	r.decode(t, &moved)
	if moved.Plan != "standard" || moved.Version != 2 {
		t.Errorf("after change: %+v", moved)
	}
	if got := planKeys("standard"); !slices.Equal(got, []string{sub.UsageKeyID}) {
		t.Errorf("standard usage plan keys = %v, want %s", got, sub.UsageKeyID)
	}
	if got := planKeys("basic"); len(got) != 0 {
		t.Errorf("basic usage plan still has %v", got)
	}
	want := []string{"subscription.change-plan by " + operator, "subscription.create by " + operator, "customer.create by seed"}
	if d := cmp.Diff(want, auditTrail(t, w, "globex")); d != "" {
		t.Errorf("audit (-want +got):\n%s", d)
	}
}

type keyBody struct {
	ID              string     `json:"id"`
	CustomerID      string     `json:"customerId"`
	Env             string     `json:"env"`
	Name            string     `json:"name"`
	DisplayPrefix   string     `json:"displayPrefix"`
	Status          string     `json:"status"`
	EffectiveStatus string     `json:"effectiveStatus"`
	Scopes          []string   `json:"scopes"`
	AllowedCIDRs    []string   `json:"allowedCidrs"`
	ExpiresAt       *time.Time `json:"expiresAt"`
	RotatedTo       string     `json:"rotatedTo"`
	RotatedFrom     string     `json:"rotatedFrom"`
	Version         int64      `json:"version"`
}

func TestKeyRoutes(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	tick := func() { w.clock.Advance(time.Second) }

	r := w.do(t, "POST", "/customers/acme/keys", body(`{"name":"orders","scopes":["orders:read","orders:write"],"allowedCidrs":["203.0.113.7","2001:db8::/32"]}`))
	r.want(t, http.StatusCreated)
	var created struct {
		Key    keyBody `json:"key"`
		Secret string  `json:"secret"`
	}
	r.decode(t, &created)
	k := created.Key
	if created.Secret == "" || k.Env != "dev" || k.Status != "active" || k.EffectiveStatus != "active" || k.Version != 1 {
		t.Fatalf("created %+v (secret present: %v)", k, created.Secret != "")
	}
	if d := cmp.Diff([]string{"203.0.113.7/32", "2001:db8::/32"}, k.AllowedCIDRs); d != "" {
		t.Errorf("allowlist not canonical (-want +got):\n%s", d)
	}
	if loc := r.Header.Get("Location"); loc != "/v1/keys/"+k.ID {
		t.Errorf("Location = %q", loc)
	}
	tick()

	expiry := t0.Add(48 * time.Hour)
	steps := []struct {
		name   string
		method string
		path   string
		opts   []opt
		check  func(t *testing.T, k keyBody)
	}{
		{"get", "GET", "/keys/" + k.ID, nil, func(t *testing.T, got keyBody) {
			if d := cmp.Diff(k, got); d != "" {
				t.Errorf("get (-created +got):\n%s", d)
			}
		}},
		{"replace access", "PUT", "/keys/" + k.ID + "/access", []opt{ifMatch(1), body(`{"scopes":["orders:read"],"allowedCidrs":[]}`)}, func(t *testing.T, got keyBody) {
			if !slices.Equal(got.Scopes, []string{"orders:read"}) || len(got.AllowedCIDRs) != 0 || got.Version != 2 {
				t.Errorf("after access update: %+v", got)
			}
		}},
		{"suspend", "POST", "/keys/" + k.ID + "/suspend", []opt{ifMatch(2)}, func(t *testing.T, got keyBody) {
			if got.Status != "suspended" || got.Version != 3 {
				t.Errorf("after suspend: %+v", got)
			}
		}},
		{"resume", "POST", "/keys/" + k.ID + "/resume", nil, func(t *testing.T, got keyBody) {
			if got.Status != "active" || got.Version != 4 {
				t.Errorf("after resume: %+v", got)
			}
		}},
		{"schedule expiry", "POST", "/keys/" + k.ID + "/expire", []opt{body(`{"at":"` + expiry.Format(time.RFC3339) + `"}`)}, func(t *testing.T, got keyBody) {
			if got.ExpiresAt == nil || !got.ExpiresAt.Equal(expiry) || got.Status != "active" {
				t.Errorf("after expire at: %+v", got)
			}
		}},
	}
	for _, tc := range steps {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(t, tc.method, tc.path, tc.opts...)
			r.want(t, http.StatusOK)
			var got keyBody
			r.decode(t, &got)
			tc.check(t, got)
			tick()
		})
	}

	t.Run("rotate", func(t *testing.T) {
		r := w.do(t, "POST", "/keys/"+k.ID+"/rotate", body(`{"graceSeconds":3600}`))
		r.want(t, http.StatusCreated)
		var rot struct {
			Key      keyBody `json:"key"`
			Previous keyBody `json:"previous"`
			Secret   string  `json:"secret"`
		}
		r.decode(t, &rot)
		if rot.Secret == "" || rot.Secret == created.Secret || rot.Key.RotatedFrom != k.ID || rot.Previous.RotatedTo != rot.Key.ID {
			t.Errorf("rotation: %+v", rot)
		}
		if want := w.clock.Now().Add(time.Hour); rot.Previous.ExpiresAt == nil || !rot.Previous.ExpiresAt.Equal(want) {
			t.Errorf("old key expires at %v, want %v (grace)", rot.Previous.ExpiresAt, want)
		}
		if !slices.Equal(rot.Key.Scopes, []string{"orders:read"}) {
			t.Errorf("successor scopes = %v", rot.Key.Scopes)
		}
		if rot.Key.ExpiresAt == nil || !rot.Key.ExpiresAt.Equal(expiry) {
			t.Errorf("successor expires at %v, want the old key's scheduled expiry %v", rot.Key.ExpiresAt, expiry)
		}
		tick()
		w.clock.Advance(2 * time.Hour)
		r = w.do(t, "GET", "/keys/"+k.ID)
		var old keyBody
		r.decode(t, &old)
		if old.Status != "active" || old.EffectiveStatus != "expired" {
			t.Errorf("old key after grace: status %s, effective %s", old.Status, old.EffectiveStatus)
		}
		r = w.do(t, "POST", "/keys/"+k.ID+"/revoke")
		r.want(t, http.StatusOK)
		tick()
		r = w.do(t, "POST", "/keys/"+rot.Key.ID+"/expire")
		r.want(t, http.StatusOK)
		var next keyBody
		r.decode(t, &next)
		if next.Status != "expired" {
			t.Errorf("expire now: %+v", next)
		}
	})

	t.Run("list", func(t *testing.T) {
		for _, q := range [][]opt{nil, {query("env", "dev")}} {
			r := w.do(t, "GET", "/customers/acme/keys", q...)
			r.want(t, http.StatusOK)
			var page struct{ Items []keyBody }
			r.decode(t, &page)
			if len(page.Items) != 2 {
				t.Errorf("keys = %d, want 2", len(page.Items))
			}
		}
		r := w.do(t, "GET", "/customers/acme/keys", query("env", "prod"))
		var page struct{ Items []keyBody }
		r.decode(t, &page)
		if len(page.Items) != 0 {
			t.Errorf("prod keys = %d", len(page.Items))
		}
	})

	t.Run("audit", func(t *testing.T) {
		var got []string
		for _, line := range auditTrail(t, w, "acme") {
			if line[:4] == "key." {
				got = append(got, line)
			}
		}
		by := " by " + operator
		want := []string{"key.expire" + by, "key.revoke" + by, "key.rotate" + by, "key.set-expiry" + by, "key.resume" + by,
			"key.suspend" + by, "key.update-access" + by, "key.create" + by}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("key audit (-want +got):\n%s", d)
		}
	})
}

func TestPlanRoutes(t *testing.T) {
	w := newWorld(t)
	r := w.do(t, "GET", "/plans")
	r.want(t, http.StatusOK)
	type planBody struct {
		Env, Name, UsagePlanID, QuotaPeriod string
		RateLimit                           float64
		BurstLimit, QuotaLimit              int32
	}
	var list struct{ Items []planBody }
	r.decode(t, &list)
	want := []planBody{
		{Env: "dev", Name: "basic", UsagePlanID: w.plans["basic"], QuotaPeriod: "DAY", RateLimit: 10, BurstLimit: 20, QuotaLimit: 1000},
		{Env: "dev", Name: "standard", UsagePlanID: w.plans["standard"], QuotaPeriod: "DAY", RateLimit: 10, BurstLimit: 20, QuotaLimit: 10000},
	}
	if d := cmp.Diff(want, list.Items); d != "" {
		t.Errorf("plans (-want +got):\n%s", d)
	}
	r = w.do(t, "GET", "/plans/standard", query("env", "dev"))
	r.want(t, http.StatusOK)
	var one planBody
	r.decode(t, &one)
	if d := cmp.Diff(want[1], one); d != "" {
		t.Errorf("plan (-want +got):\n%s", d)
	}
	r = w.do(t, "GET", "/plans", query("env", "prod"))
	r.want(t, http.StatusOK)
	list.Items = nil
	r.decode(t, &list)
	if len(list.Items) != 0 {
		t.Errorf("prod plans = %+v", list.Items)
	}
}

func TestBindingRoutes(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	w.customer(t, "globex")
	type bindingBody struct {
		Env, Issuer, Subject, CustomerID string
		Scopes                           []string
	}
	r := w.do(t, "POST", "/customers/acme/bindings", body(`{"issuer":"https://idp.example.com/","subject":"svc-1","scopes":["orders:read"]}`))
	r.want(t, http.StatusCreated)
	var b bindingBody
	r.decode(t, &b)
	want := bindingBody{Env: "dev", Issuer: "https://idp.example.com/", Subject: "svc-1", CustomerID: "acme", Scopes: []string{"orders:read"}}
	if d := cmp.Diff(want, b); d != "" {
		t.Errorf("binding (-want +got):\n%s", d)
	}
	r = w.do(t, "GET", "/customers/acme/bindings")
	r.want(t, http.StatusOK)
	var list struct{ Items []bindingBody }
	r.decode(t, &list)
	if d := cmp.Diff([]bindingBody{want}, list.Items); d != "" {
		t.Errorf("bindings (-want +got):\n%s", d)
	}

	del := []opt{query("issuer", "https://idp.example.com/"), query("subject", "svc-1")}
	t.Run("another customer cannot delete it", func(t *testing.T) {
		w.do(t, "DELETE", "/customers/globex/bindings", del...).want(t, http.StatusNotFound)
	})
	w.clock.Advance(time.Second)
	w.do(t, "DELETE", "/customers/acme/bindings", del...).want(t, http.StatusNoContent)
	w.do(t, "DELETE", "/customers/acme/bindings", del...).want(t, http.StatusNotFound)
	want2 := []string{"binding.delete by " + operator, "binding.create by " + operator}
	if d := cmp.Diff(want2, auditTrail(t, w, "acme")[:2]); d != "" {
		t.Errorf("audit (-want +got):\n%s", d)
	}
}

func TestUsageRoute(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	ctx := context.Background()
	sub, err := w.store.GetSubscription(ctx, "acme", "dev")
	if err != nil {
		t.Fatal(err)
	}
	plan := w.plans["basic"]
	for range 3 {
		w.gw.RecordUsage(sub.UsageKeyID, plan, t0)
	}
	w.gw.RecordUsage(sub.UsageKeyID, plan, t0.Add(24*time.Hour))

	r := w.do(t, "GET", "/customers/acme/usage", query("start", "2026-03-01"), query("end", "2026-03-03"))
	r.want(t, http.StatusOK)
	var got struct {
		CustomerID, Env, Plan, UsagePlanID, UsageKeyID, Start, End string
		Days                                                       []struct {
			Date            string
			Used, Remaining int64
		}
	}
	r.decode(t, &got)
	if got.UsagePlanID != plan || got.UsageKeyID != sub.UsageKeyID || got.Plan != "basic" || got.Env != "dev" {
		t.Errorf("report header: %+v", got)
	}
	type day = struct {
		Date            string
		Used, Remaining int64
	}
	// The emulator's usage plans have no quota: remaining is 0.
	want := []day{{"2026-03-01", 0, 0}, {"2026-03-02", 3, 0}, {"2026-03-03", 1, 0}}
	if d := cmp.Diff(want, got.Days); d != "" {
		t.Errorf("days (-want +got):\n%s", d)
	}
}

func TestDeploymentRoutes(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.do(t, "GET", "/deployments/latest").want(t, http.StatusNotFound)
	for seq := int64(1); seq <= 3; seq++ {
		if _, _, err := w.store.RecordDeployment(ctx, registry.Deployment{Env: "dev", Sequence: seq, APIID: "api" + itoa(seq), Stage: "v1", Colour: "blue"}, "ci"); err != nil {
			t.Fatal(err)
		}
		w.clock.Advance(time.Minute)
	}
	if _, err := w.store.FinishDeployment(ctx, "dev", 3, registry.DeploymentAssociated, "", registry.DeploymentCounts{PlansUpdated: 2, KeysAttached: 5}, "ci"); err != nil {
		t.Fatal(err)
	}
	r := w.do(t, "GET", "/deployments/latest", query("env", "dev"))
	r.want(t, http.StatusOK)
	var latest struct {
		Sequence int64
		State    string
		Counts   struct{ PlansUpdated, KeysAttached int }
	}
	r.decode(t, &latest)
	if latest.Sequence != 3 || latest.State != "associated" || latest.Counts.KeysAttached != 5 {
		t.Errorf("latest = %+v", latest)
	}
	r = w.do(t, "GET", "/deployments")
	r.want(t, http.StatusOK)
	var hist struct{ Items []struct{ Sequence int64 } }
	r.decode(t, &hist)
	var seqs []int64
	for _, d := range hist.Items {
		seqs = append(seqs, d.Sequence)
	}
	if d := cmp.Diff([]int64{3, 2, 1}, seqs); d != "" {
		t.Errorf("history newest first (-want +got):\n%s", d)
	}
}
