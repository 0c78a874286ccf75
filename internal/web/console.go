package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// consoleRoutes are the operator console's pages and forms: every one
// requires an operator session (s.authed(RoleOperator, ...)).
func (s *Server) consoleRoutes(mux *http.ServeMux) {
	op := func(h func(http.ResponseWriter, *http.Request, Session)) http.HandlerFunc {
		return s.authed(RoleOperator, h)
	}
	mux.HandleFunc("GET /console/{$}", op(s.consoleHome))
	mux.HandleFunc("POST /console/customers", op(s.consoleCreateCustomer))
	mux.HandleFunc("GET /console/customers/{id}", op(s.consoleCustomer))
	mux.HandleFunc("GET /console/customers/{id}/usage.svg", op(s.consoleUsageChart))
	mux.HandleFunc("POST /console/customers/{id}/status", op(s.consoleCustomerStatus))
	mux.HandleFunc("POST /console/customers/{id}/plan", op(s.consoleChangePlan))
	mux.HandleFunc("POST /console/customers/{id}/keys", op(s.consoleIssueKey))
	mux.HandleFunc("POST /console/customers/{id}/keys/{kid}/rotate", op(s.consoleRotateKey))
	mux.HandleFunc("POST /console/customers/{id}/keys/{kid}/status", op(s.consoleKeyStatus))
	mux.HandleFunc("POST /console/customers/{id}/bindings", op(s.consolePutBinding))
	mux.HandleFunc("POST /console/customers/{id}/bindings/delete", op(s.consoleDeleteBinding))
	mux.HandleFunc("GET /console/plans", op(s.consolePlans))
	mux.HandleFunc("GET /console/deployments", op(s.consoleDeployments))
	mux.HandleFunc("GET /console/audit", op(s.consoleAudit))
	mux.HandleFunc("POST /console/plan-requests/{rid}/{decision}", op(s.consoleDecide))
}

type customerRow struct {
	registry.Customer
	Plan string
}

