// Command rotation is the Lambda function behind the daily key rotation
// schedule: it warns about keys nearing their maximum age, expires (policy
// enforce) or rotates (policy auto) due keys, and leaves rotated keys' new
// secrets envelope-encrypted under KMS for one-time pickup.
//
// Configuration: see rotation.ConfigFromEnv. Design: docs/jobs.md.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/stagehand-dev/stagehand/internal/rotation"
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	h, err := rotation.NewHandlerFromEnv(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error("rotation: cannot start", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h.HandleScheduled)
}
