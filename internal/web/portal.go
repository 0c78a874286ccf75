package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/go-analyze/charts"
	"golang.org/x/sync/errgroup"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// UsageDays is how many days of usage the portal shows.
const UsageDays = 14

// portalRoutes are the customer portal's pages and forms: every one
// requires a customer session, and the customer id comes only from that
// (signed, encrypted) session, never from the request.
func (s *Server) portalRoutes(mux *http.ServeMux) {
	cu := func(h func(http.ResponseWriter, *http.Request, Session)) http.HandlerFunc {
		return s.authed(RoleCustomer, h)
	}
	mux.HandleFunc("GET /portal/{$}", cu(s.portalHome))
	mux.HandleFunc("POST /portal/keys", cu(s.portalCreateKey))
	mux.HandleFunc("POST /portal/keys/{kid}/rotate", cu(s.portalRotateKey))
	mux.HandleFunc("POST /portal/keys/{kid}/revoke", cu(s.portalRevokeKey))
	mux.HandleFunc("GET /portal/usage", cu(s.portalUsage))
	mux.HandleFunc("GET /portal/usage.svg", cu(s.portalUsageChart))
	mux.HandleFunc("POST /portal/plan-requests", cu(s.portalRequestPlan))
	mux.HandleFunc("GET /portal/docs", cu(s.portalDocs))
}

type portalView struct {
	Env      string
	Customer registry.Customer
	Sub      registry.Subscription
	Plan     registry.Plan
	Plans    []registry.Plan
	Keys     []keyRow
	Requests []registry.PlanRequest
	Grace    graceView
	Secret   *newSecret
}

func (s *Server) loadPortal(r *http.Request, sess Session) (portalView, error) {
	st := s.svc.Store()
	v := portalView{Env: s.cfg.Env, Grace: s.graceView()}
	g, ctx := errgroup.WithContext(r.Context())
	g.Go(func() (err error) { v.Customer, err = st.GetCustomer(ctx, sess.CustomerID); return err })
	g.Go(func() (err error) { v.Sub, err = st.GetSubscription(ctx, sess.CustomerID, s.cfg.Env); return err })
	g.Go(func() (err error) { v.Plans, err = st.ListPlans(ctx, s.cfg.Env); return err })
	g.Go(func() (err error) { v.Keys, err = s.customerKeys(ctx, sess.CustomerID); return err })
	g.Go(func() (err error) { v.Requests, err = st.ListPlanRequests(ctx, sess.CustomerID, 10); return err })
	if err := g.Wait(); err != nil {
		return v, err
	}
	for _, p := range v.Plans {
		if p.Name == v.Sub.Plan {
			v.Plan = p
		}
	}
	return v, nil
}

func (s *Server) portalHome(w http.ResponseWriter, r *http.Request, sess Session) {
	v, err := s.loadPortal(r, sess)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "portal_home", &sess, v)
}

func (s *Server) portalCreateKey(w http.ResponseWriter, r *http.Request, sess Session) {
	k, secret, err := s.svc.CreateKey(r.Context(), service.CreateKeyInput{CustomerID: sess.CustomerID, Env: s.cfg.Env,
		Name: r.PostFormValue("name")}, sess.Actor())
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.showSecret(w, r, sess, "portal_secret", sess.CustomerID, k, secret, nil)
}

