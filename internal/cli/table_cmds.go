package cli

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/spf13/cobra"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// newRegistryCommand holds registry maintenance commands. Production tables
// come from the CDK shared stack; create-table is for DynamoDB Local.
func newRegistryCommand(app *App) *cobra.Command {
	cmd := &cobra.Command{Use: "registry", Short: "Registry table maintenance (local development)"}
	create := &cobra.Command{
		Use:   "create-table",
		Short: "Create the registry table named by --table (for DynamoDB Local; production tables come from CDK)",
		Args:  exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := app.Store(cmd.Context()); err != nil {
				return err
			}
			db, ok := app.DynamoDB.(*dynamodb.Client)
			if !ok {
				return fmt.Errorf("create-table needs a DynamoDB client")
			}
			if _, err := db.CreateTable(cmd.Context(), registry.TableDefinition(app.Table)); err != nil {
				return fmt.Errorf("create table %s: %w", app.Table, err)
			}
			fmt.Fprintf(app.Out, "created table %s\n", app.Table)
			return nil
		},
	}
	cmd.AddCommand(create)
	return cmd
}
