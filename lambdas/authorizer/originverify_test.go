package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/originverify"
)

// secretsManagerServer is a loopback Secrets Manager (JSON 1.1 protocol)
// holding one secret with only an AWSCURRENT version, as Secrets Manager
// answers GetSecretValue:
// https://docs.aws.amazon.com/secretsmanager/latest/apireference/API_GetSecretValue.html
func secretsManagerServer(t *testing.T, arn, value string) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu     sync.Mutex
		stages []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "secretsmanager.GetSecretValue" {
			http.Error(w, "unexpected operation", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var in struct{ SecretId, VersionStage string }
		_ = json.Unmarshal(body, &in)
		mu.Lock()
		stages = append(stages, in.VersionStage)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		if in.SecretId != arn || in.VersionStage != originverify.StageCurrent {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"__type":"ResourceNotFoundException","message":"Secrets Manager can't find the specified secret value for staging label: ` + in.VersionStage + `"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ARN": arn, "Name": "stagehand/test/origin-verify", "SecretString": value,
			"VersionId": "v1", "VersionStages": []string{"AWSCURRENT"}, "CreatedDate": 1.7e9})
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), stages...) }
}

func TestOriginVerifyWrapsTheHandlerWithTheSecretFromTheConfiguredEndpoint(t *testing.T) {
	const arn = "arn:aws:secretsmanager:us-east-1:111111111111:secret:stagehand/test/origin-verify-AbCdEf"
	srv, stages := secretsManagerServer(t, arn, "origin-value-from-loopback")
	env := map[string]string{
		originverify.EnvSecretARN: arn,
		originverify.EnvEndpoint:  srv.URL,
	}
	wrap, err := originVerify(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	inner := func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "cust", Context: map[string]any{"customerId": "cust"}}, nil
	}
	resp, err := wrap(inner)(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"customerId": "cust", originverify.ContextKey: "origin-value-from-loopback"}
	if diff := cmp.Diff(want, resp.Context); diff != "" {
		t.Errorf("context (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"AWSCURRENT", "AWSPENDING", "AWSPREVIOUS"}, stages()); diff != "" {
		t.Errorf("GetSecretValue stages (-want +got):\n%s", diff)
	}
}

func TestOriginVerifyColdStartFailsWhenTheSecretIsUnreadable(t *testing.T) {
	srv, _ := secretsManagerServer(t, "arn:other", "x")
	env := map[string]string{
		originverify.EnvSecretARN: "arn:aws:secretsmanager:us-east-1:111111111111:secret:missing",
		originverify.EnvEndpoint:  srv.URL,
	}
	if _, err := originVerify(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("cold start succeeded without the origin-verify secret")
	}
}

func TestOriginVerifyOffWithoutASecret(t *testing.T) {
	wrap, err := originVerify(context.Background(), func(string) string { return "" }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	inner := func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return events.APIGatewayCustomAuthorizerResponse{Context: map[string]any{"customerId": "cust"}}, nil
	}
	resp, _ := wrap(inner)(context.Background(), events.APIGatewayCustomAuthorizerRequestTypeRequest{})
	if _, ok := resp.Context[originverify.ContextKey]; ok {
		t.Error("origin-verify value added without a configured secret")
	}
}
