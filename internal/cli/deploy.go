package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/cutover"
	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// errNotVerified is verify's "not ready" outcome (exit 1 after the table).
var errNotVerified = errors.New("not every active customer can call the stage")

func newDeployCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "deploy",
		Short: "Blue/green deploy events: publish, verify, retire, status",
		Long: `Blue/green deploy events (see docs/reassociation.md).

CI deploys the inactive colour's stack (deploy status), publishes "API Deployment
Completed" (deploy publish), waits until every active customer's key can call the
new stage (deploy verify --wait), moves traffic (cutover), and after a grace period
publishes "API Stack Retiring" for the old colour (deploy retire) before deleting
its stack.`,
	}
	cmd.AddCommand(newPublishCommand(app, "publish", deployevent.DeploymentCompleted,
		"Publish \"API Deployment Completed\" for a freshly deployed colour"))
	cmd.AddCommand(newPublishCommand(app, "retire", deployevent.StackRetiring,
		"Publish \"API Stack Retiring\": detach the old colour's stage from every usage plan before its stack is deleted"))
	cmd.AddCommand(newVerifyCommand(app), newStatusCommand(app))
	return cmd
}

// publishedView is what publish and retire print.
type publishedView struct {
	DetailType string             `json:"detailType"`
	Source     string             `json:"source"`
	Detail     deployevent.Detail `json:"detail"`
}

