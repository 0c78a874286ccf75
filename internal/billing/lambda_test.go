package billing_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/stagehand-dev/stagehand/internal/billing"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/eventbus"
)

// TestLambdaWiring builds the handler as the Lambda main does with every
// endpoint on loopback: records land in DynamoDB Local, exports on the
// in-process S3 endpoint, events on the bus emulator.
func TestLambdaWiring(t *testing.T) {
	store := newStore(t)
	objects := &fakeS3{objects: map[string][]byte{}}
	s3srv := httptest.NewServer(objects)
	defer s3srv.Close()
	bus := eventbus.New()
	env := map[string]string{
		"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": store.Table(), "STAGEHAND_BILLING_BUCKET": "exports",
		"STAGEHAND_DYNAMODB_ENDPOINT": ddbtest.Endpoint(t), "STAGEHAND_S3_ENDPOINT": s3srv.URL, "STAGEHAND_EVENTBRIDGE_ENDPOINT": bus.Start(t),
	}
	h, err := billing.NewHandlerFromEnv(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := h.HandleScheduled(context.Background(), lambdaevents.CloudWatchEvent{Time: day.AddDate(0, 0, 2).Add(time.Hour)})
	if err != nil || rep.Created != 2 || rep.Date != "2026-06-10" {
		t.Fatalf("run: %v, %+v", err, rep)
	}
	if len(objects.objects) != 2 || objects.objects["/exports/billing/dev/2026-06-10/records.csv"] == nil {
		t.Errorf("exports %v", len(objects.objects))
	}
	bus.Wait()
	n := 0
	for _, e := range bus.Put() {
		if e.Source == billing.Source && e.DetailType == billing.DetailRecorded {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d Usage Recorded events, want 2", n)
	}
}

func TestBillingConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"complete", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_BILLING_BUCKET": "b"}, true},
		{"no bucket", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t"}, false},
		{"stripe secret", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_BILLING_BUCKET": "b",
			billing.EnvStripeSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/prod/stripe-Ab12Cd"}, true},
		{"partial stripe secret ARN", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_BILLING_BUCKET": "b",
			billing.EnvStripeSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:stagehand/prod/stripe"}, false},
		{"stripe secret name", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_BILLING_BUCKET": "b",
			billing.EnvStripeSecretARN: "stagehand/prod/stripe"}, false},
		{"bad env", map[string]string{"STAGEHAND_ENV": "", "STAGEHAND_TABLE": "t", "STAGEHAND_BILLING_BUCKET": "b"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := billing.ConfigFromEnv(func(k string) string { return tc.env[k] }); (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
