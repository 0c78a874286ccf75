package auth

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// TestClientIDMustBeUTF8 (issue 12 item 6): client ids "x\xff" and "x\xfe"
// (or the escapes "x\udcff" and "x\udcfe") would both decode to "x\uFFFD"
// and share that client's binding; tokens carrying them are refused (401)
// even when a binding for "x\uFFFD" exists.
func TestClientIDMustBeUTF8(t *testing.T) {
	h := newHarness(t)
	h.reg.update(func(f *fakeRegistry) {
		f.bindings[bindKey{testIssuer, "x\uFFFD"}] = registry.ClientBinding{
			Env: testEnv, Issuer: testIssuer, Subject: "x\uFFFD", CustomerID: testCustomer,
		}
	})
	k := testKeys()
	signed := func(clientID string) string {
		c := claimsAt(t0)
		c["client_id"] = "PLACEHOLDER"
		tok := mint(t, jwt.SigningMethodRS256, k.rsa, "rsa-1", c)
		// Re-sign with the raw client id spliced into the payload JSON.
		parts := strings.Split(tok, ".")
		payload, err := base64.RawURLEncoding.DecodeString(parts[1])
		if err != nil {
			t.Fatal(err)
		}
		payload = []byte(strings.Replace(string(payload), "PLACEHOLDER", clientID, 1))
		input := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload)
		sig, err := jwt.SigningMethodRS256.Sign(input, k.rsa)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
	for _, id := range []string{"x\xff", "x\xfe", `x\udcff`, `x\udcfe`} {
		t.Run(fmt.Sprintf("%q", id), func(t *testing.T) {
			ev := loadEvent(t, "jwt-get-order", "", signed(id))
			if got, _ := run(t, h.a, ev); got != deny401 {
				t.Fatalf("outcome %v, want 401", got)
			}
			if _, err := h.a.Authorize(context.Background(), &ev); !errors.Is(err, jwtverify.ErrNotUTF8) {
				t.Fatalf("error %v, want ErrNotUTF8", err)
			}
		})
	}
	// The same binding is reached by a valid UTF-8 spelling of U+FFFD.
	ev := loadEvent(t, "jwt-get-order", "", signed("x\uFFFD"))
	if got, _ := run(t, h.a, ev); got != allow {
		t.Fatalf("valid client id x\\uFFFD: %v, want allow; logs:\n%s", got, h.logText())
	}
}
