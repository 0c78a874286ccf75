package keyadmin_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// exampleRequest is one request assembled from the document's examples.
type exampleRequest struct {
	name   string
	method string
	path   string
	opts   []opt
	body   *string
}

// examples assembles, for every operation, a request from the examples of
// its parameters and one per example of its request body.
func examples(t *testing.T, doc *openapi3.T) []exampleRequest {
	t.Helper()
	var out []exampleRequest
	for _, path := range slices.Sorted(func(yield func(string) bool) {
		for p := range doc.Paths.Map() {
			if !yield(p) {
				return
			}
		}
	}) {
		item := doc.Paths.Value(path)
		for method, op := range item.Operations() {
			base := exampleRequest{method: method, path: path}
			params := append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...)
			for _, p := range params {
				v := p.Value
				if v.Name == "If-Match" && !v.Required {
					// Its example names version 1; the state changes run
					// after updates, so they go without it.
					continue
				}
				if v.Example == nil {
					if v.Required {
						t.Fatalf("%s: required parameter %s has no example", op.OperationID, v.Name)
					}
					continue
				}
				ex := exampleString(v.Example)
				switch v.In {
				case "path":
					base.path = strings.ReplaceAll(base.path, "{"+v.Name+"}", ex)
				case "query":
					base.opts = append(base.opts, query(v.Name, ex))
				case "header":
					base.opts = append(base.opts, header(v.Name, ex))
				}
			}
			if op.RequestBody == nil || !op.RequestBody.Value.Required {
				r := base
				r.name = op.OperationID
				out = append(out, r)
			}
			if op.RequestBody == nil {
				continue
			}
			mt := op.RequestBody.Value.Content.Get("application/json")
			if len(mt.Examples) == 0 {
				t.Fatalf("%s: the request body has no example", op.OperationID)
			}
			for _, name := range slices.Sorted(func(yield func(string) bool) {
				for n := range mt.Examples {
					if !yield(n) {
						return
					}
				}
			}) {
				b, err := json.Marshal(mt.Examples[name].Value.Value)
				if err != nil {
					t.Fatal(err)
				}
				s := string(b)
				r := base
				r.name, r.body = op.OperationID+"/"+name, &s
				r.opts = append(slices.Clip(r.opts), body(s))
				out = append(out, r)
			}
		}
	}
	return out
}

func exampleString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Every example request in the document is valid against the document and
// accepted by the handler (never a 400, 413, 415, 422 or 428, never a 5xx);
// every response validates against the document (checked by send).
func TestOpenAPIExamples(t *testing.T) {
	doc := document()
	reqs := examples(t, doc)
	if len(reqs) < 30 {
		t.Fatalf("only %d example requests", len(reqs))
	}
	// One world for all: requests run reads first, then creates, updates
	// and state changes, each as its own caller so that the examples'
	// shared Idempotency-Key does not tie them together.
	w := exampleWorld(t)
	slices.SortStableFunc(reqs, func(a, b exampleRequest) int { return phase(a) - phase(b) })
	for i, ex := range reqs {
		ex.opts = append(slices.Clip(ex.opts), as(fmt.Sprintf("arn:aws:iam::123456789012:user/contract-%02d", i)))
		t.Run(ex.name, func(t *testing.T) {
			ev := event(t, ex.method, ex.path, ex.opts...)
			// The request is valid by the document alone...
			hreq, err := http.NewRequest(ex.method, ex.path+queryOf(ev), strings.NewReader(ev.Body))
			if err != nil {
				t.Fatal(err)
			}
			for k, vs := range ev.MultiValueHeaders {
				for _, v := range vs {
					hreq.Header.Add(k, v)
				}
			}
			route, params, err := docRouter.FindRoute(hreq)
			if err != nil {
				t.Fatalf("the example matches no route: %v", err)
			}
			if err := openapi3filter.ValidateRequest(context.Background(), &openapi3filter.RequestValidationInput{
				Request: hreq, PathParams: params, Route: route,
				Options: &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
			}); err != nil {
				t.Fatalf("the example is not valid against the document: %v", err)
			}
			// ...and the handler accepts it in a world where its ids exist.
			r := w.send(t, ev)
			t.Logf("status %d", r.Status)
			switch {
			case r.Status >= 500, slices.Contains([]int{400, 413, 415, 422, 428}, r.Status):
				t.Errorf("status %d: %s", r.Status, r.Body)
			}
		})
	}
}

// phase orders example requests: reads, creates, updates, state changes,
// deletes.
func phase(r exampleRequest) int {
	op := r.name
	for i, prefix := range []string{"get", "list", "create", "update", "suspend", "resume", "expireKey/later", "rotate", "expire", "revoke", "delete"} {
		if strings.HasPrefix(op, prefix) {
			return i
		}
	}
	return 99
}

func queryOf(ev events.APIGatewayProxyRequest) string {
	if len(ev.MultiValueQueryStringParameters) == 0 {
		return ""
	}
	return "?" + url.Values(ev.MultiValueQueryStringParameters).Encode()
}

// exampleWorld holds what the examples name: customer acme subscribed to
// basic in dev, key key_mfrggzdfmztwq2lk, the partner binding and a
// deployment.
func exampleWorld(t *testing.T) *world {
	t.Helper()
	w := newWorld(t)
	w.customer(t, "acme")
	ctx := context.Background()
	if _, err := w.store.CreateKey(ctx, registry.Key{ID: "key_mfrggzdfmztwq2lk", Hash: strings.Repeat("ab", 32), CustomerID: "acme",
		Env: "dev", DisplayPrefix: "sh_dev_abcd…"}, "seed"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.PutBinding(ctx, registry.ClientBinding{Env: "dev", Issuer: "https://idp.example.com/", Subject: "partner-client-1", CustomerID: "acme"}, "seed"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.store.RecordDeployment(ctx, registry.Deployment{Env: "dev", Sequence: 1, APIID: "abcdef1234", Stage: "v1", Colour: "blue"}, "ci"); err != nil {
		t.Fatal(err)
	}
	return w
}
