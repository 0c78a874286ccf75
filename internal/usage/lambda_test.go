package usage_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/internal/usage"
	"github.com/stagehand-dev/stagehand/test/eventbus"
)

// TestLambdaWiring builds the handler as the Lambda main does, every
// endpoint on loopback, and runs the scheduled event for the day after a
// spike: the event reaches the bus emulator.
func TestLambdaWiring(t *testing.T) {
	w := newWorld(t, 0, "spiky")
	day := day0.AddDate(0, 0, 60)
	w.history(t, "spiky", 300, day0, day.AddDate(0, 0, -2))
	w.record("spiky", day.AddDate(0, 0, -2), 300)
	w.record("spiky", day.AddDate(0, 0, -1), 300)
	w.record("spiky", day, 3000)
	bus := eventbus.New()
	busURL := bus.Start(t)
	logs, logsURL := newLogsFake(t, func(time.Time) [][2]string { return [][2]string{{"spiky", "3.0"}} })
	env := map[string]string{
		"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": w.store.Table(), "STAGEHAND_DYNAMODB_ENDPOINT": ddbtest.Endpoint(t),
		"STAGEHAND_APIGATEWAY_ENDPOINT": w.gw.Start(t), "STAGEHAND_EVENTBRIDGE_ENDPOINT": busURL,
		"STAGEHAND_DENIAL_LOG_GROUP": "/aws/lambda/stagehand-authorizer", "STAGEHAND_LOGS_ENDPOINT": logsURL,
	}
	h, err := usage.NewHandlerFromEnv(context.Background(), func(k string) string { return env[k] }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := h.HandleScheduled(context.Background(), events.CloudWatchEvent{Time: day.AddDate(0, 0, 1).Add(2 * 3600e9)})
	if err != nil || rep.Published != 1 {
		t.Fatalf("run: %v, %+v", err, rep)
	}
	bus.Wait()
	n := 0
	for _, e := range bus.Put() {
		if e.Source == usage.Source && e.DetailType == usage.DetailAnomaly {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d anomaly events on the bus, want 1", n)
	}
	// The denial source is the real Logs Insights client on the
	// configured endpoint and log group.
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if len(logs.starts) != 1 || logs.starts[0]["logGroupNames"].([]any)[0] != "/aws/lambda/stagehand-authorizer" {
		t.Errorf("StartQuery calls %v, want one on the configured log group", logs.starts)
	}
	days, err := w.store.ListUsageDays(context.Background(), "dev", "spiky", day.Format(time.DateOnly), day.Format(time.DateOnly))
	if err != nil || len(days) != 1 || days[0].Denied != 3 {
		t.Errorf("stored day %+v (%v), want 3 denied", days, err)
	}
}

func TestUsageConfigFromEnv(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		ok   bool
	}{
		{"complete", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t"}, true},
		{"retention", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_USAGE_RETENTION_DAYS": "90"}, true},
		{"short retention", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_USAGE_RETENTION_DAYS": "7"}, false},
		{"no table", map[string]string{"STAGEHAND_ENV": "dev"}, false},
		{"denial log group", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_DENIAL_LOG_GROUP": "/aws/lambda/stagehand-dev-Authorizer_1.x#y"}, true},
		{"bad denial log group", map[string]string{"STAGEHAND_ENV": "dev", "STAGEHAND_TABLE": "t", "STAGEHAND_DENIAL_LOG_GROUP": "a:b*"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := usage.ConfigFromEnv(func(k string) string { return tc.env[k] }); (err == nil) != tc.ok {
				t.Errorf("err = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
