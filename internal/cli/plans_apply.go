package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/plans"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// newPlansApplyCommand is `stagehand plans apply`: the environment's
// configuration file declares its plans; apply puts them into the registry,
// which owns the usage plans (the reconciler creates and updates them).
func newPlansApplyCommand(app *App) *cobra.Command {
	var file string
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "apply --env ENV --file cdk/config/ENV.json [--dry-run]",
		Short: "Make the registry's plans those the environment's config file declares (the reconciler then makes the usage plans match)",
		Long: `Apply reads the "plans" list of the environment's configuration file (validated as cdk synth
validates it) and makes the registry's plans equal to it: declared plans are created or updated (their
recorded usage plan id is kept; per-method throttles the file omits are kept). A plan the file no longer
lists is deleted from the registry only when no customer is subscribed to it; if one is, nothing is written
and apply fails naming it. Its API Gateway usage plan is never deleted: the reconciler stops adding stages
to it, so it drains as old colours retire and can then be deleted by hand.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if file == "" {
				return usageError{errors.New("--file is required")}
			}
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			cfg, err := config.LoadFile(file)
			if err != nil {
				return err // Run prints every error on one line
			}
			if cfg.Env != app.Env {
				return fmt.Errorf("%s declares environment %q, not %q", file, cfg.Env, app.Env)
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			declared := make([]registry.Plan, len(cfg.Plans))
			for i, p := range cfg.Plans {
				declared[i] = p.RegistryPlan(cfg.Env)
			}
			var opts []plans.Option
			if dryRun {
				opts = append(opts, plans.DryRun())
			}
			changes, err := plans.Apply(cmd.Context(), store, app.Env, declared, app.Actor, opts...)
			if err != nil {
				return err
			}
			return app.print(changes, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "PLAN\tACTION")
				for _, c := range changes {
					fmt.Fprintf(w, "%s\t%s\n", c.Plan, c.Action)
				}
			})
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "the environment's configuration file, e.g. cdk/config/prod.json (required)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would change, write nothing")
	return cmd
}
