package keyadmin_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/rotation"
	"github.com/stagehand-dev/stagehand/internal/rotation/kmslocal"
)

// lazyPickups lets the world's handler take pickups from a store that
// exists only once the world does.
type lazyPickups struct {
	mu sync.Mutex
	p  *rotation.Pickups
}

func (l *lazyPickups) Take(ctx context.Context, customerID, keyID string) (string, error) {
	l.mu.Lock()
	p := l.p
	l.mu.Unlock()
	return p.Take(ctx, customerID, keyID)
}

type rotatedEvents struct {
	mu  sync.Mutex
	got []rotation.Event
}

func (r *rotatedEvents) Publish(_ context.Context, dt string, e rotation.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if dt == rotation.DetailKeyRotated {
		r.got = append(r.got, e)
	}
	return nil
}

func TestTakeKeySecret(t *testing.T) {
	ctx := context.Background()
	lazy := &lazyPickups{}
	w := newWorld(t, keyadmin.WithSecretPickups(lazy))
	envelope := rotation.NewEnvelope(kmslocal.New("alias/rotation"), "alias/rotation")
	lazy.p = rotation.NewPickups(w.store, envelope)
	w.customer(t, "acme")
	oldID, _ := w.key(t, "acme")
	if _, err := w.store.PutRotationPolicy(ctx, registry.RotationPolicy{Env: "dev", Plan: "basic", MaxAge: registry.Duration(30 * 24 * time.Hour),
		Warning: registry.Duration(7 * 24 * time.Hour), Grace: registry.Duration(24 * time.Hour), Mode: registry.RotationAuto}, "test"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(31 * 24 * time.Hour)
	ev := &rotatedEvents{}
	if _, err := rotation.NewJob(w.store, envelope, ev, rotation.WithClock(w.clock)).Run(ctx, rotation.RunInput{Env: "dev"}); err != nil {
		t.Fatal(err)
	}
	if len(ev.got) != 1 || ev.got[0].KeyID != oldID {
		t.Fatalf("rotated %+v, want %s", ev.got, oldID)
	}
	newID := ev.got[0].NewKeyID

	r := w.do(t, "POST", "/keys/"+newID+"/secret")
	r.want(t, http.StatusOK)
	var out struct {
		Key    struct{ ID, RotatedFrom string }
		Secret string
	}
	r.decode(t, &out)
	if out.Key.ID != newID || out.Key.RotatedFrom != oldID || keys.HashKey(out.Secret).ID() != newID {
		t.Errorf("pickup returned key %+v with a secret of key %s; want %s's", out.Key, keys.HashKey(out.Secret).ID(), newID)
	}
	for _, tc := range []struct{ name, path string }{
		{"second pickup", "/keys/" + newID + "/secret"},
		{"the old key has no pickup", "/keys/" + oldID + "/secret"},
		{"unknown key", "/keys/key_mfrggzdfmztwq2lk/secret"},
	} {
		t.Run(tc.name, func(t *testing.T) { w.do(t, "POST", tc.path).want(t, http.StatusNotFound) })
	}
}

func TestTakeKeySecretWithoutPickupsConfigured(t *testing.T) {
	w := newWorld(t)
	w.customer(t, "acme")
	id, _ := w.key(t, "acme")
	w.do(t, "POST", "/keys/"+id+"/secret").want(t, http.StatusNotFound)
}
