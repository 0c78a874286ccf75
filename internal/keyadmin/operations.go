package keyadmin

// One function per operationId of openapi.yaml. Each decodes its (already
// validated) input, calls the service layer once and maps the outcome to
// HTTP; none of them decides anything about customers or keys.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// implementations maps each operationId to its function.
var implementations = map[string]func(*Handler, context.Context, *request) result{
	"createCustomer":      (*Handler).createCustomer,
	"listCustomers":       (*Handler).listCustomers,
	"getCustomer":         (*Handler).getCustomer,
	"updateCustomer":      (*Handler).updateCustomer,
	"deleteCustomer":      customerStatus(registry.CustomerSuspended),
	"suspendCustomer":     customerStatus(registry.CustomerSuspended),
	"resumeCustomer":      customerStatus(registry.CustomerActive),
	"listSubscriptions":   (*Handler).listSubscriptions,
	"createSubscription":  (*Handler).createSubscription,
	"getSubscription":     (*Handler).getSubscription,
	"updateSubscription":  (*Handler).updateSubscription,
	"createKey":           (*Handler).createKey,
	"listCustomerKeys":    (*Handler).listCustomerKeys,
	"getKey":              (*Handler).getKey,
	"updateKeyAccess":     (*Handler).updateKeyAccess,
	"rotateKey":           (*Handler).rotateKey,
	"takeKeySecret":       (*Handler).takeKeySecret,
	"suspendKey":          keyStatus(registry.KeySuspended),
	"resumeKey":           keyStatus(registry.KeyActive),
	"revokeKey":           keyStatus(registry.KeyRevoked),
	"expireKey":           (*Handler).expireKey,
	"listPlans":           (*Handler).listPlans,
	"getPlan":             (*Handler).getPlan,
	"listBindings":        (*Handler).listBindings,
	"createBinding":       (*Handler).createBinding,
	"deleteBinding":       (*Handler).deleteBinding,
	"getUsage":            (*Handler).getUsage,
	"listAudit":           (*Handler).listAudit,
	"listDeployments":     (*Handler).listDeployments,
	"getLatestDeployment": (*Handler).getLatestDeployment,
}

// defaultLimit is the page size when a request gives none.
const defaultLimit = 50

// fail maps an error to its problem, locating invalid fields.
func (r *request) fail(err error) result {
	return result{err: err, problem: locate(problemFor(err), r.op)}
}

// decode reads the JSON body into v (an absent body leaves v as it is).
func (r *request) decode(v any) error {
	if len(r.body) == 0 {
		return nil
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		return &service.ValidationError{Field: "", Reason: "is not valid JSON for this operation"}
	}
	return nil
}

// env is the environment a query names, or the one this API serves.
func (h *Handler) envOf(r *request) string {
	if e := r.query.Get("env"); e != "" {
		return e
	}
	return h.env
}

func (r *request) limit() int32 {
	if n, err := strconv.ParseInt(r.query.Get("limit"), 10, 32); err == nil && n > 0 {
		return int32(n)
	}
	return defaultLimit
}

func ok(body any) result { return result{status: http.StatusOK, body: body} }

// --- customers ---

func (h *Handler) createCustomer(ctx context.Context, r *request) result {
	var in struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	c, replayed, err := h.svc.CreateCustomerOnce(ctx, in.ID, in.Name, r.actor, r.idem)
	if err != nil {
		return r.fail(err)
	}
	return result{status: http.StatusCreated, body: customerOf(c), etag: c.Version,
		location: "/customers/" + url.PathEscape(c.ID), replayed: replayed}
}

func (h *Handler) listCustomers(ctx context.Context, r *request) result {
	p, err := h.store.ListCustomers(ctx, r.query.Get("cursor"), r.limit())
	if err != nil {
		return r.fail(err)
	}
	return ok(page[customerJSON]{Items: mapItems(p.Items, customerOf), Next: p.Next})
}

func (h *Handler) getCustomer(ctx context.Context, r *request) result {
	c, err := h.store.GetCustomer(ctx, r.params["customerId"])
	if err != nil {
		return r.fail(err)
	}
	return result{status: http.StatusOK, body: customerOf(c), etag: c.Version}
}

