package cli

import (
	"context"
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
		Version:       fmt.Sprintf("%s (commit %s, built %s)", Version, Commit, BuildDate),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	f := root.PersistentFlags()
	f.StringVar(&app.Env, "env", envOr("STAGEHAND_ENV", ""), "environment (dev, staging, prod); env STAGEHAND_ENV")
	f.StringVar(&app.Table, "table", envOr("STAGEHAND_TABLE", ""), "registry DynamoDB table; env STAGEHAND_TABLE")
	f.StringVar(&app.Region, "region", envOr("AWS_REGION", ""), "AWS region; env AWS_REGION")
	f.StringVar(&app.Endpoint, "endpoint", envOr("STAGEHAND_DYNAMODB_ENDPOINT", ""), "DynamoDB endpoint URL, e.g. DynamoDB Local's http://127.0.0.1:8000; env STAGEHAND_DYNAMODB_ENDPOINT")
	f.StringVar(&app.APIGatewayEndpoint, "apigateway-endpoint", envOr("STAGEHAND_APIGATEWAY_ENDPOINT", ""), "API Gateway endpoint URL, e.g. the emulator's (go run ./test/apigw/cmd/apigw); env STAGEHAND_APIGATEWAY_ENDPOINT")
	f.StringVar(&app.EventsEndpoint, "events-endpoint", envOr("STAGEHAND_EVENTS_ENDPOINT", ""), "EventBridge endpoint URL (for an emulator); env STAGEHAND_EVENTS_ENDPOINT")
	f.StringVarP(&app.Output, "output", "o", "table", "output format: table or json")
	f.StringVar(&app.Actor, "actor", envOr("STAGEHAND_ACTOR", envOr("USER", "stagehand-cli")), "who is acting, recorded in the audit trail")
	for _, c := range commands {
		root.AddCommand(c(app))
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	enforceUsage(root, app)
	return root
}

// Set at build time by `make cli`:
//
//	-ldflags "-X github.com/stagehand-dev/stagehand/internal/cli.Version=... -X ...Commit=... -X ...BuildDate=..."
var (
	Version   = "dev"
	Commit    = "unknown"
	BuildDate = "unknown"
)

// Execute runs the CLI with args and returns the process exit code (see
// the Exit constants): every error is printed as one line on stderr.
func Execute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := &App{Out: stdout, Err: stderr}
	root := NewRootCommand(app)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "stagehand: "+oneLine(err.Error()))
	}
	return exitCode(err)
}

// Main is the entry point used by scripts/stagehand.
func Main() int { return Execute(context.Background(), os.Args[1:], os.Stdout, os.Stderr) }
