package keyadmin_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// nextOf returns the next cursor of the first page of a listing.
func nextOf(t *testing.T, w *world, path string) string {
	t.Helper()
	r := w.do(t, "GET", path, query("limit", "1"))
	r.want(t, http.StatusOK)
	var page struct {
		Next string `json:"next"`
	}
	r.decode(t, &page)
	if page.Next == "" {
		t.Fatalf("%s: a first page of one item has no next", path)
	}
	return page.Next
}

// rewrite decodes a cursor (base64url JSON), lets edit change it and
// encodes it again: what a client tampering with one would do.
func rewrite(t *testing.T, cursor string, edit func(map[string]string)) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// A cursor handed to a listing other than the one that issued it, or
// tampered with, is the client's mistake (400 naming the cursor), not a
// 500: the registry refuses it before DynamoDB sees it.
func TestForeignCursorIsBadRequest(t *testing.T) {
	w := newWorld(t)
	for _, c := range []string{"acme", "globex"} {
		w.customer(t, c)
		w.key(t, c)
		w.key(t, c)
	}
	acmeKeys := nextOf(t, w, "/customers/acme/keys")
	globexKeys := nextOf(t, w, "/customers/globex/keys")
	globexAudit := nextOf(t, w, "/customers/globex/audit")
	customers := nextOf(t, w, "/customers")

	tests := []struct {
		name   string
		path   string
		cursor string
		want   int
	}{
		{"its own cursor", "/customers/acme/keys", acmeKeys, http.StatusOK},
		{"another customer's keys", "/customers/acme/keys", globexKeys, http.StatusBadRequest},
		{"another customer's audit trail", "/customers/acme/audit", globexAudit, http.StatusBadRequest},
		{"another listing", "/customers/acme/keys", customers, http.StatusBadRequest},
		{"keys cursor for customers", "/customers", acmeKeys, http.StatusBadRequest},
		{"partition rewritten", "/customers/acme/keys", rewrite(t, acmeKeys, func(m map[string]string) {
			m["GSI1PK"] = "CUST#globex"
		}), http.StatusBadRequest},
		{"key attribute dropped", "/customers/acme/keys", rewrite(t, acmeKeys, func(m map[string]string) {
			delete(m, "SK")
		}), http.StatusBadRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(t, "GET", tc.path, query("cursor", tc.cursor))
			r.want(t, tc.want)
			if tc.want == http.StatusOK {
				return
			}
			p := r.problem(t)
			got := make([]fieldError, len(p.Errors))
			for i, fe := range p.Errors {
				got[i] = fieldError{In: fe.In, Field: fe.Field}
			}
			if d := cmp.Diff([]fieldError{{In: "query", Field: "cursor"}}, got); d != "" {
				t.Errorf("problem errors (-want +got):\n%s", d)
			}
		})
	}
}
