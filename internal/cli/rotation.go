package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/rotation"
)

func newRotationCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "rotation", Short: "Key rotation: policies and the daily job (docs/jobs.md)"}
	cmd.AddCommand(newRotationRunCommand(app), newRotationPolicyCommand(app))
	return cmd
}

func newRotationRunCommand(app *App) *cobra.Command {
	var (
		dryRun              bool
		kmsKey, kmsEndpoint string
	)
	cmd := &cobra.Command{
		Use:   "run --env ENV [--dry-run] [--kms-key KEY]",
		Short: "Run the rotation job once (or print what it would do with --dry-run)",
		Long: `Run the daily key rotation job once, as the scheduled function does: warn
about keys in their warning window (Key Rotation Due, once per window), expire
due keys of policy enforce one grace from now, rotate due keys of policy auto
(the new secret sealed under --kms-key for one-time pickup).

--dry-run reads the registry and prints each due key and what would happen to
it, writing nothing and calling neither KMS nor EventBridge. A real run is safe
while the scheduled function runs too: each key is rotated at most once.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			if !dryRun && kmsKey == "" {
				return usageError{errors.New("--kms-key (or STAGEHAND_ROTATION_KMS_KEY) is required without --dry-run")}
			}
			ctx := cmd.Context()
			store, err := app.Store(ctx)
			if err != nil {
				return err
			}
			var (
				envelope *rotation.Envelope
				pub      rotation.Publisher = dryPublisher{}
			)
			if !dryRun {
				cfg, err := app.aws(ctx)
				if err != nil {
					return fmt.Errorf("load AWS config: %w", err)
				}
				envelope = rotation.NewEnvelope(kms.NewFromConfig(cfg, func(o *kms.Options) {
					if kmsEndpoint != "" {
						o.BaseEndpoint = aws.String(kmsEndpoint)
					}
				}), kmsKey)
				eb, err := app.EventBridgeClient(ctx)
				if err != nil {
					return err
				}
				pub = rotation.EventBridgePublisher{Client: eb, Bus: envOr("STAGEHAND_EVENT_BUS", "")}
			}
			job := rotation.NewJob(store, envelope, pub, rotation.WithClock(app.clock()),
				rotation.WithLogger(slog.New(slog.NewTextHandler(app.Err, nil))))
			rep, err := job.Run(ctx, rotation.RunInput{Env: app.Env, DryRun: dryRun})
			if err != nil {
				return err
			}
			if perr := app.print(rep, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "KEY\tCUSTOMER\tACTION\tDUE\tRESULT")
				for _, o := range rep.Outcomes {
					res := o.Result
					if o.NewKeyID != "" {
						res += " -> " + o.NewKeyID
					}
					if o.Error != "" {
						res += ": " + o.Error
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", o.KeyID, o.CustomerID, o.Action, o.DueAt, res)
				}
				fmt.Fprintf(w, "%d key(s) scanned, %d acted on, %d failed\n", rep.Scanned, len(rep.Outcomes), rep.Failed())
				for _, p := range rep.PolicyProblems {
					fmt.Fprintf(w, "problem: %s\n", p)
				}
			}); perr != nil {
				return perr
			}
			if rep.Failed() > 0 {
				return fmt.Errorf("%d key(s) failed", rep.Failed())
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what would happen, change nothing")
	cmd.Flags().StringVar(&kmsKey, "kms-key", envOr("STAGEHAND_ROTATION_KMS_KEY", ""), "KMS key that seals new secrets; env STAGEHAND_ROTATION_KMS_KEY")
	cmd.Flags().StringVar(&kmsEndpoint, "kms-endpoint", envOr("STAGEHAND_KMS_ENDPOINT", ""), "KMS endpoint URL")
	return cmd
}

// dryPublisher is never called: a dry run publishes nothing.
type dryPublisher struct{}

func (dryPublisher) Publish(_ context.Context, dt string, _ rotation.Event) error {
	return fmt.Errorf("dry run must not publish %s", dt)
}

func newRotationPolicyCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Rotation policies per plan, overridable per customer"}
	var (
		plan, customer, mode   string
		maxAge, warning, grace time.Duration
	)
	set := &cobra.Command{
		Use:   "set --env ENV (--plan PLAN | --customer ID) --max-age D --warning D --grace D --mode enforce|auto",
		Short: "Create or replace a plan's rotation policy or a customer's override",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			if (plan == "") == (customer == "") {
				return usageError{errors.New("give exactly one of --plan or --customer")}
			}
			p := registry.RotationPolicy{Env: app.Env, Plan: plan, CustomerID: customer, MaxAge: registry.Duration(maxAge),
				Warning: registry.Duration(warning), Grace: registry.Duration(grace), Mode: registry.RotationMode(mode)}
			if err := rotation.ValidatePolicy(p); err != nil {
				return usageError{err}
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			p, err = store.PutRotationPolicy(cmd.Context(), p, app.Actor)
			if err != nil {
				return err
			}
			return app.print(p, func(w *tabwriter.Writer) { printPolicies(w, []registry.RotationPolicy{p}) })
		},
	}
	f := set.Flags()
	f.StringVar(&plan, "plan", "", "the plan the policy applies to")
	f.StringVar(&customer, "customer", "", "the customer whose keys the override applies to")
	f.DurationVar(&maxAge, "max-age", 90*24*time.Hour, "maximum key age")
	f.DurationVar(&warning, "warning", 14*24*time.Hour, "warning window before the due date")
	f.DurationVar(&grace, "grace", 7*24*time.Hour, "how long a due key keeps working")
	f.StringVar(&mode, "mode", "enforce", "enforce (expire after grace) or auto (rotate, secret to pickup)")
	list := &cobra.Command{
		Use:   "list --env ENV",
		Short: "List an environment's rotation policies",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			ps, err := store.ListRotationPolicies(cmd.Context(), app.Env)
			if err != nil {
				return err
			}
			return app.print(map[string]any{"items": ps, "next": nil}, func(w *tabwriter.Writer) { printPolicies(w, ps) })
		},
	}
	cmd.AddCommand(set, list)
	return cmd
}

func printPolicies(w *tabwriter.Writer, ps []registry.RotationPolicy) {
	fmt.Fprintln(w, "SCOPE\tMAX AGE\tWARNING\tGRACE\tMODE")
	for _, p := range ps {
		scope := "plan " + p.Plan
		if p.CustomerID != "" {
			scope = "customer " + p.CustomerID
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", scope, time.Duration(p.MaxAge), time.Duration(p.Warning), time.Duration(p.Grace), p.Mode)
	}
}
