package keyadmin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/keyadmin"
)

const (
	jwtIssuer   = "https://idp.example.test/"
	jwtAudience = "stagehand-keyadmin"
)

var jwtSecret = []byte("0123456789abcdef0123456789abcdef-keyadmin-tests")

// jwtWorld is a world whose handler also accepts admin JWTs, verified by
// the authorizer's verifier (HS256 issuer, so no JWKS server is needed).
func jwtWorld(t *testing.T) *world {
	t.Helper()
	v, err := jwtverify.New(context.Background(),
		[]jwtverify.Issuer{{Issuer: jwtIssuer, Audiences: []string{jwtAudience}, HS256: true}},
		jwtverify.WithHS256Secret(jwtSecret), jwtverify.WithClock(clock.NewVirtual(t0)), jwtverify.WithLogger(suite.logger))
	if err != nil {
		t.Fatal(err)
	}
	return newWorld(t, keyadmin.WithTokenVerifier(keyadmin.NewJWTVerifier(v), ""))
}

func token(t *testing.T, sub string, claims jwt.MapClaims, key []byte) string {
	t.Helper()
	c := jwt.MapClaims{"iss": jwtIssuer, "sub": sub, "aud": jwtAudience, "iat": t0.Unix(), "exp": t0.Add(10 * time.Minute).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	suite.forbid(s) // a token must never be logged or echoed
	return s
}

func TestJWTCallers(t *testing.T) {
	w := jwtWorld(t)
	admin := token(t, "portal-service", jwt.MapClaims{"scope": "openid stagehand:admin"}, jwtSecret)
	tests := []struct {
		name   string
		opts   []opt
		status int
		auth   string // WWW-Authenticate
	}{
		{"admin scope", []opt{header("Authorization", "Bearer "+admin)}, http.StatusOK, ""},
		{"admin scope in scp", []opt{header("Authorization", "Bearer "+token(t, "ops-bot", jwt.MapClaims{"scp": []string{"stagehand:admin"}}, jwtSecret))}, http.StatusOK, ""},
		{"without the admin scope", []opt{header("Authorization", "Bearer "+token(t, "reader", jwt.MapClaims{"scope": "orders:read"}, jwtSecret))}, http.StatusForbidden, ""},
		{"bad signature", []opt{header("Authorization", "Bearer "+token(t, "mallory", jwt.MapClaims{"scope": "stagehand:admin"}, []byte("another-secret-another-secret-32b")))}, http.StatusUnauthorized, `Bearer realm="stagehand-keyadmin"`},
		{"expired", []opt{header("Authorization", "Bearer "+token(t, "late", jwt.MapClaims{"scope": "stagehand:admin", "exp": t0.Add(-time.Hour).Unix(), "iat": t0.Add(-2 * time.Hour).Unix()}, jwtSecret))}, http.StatusUnauthorized, `Bearer realm="stagehand-keyadmin"`},
		{"no token", nil, http.StatusUnauthorized, `Bearer realm="stagehand-keyadmin"`},
		{"not a bearer token", []opt{header("Authorization", "Basic dXNlcjpwYXNz")}, http.StatusUnauthorized, `Bearer realm="stagehand-keyadmin"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(t, "GET", "/customers", append([]opt{fixture("jwt-list-customers.json"), without("Authorization")}, tc.opts...)...)
			r.want(t, tc.status)
			if got := r.Header.Get("WWW-Authenticate"); got != tc.auth {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.auth)
			}
		})
	}

	t.Run("the token's subject is the audit actor", func(t *testing.T) {
		r := w.do(t, "POST", "/customers", fixture("jwt-list-customers.json"), header("Authorization", "Bearer "+admin),
			header("Content-Type", "application/json"), body(`{"id":"hooli","name":"Hooli"}`))
		r.want(t, http.StatusCreated)
		if d := cmp.Diff([]string{"customer.create by jwt:portal-service"}, auditTrail(t, w, "hooli")); d != "" {
			t.Errorf("audit (-want +got):\n%s", d)
		}
	})

	t.Run("the JWT route's API never takes an IAM identity", func(t *testing.T) {
		r := w.do(t, "GET", "/customers", fixture("jwt-list-customers.json"), without("Authorization"), as(operator))
		r.want(t, http.StatusUnauthorized)
	})

	t.Run("the IAM API never takes a bearer token", func(t *testing.T) {
		r := w.do(t, "GET", "/customers", anonymous(), header("Authorization", "Bearer "+admin))
		r.want(t, http.StatusUnauthorized)
	})

	t.Run("an IAM identity wins over a bearer token", func(t *testing.T) {
		r := w.do(t, "POST", "/customers", header("Authorization", "Bearer "+admin), body(`{"id":"iamco","name":"IAM Co"}`))
		r.want(t, http.StatusCreated)
		if d := cmp.Diff([]string{"customer.create by " + operator}, auditTrail(t, w, "iamco")); d != "" {
			t.Errorf("audit (-want +got):\n%s", d)
		}
	})
}

// A 401 tells, in its WWW-Authenticate challenge and its detail, only the
// credential of the API the request came through: the IAM API ignores
// bearer tokens, so it never offers one.
func TestUnauthorizedNamesTheAPIsCredential(t *testing.T) {
	plain, withJWT := newWorld(t), jwtWorld(t)
	admin := token(t, "portal-service", jwt.MapClaims{"scope": "stagehand:admin"}, jwtSecret)
	const sigv4, bearer = "AWS4-HMAC-SHA256", `Bearer realm="stagehand-keyadmin"`
	tests := []struct {
		name       string
		w          *world
		opts       []opt
		challenge  string
		detail     string // the detail names this credential...
		notOffered string // ...and not this one (both lower case)
	}{
		{"IAM API, unsigned", plain, []opt{anonymous()}, sigv4, "sigv4", "bearer"},
		{"IAM API with a JWT route configured, unsigned", withJWT, []opt{anonymous()}, sigv4, "sigv4", "bearer"},
		{"IAM API with a JWT route configured, a bearer token", withJWT, []opt{anonymous(), header("Authorization", "Bearer "+admin)}, sigv4, "sigv4", "bearer"},
		{"JWT route's API, no token", withJWT, []opt{fixture("jwt-list-customers.json"), without("Authorization")}, bearer, "bearer <jwt>", "sigv4"},
		{"JWT route's API, an IAM identity", withJWT, []opt{fixture("jwt-list-customers.json"), without("Authorization"), as(operator)}, bearer, "bearer <jwt>", "sigv4"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.w.do(t, "GET", "/customers", tc.opts...)
			r.want(t, http.StatusUnauthorized)
			var p problemBody
			r.decode(t, &p)
			if got := r.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if d := strings.ToLower(p.Detail); !strings.Contains(d, tc.detail) || strings.Contains(d, tc.notOffered) {
				t.Errorf("detail %q should name %q and not offer %q", p.Detail, tc.detail, tc.notOffered)
			}
		})
	}
}
