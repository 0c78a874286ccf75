// Command deployment is the Lambda function that re-associates usage plans
// and API keys after a blue/green deploy. It receives, as raw JSON:
//   - EventBridge "API Deployment Completed" and "API Stack Retiring"
//     events (source STAGEHAND_EVENT_SOURCE, default stagehand.deployment),
//   - SQS batches from the continuation queue (CONTINUATION_QUEUE_URL,
//     batch size 1) that carry a long run over Lambda's 15-minute limit.
//
// It reads its configuration once (see reconcile.ConfigFromEnv), builds the
// SDK clients and the handler, and serves events with
// reconcile.Handler.Handle. Design: docs/reassociation.md.
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
	h, err := reconcile.NewHandlerFromEnv(context.Background(), os.Getenv, true, log)
	if err != nil {
		log.Error("deployment: cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.Handle)
}