func (h *Handler) updateCustomer(ctx context.Context, r *request) result {
	var in struct {
		Name string `json:"name"`
	}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	c, err := h.svc.UpdateCustomer(ctx, r.params["customerId"], r.ifVersion, in.Name, r.actor)
	if err != nil {
		return r.fail(err)
	}
	return result{status: http.StatusOK, body: customerOf(c), etag: c.Version}
}

// customerStatus serves suspend, resume and DELETE (a soft delete: the
// customer is suspended, its history kept).
func customerStatus(to registry.CustomerStatus) func(*Handler, context.Context, *request) result {
	return func(h *Handler, ctx context.Context, r *request) result {
		c, err := h.svc.SetCustomerStatusIf(ctx, r.params["customerId"], r.ifVersion, to, r.actor)
		if err != nil {
			return r.fail(err)
		}
		return result{status: http.StatusOK, body: customerOf(c), etag: c.Version}
	}
}

// --- subscriptions ---

func (h *Handler) listSubscriptions(ctx context.Context, r *request) result {
	id := r.params["customerId"]
	if _, err := h.store.GetCustomer(ctx, id); err != nil {
		return r.fail(err)
	}
	subs, err := h.store.ListCustomerSubscriptions(ctx, id)
	if err != nil {
		return r.fail(err)
	}
	return ok(list[subscriptionJSON]{Items: mapItems(subs, subscriptionOf)})
}

func (h *Handler) createSubscription(ctx context.Context, r *request) result {
	in := struct {
		Env  string `json:"env"`
		Plan string `json:"plan"`
	}{Env: h.env}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	sub, err := h.svc.Subscribe(ctx, r.params["customerId"], in.Env, in.Plan, nil, r.actor)
	res := result{status: http.StatusCreated, body: subscriptionOf(sub), etag: sub.Version,
		location: "/customers/" + url.PathEscape(sub.CustomerID) + "/subscriptions/" + sub.Env}
	switch {
	case err == nil:
		return res
	case sub.Version > 0:
		// Recorded; only attaching the metering key to the usage plan
		// failed, which the scheduled reconcile repairs.
		res.warning = err
		return res
	}
	return r.fail(err)
}

func (h *Handler) getSubscription(ctx context.Context, r *request) result {
	sub, err := h.store.GetSubscription(ctx, r.params["customerId"], r.params["env"])
	if err != nil {
		return r.fail(err)
	}
	return result{status: http.StatusOK, body: subscriptionOf(sub), etag: sub.Version}
}

func (h *Handler) updateSubscription(ctx context.Context, r *request) result {
	var in struct {
		Plan string `json:"plan"`
	}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	sub, err := h.svc.ChangePlanIf(ctx, r.params["customerId"], r.params["env"], r.ifVersion, in.Plan, r.actor)
	res := result{status: http.StatusOK, body: subscriptionOf(sub), etag: sub.Version}
	switch {
	case err == nil:
		return res
	case sub.Version > 0 && sub.Plan == in.Plan:
		// Changed; only moving the metering key between usage plans
		// failed, which the scheduled reconcile repairs.
		res.warning = err
		return res
	}
	return r.fail(err)
}

// --- keys ---

func (h *Handler) createKey(ctx context.Context, r *request) result {
	in := struct {
		Env          string     `json:"env"`
		Name         string     `json:"name"`
		Scopes       []string   `json:"scopes"`
		AllowedCIDRs []string   `json:"allowedCidrs"`
		ExpiresAt    *time.Time `json:"expiresAt"`
	}{Env: h.env}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	k, secret, replayed, err := h.svc.CreateKeyOnce(ctx, service.CreateKeyInput{
		CustomerID: r.params["customerId"], Env: in.Env, Name: in.Name,
		Scopes: in.Scopes, AllowedCIDRs: in.AllowedCIDRs, ExpiresAt: in.ExpiresAt,
	}, r.actor, r.idem)
	if err != nil {
		return r.fail(err)
	}
	// The one place (with rotate) where the plaintext leaves the service.
	body := keyCreatedJSON{Key: keyOf(k, h.clock.Now()), Secret: secret.Plaintext}
	return result{status: http.StatusCreated, body: body, etag: k.Version, location: "/keys/" + k.ID, replayed: replayed}
}

