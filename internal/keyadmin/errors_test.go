package keyadmin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Every error the API returns: the status, the problem type, for 400 the
// fields at fault (where and which), and that a refused request writes
// nothing.
func TestErrors(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.customer(t, "acme")
	w.customer(t, "globex")
	if _, err := w.svc.SetCustomerStatus(ctx, "globex", registry.CustomerSuspended, "seed"); err != nil {
		t.Fatal(err)
	}
	live, _ := w.key(t, "acme")
	revoked, _ := w.key(t, "acme")
	if _, err := w.svc.SetKeyStatus(ctx, revoked, registry.KeyRevoked, "seed"); err != nil {
		t.Fatal(err)
	}
	rotated, _ := w.key(t, "acme")
	w.do(t, "POST", "/keys/"+rotated+"/rotate").want(t, http.StatusCreated)
	w.do(t, "POST", "/customers/acme/keys", idemKey("retry-0001"), body(`{"name":"first"}`)).want(t, http.StatusCreated)
	w.do(t, "POST", "/customers/acme/bindings", body(`{"issuer":"https://idp.example.com/","subject":"svc-1"}`)).want(t, http.StatusCreated)

	before := map[string][]string{"acme": auditTrail(t, w, "acme"), "globex": auditTrail(t, w, "globex")}
	keysBefore := keyCount(t, w, "acme")

	type fe = fieldError
	tests := []struct {
		name   string
		method string
		path   string
		opts   []opt
		status int
		errs   []fe // 400 only: the fields at fault (reasons checked non-empty)
	}{
		// 400: the field path says where.
		{"body field breaks its pattern", "POST", "/customers", []opt{body(`{"id":"Bad Id!","name":"x"}`)}, 400,
			[]fe{{In: "body", Field: "id", Pointer: "/id"}}},
		{"missing and unknown body fields", "POST", "/customers", []opt{body(`{"nam":"x"}`)}, 400,
			[]fe{{In: "body", Field: "id", Pointer: "/id"}, {In: "body", Field: "nam", Pointer: "/nam"}, {In: "body", Field: "name", Pointer: "/name"}}},
		{"array item", "POST", "/customers/acme/keys", []opt{body(`{"scopes":["orders:read","a b"]}`)}, 400,
			[]fe{{In: "body", Field: "scopes[1]", Pointer: "/scopes/1"}}},
		{"format", "POST", "/customers/acme/keys", []opt{body(`{"expiresAt":"tomorrow"}`)}, 400,
			[]fe{{In: "body", Field: "expiresAt", Pointer: "/expiresAt"}}},
		{"service check: CIDR", "POST", "/customers/acme/keys", []opt{body(`{"allowedCidrs":["10.0.0.0/33"]}`)}, 400,
			[]fe{{In: "body", Field: "allowedCidrs", Pointer: "/allowedCidrs"}}},
		{"service check: expiry in the past", "POST", "/customers/acme/keys", []opt{body(`{"expiresAt":"2001-01-01T00:00:00Z"}`)}, 400,
			[]fe{{In: "body", Field: "expiresAt", Pointer: "/expiresAt"}}},
		{"service check: unknown plan", "POST", "/customers/acme/subscriptions", []opt{body(`{"env":"prod","plan":"gold"}`)}, 400,
			[]fe{{In: "body", Field: "plan", Pointer: "/plan"}}},
		{"service check: grace too long", "POST", "/keys/" + live + "/rotate", []opt{body(`{"graceSeconds":2592001}`)}, 400,
			[]fe{{In: "body", Field: "graceSeconds", Pointer: "/graceSeconds"}}},
		{"query parameter out of range", "GET", "/customers", []opt{query("limit", "500")}, 400,
			[]fe{{In: "query", Field: "limit"}}},
		{"query parameter of the wrong type", "GET", "/customers", []opt{query("limit", "ten")}, 400,
			[]fe{{In: "query", Field: "limit"}}},
		{"required query parameters", "GET", "/customers/acme/usage", nil, 400,
			[]fe{{In: "query", Field: "end"}, {In: "query", Field: "start"}}},
		{"service check: period backwards", "GET", "/customers/acme/usage", []opt{query("start", "2026-03-05"), query("end", "2026-03-01")}, 400,
			[]fe{{In: "query", Field: "end"}}},
		{"cursor not issued by the API", "GET", "/customers", []opt{query("cursor", "bm9wZQ")}, 400,
			[]fe{{In: "query", Field: "cursor"}}},
		{"path parameter", "GET", "/keys/not-a-key", nil, 400,
			[]fe{{In: "path", Field: "keyId"}}},
		{"header", "POST", "/customers", []opt{idemKey("short"), body(`{"id":"x1","name":"x"}`)}, 400,
			[]fe{{In: "header", Field: "Idempotency-Key"}}},
		{"malformed If-Match", "POST", "/keys/" + live + "/suspend", []opt{header("If-Match", "W/\"1\"")}, 400,
			[]fe{{In: "header", Field: "If-Match"}}},
		{"malformed JSON", "POST", "/customers", []opt{body(`{"id":`)}, 400,
			[]fe{{In: "body"}}},
		{"missing body", "POST", "/customers", []opt{body(``)}, 400,
			[]fe{{In: "body"}}},
		{"body where none is taken", "POST", "/keys/" + live + "/suspend", []opt{body(`{}`)}, 400, nil},

		{"unsigned request", "GET", "/customers", []opt{anonymous()}, 401, nil},

		{"unknown customer", "GET", "/customers/ghost", nil, 404, nil},
		{"unknown key", "GET", "/keys/key_aaaaaaaaaaaaaaaa", nil, 404, nil},
		{"unknown route", "GET", "/nope", nil, 404, nil},
		{"unknown plan", "GET", "/plans/gold", nil, 404, nil},
		{"key for a customer that does not exist", "POST", "/customers/ghost/keys", []opt{body(`{}`)}, 404, nil},
		{"key in an environment the customer is not in", "POST", "/customers/acme/keys", []opt{body(`{"env":"prod"}`)}, 404, nil},
		{"keys of an unknown customer", "GET", "/customers/ghost/keys", nil, 404, nil},
		{"usage outside a subscription", "GET", "/customers/acme/usage", []opt{query("env", "prod"), query("start", "2026-03-01"), query("end", "2026-03-01")}, 404, nil},
		{"binding that does not exist", "DELETE", "/customers/acme/bindings", []opt{query("issuer", "https://idp.example.com/"), query("subject", "nobody")}, 404, nil},

		{"method not allowed", "DELETE", "/keys/" + live, nil, 405, nil},

		{"duplicate customer id", "POST", "/customers", []opt{body(`{"id":"acme","name":"Again"}`)}, 409, nil},
		{"reviving a revoked key", "POST", "/keys/" + revoked + "/resume", nil, 409, nil},
		{"rotating a rotated key", "POST", "/keys/" + rotated + "/rotate", nil, 409, nil},
		{"rotating a revoked key", "POST", "/keys/" + revoked + "/rotate", nil, 409, nil},
		{"pushing a rotated key's expiry past its grace end", "POST", "/keys/" + rotated + "/expire", []opt{body(`{"at":"2099-01-01T00:00:00Z"}`)}, 409, nil},
		{"key for a suspended customer", "POST", "/customers/globex/keys", []opt{body(`{}`)}, 409, nil},
		{"subscribing twice", "POST", "/customers/acme/subscriptions", []opt{body(`{"plan":"basic"}`)}, 409, nil},
		{"duplicate binding", "POST", "/customers/acme/bindings", []opt{body(`{"issuer":"https://idp.example.com/","subject":"svc-1"}`)}, 409, nil},

		{"stale If-Match: rename", "PATCH", "/customers/acme", []opt{ifMatch(9), body(`{"name":"New"}`)}, 412, nil},
		{"stale If-Match: delete", "DELETE", "/customers/acme", []opt{ifMatch(9)}, 412, nil},
		{"stale If-Match: suspend customer", "POST", "/customers/acme/suspend", []opt{ifMatch(9)}, 412, nil},
		{"stale If-Match: change plan", "PATCH", "/customers/acme/subscriptions/dev", []opt{ifMatch(9), body(`{"plan":"standard"}`)}, 412, nil},
		{"stale If-Match: suspend key", "POST", "/keys/" + live + "/suspend", []opt{ifMatch(9)}, 412, nil},
		{"stale If-Match: key access", "PUT", "/keys/" + live + "/access", []opt{ifMatch(9), body(`{"scopes":[],"allowedCidrs":[]}`)}, 412, nil},
		{"stale If-Match: expire at", "POST", "/keys/" + live + "/expire", []opt{ifMatch(9), body(`{"at":"2099-01-01T00:00:00Z"}`)}, 412, nil},
		{"stale If-Match: rotate", "POST", "/keys/" + live + "/rotate", []opt{ifMatch(9)}, 412, nil},

		{"body too large", "POST", "/customers", []opt{body(`{"id":"big","name":"` + strings.Repeat("a", keyadmin.MaxBodyBytes) + `"}`)}, 413, nil},
		{"not JSON", "POST", "/customers", []opt{header("Content-Type", "text/plain"), body(`id=acme`)}, 415, nil},

		{"idempotency key reused with another body", "POST", "/customers/acme/keys", []opt{idemKey("retry-0001"), body(`{"name":"second"}`)}, 422, nil},
		{"idempotency key reused on another operation", "POST", "/customers", []opt{idemKey("retry-0001"), body(`{"id":"newco","name":"New"}`)}, 422, nil},

		{"rename without If-Match", "PATCH", "/customers/acme", []opt{body(`{"name":"New"}`)}, 428, nil},
		{"key access without If-Match", "PUT", "/keys/" + live + "/access", []opt{body(`{"scopes":[],"allowedCidrs":[]}`)}, 428, nil},
		{"plan change without If-Match", "PATCH", "/customers/acme/subscriptions/dev", []opt{body(`{"plan":"standard"}`)}, 428, nil},
	}
	slugs := map[int]string{400: "validation", 401: "unauthorized", 404: "not-found", 405: "method-not-allowed", 409: "conflict",
		412: "stale-version", 413: "too-large", 415: "unsupported-media-type", 422: "idempotency-key-reused", 428: "if-match-required"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(t, tc.method, tc.path, tc.opts...)
			r.want(t, tc.status)
			p := r.problem(t)
			if p.Status != tc.status || p.Type != keyadmin.ProblemTypeBase+slugs[tc.status] || p.Title == "" || p.Detail == "" {
				t.Errorf("problem = %+v", p)
			}
			if tc.status != 400 {
				if len(p.Errors) != 0 {
					t.Errorf("errors on a %d: %+v", tc.status, p.Errors)
				}
				return
			}
			if d := cmp.Diff(tc.errs, p.Errors, cmpopts.IgnoreFields(fieldError{}, "Reason"), cmpopts.EquateEmpty()); d != "" {
				t.Errorf("errors (-want +got):\n%s", d)
			}
			for _, e := range p.Errors {
				if e.Reason == "" {
					t.Errorf("error %+v has no reason", e)
				}
			}
		})
	}

	t.Run("405 names the allowed methods", func(t *testing.T) {
		r := w.do(t, "DELETE", "/keys/"+live)
		if got := r.Header.Get("Allow"); got != "GET" {
			t.Errorf("Allow = %q, want GET", got)
		}
	})
	t.Run("refused requests wrote nothing", func(t *testing.T) {
		after := map[string][]string{"acme": auditTrail(t, w, "acme"), "globex": auditTrail(t, w, "globex")}
		if d := cmp.Diff(before, after); d != "" {
			t.Errorf("audit changed (-before +after):\n%s", d)
		}
		if n := keyCount(t, w, "acme"); n != keysBefore {
			t.Errorf("keys: %d before, %d after", keysBefore, n)
		}
		if _, err := w.store.GetCustomer(ctx, "big"); err == nil {
			t.Error("the oversized create wrote a customer")
		}
	})
}

func keyCount(t *testing.T, w *world, customer string) int {
	t.Helper()
	p, err := w.store.ListKeysByCustomer(context.Background(), customer, "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return len(p.Items)
}
