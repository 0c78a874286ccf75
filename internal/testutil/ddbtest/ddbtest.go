// Package ddbtest runs integration tests against AWS's DynamoDB Local (the
// jar shipped by the npm package amplify-dynamodb-simulator) on 127.0.0.1.
//
// One server serves a whole test run: `make test` starts it once through
// cmd/ddblocal and exports its address in STAGEHAND_DYNAMODB_ENDPOINT. A
// package run on its own (go test ./internal/registry) starts a server of its
// own in TestMain. Either way each test gets a fresh table with a random name.
// If the server cannot start, the package fails; it never skips.
package ddbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/dynamolocal"
)

// EnvEndpoint names the variable holding a running server's URL.
const EnvEndpoint = dynamolocal.EnvEndpoint

var endpoint string

// Run is for TestMain: it finds or starts the server, runs the tests and
// stops what it started. Use it as `os.Exit(ddbtest.Run(m))`.
func Run(m *testing.M) int {
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		endpoint = ep
		return m.Run()
	}
	srv, err := dynamolocal.Start(context.Background())
	if err != nil {
		fmt.Fprintf(os.Stderr, "ddbtest: DynamoDB Local could not start, integration tests cannot run: %v\n", err)
		return 1
	}
	defer srv.Stop()
	endpoint = srv.Endpoint
	return m.Run()
}

// Endpoint returns the server's URL; it fails the test if Run was not used.
func Endpoint(t testing.TB) string {
	t.Helper()
	if endpoint == "" {
		t.Fatal("ddbtest: no DynamoDB Local endpoint: call ddbtest.Run from TestMain")
	}
	return endpoint
}

// Client returns a DynamoDB client for the local server.
func Client(t testing.TB) *dynamodb.Client {
	t.Helper()
	return dynamolocal.Client(Endpoint(t))
}

// NewTable creates a fresh registry table with a random name, deleted when
// the test ends.
func NewTable(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	client := Client(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "stagehand-test-" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := client.CreateTable(ctx, registry.TableDefinition(name)); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return client, name
}

// StaticCredentials are the dummy credentials every local client uses.
var StaticCredentials = credentials.NewStaticCredentialsProvider("local", "local", "")
