// Command ddblocal starts one DynamoDB Local for a whole test run, runs the
// command given after "--" with STAGEHAND_DYNAMODB_ENDPOINT set, and stops
// the server when the command ends. `make test` wraps `go test ./...` in it so
// that every package shares one server instead of starting its own.
//
//	go run ./test/ddblocal -- go test ./...
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/stagehand-dev/stagehand/internal/testutil/dynamolocal"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: ddblocal -- command [args...]")
		return 2
	}
	srv, err := dynamolocal.Start(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "ddblocal: %v\n", err)
		return 1
	}
	defer srv.Stop()
	fmt.Fprintf(os.Stderr, "ddblocal: DynamoDB Local at %s\n", srv.Endpoint)

	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), dynamolocal.EnvEndpoint+"="+srv.Endpoint)
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return exit.ExitCode()
		}
		fmt.Fprintf(os.Stderr, "ddblocal: %v\n", err)
		return 1
	}
	return 0
}
