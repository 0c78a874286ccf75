package keyadmin_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// Only the configured APIs' stage reaches the operations: a direct invoke
// or a misrouted integration, whatever identity its request context
// claims, is refused before authentication and writes nothing.
func TestRequestsFromElsewhereAreRefused(t *testing.T) {
	tests := []struct {
		name   string
		event  func(t *testing.T) events.APIGatewayProxyRequest
		status int
	}{
		{"direct invoke claiming an admin ARN", func(t *testing.T) events.APIGatewayProxyRequest {
			return loadFixture(t, "direct-invoke-forged-identity.json")
		}, http.StatusForbidden},
		{"the configured API id on another stage (the console's test invoke)", func(t *testing.T) events.APIGatewayProxyRequest {
			ev := loadFixture(t, "iam-create-customer.json")
			ev.RequestContext.Stage = "test-invoke-stage"
			return ev
		}, http.StatusForbidden},
		{"another API on the configured stage", func(t *testing.T) events.APIGatewayProxyRequest {
			ev := loadFixture(t, "iam-create-customer.json")
			ev.RequestContext.APIID = "zyxw987654"
			return ev
		}, http.StatusForbidden},
		{"no request context at all", func(t *testing.T) events.APIGatewayProxyRequest {
			ev := loadFixture(t, "iam-create-customer.json")
			ev.RequestContext = events.APIGatewayProxyRequestContext{Identity: ev.RequestContext.Identity}
			return ev
		}, http.StatusForbidden},
		{"the configured API and stage", func(t *testing.T) events.APIGatewayProxyRequest {
			return loadFixture(t, "iam-create-customer.json")
		}, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			ev := tc.event(t)
			var in struct{ ID string }
			if err := json.Unmarshal([]byte(ev.Body), &in); err != nil || in.ID == "" {
				t.Fatalf("the fixture must create a customer: %v", err)
			}
			r := w.send(t, ev)
			r.want(t, tc.status)
			_, err := w.store.GetCustomer(context.Background(), in.ID)
			if created := err == nil; created != (tc.status == http.StatusCreated) {
				t.Errorf("customer %s created = %v (err %v)", in.ID, created, err)
			}
			if tc.status != http.StatusForbidden {
				return
			}
			var p problemBody
			r.decode(t, &p)
			if p.Status != http.StatusForbidden || p.Detail == "" {
				t.Errorf("problem = %+v", p)
			}
			if n := len(auditTrail(t, w, in.ID)); n != 0 {
				t.Errorf("%d audit entries for %s", n, in.ID)
			}
		})
	}
}

// The function does not start without knowing which API it serves.
func TestNewNeedsAnOrigin(t *testing.T) {
	w := newWorld(t)
	usage := service.NewUsageReader(w.store, w.gwc)
	for _, o := range []keyadmin.Option{
		func(*keyadmin.Handler) {}, // none
		keyadmin.WithOrigin(keyadmin.Origin{APIID: "abcdef1234"}),
		keyadmin.WithOrigin(keyadmin.Origin{APIID: "abcdef1234", JWTAPIID: "abcdef1234", Stage: "v1"}),
	} {
		if _, err := keyadmin.New(w.svc, usage, "dev", o); err == nil {
			t.Error("New accepted a handler without a valid origin")
		}
	}
}
