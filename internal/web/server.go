// Package web serves stagehand's two web UIs: the operator console
// (/console/) and the customer portal (/portal/), server-rendered with
// html/template. Both sign in with OpenID Connect (authorization code +
// PKCE); a session has one role, and each UI accepts only its own: an
// operator is someone whose ID token lists the configured operator group, a
// customer someone whose issuer + subject is bound to a customer by a JWT
// client binding in the registry. Every change goes through
// internal/service, so it lands in the audit trail with the signed-in
// user's identity. See docs/console.md.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// UsageSource reads a customer's metered usage (service.UsageReader does it
// from API Gateway's GetUsage; another source can replace it).
type UsageSource interface {
	Usage(ctx context.Context, customerID, env string, start, end time.Time) (service.UsageReport, error)
}

// Config is what the web UIs need besides their collaborators.
type Config struct {
	Env string // the environment both UIs manage
	// OperatorGroup is the group (in the ID token's groups claim) that makes
	// a user an operator.
	OperatorGroup string
	// HashKey (≥32 bytes) signs and BlockKey (32 bytes) encrypts cookies.
	HashKey, BlockKey []byte
	// InsecureCookies drops the Secure attribute, for plain-http loopback
	// development only (make dev); never set in AWS.
	InsecureCookies bool
	SessionTTL      time.Duration // customer sessions; default 8h
	// OperatorSessionTTL bounds an operator session (default 1h): group
	// membership is only checked at sign-in, so removing an operator from
	// the group takes effect within this time.
	OperatorSessionTTL time.Duration
	// OpenAPI is the operator-supplied API description the portal renders.
	OpenAPI []byte
	// APIBaseURL is the API's public URL used in the portal's examples.
	APIBaseURL string
	// RotateGrace is the grace period both rotation forms preselect
	// (default 24h); it must be one of the offered choices (see grace.go).
	// 0 means the default, so "none" can be offered but not preselected.
	RotateGrace time.Duration
}

// Server is both UIs.
type Server struct {
	cfg     Config
	svc     *service.Service
	usage   UsageSource
	events  service.PlanEvents
	auth    Authenticator
	cookies *cookies
	tmpl    map[string]*template.Template
	docs    *apiDocs
	log     *slog.Logger
	clock   clock.Clock
}

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithClock sets the clock (default: system clock).
func WithClock(c clock.Clock) Option { return func(s *Server) { s.clock = c } }

// New returns the web UIs.
func New(cfg Config, svc *service.Service, usage UsageSource, events service.PlanEvents, auth Authenticator, opts ...Option) (*Server, error) {
	if cfg.Env == "" || cfg.OperatorGroup == "" {
		return nil, errors.New("web: Env and OperatorGroup are required")
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = 8 * time.Hour
	}
	if cfg.OperatorSessionTTL == 0 {
		cfg.OperatorSessionTTL = time.Hour
	}
	if cfg.RotateGrace == 0 {
		cfg.RotateGrace = keys.DefaultRotationGrace
	}
	if err := validDefaultGrace(cfg.RotateGrace); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, svc: svc, usage: usage, events: events, auth: auth,
		log: slog.New(slog.DiscardHandler), clock: clock.System{}}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.cookies, err = newCookies(cfg.HashKey, cfg.BlockKey, !cfg.InsecureCookies, max(cfg.SessionTTL, cfg.OperatorSessionTTL), s.clock.Now); err != nil {
		return nil, err
	}
	if s.tmpl, err = parseTemplates(); err != nil {
		return nil, err
	}
	if s.docs, err = parseAPIDocs(cfg.OpenAPI, cfg.APIBaseURL); err != nil {
		return nil, err
	}
	return s, nil
}

func parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"date": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
		"datep": func(t *time.Time) string {
			if t == nil {
				return "never"
			}
			return t.UTC().Format("2006-01-02 15:04")
		},
		"isotime": func(t *time.Time) string {
			if t == nil {
				return ""
			}
			return t.UTC().Format(time.RFC3339)
		},
		"join": strings.Join,
	}
	pages, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", p)
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// Handler is every route of both UIs, behind the security middleware.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", cacheStatic(http.FileServerFS(static))))
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { s.render(w, r, http.StatusOK, "home", nil, nil) })
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("GET /console/login", s.login(RoleOperator))
	mux.HandleFunc("GET /portal/login", s.login(RoleCustomer))
	mux.HandleFunc("GET /auth/callback", s.callback)
	mux.HandleFunc("POST /logout", s.logout)
	s.consoleRoutes(mux)
	s.portalRoutes(mux)
	cop := http.NewCrossOriginProtection()
	return securityHeaders(cop.Handler(mux))
}

// contentSecurityPolicy allows only this origin's stylesheet, script and
// images: no inline script or style, no framing, forms post back here.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

func cacheStatic(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		next.ServeHTTP(w, r)
	})
}

// page is what every template gets.
type page struct {
	Title   string
	Area    string // "console", "portal" or ""
	Session *Session
	Flash   string
	Error   string
	Data    any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, sess *Session, data any) {
	s.renderPage(w, r, status, name, page{Session: sess, Data: data, Flash: flash(r.URL.Query().Get("done"))})
}

