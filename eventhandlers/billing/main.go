// Command billing is the Lambda function behind the daily billing schedule:
// it turns the usage of the last settled day into billing records, exports
// them as CSV and JSON to S3, publishes "Usage Recorded" events and sends
// the records to Stripe as billing meter events when configured.
//
// Configuration: see billing.ConfigFromEnv. Design: docs/billing.md.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stagehand-dev/stagehand/internal/billing"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := billing.NewHandlerFromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("billing: cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.HandleScheduled)
}