func (h *Handler) listCustomerKeys(ctx context.Context, r *request) result {
	id := r.params["customerId"]
	if _, err := h.store.GetCustomer(ctx, id); err != nil {
		return r.fail(err)
	}
	p, err := h.store.ListKeysByCustomer(ctx, id, r.query.Get("env"), r.query.Get("cursor"), r.limit())
	if err != nil {
		return r.fail(err)
	}
	now := h.clock.Now()
	return ok(page[keyJSON]{Items: mapItems(p.Items, func(k registry.Key) keyJSON { return keyOf(k, now) }), Next: p.Next})
}

func (h *Handler) getKey(ctx context.Context, r *request) result {
	k, err := h.store.GetKey(ctx, r.params["keyId"])
	if err != nil {
		return r.fail(err)
	}
	return h.keyResult(k)
}

func (h *Handler) keyResult(k registry.Key) result {
	return result{status: http.StatusOK, body: keyOf(k, h.clock.Now()), etag: k.Version}
}

func (h *Handler) updateKeyAccess(ctx context.Context, r *request) result {
	var in struct {
		Scopes       []string `json:"scopes"`
		AllowedCIDRs []string `json:"allowedCidrs"`
	}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	k, err := h.svc.UpdateKeyAccess(ctx, r.params["keyId"], r.ifVersion, in.Scopes, in.AllowedCIDRs, r.actor)
	if err != nil {
		return r.fail(err)
	}
	return h.keyResult(k)
}

func (h *Handler) rotateKey(ctx context.Context, r *request) result {
	in := struct {
		GraceSeconds *int64 `json:"graceSeconds"`
	}{}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	grace := keys.DefaultRotationGrace
	if in.GraceSeconds != nil {
		grace = time.Duration(*in.GraceSeconds) * time.Second
	}
	old, next, secret, replayed, err := h.svc.RotateKeyIf(ctx, r.params["keyId"], grace, r.ifVersion, r.actor, r.idem)
	if err != nil {
		return r.fail(err)
	}
	now := h.clock.Now()
	body := keyRotatedJSON{Key: keyOf(next, now), Previous: keyOf(old, now), Secret: secret.Plaintext}
	return result{status: http.StatusCreated, body: body, etag: next.Version, location: "/keys/" + next.ID, replayed: replayed}
}

// takeKeySecret hands out an automatically rotated key's new secret once
// (see package rotation).
func (h *Handler) takeKeySecret(ctx context.Context, r *request) result {
	k, err := h.store.GetKey(ctx, r.params["keyId"])
	if err != nil {
		return r.fail(err)
	}
	if h.pickups == nil {
		return r.fail(fmt.Errorf("key %s: %w", k.ID, registry.ErrPickupNotFound))
	}
	secret, err := h.pickups.Take(ctx, k.CustomerID, k.ID)
	if err != nil {
		return r.fail(err)
	}
	return result{status: http.StatusOK, body: keyCreatedJSON{Key: keyOf(k, h.clock.Now()), Secret: secret}, etag: k.Version}
}

// keyStatus serves suspend, resume and revoke.
func keyStatus(to registry.KeyStatus) func(*Handler, context.Context, *request) result {
	return func(h *Handler, ctx context.Context, r *request) result {
		k, err := h.svc.SetKeyStatusIf(ctx, r.params["keyId"], r.ifVersion, to, r.actor)
		if err != nil {
			return r.fail(err)
		}
		return h.keyResult(k)
	}
}

func (h *Handler) expireKey(ctx context.Context, r *request) result {
	var in struct {
		At *time.Time `json:"at"`
	}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	var (
		k   registry.Key
		err error
	)
	if in.At == nil {
		k, err = h.svc.SetKeyStatusIf(ctx, r.params["keyId"], r.ifVersion, registry.KeyExpired, r.actor)
	} else {
		k, err = h.svc.SetKeyExpiryIf(ctx, r.params["keyId"], r.ifVersion, *in.At, r.actor)
	}
	if err != nil {
		return r.fail(err)
	}
	return h.keyResult(k)
}