func (s *Server) consoleHome(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	st := s.svc.Store()
	var (
		custs   registry.Page[registry.Customer]
		pending []registry.PlanRequest
		plans   []registry.Plan
	)
	// Independent reads run concurrently: page time is the slowest read,
	// not their sum.
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() (err error) { custs, err = st.ListCustomers(gctx, r.URL.Query().Get("next"), 50); return err })
	g.Go(func() (err error) { pending, err = st.ListPendingPlanRequests(gctx, s.cfg.Env, 50); return err })
	g.Go(func() (err error) { plans, err = st.ListPlans(gctx, s.cfg.Env); return err })
	if err := g.Wait(); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	rows := make([]customerRow, len(custs.Items))
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(8)
	for i, c := range custs.Items {
		rows[i] = customerRow{Customer: c}
		g.Go(func() error {
			sub, err := st.GetSubscription(gctx, c.ID, s.cfg.Env)
			if err == nil {
				rows[i].Plan = sub.Plan
			} else if !errors.Is(err, registry.ErrNotFound) {
				return err
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "console_home", &sess, map[string]any{
		"Env": s.cfg.Env, "Customers": rows, "Next": custs.Next, "Pending": pending, "Plans": plans,
	})
}

func (s *Server) consoleCreateCustomer(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	id, name, plan := strings.TrimSpace(r.PostFormValue("id")), strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("plan")
	if _, err := s.svc.CreateCustomer(ctx, id, name, sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if _, err := s.svc.Subscribe(ctx, id, s.cfg.Env, plan, nil, sess.Actor()); err != nil {
		s.fail(w, r, &sess, fmt.Errorf("customer %s created, subscribing failed: %w", id, err))
		return
	}
	http.Redirect(w, r, "/console/customers/"+url.PathEscape(id)+"?done=created", http.StatusSeeOther)
}

type customerView struct {
	Env       string
	Customer  registry.Customer
	Sub       *registry.Subscription
	Plans     []registry.Plan
	Keys      []keyRow
	Bindings  []registry.ClientBinding
	Audit     []registry.AuditEntry
	Requests  []registry.PlanRequest
	Usage     *service.UsageReport
	NewSecret *newSecret
	Grace     graceView
}

type keyRow struct {
	registry.Key
	Effective registry.KeyStatus
}

// newSecret is a key's plaintext, rendered once in the response to the
// request that created it and never stored or shown again.
type newSecret struct {
	Plaintext, DisplayPrefix, ID string
	OldID                        string
	OldExpires                   *time.Time
	Grace                        graceChoice // the grace chosen on rotation
}

// rotated is the old key of a rotation and the grace it was given.
type rotated struct {
	key   registry.Key
	grace graceChoice
}

func (s *Server) loadCustomer(r *http.Request, id string) (customerView, error) {
	st := s.svc.Store()
	v := customerView{Env: s.cfg.Env, Grace: s.graceView()}
	g, ctx := errgroup.WithContext(r.Context())
	g.Go(func() (err error) { v.Customer, err = st.GetCustomer(ctx, id); return err })
	g.Go(func() error {
		sub, err := st.GetSubscription(ctx, id, s.cfg.Env)
		if err == nil {
			v.Sub = &sub
		} else if !errors.Is(err, registry.ErrNotFound) {
			return err
		}
		return nil
	})
	g.Go(func() (err error) { v.Plans, err = st.ListPlans(ctx, s.cfg.Env); return err })
	g.Go(func() (err error) { v.Keys, err = s.customerKeys(ctx, id); return err })
	g.Go(func() (err error) { v.Bindings, err = st.ListBindings(ctx, id); return err })
	g.Go(func() error {
		audit, err := st.ListAudit(ctx, id, "", 20)
		v.Audit = audit.Items
		return err
	})
	g.Go(func() (err error) { v.Requests, err = st.ListPlanRequests(ctx, id, 10); return err })
	return v, g.Wait()
}

func (s *Server) customerKeys(ctx context.Context, customerID string) ([]keyRow, error) {
	page, err := s.svc.Store().ListKeysByCustomer(ctx, customerID, s.cfg.Env, "", 100)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	rows := make([]keyRow, 0, len(page.Items))
	for _, k := range page.Items {
		rows = append(rows, keyRow{Key: k, Effective: k.EffectiveStatus(now)})
	}
	return rows, nil
}

func (s *Server) consoleCustomer(w http.ResponseWriter, r *http.Request, sess Session) {
	v, err := s.loadCustomer(r, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "console_customer", &sess, v)
}

// consoleUsageChart is a customer's usage against quota (the portal's
// chart, for the operator).
func (s *Server) consoleUsageChart(w http.ResponseWriter, r *http.Request, sess Session) {
	s.writeUsageChart(w, r, &sess, r.PathValue("id"))
}

func (s *Server) back(w http.ResponseWriter, r *http.Request, done string) {
	http.Redirect(w, r, "/console/customers/"+url.PathEscape(r.PathValue("id"))+"?done="+url.QueryEscape(done), http.StatusSeeOther)
}

func (s *Server) consoleCustomerStatus(w http.ResponseWriter, r *http.Request, sess Session) {
	to := registry.CustomerStatus(r.PostFormValue("status"))
	if to != registry.CustomerActive && to != registry.CustomerSuspended {
		s.fail(w, r, &sess, &service.ValidationError{Field: "status", Reason: "must be active or suspended"})
		return
	}
	if _, err := s.svc.SetCustomerStatus(r.Context(), r.PathValue("id"), to, sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.back(w, r, "status "+string(to))
}

func (s *Server) consoleChangePlan(w http.ResponseWriter, r *http.Request, sess Session) {
	if _, err := s.svc.ChangePlan(r.Context(), r.PathValue("id"), s.cfg.Env, r.PostFormValue("plan"), sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.back(w, r, "plan changed")
}

func splitList(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' || r == '\n' || r == '\r' })
}

func (s *Server) consoleIssueKey(w http.ResponseWriter, r *http.Request, sess Session) {
	id := r.PathValue("id")
	in := service.CreateKeyInput{CustomerID: id, Env: s.cfg.Env, Name: r.PostFormValue("name"),
		Scopes: splitList(r.PostFormValue("scopes")), AllowedCIDRs: splitList(r.PostFormValue("cidrs"))}
	if e := r.PostFormValue("expires"); e != "" {
		t, err := time.Parse("2006-01-02", e)
		if err != nil {
			s.fail(w, r, &sess, &service.ValidationError{Field: "expires", Reason: "must be a date YYYY-MM-DD"})
			return
		}
		in.ExpiresAt = &t
	}
	k, secret, err := s.svc.CreateKey(r.Context(), in, sess.Actor())
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.showSecret(w, r, sess, "console_secret", id, k, secret, nil)
}

// showSecret renders a new key's plaintext exactly once: in the response to
// the POST that made it (no-store), never stored, never redirected to.
func (s *Server) showSecret(w http.ResponseWriter, r *http.Request, sess Session, tmpl, customerID string, k registry.Key, secret keys.Secret, old *rotated) {
	ns := &newSecret{Plaintext: secret.Plaintext, DisplayPrefix: k.DisplayPrefix, ID: k.ID}
	if old != nil {
		ns.OldID, ns.OldExpires, ns.Grace = old.key.ID, old.key.ExpiresAt, old.grace
	}
	s.render(w, r, http.StatusOK, tmpl, &sess, map[string]any{"CustomerID": customerID, "Secret": ns})
}

// ownedKey reads a key and checks it belongs to customerID in this
// environment; any other key is ErrKeyNotFound, so an id from elsewhere
// reveals nothing.
func (s *Server) ownedKey(r *http.Request, customerID, keyID string) (registry.Key, error) {
	k, err := s.svc.Store().GetKey(r.Context(), keyID)
	if err != nil {
		return registry.Key{}, err
	}
	if k.CustomerID != customerID || k.Env != s.cfg.Env {
		return registry.Key{}, fmt.Errorf("key %s of another customer: %w", keyID, registry.ErrKeyNotFound)
	}
	return k, nil
}

func (s *Server) consoleRotateKey(w http.ResponseWriter, r *http.Request, sess Session) {
	id := r.PathValue("id")
	if _, err := s.ownedKey(r, id, r.PathValue("kid")); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	grace, err := formGrace(r)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	old, next, secret, err := s.svc.RotateKey(r.Context(), r.PathValue("kid"), grace.Grace, sess.Actor())
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.showSecret(w, r, sess, "console_secret", id, next, secret, &rotated{key: old, grace: grace})
}

func (s *Server) consoleKeyStatus(w http.ResponseWriter, r *http.Request, sess Session) {
	if _, err := s.ownedKey(r, r.PathValue("id"), r.PathValue("kid")); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	to := registry.KeyStatus(r.PostFormValue("status"))
	if _, err := s.svc.SetKeyStatus(r.Context(), r.PathValue("kid"), to, sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.back(w, r, "key "+string(to))
}

func (s *Server) consolePutBinding(w http.ResponseWriter, r *http.Request, sess Session) {
	b := registry.ClientBinding{Env: s.cfg.Env, CustomerID: r.PathValue("id"), Issuer: strings.TrimSpace(r.PostFormValue("issuer")),
		Subject: strings.TrimSpace(r.PostFormValue("subject")), Scopes: splitList(r.PostFormValue("scopes"))}
	if _, err := s.svc.PutBinding(r.Context(), b, sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.back(w, r, "binding added")
}

func (s *Server) consoleDeleteBinding(w http.ResponseWriter, r *http.Request, sess Session) {
	if err := s.svc.DeleteBinding(r.Context(), r.PathValue("id"), s.cfg.Env, r.PostFormValue("issuer"), r.PostFormValue("subject"), sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.back(w, r, "binding removed")
}

func (s *Server) consolePlans(w http.ResponseWriter, r *http.Request, sess Session) {
	plans, err := s.svc.Store().ListPlans(r.Context(), s.cfg.Env)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "console_plans", &sess, map[string]any{"Env": s.cfg.Env, "Plans": plans})
}

func (s *Server) consoleDeployments(w http.ResponseWriter, r *http.Request, sess Session) {
	ctx := r.Context()
	deps, err := s.svc.Store().ListDeployments(ctx, s.cfg.Env, "", 20)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	stages, err := s.svc.Store().GetEnvStages(ctx, s.cfg.Env)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	progress, err := s.svc.Store().GetRunProgress(ctx, s.cfg.Env)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "console_deployments", &sess, map[string]any{
		"Env": s.cfg.Env, "Deployments": deps.Items, "Stages": stages, "Progress": progress,
	})
}

func (s *Server) consoleAudit(w http.ResponseWriter, r *http.Request, sess Session) {
	subject := r.URL.Query().Get("subject")
	if subject == "" {
		subject = registry.EnvSubject(s.cfg.Env)
	}
	p, err := s.svc.Store().ListAudit(r.Context(), subject, r.URL.Query().Get("next"), 50)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "console_audit", &sess, map[string]any{"Subject": subject, "Entries": p.Items, "Next": p.Next})
}

func (s *Server) consoleDecide(w http.ResponseWriter, r *http.Request, sess Session) {
	var approve bool
	switch r.PathValue("decision") {
	case "approve":
		approve = true
	case "decline":
	default:
		s.fail(w, r, &sess, registry.ErrNotFound)
		return
	}
	// The console manages one environment: a request of another is not
	// found here (its operators decide it in their own console).
	pending, err := s.svc.Store().GetPlanRequest(r.Context(), r.PathValue("rid"))
	if err == nil && pending.Env != s.cfg.Env {
		err = fmt.Errorf("plan request %s is in %s, not %s: %w", pending.ID, pending.Env, s.cfg.Env, registry.ErrNotFound)
	}
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	req, err := s.svc.DecidePlanChange(r.Context(), pending.ID, approve, s.events, sess.Actor())
	if err != nil && req.ID == "" {
		s.fail(w, r, &sess, err)
		return
	}
	if err != nil {
		s.log.Error("plan request decided with an error", "request", req.ID, "error", err.Error())
	}
	http.Redirect(w, r, "/console/?done="+url.QueryEscape("request "+string(req.Status)), http.StatusSeeOther)
}