func (s *Server) portalRotateKey(w http.ResponseWriter, r *http.Request, sess Session) {
	if _, err := s.ownedKey(r, sess.CustomerID, r.PathValue("kid")); err != nil {
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
	s.showSecret(w, r, sess, "portal_secret", sess.CustomerID, next, secret, &rotated{key: old, grace: grace})
}

func (s *Server) portalRevokeKey(w http.ResponseWriter, r *http.Request, sess Session) {
	if _, err := s.ownedKey(r, sess.CustomerID, r.PathValue("kid")); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	if _, err := s.svc.SetKeyStatus(r.Context(), r.PathValue("kid"), registry.KeyRevoked, sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	http.Redirect(w, r, "/portal/?done=key+revoked", http.StatusSeeOther)
}

func (s *Server) portalRequestPlan(w http.ResponseWriter, r *http.Request, sess Session) {
	if _, err := s.svc.RequestPlanChange(r.Context(), sess.CustomerID, s.cfg.Env, r.PostFormValue("plan"), sess.Actor()); err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	http.Redirect(w, r, "/portal/?done="+url.QueryEscape("plan change requested"), http.StatusSeeOther)
}

type usageView struct {
	Report service.UsageReport
	Plan   registry.Plan
	Total  int64
}

func (s *Server) usageReport(r *http.Request, customerID string) (usageView, error) {
	end := s.clock.Now().UTC()
	rep, err := s.usage.Usage(r.Context(), customerID, s.cfg.Env, end.AddDate(0, 0, -(UsageDays-1)), end)
	if err != nil {
		return usageView{}, err
	}
	v := usageView{Report: rep}
	if p, err := s.svc.Store().GetPlan(r.Context(), s.cfg.Env, rep.Plan); err == nil {
		v.Plan = p
	} else if !errors.Is(err, registry.ErrNotFound) {
		return usageView{}, err
	}
	for _, d := range rep.Days {
		v.Total += d.Used
	}
	return v, nil
}

func (s *Server) portalUsage(w http.ResponseWriter, r *http.Request, sess Session) {
	v, err := s.usageReport(r, sess.CustomerID)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	s.render(w, r, http.StatusOK, "portal_usage", &sess, v)
}

// chartCSP lets the chart's SVG document style itself (go-analyze/charts
// writes style attributes); it runs no script and loads nothing.
const chartCSP = "default-src 'none'; style-src 'unsafe-inline'"

// portalUsageChart renders requests per day against the daily quota as an
// SVG bar chart (go-analyze/charts), served as an image.
func (s *Server) portalUsageChart(w http.ResponseWriter, r *http.Request, sess Session) {
	s.writeUsageChart(w, r, &sess, sess.CustomerID)
}

func (s *Server) writeUsageChart(w http.ResponseWriter, r *http.Request, sess *Session, customerID string) {
	v, err := s.usageReport(r, customerID)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	svg, err := usageChart(v)
	if err != nil {
		s.fail(w, r, sess, err)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Content-Security-Policy", chartCSP)
	_, _ = w.Write(svg)
}

// dayLabel is a chart label for a YYYY-MM-DD date: MM-DD, or the date as
// it is when it has another shape (never a panic on a short one).
func dayLabel(date string) string {
	if len(date) == len("2006-01-02") && date[4] == '-' {
		return date[5:]
	}
	return date
}

func usageChart(v usageView) ([]byte, error) {
	used := make([]float64, 0, len(v.Report.Days))
	labels := make([]string, 0, len(v.Report.Days))
	for _, d := range v.Report.Days {
		used = append(used, float64(d.Used))
		labels = append(labels, dayLabel(d.Date))
	}
	if len(used) == 0 {
		used, labels = []float64{0}, []string{"no data"}
	}
	series := [][]float64{used}
	names := []string{"requests"}
	if v.Plan.QuotaLimit > 0 && v.Plan.QuotaPeriod == "DAY" {
		quota := make([]float64, len(used))
		for i := range quota {
			quota[i] = float64(v.Plan.QuotaLimit)
		}
		series, names = append(series, quota), append(names, "daily quota")
	}
	opt := charts.NewBarChartOptionWithData(series)
	opt.CategoryAxis.Labels = labels
	opt.Legend.SeriesNames = names
	opt.Title.Text = fmt.Sprintf("Requests per day, last %d days", UsageDays)
	p := charts.NewPainter(charts.PainterOptions{OutputFormat: charts.ChartOutputSVG, Width: 640, Height: 320})
	if err := p.BarChart(opt); err != nil {
		return nil, fmt.Errorf("render usage chart: %w", err)
	}
	return p.Bytes()
}

func (s *Server) portalDocs(w http.ResponseWriter, r *http.Request, sess Session) {
	v, err := s.loadPortal(r, sess)
	if err != nil {
		s.fail(w, r, &sess, err)
		return
	}
	prefix := "YOUR_API_KEY"
	for _, k := range v.Keys {
		if k.Effective == registry.KeyActive {
			prefix = k.DisplayPrefix + "…"
			break
		}
	}
	s.render(w, r, http.StatusOK, "portal_docs", &sess, map[string]any{"Docs": s.docs, "KeyHint": prefix})
}
