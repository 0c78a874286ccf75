package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// listJSON is the one shape of every list in JSON, the CLI's and the
// key-admin API's alike (docs/cli.md): {"items": [...], "next": "..."}.
// items is always an array ([] when empty); next is there only when another
// page follows: pass it back with --next.
type listJSON[T any] struct {
	Items []T    `json:"items"`
	Next  string `json:"next,omitempty"`
}

func newListJSON[T any](items []T, next string) listJSON[T] {
	if items == nil {
		items = []T{}
	}
	return listJSON[T]{Items: items, Next: next}
}

// printPage prints one page of a paginated listing; in table mode the
// cursor follows the rows.
func printPage[T any](a *App, p registry.Page[T], table func(w *tabwriter.Writer)) error {
	if err := a.print(newListJSON(p.Items, p.Next), table); err != nil {
		return err
	}
	if a.Output != "json" && p.Next != "" {
		fmt.Fprintf(a.Out, "\nmore: --next %s\n", p.Next)
	}
	return nil
}

// printList prints a complete (unpaginated) listing.
func printList[T any](a *App, items []T, table func(w *tabwriter.Writer)) error {
	return a.print(newListJSON(items, ""), table)
}

// auditSubjectExists makes `audit` of a customer that does not exist a
// not-found error (exit 3) instead of an empty trail; "env:<env>" subjects
// need a valid environment name.
func auditSubjectExists(ctx context.Context, store *registry.Store, subject string) error {
	if env, ok := strings.CutPrefix(subject, "env:"); ok {
		if !keys.ValidEnv(env) {
			return usageError{fmt.Errorf("audit subject %q: %q is not an environment name", subject, env)}
		}
		return nil
	}
	_, err := store.GetCustomer(ctx, subject)
	return err
}
