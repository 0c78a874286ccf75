package cli

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/e2echeck"
)

func newE2ECommand(app *App) *cobra.Command {
	var (
		cfg     e2echeck.Config
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "e2e --base-url URL [--checks key,jwt,...] [--backend-url URL]",
		Short: "Run the end-to-end checks against a deployed environment (keys, JWT, 401/403/429, backend headers)",
		Long: `Run the end-to-end checks against a deployed environment, through its custom
domain or a stage's own invoke URL:

  key              a valid API key                     -> 2xx
  jwt              a valid JWT (Authorization: Bearer) -> 2xx
  no-credentials   no key, no token                    -> 401
  revoked-key      a revoked API key                   -> 401
  missing-scope    a key without the route's scope     -> 403 (--scope-method/--scope-path)
  customer-header  the backend received --customer-header (the backend must
                   echo request headers as JSON {"headers": {...}} on --echo-path)
  origin-verify    the backend, reached directly at --backend-url without the
                   origin-verify header, refuses (401/403); only with --backend-url
  rate-limit       a basic-plan key gets a 429 within --rate-max-requests

Secrets are read from the environment only, never from flags (which show in
process lists) and are never printed:
  STAGEHAND_E2E_KEY, STAGEHAND_E2E_JWT, STAGEHAND_E2E_REVOKED_KEY,
  STAGEHAND_E2E_NO_SCOPE_KEY, STAGEHAND_E2E_BASIC_KEY
A check whose secret is missing is an error, not a silent skip: choose checks
with --checks. Exit status 1 when any check fails.`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Credentials = e2echeck.CredentialsFromEnv(os.Getenv)
			checker, err := e2echeck.New(cfg)
			if err != nil {
				return usageError{err}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			rep, runErr := checker.Run(ctx)
			if err := app.print(rep, func(w *tabwriter.Writer) {
				fmt.Fprintln(w, "CHECK\tRESULT\tWANT\tGOT\tREQUESTS\tDETAIL")
				for _, r := range rep.Checks {
					result := "pass"
					if !r.Passed {
						result = "FAIL"
					}
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", r.Name, result, r.Want, r.Got, r.Requests, r.Detail)
				}
				verdict := "all passed"
				if !rep.Passed {
					verdict = fmt.Sprintf("%d failed", len(rep.Failed))
				}
				fmt.Fprintf(w, "\n%s: %d checks, %d requests, %s\n", rep.BaseURL, len(rep.Checks), rep.Requests, verdict)
			}); err != nil {
				return err
			}
			// ErrChecksFailed (exit 1) after the report, or the context's error.
			return runErr
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.BaseURL, "base-url", envOr("STAGEHAND_E2E_BASE_URL", ""), "entry point: https://<custom domain>[/<base path>] or a stage's invoke URL; env STAGEHAND_E2E_BASE_URL")
	f.StringVar(&cfg.Path, "path", e2echeck.DefaultPath, "path the key/JWT/401/429 checks GET")
	f.StringVar(&cfg.EchoPath, "echo-path", e2echeck.DefaultEchoPath, "path on which the backend echoes request headers")
	f.StringVar(&cfg.ScopeMethod, "scope-method", e2echeck.DefaultScopeMethod, "method the no-scope key must be refused (403) for")
	f.StringVar(&cfg.ScopePath, "scope-path", "", "path the no-scope key must be refused for (default --path)")
	f.StringVar(&cfg.APIKeyHeader, "api-key-header", e2echeck.DefaultAPIKeyHeader, "header that carries API keys")
	f.StringVar(&cfg.CustomerHeader, "customer-header", e2echeck.DefaultCustomerHeader, "header the backend must receive with the customer id")
	f.StringVar(&cfg.ExpectCustomerID, "expect-customer", envOr("STAGEHAND_E2E_CUSTOMER_ID", ""), "customer id STAGEHAND_E2E_KEY belongs to (checked in the echoed header); env STAGEHAND_E2E_CUSTOMER_ID")
	f.StringVar(&cfg.BackendURL, "backend-url", "", "the backend reached directly (enables the origin-verify check)")
	f.StringSliceVar(&cfg.Checks, "checks", nil, "checks to run, comma-separated (default: all whose inputs are given)")
	f.IntVar(&cfg.RateMaxRequests, "rate-max-requests", e2echeck.DefaultRateMaxRequests, "most requests the rate-limit burst sends")
	f.IntVar(&cfg.RateConcurrency, "rate-concurrency", e2echeck.DefaultRateConcurrency, "requests in flight at once during the burst")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "time limit for the whole run")
	return cmd
}
