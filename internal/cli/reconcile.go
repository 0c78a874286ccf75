package cli

import (
	"fmt"
	"log/slog"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/reconcile"
)

func newReconcileCommand(app *App) *cobra.Command {
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "reconcile --env ENV [--dry-run]",
		Short: "Converge the environment's usage plans and API keys to the registry (or print the plan with --dry-run)",
		Long: `Converge the environment's usage plans to the registry, as the scheduled
reconcile function does: every usage plan tagged stagehand:env=ENV includes the
desired stages and none of the retired ones, and every subscribed customer's API
Gateway key is in exactly its tier's usage plan.

--dry-run reads the registry and API Gateway and prints the operations a run
would apply, writing nothing. Without it the run takes the environment's lease
and the account-wide UpdateUsagePlan pacer like the Lambda functions do, so it
is safe to run while they are active (it waits for them, or they for it).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			ctx := cmd.Context()
			store, err := app.Store(ctx)
			if err != nil {
				return err
			}
			gw, err := app.APIGatewayClient(ctx)
			if err != nil {
				return err
			}
			opts := []reconcile.RunnerOption{reconcile.WithClock(app.clock()), reconcile.WithLogger(slog.New(slog.NewTextHandler(app.Err, nil)))}
			if !dryRun {
				eb, err := app.EventBridgeClient(ctx)
				if err != nil {
					return err
				}
				opts = append(opts, reconcile.WithPublisher(reconcile.EventBridgePublisher{Client: eb, Bus: envOr("STAGEHAND_EVENT_BUS", "")}),
					reconcile.WithSource(envOr("STAGEHAND_EVENT_SOURCE", "stagehand.deployment")))
			}
			runner, err := reconcile.NewRunner(app.Env, store, gw, opts...)
			if err != nil {
				return err
			}
			if dryRun {
				rep, err := runner.DryRun(ctx)
				if err != nil {
					return err
				}
				return app.print(rep, func(w *tabwriter.Writer) { printOperations(w, rep) })
			}
			out, err := runner.Repair(ctx, time.Time{})
			if err != nil {
				return err
			}
			return app.print(out, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s: %s", out.Env, out.Status)
				if out.Sequence > 0 {
					fmt.Fprintf(w, " (deployment %d)", out.Sequence)
				}
				fmt.Fprintf(w, ": %d usage plan(s) updated, %d key(s) attached, %d detached, %d retries, %d reads\n",
					out.Counts.PlansUpdated, out.Counts.KeysAttached, out.Counts.KeysRemoved, out.Counts.Retries, out.Reads)
				for _, p := range out.Problems {
					fmt.Fprintf(w, "problem: %s\n", p)
				}
			})
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the operations, change nothing")
	return cmd
}

func printOperations(w *tabwriter.Writer, rep reconcile.DryRunReport) {
	fmt.Fprintf(w, "desired stages: %s", joinRefs(rep.Stages))
	if len(rep.Retired) > 0 {
		fmt.Fprintf(w, "; retired: %s", joinRefs(rep.Retired))
	}
	fmt.Fprintln(w)
	for _, tier := range rep.Create {
		fmt.Fprintf(w, "create usage plan %s for tier %s\n", reconcile.PlanName(rep.Env, tier), tier)
	}
	ops := rep.Operations
	if ops.Empty() && len(rep.Create) == 0 {
		fmt.Fprintf(w, "nothing to do (%d reads)\n", rep.Reads)
	} else {
		fmt.Fprintln(w, "USAGE PLAN\tTIER\tOPERATION")
		for _, u := range ops.Updates {
			var parts []string
			for _, s := range u.Added {
				parts = append(parts, "add stage "+s.String())
			}
			if u.ThrottlesCopied > 0 {
				parts = append(parts, fmt.Sprintf("copy %d method throttle(s)", u.ThrottlesCopied))
			}
			if u.LimitsChanged {
				parts = append(parts, "set limits from the registry")
			}
			if n := u.ThrottlesSet + u.ThrottlesRemoved; n > 0 {
				parts = append(parts, fmt.Sprintf("set %d, remove %d method throttle(s)", u.ThrottlesSet, u.ThrottlesRemoved))
			}
			for _, s := range u.Removed {
				parts = append(parts, "remove stage "+s.String())
			}
			fmt.Fprintf(w, "%s\t%s\tUpdateUsagePlan (%d ops): %s\n", u.PlanID, u.Tier, len(u.Ops), strings.Join(parts, ", "))
		}
		for _, k := range ops.Detach {
			fmt.Fprintf(w, "%s\t\tdetach key %s\n", k.PlanID, k.KeyID)
		}
		for _, k := range ops.Attach {
			fmt.Fprintf(w, "%s\t\tattach key %s\n", k.PlanID, k.KeyID)
		}
		fmt.Fprintf(w, "%d usage plan update(s), %d detach(es), %d attach(es); %d reads\n", len(ops.Updates), len(ops.Detach), len(ops.Attach), rep.Reads)
	}
	for _, p := range rep.Problems {
		fmt.Fprintf(w, "problem: %s\n", p)
	}
}

func joinRefs[T fmt.Stringer](refs []T) string {
	if len(refs) == 0 {
		return "(none)"
	}
	parts := make([]string, len(refs))
	for i, r := range refs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ", ")
}
