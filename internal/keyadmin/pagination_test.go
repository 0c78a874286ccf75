package keyadmin_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// walk follows a listing page by page and returns every item's id (or
// sequence) and the number of pages.
func walk(t *testing.T, w *world, path string, limit int, id func(map[string]any) string, extra ...opt) ([]string, int) {
	t.Helper()
	var ids []string
	cursor := ""
	for pages := 1; pages < 50; pages++ {
		opts := append([]opt{query("limit", fmt.Sprint(limit))}, extra...)
		if cursor != "" {
			opts = append(opts, query("cursor", cursor))
		}
		r := w.do(t, "GET", path, opts...)
		r.want(t, http.StatusOK)
		var page struct {
			Items []map[string]any `json:"items"`
			Next  string           `json:"next"`
		}
		r.decode(t, &page)
		if len(page.Items) > limit {
			t.Fatalf("page of %d items, limit %d", len(page.Items), limit)
		}
		for _, it := range page.Items {
			ids = append(ids, id(it))
		}
		if page.Next == "" {
			return ids, pages
		}
		cursor = page.Next
	}
	t.Fatal("pagination does not end")
	return nil, 0
}

func field(name string) func(map[string]any) string {
	return func(m map[string]any) string { return fmt.Sprint(m[name]) }
}

func TestPagination(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	var customers []string
	for i := range 7 {
		id := fmt.Sprintf("cust%02d", i)
		customers = append(customers, id)
		if _, err := w.svc.CreateCustomer(ctx, id, "C", "seed"); err != nil {
			t.Fatal(err)
		}
	}
	w.clock.Advance(time.Second) // audit entries sort by time
	if _, err := w.svc.Subscribe(ctx, "cust00", "dev", "basic", nil, "seed"); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(time.Second)
	var keyIDs []string
	for range 5 {
		id, _ := w.key(t, "cust00")
		keyIDs = append(keyIDs, id)
		w.clock.Advance(time.Second)
	}
	slices.Sort(keyIDs)
	for seq := int64(1); seq <= 5; seq++ {
		if _, _, err := w.store.RecordDeployment(ctx, registry.Deployment{Env: "dev", Sequence: seq, APIID: "a", Stage: "v1", Colour: "green"}, "ci"); err != nil {
			t.Fatal(err)
		}
	}

	tests := []struct {
		name      string
		path      string
		limit     int
		id        func(map[string]any) string
		want      []string
		wantPages int // at least
	}{
		{"customers by id", "/customers", 3, field("id"), customers, 3},
		{"keys of a customer", "/customers/cust00/keys", 2, field("id"), keyIDs, 3},
		{"audit newest first", "/customers/cust00/audit", 2, field("action"),
			[]string{"key.create", "key.create", "key.create", "key.create", "key.create", "subscription.create", "customer.create"}, 4},
		{"deployments newest first", "/deployments", 2, field("sequence"), []string{"5", "4", "3", "2", "1"}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, pages := walk(t, w, tc.path, tc.limit, tc.id)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("items across pages (-want +got):\n%s", d)
			}
			if pages < tc.wantPages {
				t.Errorf("%d pages, want at least %d", pages, tc.wantPages)
			}
		})
	}
}
