package keyadmin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

// A key's secret is in the create and rotate responses that issued it and
// nowhere else: not in any other response, not in a replay, not in the
// logs (the suite-wide check in TestMain repeats this over every test).
func TestSecretOnlyInCreateAndRotateResponses(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")

	r := w.do(t, "POST", "/customers/acme/keys", idemKey("secret-test-01"), body(`{"name":"k"}`))
	r.want(t, http.StatusCreated)
	var c created
	r.decode(t, &c)
	if err := keys.ValidateFor(c.Secret, "dev"); err != nil {
		t.Fatalf("issued secret does not validate: %v", err)
	}
	if keys.HashKey(c.Secret).ID() != c.Key.ID {
		t.Fatal("key id is not derived from the secret")
	}
	r = w.do(t, "POST", "/keys/"+c.Key.ID+"/rotate")
	r.want(t, http.StatusCreated)
	var rot created
	r.decode(t, &rot)
	if err := keys.ValidateFor(rot.Secret, "dev"); err != nil {
		t.Fatalf("rotated secret does not validate: %v", err)
	}

	secrets := []string{c.Secret, rot.Secret, keys.HashKey(c.Secret).String(), keys.HashKey(rot.Secret).String()}
	calls := []struct{ method, path string }{
		{"GET", "/keys/" + c.Key.ID},
		{"GET", "/keys/" + rot.Key.ID},
		{"GET", "/customers/acme/keys"},
		{"GET", "/customers/acme/audit"},
		{"GET", "/customers/acme"},
		{"GET", "/customers/acme/subscriptions"},
		{"POST", "/keys/" + rot.Key.ID + "/suspend"},
		{"POST", "/keys/" + c.Key.ID + "/revoke"},
		{"POST", "/keys/" + c.Key.ID + "/rotate"}, // 409: a rotated key
	}
	for _, call := range calls {
		r := w.do(t, call.method, call.path)
		for _, s := range secrets {
			if strings.Contains(string(r.Body), s) {
				t.Errorf("%s %s returned a secret or its hash", call.method, call.path)
			}
		}
	}
	// A replay of the create has the key but not its secret.
	r = w.do(t, "POST", "/customers/acme/keys", idemKey("secret-test-01"), body(`{"name":"k"}`))
	if strings.Contains(string(r.Body), c.Secret) || r.Header.Get("Idempotency-Replayed") != "true" {
		t.Errorf("replay: %s", r.Body)
	}
	for _, l := range suite.leaks() {
		t.Error(l)
	}
	if !strings.Contains(suite.logText(), `"operation":"createKey"`) {
		t.Error("no request log line names the operation")
	}
}

// An internal failure answers a generic 500 (the detail stays in the logs)
// and still matches the document.
func TestInternalErrorIsGeneric(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	if _, err := w.db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(w.table)}); err != nil {
		t.Fatal(err)
	}
	r := w.do(t, "GET", "/customers/acme")
	r.want(t, http.StatusInternalServerError)
	p := r.problem(t)
	if strings.Contains(p.Detail, w.table) || strings.Contains(p.Detail, "ResourceNotFound") {
		t.Errorf("500 detail leaks internals: %q", p.Detail)
	}
	if !strings.Contains(suite.logText(), `"status":500`) {
		t.Error("the 500 was not logged")
	}
}

// A 400's log line names the fields at fault, never what the client sent
// (which could be anything, a pasted secret included).
func TestValidationLogsNameFieldsNotValues(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	w.do(t, "POST", "/customers", body(`{"id":"Sneaky Value 1!","name":"x"}`)).want(t, http.StatusBadRequest)
	w.do(t, "POST", "/customers/acme/keys", body(`{"allowedCidrs":["10.9.8.7/99"]}`)).want(t, http.StatusBadRequest)
	logs := suite.logText()
	for _, v := range []string{"Sneaky Value 1!", "10.9.8.7/99"} {
		if strings.Contains(logs, v) {
			t.Errorf("the logs quote the submitted value %q", v)
		}
	}
	if !strings.Contains(logs, `"invalid":["body:id"]`) || !strings.Contains(logs, `"invalid":["body:allowedCidrs"]`) {
		t.Error("the 400 log lines do not name the fields")
	}
}