// --- plans ---

func (h *Handler) listPlans(ctx context.Context, r *request) result {
	plans, err := h.store.ListPlans(ctx, h.envOf(r))
	if err != nil {
		return r.fail(err)
	}
	return ok(list[planJSON]{Items: mapItems(plans, planOf)})
}

func (h *Handler) getPlan(ctx context.Context, r *request) result {
	p, err := h.store.GetPlan(ctx, h.envOf(r), r.params["plan"])
	if err != nil {
		return r.fail(err)
	}
	return ok(planOf(p))
}

// --- client bindings ---

func (h *Handler) listBindings(ctx context.Context, r *request) result {
	id := r.params["customerId"]
	if _, err := h.store.GetCustomer(ctx, id); err != nil {
		return r.fail(err)
	}
	bs, err := h.store.ListBindings(ctx, id)
	if err != nil {
		return r.fail(err)
	}
	return ok(list[bindingJSON]{Items: mapItems(bs, bindingOf)})
}

func (h *Handler) createBinding(ctx context.Context, r *request) result {
	in := struct {
		Env     string   `json:"env"`
		Issuer  string   `json:"issuer"`
		Subject string   `json:"subject"`
		Scopes  []string `json:"scopes"`
	}{Env: h.env}
	if err := r.decode(&in); err != nil {
		return r.fail(err)
	}
	b, err := h.svc.PutBinding(ctx, registry.ClientBinding{
		Env: in.Env, Issuer: in.Issuer, Subject: in.Subject, CustomerID: r.params["customerId"], Scopes: in.Scopes,
	}, r.actor)
	if err != nil {
		return r.fail(err)
	}
	return result{status: http.StatusCreated, body: bindingOf(b)}
}

func (h *Handler) deleteBinding(ctx context.Context, r *request) result {
	err := h.svc.DeleteBinding(ctx, r.params["customerId"], h.envOf(r), r.query.Get("issuer"), r.query.Get("subject"), r.actor)
	if err != nil {
		return r.fail(err)
	}
	return result{status: http.StatusNoContent}
}

// --- usage, audit, deployments ---

func (h *Handler) getUsage(ctx context.Context, r *request) result {
	start, err1 := time.Parse(service.DateLayout, r.query.Get("start"))
	end, err2 := time.Parse(service.DateLayout, r.query.Get("end"))
	if err1 != nil || err2 != nil {
		// The document's format check accepts only dates; this is a guard.
		return r.fail(&service.ValidationError{Field: "start", Reason: fmt.Sprintf("start and end must be dates (%s)", service.DateLayout)})
	}
	rep, err := h.usage.Usage(ctx, r.params["customerId"], h.envOf(r), start, end)
	if err != nil {
		return r.fail(err)
	}
	return ok(usageOf(rep))
}

func (h *Handler) listAudit(ctx context.Context, r *request) result {
	id := r.params["customerId"]
	if _, err := h.store.GetCustomer(ctx, id); err != nil {
		return r.fail(err)
	}
	p, err := h.store.ListAudit(ctx, id, r.query.Get("cursor"), r.limit())
	if err != nil {
		return r.fail(err)
	}
	return ok(page[auditJSON]{Items: mapItems(p.Items, auditOf), Next: p.Next})
}

func (h *Handler) listDeployments(ctx context.Context, r *request) result {
	p, err := h.store.ListDeployments(ctx, h.envOf(r), r.query.Get("cursor"), r.limit())
	if err != nil {
		return r.fail(err)
	}
	return ok(page[deploymentJSON]{Items: mapItems(p.Items, deploymentOf), Next: p.Next})
}

func (h *Handler) getLatestDeployment(ctx context.Context, r *request) result {
	d, err := h.store.GetLatestDeployment(ctx, h.envOf(r))
	if err != nil {
		return r.fail(err)
	}
	return ok(deploymentOf(d))
}
