package reconcile

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{"STAGEHAND_ENV": "prod", "STAGEHAND_TABLE": "registry", "CONTINUATION_QUEUE_URL": "https://sqs/q"}
	tests := []struct {
		name         string
		env          map[string]string
		requireQueue bool
		want         Config
		wantErr      string
	}{
		{
			name: "defaults", env: base, requireQueue: true,
			want: Config{Env: "prod", Table: "registry", Source: "stagehand.deployment", QueueURL: "https://sqs/q", PacerTable: "registry", SafetyMargin: 45 * time.Second},
		},
		{
			name: "everything set", requireQueue: true,
			env: map[string]string{"STAGEHAND_ENV": "staging", "STAGEHAND_TABLE": "t", "STAGEHAND_EVENT_SOURCE": "acme.deploy", "STAGEHAND_EVENT_BUS": "bus",
				"CONTINUATION_QUEUE_URL": "q", "STAGEHAND_PACER_TABLE": "shared", "STAGEHAND_SAFETY_MARGIN": "90s",
				"STAGEHAND_DYNAMODB_ENDPOINT": "http://127.0.0.1:8000", "STAGEHAND_APIGATEWAY_ENDPOINT": "http://127.0.0.1:9000"},
			want: Config{Env: "staging", Table: "t", Source: "acme.deploy", EventBus: "bus", QueueURL: "q", PacerTable: "shared", SafetyMargin: 90 * time.Second,
				DynamoDBEndpoint: "http://127.0.0.1:8000", APIGatewayEndpoint: "http://127.0.0.1:9000"},
		},
		{
			name: "the scheduled function may run without a queue", env: map[string]string{"STAGEHAND_ENV": "prod", "STAGEHAND_TABLE": "registry"},
			want: Config{Env: "prod", Table: "registry", Source: "stagehand.deployment", PacerTable: "registry", SafetyMargin: 45 * time.Second},
		},
		{
			name: "every problem at once", env: map[string]string{"STAGEHAND_ENV": "Prod", "STAGEHAND_SAFETY_MARGIN": "1h"}, requireQueue: true,
			wantErr: `invalid configuration: STAGEHAND_ENV "Prod" must be a lowercase name ([a-z][a-z0-9-]*); STAGEHAND_TABLE is required; CONTINUATION_QUEUE_URL is required; STAGEHAND_SAFETY_MARGIN "1h" must be a duration between 5s and 5m`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ConfigFromEnv(func(k string) string { return tc.env[k] }, tc.requireQueue)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrConfig) {
					t.Fatalf("err = %v, want %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestNewHandlerFromConfig(t *testing.T) {
	cfg, err := ConfigFromEnv(func(k string) string {
		return map[string]string{"STAGEHAND_ENV": "prod", "STAGEHAND_TABLE": "t", "CONTINUATION_QUEUE_URL": "http://127.0.0.1:9/q", "STAGEHAND_PACER_TABLE": "shared"}[k]
	}, true)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandlerFromConfig(context.Background(), cfg, aws.Config{Region: "us-east-1"}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if h.runner.Env() != "prod" || h.runner.continuer == nil || h.runner.publisher == nil || h.runner.pacerStore == h.runner.store || h.margin != 45*time.Second {
		t.Errorf("handler not wired as configured: %+v", h.runner)
	}
}

func TestNewHandlerFromEnv(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	env := map[string]string{
		"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "registry",
		"CONTINUATION_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/continue",
		"AWS_REGION":             "us-east-1",
	}
	getenv := func(k string) string { return env[k] }
	t.Setenv("AWS_REGION", "us-east-1")
	if h, err := NewHandlerFromEnv(context.Background(), getenv, true, log); err != nil || h == nil {
		t.Fatalf("complete configuration: handler %v, err %v", h, err)
	}
	delete(env, "CONTINUATION_QUEUE_URL")
	if _, err := NewHandlerFromEnv(context.Background(), getenv, true, log); err == nil || !strings.Contains(err.Error(), "CONTINUATION_QUEUE_URL") {
		t.Errorf("deployment function without its queue: err = %v", err)
	}
	if _, err := NewHandlerFromEnv(context.Background(), getenv, false, log); err != nil {
		t.Errorf("scheduled function needs no queue: err = %v", err)
	}
}
