package cli

import (
	"errors"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/cutover"
)

// cutoverCurrentView is what `cutover current` prints.
type cutoverCurrentView struct {
	Domain   string `json:"domain"`
	BasePath string `json:"basePath"`
	// Mapped is false when the domain has no mapping for the base path.
	Mapped bool   `json:"mapped"`
	APIID  string `json:"apiId"`
	Stage  string `json:"stage"`
}

func newCutoverCommand(app *App) *cobra.Command {
	var (
		domain, basePath, apiID, stage, expect string
		dryRun                                 bool
	)
	cmd := &cobra.Command{
		Use:   "cutover --domain NAME --api-id ID --stage STAGE [--base-path P] [--expect-current API_ID] [--dry-run]",
		Short: "Point a custom domain's base path mapping at an API stage (the blue/green traffic switch)",
		Long: `Point a custom domain's base path mapping at an API stage: create the mapping,
or replace its API and stage in one atomic update. Prints previous -> new.

--expect-current API_ID refuses to move a mapping that points at any other API
(or that does not exist), so two pipelines cannot fight over the domain; a
mapping already at the target is left alone, so a re-run is safe. Roll back by
cutting over to the previous API with --expect-current set to the new one.

The CDK stacks declare no base path mapping: this command owns it.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			gw, err := app.APIGatewayClient(cmd.Context())
			if err != nil {
				return err
			}
			res, err := cutover.New(gw).Cutover(cmd.Context(), cutover.Request{
				Domain: domain, BasePath: basePath, To: cutover.Target{APIID: apiID, Stage: stage},
				ExpectCurrent: expect, DryRun: dryRun,
			})
			if err != nil {
				if errors.Is(err, cutover.ErrInvalidRequest) {
					return usageError{err}
				}
				return err
			}
			return app.print(res, func(w *tabwriter.Writer) {
				prev := "(no mapping)"
				if res.Previous != nil {
					prev = res.Previous.String()
				}
				fmt.Fprintf(w, "%s/%s: %s -> %s (%s)\n", res.Domain, res.BasePath, prev, res.Current, res.Action)
				if res.DryRun {
					fmt.Fprintln(w, "dry run: nothing changed")
				}
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&domain, "domain", envOr("STAGEHAND_DOMAIN", ""), "custom domain name; env STAGEHAND_DOMAIN")
	f.StringVar(&basePath, "base-path", "", `base path of the mapping ("" is the domain's root)`)
	f.StringVar(&apiID, "api-id", "", "REST API id to point at (required)")
	f.StringVar(&stage, "stage", "", "stage of that API (required)")
	f.StringVar(&expect, "expect-current", "", "refuse unless the mapping currently points at this API id")
	f.BoolVar(&dryRun, "dry-run", false, "check and report, change nothing")
	_ = cmd.MarkFlagRequired("api-id")
	_ = cmd.MarkFlagRequired("stage")

	var curDomain, curBasePath string
	current := &cobra.Command{
		Use:   "current --domain NAME [--base-path P]",
		Short: "Show where a custom domain's base path mapping points",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			gw, err := app.APIGatewayClient(cmd.Context())
			if err != nil {
				return err
			}
			t, err := cutover.New(gw).Current(cmd.Context(), curDomain, curBasePath)
			if err != nil {
				if errors.Is(err, cutover.ErrInvalidRequest) {
					return usageError{err}
				}
				return err
			}
			v := cutoverCurrentView{Domain: curDomain, BasePath: curBasePath}
			if v.BasePath == "" {
				v.BasePath = cutover.NoBasePath
			}
			if t != nil {
				v.Mapped, v.APIID, v.Stage = true, t.APIID, t.Stage
			}
			return app.print(v, func(w *tabwriter.Writer) {
				if !v.Mapped {
					fmt.Fprintf(w, "%s/%s: (no mapping)\n", v.Domain, v.BasePath)
					return
				}
				fmt.Fprintf(w, "%s/%s: %s\n", v.Domain, v.BasePath, t)
			})
		},
	}
	current.Flags().StringVar(&curDomain, "domain", envOr("STAGEHAND_DOMAIN", ""), "custom domain name; env STAGEHAND_DOMAIN")
	current.Flags().StringVar(&curBasePath, "base-path", "", `base path of the mapping ("" is the domain's root)`)
	cmd.AddCommand(current)
	return cmd
}
