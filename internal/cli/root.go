package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
)

// commands lists the top-level subcommands; each file of this package adds
// its own constructor here.
var commands = []func(*App) *cobra.Command{
	newCustomersCommand,
	newPlansCommand,
	newKeysCommand,
	newBindingsCommand,
	newAuditCommand,
	newRegistryCommand,
	newCutoverCommand, newE2ECommand,
	newDeployCommand, newReconcileCommand,
	newRotationCommand, newUsageCommand,
}

// NewRootCommand builds the stagehand command tree over app.
func NewRootCommand(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:           "stagehand",
		Short:         "Operate stagehand: customers, plans, API keys, deploy events and cutover",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if app.Output != "table" && app.Output != "json" {
				return fmt.Errorf("--output must be table or json, not %q", app.Output)
			}
			return nil
		},
	}
	f := root.PersistentFlags()
	f.StringVar(&app.Env, "env", envOr("STAGEHAND_ENV", ""), "environment (dev, staging, prod); env STAGEHAND_ENV")
	f.StringVar(&app.Table, "table", envOr("STAGEHAND_TABLE", ""), "registry DynamoDB table; env STAGEHAND_TABLE")
	f.StringVar(&app.Region, "region", envOr("AWS_REGION", ""), "AWS region; env AWS_REGION")
	f.StringVar(&app.Endpoint, "endpoint", envOr("STAGEHAND_DYNAMODB_ENDPOINT", ""), "DynamoDB endpoint URL (for DynamoDB Local)")
	f.StringVar(&app.APIGatewayEndpoint, "apigateway-endpoint", envOr("STAGEHAND_APIGATEWAY_ENDPOINT", ""), "API Gateway endpoint URL (for an emulator)")
	f.StringVar(&app.EventsEndpoint, "events-endpoint", envOr("STAGEHAND_EVENTS_ENDPOINT", ""), "EventBridge endpoint URL")
	f.StringVarP(&app.Output, "output", "o", "table", "output format: table or json")
	f.StringVar(&app.Actor, "actor", envOr("STAGEHAND_ACTOR", envOr("USER", "stagehand-cli")), "who is acting, recorded in the audit trail")
	for _, c := range commands {
		root.AddCommand(c(app))
	}
	return root
}

// Execute runs the CLI with args and returns the process exit code: 0 on
// success, 1 on an error (printed as one line), 2 on a usage error.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &App{Out: stdout, Err: stderr}
	root := NewRootCommand(app)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(stderr, "stagehand: "+err.Error())
		var u usageError
		if errors.As(err, &u) {
			return 2
		}
		return 1
	}
	return 0
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

// Main is the entry point used by scripts/stagehand.
func Main() int { return Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr) }
