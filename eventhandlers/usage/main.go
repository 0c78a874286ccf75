// Command usage is the Lambda function behind the daily usage schedule: it
// collects every customer's usage from API Gateway into the registry and
// reports anomalies (spikes, drops, level shifts, denial surges, quota
// exhaustion) as "Usage Anomaly Detected" events.
//
// Configuration: see usage.ConfigFromEnv. Design: docs/jobs.md.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stagehand-dev/stagehand/internal/usage"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := usage.NewHandlerFromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("usage: cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.HandleScheduled)
}