func newPublishCommand(app *App, use, detailType, short string) *cobra.Command {
	var d deployevent.Detail
	var source, bus string
	cmd := &cobra.Command{
		Use:   use + " --api-id ID --stage STAGE --colour blue|green --stack-name NAME --sequence N --git-sha SHA",
		Short: short,
		Long: short + `.

The event goes to EventBridge (the default bus unless --bus) with the source
--source (default stagehand.deployment) and a version 1 detail, validated here
with the same rules the handler applies. For "retire", the API, stage, colour
and stack are the retiring stack's and --sequence is the sequence of the
deployment that replaced it.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			d.Version, d.Environment, d.Time = deployevent.Version, app.Env, app.clock().Now().UTC().Truncate(time.Second)
			if err := d.Validate(); err != nil {
				return usageError{err}
			}
			eb, err := app.EventBridgeClient(cmd.Context())
			if err != nil {
				return err
			}
			if err := reconcile.PutEvent(cmd.Context(), eb, bus, source, detailType, d); err != nil {
				return err
			}
			return app.print(publishedView{DetailType: detailType, Source: source, Detail: d}, func(w *tabwriter.Writer) {
				fmt.Fprintf(w, "published %q: %s sequence %d, %s:%s (%s, %s)\n", detailType, d.Environment, d.Sequence, d.APIID, d.Stage, d.Colour, d.StackName)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&d.APIID, "api-id", "", "REST API id (required)")
	f.StringVar(&d.Stage, "stage", "", "stage name (required)")
	f.StringVar(&d.Colour, "colour", "", "blue or green (required)")
	f.StringVar(&d.StackName, "stack-name", "", "CloudFormation stack name (required)")
	f.Int64Var(&d.Sequence, "sequence", 0, "deployment sequence, monotonic per environment, e.g. the CI run number (required)")
	f.StringVar(&d.GitSHA, "git-sha", envOr("GITHUB_SHA", ""), "commit deployed, 7-64 lower-case hex digits (required; env GITHUB_SHA)")
	f.StringVar(&source, "source", envOr("STAGEHAND_EVENT_SOURCE", deployevent.DefaultSource), "EventBridge source; env STAGEHAND_EVENT_SOURCE")
	f.StringVar(&bus, "bus", envOr("STAGEHAND_EVENT_BUS", ""), "event bus name (default: the default bus); env STAGEHAND_EVENT_BUS")
	for _, name := range []string{"api-id", "stage", "colour", "stack-name", "sequence"} {
		_ = cmd.MarkFlagRequired(name)
	}
	return cmd
}

func newVerifyCommand(app *App) *cobra.Command {
	var apiID, stage string
	var wait, interval time.Duration
	cmd := &cobra.Command{
		Use:   "verify --api-id ID --stage STAGE [--wait DURATION]",
		Short: "Check in API Gateway itself that every active customer's key is in a usage plan that includes the stage",
		Long: `Check in API Gateway itself (not the registry's word) that every usage plan of
the environment includes apiId:stage and every active customer's API Gateway key
is in a usage plan that includes it. Prints one row per tier; exit 0 when all is
ready, 1 otherwise.

--wait polls until ready or the duration runs out, printing a progress line to
stderr at each poll (every --interval).`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			if wait < 0 || interval <= 0 {
				return usageError{errors.New("--wait must be >= 0 and --interval > 0")}
			}
			ref := registry.StageRef{APIID: apiID, Stage: stage}
			clk := app.clock()
			until := clk.Now().Add(wait)
			for {
				rep, err := verifyOnce(cmd.Context(), app, ref)
				if err != nil {
					return err
				}
				left := until.Sub(clk.Now())
				if rep.OK || left <= 0 {
					if err := app.printVerify(rep); err != nil {
						return err
					}
					if !rep.OK {
						return fmt.Errorf("%s: %w", ref, errNotVerified)
					}
					return nil
				}
				fmt.Fprintf(app.Err, "verify %s: %s; waiting (%s left)\n", ref, progress(rep), left.Round(time.Second))
				if err := clk.Sleep(cmd.Context(), min(interval, left)); err != nil {
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&apiID, "api-id", "", "REST API id (required)")
	f.StringVar(&stage, "stage", "", "stage name (required)")
	f.DurationVar(&wait, "wait", 0, "poll until ready for at most this long (e.g. 10m)")
	f.DurationVar(&interval, "interval", 10*time.Second, "time between polls with --wait")
	_ = cmd.MarkFlagRequired("api-id")
	_ = cmd.MarkFlagRequired("stage")
	return cmd
}

// verifyOnce reads the subscriptions (registry) and every usage plan with
// its keys (API Gateway) and checks the stage.
func verifyOnce(ctx context.Context, app *App, ref registry.StageRef) (reconcile.VerifyReport, error) {
	store, err := app.Store(ctx)
	if err != nil {
		return reconcile.VerifyReport{}, err
	}
	gw, err := app.APIGatewayClient(ctx)
	if err != nil {
		return reconcile.VerifyReport{}, err
	}
	var subs []registry.Subscription
	for next := ""; ; {
		page, err := store.ListSubscriptions(ctx, app.Env, next, 1000)
		if err != nil {
			return reconcile.VerifyReport{}, err
		}
		subs = append(subs, page.Items...)
		if next = page.Next; next == "" {
			break
		}
	}
	client := reconcile.NewClient(gw, reconcile.WithClientClock(app.clock()))
	plans, err := client.ReadPlans(ctx, app.Env)
	if err != nil {
		return reconcile.VerifyReport{}, err
	}
	reg, err := store.ListPlans(ctx, app.Env)
	if err != nil {
		return reconcile.VerifyReport{}, err
	}
	plans = reconcile.OwnedPlans(plans, reg)
	for i := range plans {
		keys, err := client.ReadKeys(ctx, plans[i].ID)
		if err != nil {
			return reconcile.VerifyReport{}, err
		}
		plans[i].Keys, plans[i].KeysRead = keys, true
	}
	rep := reconcile.Verify(ref, subs, plans)
	// Name the usage plans the reconciler gave up on, from the stage's
	// deployment record (the latest one, when it is this stage's).
	latest, err := store.GetLatestDeployment(ctx, app.Env)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return reconcile.VerifyReport{}, err
	}
	if err == nil && latest.APIID == ref.APIID && latest.Stage == ref.Stage {
		rep.Deployment, rep.FailingPlans = latest.Sequence, latest.Counts.FailingPlans
		if latest.State == registry.DeploymentFailed {
			rep.Reason = latest.Reason
		}
	}
	return rep, nil
}

func progress(rep reconcile.VerifyReport) string {
	tiers, ready, expected, ok := len(rep.Rows), 0, 0, 0
	for _, r := range rep.Rows {
		if r.HasStage && r.OK == r.Expected {
			ready++
		}
		expected += r.Expected
		ok += r.OK
	}
	return fmt.Sprintf("%d/%d tiers ready, %d/%d active customers", ready, tiers, ok, expected)
}

func (a *App) printVerify(rep reconcile.VerifyReport) error {
	return a.print(rep, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "TIER\tUSAGE PLAN\tSTAGE\tACTIVE\tOK\tMISSING")
		for _, r := range rep.Rows {
			has := "missing"
			if r.HasStage {
				has = "yes"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%d\t%s\n", r.Tier, r.PlanID, has, r.Expected, r.OK, listOrDash(r.Missing, 5))
		}
		if len(rep.Unplaced) > 0 {
			fmt.Fprintf(w, "no usage plan for the tier of: %s\n", listOrDash(rep.Unplaced, 10))
		}
		if len(rep.FailingPlans) > 0 {
			fmt.Fprintf(w, "FAILING usage plans (their update kept failing; deployment %d): %s\n", rep.Deployment, listOrDash(rep.FailingPlans, 10))
		}
		if rep.Reason != "" {
			fmt.Fprintf(w, "deployment %d failed: %s\n", rep.Deployment, rep.Reason)
		}
		if rep.OK {
			fmt.Fprintf(w, "ready: every active customer can call %s\n", rep.Stage)
		} else {
			fmt.Fprintf(w, "NOT READY: %s\n", progress(rep))
		}
	})
}

func listOrDash(items []string, max int) string {
	switch {
	case len(items) == 0:
		return "-"
	case len(items) > max:
		return strings.Join(items[:max], ",") + fmt.Sprintf(",... (%d)", len(items))
	}
	return strings.Join(items, ",")
}

// statusView is what `deploy status` prints.
type statusView struct {
	Env string `json:"env"`
	// Latest is the newest recorded deployment (nil: none yet).
	Latest *registry.Deployment `json:"latest"`
	// Live is the deployment serving traffic (nil: none yet): with
	// --domain, the one whose API the domain's mapping points at; without,
	// or while the domain has no mapping, the newest associated one.
	Live *registry.Deployment `json:"live"`
	// LiveColour is Live's colour ("" before the first association).
	LiveColour string `json:"liveColour"`
	// Inactive is the colour CI deploys next: the one not live.
	Inactive string `json:"inactiveColour"`
	// LiveFrom says how Live was found: "domain" or "registry".
	LiveFrom string `json:"liveFrom"`
	// Served is the domain's mapping (nil without --domain or mapping).
	Served *cutover.Target `json:"servedBy,omitempty"`
}

// errUnknownServedAPI: the domain serves an API no deployment records.
var errUnknownServedAPI = errors.New("the domain serves an API that no deployment of this environment records")

func newStatusCommand(app *App) *cobra.Command {
	var domain, basePath string
	cmd := &cobra.Command{
		Use:   "status [--domain NAME [--base-path P]]",
		Short: "Latest deployment, the live colour and the inactive colour CI deploys next",
		Long: `Latest deployment, the live colour and the inactive colour CI deploys next.

Without --domain the live colour is the newest associated deployment's. With
--domain it is the colour of the deployment whose API the domain's base path
mapping points at, so a cut-back (or a cutover by hand) is seen as it is; a
domain without a mapping yet falls back to the registry.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := app.requireEnv(); err != nil {
				return usageError{err}
			}
			store, err := app.Store(cmd.Context())
			if err != nil {
				return err
			}
			v := statusView{Env: app.Env, Inactive: deployevent.Blue, LiveFrom: "registry"}
			if domain != "" {
				gw, err := app.APIGatewayClient(cmd.Context())
				if err != nil {
					return err
				}
				if v.Served, err = cutover.New(gw).Current(cmd.Context(), domain, basePath); err != nil {
					if errors.Is(err, cutover.ErrInvalidRequest) {
						return usageError{err}
					}
					return err
				}
			}
			// Newest first: the first associated deployment is the registry's
			// live one, the first on the served API the domain's.
			var associated, served *registry.Deployment
			for next := ""; ; {
				page, err := store.ListDeployments(cmd.Context(), app.Env, next, 50)
				if err != nil {
					return err
				}
				for i := range page.Items {
					d := &page.Items[i]
					if v.Latest == nil {
						v.Latest = d
					}
					if d.State == registry.DeploymentAssociated && associated == nil {
						associated = d
					}
					if v.Served != nil && d.APIID == v.Served.APIID && served == nil {
						served = d
					}
				}
				done := associated != nil && (v.Served == nil || served != nil)
				if next = page.Next; next == "" || done {
					break
				}
			}
			switch {
			case v.Served != nil && served == nil:
				return fmt.Errorf("%w: %s serves %s, env %q", errUnknownServedAPI, domain, v.Served, app.Env)
			case served != nil:
				v.Live, v.LiveFrom = served, "domain"
			default:
				v.Live = associated
			}
			if v.Live != nil {
				v.LiveColour, v.Inactive = v.Live.Colour, deployevent.OtherColour(v.Live.Colour)
			}
			return app.print(v, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "\tSEQUENCE\tCOLOUR\tSTAGE\tSTATE\tUPDATED")
				for _, row := range []struct {
					name string
					d    *registry.Deployment
				}{{"latest", v.Latest}, {"live", v.Live}} {
					if row.d == nil {
						fmt.Fprintf(w, "%s\t-\t-\t-\t-\t-\n", row.name)
						continue
					}
					fmt.Fprintf(w, "%s\t%d\t%s\t%s:%s\t%s\t%s\n", row.name, row.d.Sequence, row.d.Colour, row.d.APIID, row.d.Stage, row.d.State,
						row.d.UpdatedAt.Format(time.RFC3339))
				}
				fmt.Fprintf(w, "live from:\t%s\n", v.LiveFrom)
				fmt.Fprintf(w, "inactive colour (deploy next):\t%s\n", v.Inactive)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&domain, "domain", envOr("STAGEHAND_DOMAIN", ""), "custom domain whose mapping says which colour is live; env STAGEHAND_DOMAIN")
	f.StringVar(&basePath, "base-path", "", `base path of the mapping ("" is the domain's root)`)
	return cmd
}
