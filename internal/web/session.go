package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gorilla/securecookie"
)

// Role is what a session may do. A session has exactly one role: the console
// accepts only operator sessions, the portal only customer sessions.
type Role string

// Roles.
const (
	RoleOperator Role = "operator"
	RoleCustomer Role = "customer"
)

// Session is what the session cookie carries, signed and encrypted: a
// customer cannot read or forge it.
type Session struct {
	Role       Role   `json:"r"`
	Issuer     string `json:"i"`
	Subject    string `json:"s"`
	Name       string `json:"n,omitempty"`
	CustomerID string `json:"c,omitempty"` // customer sessions only
	CSRF       string `json:"x"`           // per-session form token
	Expires    int64  `json:"e"`           // unix seconds
}

// Actor is how the session's user appears in the audit trail: the
// issuer-assigned, immutable subject, never a name or email the user could
// change (Name is for display only).
func (s Session) Actor() string {
	if s.Role == RoleCustomer {
		return "customer:" + s.CustomerID + ":" + s.Subject
	}
	return "operator:" + s.Issuer + "#" + s.Subject
}

// loginState is the short-lived cookie that carries an OIDC sign-in from the
// redirect to the callback: state, nonce, PKCE verifier, requested role.
type loginState struct {
	State    string `json:"st"`
	Nonce    string `json:"no"`
	Verifier string `json:"v"`
	Role     Role   `json:"r"`
	Expires  int64  `json:"e"`
}

const (
	// The __Host- prefix makes the browser accept the cookie only with
	// Secure, Path=/ and no Domain, so a sibling subdomain (or plain http)
	// cannot set or overwrite it. Without Secure (InsecureCookies, plain
	// http on loopback) the prefix is dropped: browsers refuse it there.
	hostPrefix    = "__Host-"
	sessionCookie = hostPrefix + "stagehand_session"
	loginCookie   = hostPrefix + "stagehand_login"
	loginTTL      = 10 * time.Minute
)

var errNoSession = errors.New("no valid session")

// cookies signs (HMAC-SHA256) and encrypts (AES-256) session and sign-in
// cookies with gorilla/securecookie.
type cookies struct {
	codec  *securecookie.SecureCookie
	secure bool
	ttl    time.Duration
	now    func() time.Time
}

func newCookies(hashKey, blockKey []byte, secure bool, ttl time.Duration, now func() time.Time) (*cookies, error) {
	if len(hashKey) < 32 {
		return nil, fmt.Errorf("session hash key: %d bytes, need at least 32", len(hashKey))
	}
	if len(blockKey) != 32 {
		return nil, fmt.Errorf("session block key: %d bytes, need 32 (AES-256)", len(blockKey))
	}
	codec := securecookie.New(hashKey, blockKey)
	codec.SetSerializer(securecookie.JSONEncoder{})
	codec.MaxAge(int(ttl / time.Second))
	return &cookies{codec: codec, secure: secure, ttl: ttl, now: now}, nil
}

// name is a cookie's name on the wire: without Secure, the __Host- prefix
// is dropped.
func (c *cookies) name(name string) string {
	if c.secure {
		return name
	}
	return strings.TrimPrefix(name, hostPrefix)
}

// get reads and decodes the cookie name into v.
func (c *cookies) get(r *http.Request, name string, v any) error {
	ck, err := r.Cookie(c.name(name))
	if err != nil {
		return err
	}
	return c.codec.Decode(name, ck.Value, v)
}

func (c *cookies) set(w http.ResponseWriter, name string, v any, ttl time.Duration) error {
	enc, err := c.codec.Encode(name, v)
	if err != nil {
		return fmt.Errorf("encode %s cookie: %w", name, err)
	}
	http.SetCookie(w, &http.Cookie{Name: c.name(name), Value: enc, Path: "/", MaxAge: int(ttl / time.Second),
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
	return nil
}

func (c *cookies) clear(w http.ResponseWriter, name string) {
	http.SetCookie(w, &http.Cookie{Name: c.name(name), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: c.secure, SameSite: http.SameSiteLaxMode})
}

// session decodes and checks the session cookie (signature, encryption,
// expiry); anything wrong is errNoSession.
func (c *cookies) session(r *http.Request) (Session, error) {
	var s Session
	if err := c.get(r, sessionCookie, &s); err != nil {
		return Session{}, errNoSession
	}
	if c.now().Unix() >= s.Expires || s.CSRF == "" || s.Subject == "" ||
		(s.Role != RoleOperator && s.Role != RoleCustomer) || (s.Role == RoleCustomer && s.CustomerID == "") {
		return Session{}, errNoSession
	}
	return s, nil
}

// startSession sets a fresh session cookie valid for ttl (at most the
// codec's maximum age).
func (c *cookies) startSession(w http.ResponseWriter, s Session, ttl time.Duration) (Session, error) {
	ttl = min(ttl, c.ttl)
	s.CSRF = randomToken()
	s.Expires = c.now().Add(ttl).Unix()
	return s, c.set(w, sessionCookie, s, ttl)
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// validCSRF compares a form's token with the session's in constant time.
func validCSRF(s Session, r *http.Request) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(s.CSRF)) == 1
}