func (s *Server) renderPage(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := s.tmpl[name]
	if !ok {
		s.log.Error("no template", slog.String("name", name))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if p.Area == "" {
		p.Area = strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := t.Execute(w, p); err != nil {
		s.log.Error("render", slog.String("template", name), slog.String("error", err.Error()))
	}
}

// fail renders a generic error page for err: the detail goes to the log,
// never to the browser (a validation message is shown, it names a field).
func (s *Server) fail(w http.ResponseWriter, r *http.Request, sess *Session, err error) {
	status, msg := http.StatusInternalServerError, "Something went wrong; the error is logged."
	var ve *service.ValidationError
	switch {
	case errors.As(err, &ve):
		status, msg = http.StatusBadRequest, ve.Error()
	case errors.Is(err, registry.ErrNotFound):
		status, msg = http.StatusNotFound, "Not found."
	case errors.Is(err, registry.ErrAlreadyExists):
		status, msg = http.StatusConflict, "That already exists."
	case errors.Is(err, registry.ErrInvalidTransition), errors.Is(err, registry.ErrKeyRotated), errors.Is(err, registry.ErrPlanRequestDecided):
		status, msg = http.StatusConflict, "That change is not possible in the current state."
	case errors.Is(err, registry.ErrPlanRequestPending):
		status, msg = http.StatusConflict, "You already have a pending plan-change request; wait until an operator decides it."
	case errors.Is(err, registry.ErrConflict), errors.Is(err, registry.ErrVersionMismatch):
		status, msg = http.StatusConflict, "Changed concurrently; reload and try again."
	}
	if status == http.StatusInternalServerError {
		s.log.Error("request failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	} else {
		s.log.Info("request refused", slog.String("path", r.URL.Path), slog.Int("status", status), slog.String("error", err.Error()))
	}
	s.renderPage(w, r, status, "error", page{Session: sess, Error: msg})
}

// login starts a sign-in for role: state, nonce and PKCE verifier go into a
// short-lived encrypted cookie, the browser to the issuer.
func (s *Server) login(role Role) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ls := loginState{State: randomToken(), Nonce: randomToken(), Verifier: randomToken() + randomToken(),
			Role: role, Expires: s.clock.Now().Add(loginTTL).Unix()}
		if err := s.cookies.set(w, loginCookie, ls, loginTTL); err != nil {
			s.fail(w, r, nil, err)
			return
		}
		http.Redirect(w, r, s.auth.AuthCodeURL(ls.State, ls.Nonce, ls.Verifier), http.StatusFound)
	}
}

// callback finishes a sign-in: the state must match the cookie's, the ID
// token must verify, and the identity must hold the role asked for: the
// operator group for the console, a client binding for the portal.
func (s *Server) callback(w http.ResponseWriter, r *http.Request) {
	var ls loginState
	err := s.cookies.get(r, loginCookie, &ls)
	s.cookies.clear(w, loginCookie)
	if err != nil || ls.State == "" || r.FormValue("state") != ls.State || s.clock.Now().Unix() >= ls.Expires {
		s.renderPage(w, r, http.StatusBadRequest, "error", page{Error: "The sign-in expired or did not start here; sign in again."})
		return
	}
	if e := r.FormValue("error"); e != "" {
		s.renderPage(w, r, http.StatusUnauthorized, "error", page{Error: "The identity provider refused the sign-in."})
		return
	}
	id, err := s.auth.Exchange(r.Context(), r.FormValue("code"), ls.Verifier, ls.Nonce)
	if err != nil {
		s.log.Info("sign-in failed", slog.String("error", err.Error()))
		s.renderPage(w, r, http.StatusUnauthorized, "error", page{Error: "Sign-in failed."})
		return
	}
	sess := Session{Role: ls.Role, Issuer: id.Issuer, Subject: id.Subject, Name: id.Name}
	dest := "/console/"
	switch ls.Role {
	case RoleOperator:
		if !hasGroup(id, s.cfg.OperatorGroup) {
			s.log.Info("console sign-in refused: not an operator", slog.String("subject", id.Subject))
			s.renderPage(w, r, http.StatusForbidden, "error", page{Error: "Your account is not an operator of this console."})
			return
		}
	case RoleCustomer:
		b, err := s.svc.Store().GetBinding(r.Context(), s.cfg.Env, id.Issuer, id.Subject)
		if err != nil {
			s.log.Info("portal sign-in refused: no client binding", slog.String("subject", id.Subject), slog.String("error", err.Error()))
			s.renderPage(w, r, http.StatusForbidden, "error", page{Error: "Your account is not linked to a customer; ask your operator to bind it."})
			return
		}
		sess.CustomerID, dest = b.CustomerID, "/portal/"
	}
	ttl := s.cfg.SessionTTL
	if sess.Role == RoleOperator {
		ttl = s.cfg.OperatorSessionTTL
	}
	if _, err := s.cookies.startSession(w, sess, ttl); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	s.log.Info("signed in", slog.String("role", string(sess.Role)), slog.String("subject", sess.Subject), slog.String("customer", sess.CustomerID))
	http.Redirect(w, r, dest, http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	sess, err := s.cookies.session(r)
	if err == nil && !validCSRF(sess, r) {
		http.Error(w, "forbidden", http.StatusForbidden)
		return
	}
	s.cookies.clear(w, sessionCookie)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// authed wraps a handler of one role: no valid session is a redirect to
// that role's sign-in (GET) or 401; a session of the other role is 403; a
// POST without the session's form token is 403 and changes nothing.
func (s *Server) authed(role Role, h func(http.ResponseWriter, *http.Request, Session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sess, err := s.cookies.session(r)
		if err != nil {
			if r.Method == http.MethodGet {
				login := "/portal/login"
				if role == RoleOperator {
					login = "/console/login"
				}
				http.Redirect(w, r, login, http.StatusFound)
				return
			}
			s.renderPage(w, r, http.StatusUnauthorized, "error", page{Error: "Sign in first."})
			return
		}
		if sess.Role != role {
			s.renderPage(w, r, http.StatusForbidden, "error", page{Session: &sess, Error: "This page is not part of your area."})
			return
		}
		if r.Method == http.MethodPost && !validCSRF(sess, r) {
			s.renderPage(w, r, http.StatusForbidden, "error", page{Session: &sess, Error: "The form expired; reload the page and try again."})
			return
		}
		if role == RoleCustomer {
			// Access is re-checked on every request, not only at sign-in:
			// deleting the binding (or moving it to another customer) ends
			// the session at once.
			b, err := s.svc.Store().GetBinding(r.Context(), s.cfg.Env, sess.Issuer, sess.Subject)
			if err != nil && !errors.Is(err, registry.ErrNotFound) {
				s.fail(w, r, nil, err)
				return
			}
			if err != nil || b.CustomerID != sess.CustomerID {
				s.log.Info("portal session refused: binding gone", slog.String("subject", sess.Subject), slog.String("customer", sess.CustomerID))
				s.cookies.clear(w, sessionCookie)
				s.renderPage(w, r, http.StatusUnauthorized, "error", page{Error: "Your account is no longer linked to this customer; sign in again."})
				return
			}
		}
		h(w, r, sess)
	}
}
