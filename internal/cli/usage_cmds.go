package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/billing"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/usage"
)

func newUsageCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "usage", Short: "Usage collection, anomalies and billing exports (docs/jobs.md, docs/billing.md)"}
	cmd.AddCommand(newUsageCollectCommand(app), newUsageAnomaliesCommand(app), newUsageExportCommand(app))
	return cmd
}

// dayFlag parses a YYYY-MM-DD flag value; empty gives def.
func dayFlag(name, v string, def time.Time) (time.Time, error) {
	if v == "" {
		return def, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, usageError{fmt.Errorf("--%s %q must be a date (YYYY-MM-DD)", name, v)}
	}
	return t, nil
}

func newUsageCollectCommand(app *App) *cobra.Command {
	var from, to string
	cmd := &cobra.Command{
		Use:   "collect --env ENV [--from DAY] [--to DAY]",
		Short: "Read API Gateway usage (one paged GetUsage per usage plan) into the registry",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			y := usage.Yesterday(app.clock().Now())
			end, err := dayFlag("to", to, y)
			if err != nil {
				return err
			}
			start, err := dayFlag("from", from, end)
			if err != nil {
				return err
			}
			if end.Before(start) || end.Sub(start) > 89*24*time.Hour {
				return usageError{errors.New("--from must be 0 to 89 days before --to")}
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
			rep, err := usage.NewJob(store, reconcile.NewClient(gw, reconcile.WithClientClock(app.clock())), nil, usage.WithClock(app.clock())).Collect(ctx, app.Env, start, end)
			if err != nil {
				return err
			}
			return app.print(rep, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "%s %s..%s: %d usage plan(s), %d customer(s), %d day(s) stored, %d unknown key(s)\n",
					rep.Env, rep.Start, rep.End, rep.Plans, rep.Customers, rep.Days, rep.Unknown)
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "first day (default: --to)")
	cmd.Flags().StringVar(&to, "to", "", "last day (default: yesterday, UTC)")
	return cmd
}

func newUsageAnomaliesCommand(app *App) *cobra.Command {
	var day string
	cmd := &cobra.Command{
		Use:   "anomalies --env ENV [--day DAY]",
		Short: "Judge a day's stored usage of every customer and print the anomalies (publishes nothing)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			d, err := dayFlag("day", day, usage.Yesterday(app.clock().Now()))
			if err != nil {
				return err
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			found, n, err := usage.NewJob(store, nil, nil, usage.WithClock(app.clock())).Detect(cmd.Context(), app.Env, d)
			if err != nil {
				return err
			}
			for i := range found {
				found[i].Series = nil
			}
			return app.print(map[string]any{"items": found, "next": nil}, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "CUSTOMER\tKIND\tDATE\tOBSERVED\tEXPECTED\tSCORE")
				for _, a := range found {
					fmt.Fprintf(w, "%s\t%s\t%s\t%.0f\t%.0f\t%.1f\n", a.CustomerID, a.Kind, a.Date, a.Observed, a.Expected, a.Score)
				}
				fmt.Fprintf(w, "%d customer(s) judged, %d anomal(ies)\n", n, len(found))
			})
		},
	}
	cmd.Flags().StringVar(&day, "day", "", "day to judge (default: yesterday, UTC)")
	return cmd
}

func newUsageExportCommand(app *App) *cobra.Command {
	var day, format string
	cmd := &cobra.Command{
		Use:   "export --env ENV --day DAY [--format csv|json]",
		Short: "Print a day's billing records as CSV or JSON (the same bytes the billing job exports to S3)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			if day == "" {
				return usageError{errors.New("--day is required")}
			}
			if _, err := dayFlag("day", day, time.Time{}); err != nil {
				return err
			}
			if format != "csv" && format != "json" {
				return usageError{fmt.Errorf("--format must be csv or json, not %q", format)}
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			recs, err := store.ListBillingRecords(cmd.Context(), app.Env, day)
			if err != nil {
				return err
			}
			c, j, err := billing.Render(recs)
			if err != nil {
				return err
			}
			if format == "csv" {
				_, err = app.Out.Write(c)
			} else {
				_, err = app.Out.Write(j)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&day, "day", "", "the day (YYYY-MM-DD)")
	cmd.Flags().StringVar(&format, "format", "csv", "csv or json")
	return cmd
}
