package eventbus

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

func TestPutEventsRoutesThroughTheRealClient(t *testing.T) {
	bus := New()
	var hits, fails atomic.Int32
	bus.AddRule(Rule{Name: "deploy", Source: "stagehand.deployment", DetailTypes: []string{"API Deployment Completed"}, Duplicates: 1,
		Target: func(_ context.Context, ev events.CloudWatchEvent) error {
			if string(ev.Detail) != `{"sequence":1}` {
				t.Errorf("detail = %s", ev.Detail)
			}
			hits.Add(1)
			return nil
		}})
	var retries atomic.Int32
	bus.AddRule(Rule{Name: "broken", Source: "stagehand.deployment", DetailTypes: []string{"API Stack Retiring"}, MaxAttempts: 2,
		BeforeRetry: func() { retries.Add(1) },
		Target: func(context.Context, events.CloudWatchEvent) error {
			fails.Add(1)
			return errors.New("invalid event: apiId missing")
		}})
	client := Client(bus.Start(t))
	out, err := client.PutEvents(context.Background(), &eventbridge.PutEventsInput{Entries: []types.PutEventsRequestEntry{
		{Source: aws.String("stagehand.deployment"), DetailType: aws.String("API Deployment Completed"), Detail: aws.String(`{"sequence":1}`)},
		{Source: aws.String("stagehand.deployment"), DetailType: aws.String("API Stack Retiring"), Detail: aws.String(`{}`)},
		{Source: aws.String("other"), DetailType: aws.String("API Deployment Completed"), Detail: aws.String(`{}`)},
		{Source: aws.String("stagehand.deployment"), DetailType: aws.String("x"), Detail: aws.String(`not json`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	bus.Wait()
	if out.FailedEntryCount != 1 || len(out.Entries) != 4 || aws.ToString(out.Entries[0].EventId) == "" {
		t.Errorf("output = %+v", out)
	}
	if hits.Load() != 2 {
		t.Errorf("deliveries = %d, want 2 (one duplicate)", hits.Load())
	}
	if fails.Load() != 2 || retries.Load() != 1 {
		t.Errorf("failing target tried %d times with %d backoffs, want 2 and 1", fails.Load(), retries.Load())
	}
	dl := bus.DeadLetters()
	if len(dl) != 1 || dl[0].Rule != "broken" || dl[0].Reason != "invalid event: apiId missing" {
		t.Errorf("dead letters = %+v", dl)
	}
	if len(bus.Put()) != 3 {
		t.Errorf("accepted %d events, want 3", len(bus.Put()))
	}
}
