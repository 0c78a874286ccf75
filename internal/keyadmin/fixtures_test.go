package keyadmin_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// The recorded API Gateway events, sent unchanged.
func TestFixtureEvents(t *testing.T) {
	tests := []struct {
		fixture string
		status  int
		audit   []string // acme's or globex's newest audit entries, if any
	}{
		{"iam-create-customer.json", http.StatusCreated, []string{"customer.create by " + operator}},
		{"iam-create-key.json", http.StatusCreated, []string{"key.create by " + operator}},
		{"iam-list-customers.json", http.StatusOK, nil},
		{"iam-get-customer.json", http.StatusOK, nil},
		{"unsigned-list-customers.json", http.StatusUnauthorized, nil},
		{"jwt-list-customers.json", http.StatusUnauthorized, nil}, // no verifier configured
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			w := newWorld(t)
			w.customer(t, "acme")
			ev := loadFixture(t, tc.fixture)
			r := w.send(t, ev)
			r.want(t, tc.status)
			if tc.audit == nil {
				return
			}
			subject := map[string]string{"iam-create-customer.json": "globex", "iam-create-key.json": "acme"}[tc.fixture]
			if d := cmp.Diff(tc.audit, auditTrail(t, w, subject)[:1]); d != "" {
				t.Errorf("audit (-want +got):\n%s", d)
			}
		})
	}
}

// API Gateway resources other than {proxy+} route the same: the path is
// rebuilt from the resource template and the path parameters, so a stage
// or a custom domain's base path never matters.
func TestExplicitResourceEvent(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	ev := loadFixture(t, "iam-get-customer.json")
	ev.Resource = "/customers/{customerId}"
	ev.PathParameters = map[string]string{"customerId": "acme"}
	ev.Path = "/admin/customers/acme" // a custom domain's base path mapping
	ev.RequestContext.Path = "/admin/customers/acme"
	out, err := w.h.Handle(context.Background(), ev)
	if err != nil || out.StatusCode != http.StatusOK {
		t.Fatalf("status %d, err %v: %s", out.StatusCode, err, out.Body)
	}
}
