package main

// Cold start to first page, in process: configuration, AWS config, the
// secret, OIDC discovery against a loopback provider, templates, then the
// first console page through the Lambda adapter with DynamoDB Local behind
// it. TestColdStartToFirstPage logs the figure; BenchmarkColdStart repeats
// it (ns/op) next to a bare GetItem floor.

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stagehand-dev/stagehand/internal/httpadapter"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/internal/web"
	"github.com/stagehand-dev/stagehand/test/oidcissuer"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

func setup(t testing.TB) (func(string) string, *dynamodb.Client, string) {
	t.Helper()
	client, table := ddbtest.NewTable(t)
	if _, err := registry.New(client, table).PutPlan(context.Background(), registry.Plan{Env: "dev", Name: "basic"}, "test"); err != nil {
		t.Fatal(err)
	}
	iss, err := oidcissuer.Start("127.0.0.1:0", []oidcissuer.User{{ID: "u", Username: "u", Password: "p"}},
		[]oidcissuer.Client{{ID: "web", Secret: "s", RedirectURIs: []string{"http://127.0.0.1:1/auth/callback"}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = iss.Close() })
	env := map[string]string{
		web.EnvStage: "dev", web.EnvTable: table, web.EnvPublicURL: "http://127.0.0.1:1", web.EnvInsecureCookie: "1",
		web.EnvIssuer: iss.URL, web.EnvClientID: "web", web.EnvSecretJSON: web.NewSecretsJSON("s"),
		web.EnvDynamoDBEndpoint: ddbtest.Endpoint(t), web.EnvOpenAPIPath: "../../internal/web/testdata/openapi.yaml",
	}
	return func(k string) string { return env[k] }, client, table
}

func coldStart(t testing.TB, getenv func(string) string) events.APIGatewayProxyResponse {
	h, err := build(context.Background(), getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	res, err := httpadapter.Handler(h)(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/",
		Headers: map[string]string{"Host": "127.0.0.1:1"}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestColdStartToFirstPage(t *testing.T) {
	getenv, _, _ := setup(t)
	start := time.Now()
	res := coldStart(t, getenv)
	t.Logf("cold start to first page: %v", time.Since(start))
	if res.StatusCode != http.StatusOK || res.MultiValueHeaders["Content-Security-Policy"] == nil {
		t.Fatalf("first page = %d %v", res.StatusCode, res.MultiValueHeaders)
	}
}

func TestBuildRefusesBadConfig(t *testing.T) {
	getenv, _, _ := setup(t)
	bad := func(k string) string {
		if k == web.EnvSecretJSON {
			return `{"clientSecret":"s"}`
		}
		return getenv(k)
	}
	if _, err := build(context.Background(), bad, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a secret without session keys was accepted")
	}
}

func BenchmarkColdStart(b *testing.B) {
	getenv, client, table := setup(b)
	b.Run("floor GetItem", func(b *testing.B) {
		key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "ENV#dev"}, "SK": &types.AttributeValueMemberS{Value: "PLAN#basic"}}
		for b.Loop() {
			if _, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(table), Key: key}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("build and first page", func(b *testing.B) {
		for b.Loop() {
			if res := coldStart(b, getenv); res.StatusCode != http.StatusOK {
				b.Fatal(res.StatusCode)
			}
		}
	})
}
