package keyadmin_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type created struct {
	Key struct {
		ID      string `json:"id"`
		Version int64  `json:"version"`
	} `json:"key"`
	Previous *struct {
		ID        string `json:"id"`
		RotatedTo string `json:"rotatedTo"`
	} `json:"previous"`
	Secret string `json:"secret"`
}

func TestIdempotentCreateKey(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	send := func(t *testing.T, key, b string, o ...opt) (*resp, created) {
		r := w.do(t, "POST", "/customers/acme/keys", append([]opt{idemKey(key), body(b)}, o...)...)
		r.want(t, http.StatusCreated)
		var c created
		r.decode(t, &c)
		return r, c
	}

	first, c1 := send(t, "create-acme-0001", `{"name":"orders","scopes":["orders:read"]}`)
	if c1.Secret == "" || first.Header.Get("Idempotency-Replayed") != "" {
		t.Fatalf("first response: secret present %v, replayed %q", c1.Secret != "", first.Header.Get("Idempotency-Replayed"))
	}
	w.clock.Advance(time.Minute)

	t.Run("a retry returns the same key without its secret", func(t *testing.T) {
		// The same body with other spacing and key order is the same request.
		r, c2 := send(t, "create-acme-0001", `{ "scopes": ["orders:read"], "name": "orders" }`)
		if c2.Key.ID != c1.Key.ID || c2.Secret != "" {
			t.Errorf("retry: key %s (want %s), secret present %v", c2.Key.ID, c1.Key.ID, c2.Secret != "")
		}
		if r.Header.Get("Idempotency-Replayed") != "true" || r.Header.Get("ETag") != first.Header.Get("ETag") || r.Header.Get("Location") != first.Header.Get("Location") {
			t.Errorf("retry headers: %v", r.Header)
		}
		if n := keyCount(t, w, "acme"); n != 1 {
			t.Errorf("%d key items written, want 1", n)
		}
		if got := countActions(t, w, "acme", "key.create"); got != 1 {
			t.Errorf("%d key.create audit entries, want 1", got)
		}
	})

	t.Run("keys are scoped to the caller", func(t *testing.T) {
		_, c3 := send(t, "create-acme-0001", `{"name":"orders","scopes":["orders:read"]}`, as("arn:aws:iam::123456789012:user/bob"))
		if c3.Key.ID == c1.Key.ID || c3.Secret == "" {
			t.Errorf("another caller's request was replayed: %+v", c3.Key)
		}
	})

	t.Run("a key is remembered for 24 hours", func(t *testing.T) {
		w.clock.Advance(24 * time.Hour)
		_, c4 := send(t, "create-acme-0001", `{"name":"orders","scopes":["orders:read"]}`)
		if c4.Key.ID == c1.Key.ID || c4.Secret == "" {
			t.Errorf("a lapsed idempotency key was replayed")
		}
	})
}

// Concurrent retries of one create never write two keys: each response is
// the key (one with the secret, the others replays) or a 409 to retry.
func TestIdempotentCreateKeyConcurrent(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	const n = 6
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out []*resp
	)
	for range n {
		wg.Go(func() {
			r := w.do(t, "POST", "/customers/acme/keys", idemKey("burst-0001"), body(`{"name":"burst"}`))
			mu.Lock()
			out = append(out, r)
			mu.Unlock()
		})
	}
	wg.Wait()
	ids, secrets := map[string]bool{}, 0
	for _, r := range out {
		switch r.Status {
		case http.StatusCreated:
			var c created
			r.decode(t, &c)
			ids[c.Key.ID] = true
			if c.Secret != "" {
				secrets++
			}
		case http.StatusConflict:
		default:
			t.Errorf("status %d: %s", r.Status, r.Body)
		}
	}
	if len(ids) != 1 || secrets != 1 {
		t.Errorf("%d distinct keys and %d secrets returned, want 1 and 1", len(ids), secrets)
	}
	if got := keyCount(t, w, "acme"); got != 1 {
		t.Errorf("%d key items written, want 1", got)
	}
	// A late retry replays.
	r := w.do(t, "POST", "/customers/acme/keys", idemKey("burst-0001"), body(`{"name":"burst"}`))
	r.want(t, http.StatusCreated)
	if r.Header.Get("Idempotency-Replayed") != "true" {
		t.Error("late retry was not a replay")
	}
}

func TestIdempotentRotate(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	id, _ := w.key(t, "acme")
	rotate := func() (*resp, created) {
		r := w.do(t, "POST", "/keys/"+id+"/rotate", idemKey("rotate-0001"), body(`{"graceSeconds":60}`))
		r.want(t, http.StatusCreated)
		var c created
		r.decode(t, &c)
		return r, c
	}
	_, first := rotate()
	r, again := rotate()
	if first.Secret == "" || again.Secret != "" || r.Header.Get("Idempotency-Replayed") != "true" {
		t.Errorf("secret on first %v, on retry %v, replayed %q", first.Secret != "", again.Secret != "", r.Header.Get("Idempotency-Replayed"))
	}
	if d := cmp.Diff(first.Key, again.Key); d != "" || again.Previous == nil || again.Previous.RotatedTo != first.Key.ID {
		t.Errorf("retry differs (-first +retry):\n%s previous %+v", d, again.Previous)
	}
	if n := keyCount(t, w, "acme"); n != 2 {
		t.Errorf("%d keys, want the old one and one successor", n)
	}
	if got := countActions(t, w, "acme", "key.rotate"); got != 1 {
		t.Errorf("%d rotations audited, want 1", got)
	}
}

func TestIdempotentCreateCustomer(t *testing.T) {
	w := newWorld(t)
	b := body(`{"id":"initech","name":"Initech"}`)
	first := w.do(t, "POST", "/customers", idemKey("customer-0001"), b)
	first.want(t, http.StatusCreated)
	w.clock.Advance(time.Second)
	again := w.do(t, "POST", "/customers", idemKey("customer-0001"), b)
	again.want(t, http.StatusCreated)
	if string(again.Body) != string(first.Body) || again.Header.Get("Idempotency-Replayed") != "true" {
		t.Errorf("retry: %s (replayed %q), first: %s", again.Body, again.Header.Get("Idempotency-Replayed"), first.Body)
	}
	// Without the key, the same request is a duplicate.
	w.do(t, "POST", "/customers", b).want(t, http.StatusConflict)
	if got := countActions(t, w, "initech", "customer.create"); got != 1 {
		t.Errorf("%d creations audited", got)
	}
}

func countActions(t *testing.T, w *world, subject, action string) int {
	t.Helper()
	p, err := w.store.ListAudit(context.Background(), subject, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range p.Items {
		if e.Action == action {
			n++
		}
	}
	return n
}
