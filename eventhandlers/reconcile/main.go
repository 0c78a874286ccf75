// Command reconcile is the Lambda function behind the scheduled drift
// repair (an EventBridge schedule, every 5 minutes by default; the rate is
// the CDK rule's). It runs the same reconciler as the deployment function:
// keys attached by hand, keys in the wrong plan and stages wiped by a
// shared-stack update are repaired, and a deployment whose run died is
// finished. A run that reaches the deadline continues through
// CONTINUATION_QUEUE_URL when set, otherwise at the next schedule.
//
// Configuration: see reconcile.ConfigFromEnv. Design: docs/reassociation.md.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stagehand-dev/stagehand/internal/reconcile"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := reconcile.NewHandlerFromEnv(context.Background(), os.Getenv, false, log)
	if err != nil {
		log.Error("reconcile: cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.HandleScheduled)
}
