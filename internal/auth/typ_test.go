package auth

import (
	"context"
	"errors"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
)

// TestIssuerRequiredTyp (issue 12 item 9): an issuer configured with
// "typ": "at+jwt" accepts only tokens whose header says so (RFC 9068 §2.1;
// compared case-insensitively, "application/" optional, RFC 7515 §4.1.9),
// so its ID tokens for the same audience are not access tokens. Without the
// setting any typ passes, as before.
func TestIssuerRequiredTyp(t *testing.T) {
	tests := []struct {
		name     string
		required string
		typ      any // nil: no typ header
		want     outcome
	}{
		{name: "not required, JWT", typ: "JWT", want: allow},
		{name: "not required, none", want: allow},
		{name: "at+jwt", required: "at+jwt", typ: "at+jwt", want: allow},
		{name: "application/at+jwt, other case", required: "at+jwt", typ: "application/AT+JWT", want: allow},
		{name: "required as application/at+jwt", required: "application/at+jwt", typ: "at+jwt", want: allow},
		{name: "ID token (JWT)", required: "at+jwt", typ: "JWT", want: deny401},
		{name: "no typ", required: "at+jwt", want: deny401},
		{name: "typ not a string", required: "at+jwt", typ: 7, want: deny401},
		{name: "prefix only", required: "at+jwt", typ: "application/", want: deny401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, func(s *Settings) { s.Issuers[0].Typ = tc.required })
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claimsAt(t0))
			tok.Header["kid"] = "rsa-1"
			if tc.typ == nil {
				delete(tok.Header, "typ")
			} else {
				tok.Header["typ"] = tc.typ
			}
			signed, err := tok.SignedString(testKeys().rsa)
			if err != nil {
				t.Fatal(err)
			}
			ev := loadEvent(t, "jwt-get-order", "", signed)
			if got, _ := run(t, h.a, ev); got != tc.want {
				t.Fatalf("outcome %v, want %v; logs:\n%s", got, tc.want, h.logText())
			}
			if tc.want == deny401 {
				if _, err := h.a.Authorize(context.Background(), &ev); !errors.Is(err, jwtverify.ErrTyp) {
					t.Fatalf("error %v, want ErrTyp", err)
				}
			}
		})
	}
	if _, err := ParseSettings([]byte(`{"issuers":[{"issuer":"i","jwksUrl":"https://i/j","audiences":["a"],"typ":"at jwt"}],"routes":[{"method":"GET","path":"/","scopes":[]}]}`)); err == nil {
		t.Error(`typ "at jwt" accepted`)
	}
}
