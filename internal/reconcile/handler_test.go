package reconcile_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// envelope loads a deployevent fixture and rewrites its detail for w.
func envelope(t *testing.T, file string, edit func(detail map[string]any)) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("../deployevent/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	edit(ev["detail"].(map[string]any))
	out, _ := json.Marshal(ev)
	return out
}

func fixture(t *testing.T, name string) json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestHandler(t *testing.T) {
	w := newWorld(t, worldConfig{plans: 6, customers: 12, live: true})
	// The invocation has 100 s of virtual time; the margin leaves 30.
	h := reconcile.NewHandler(w.runner, w.store, reconcile.WithSafetyMargin(30*time.Second),
		reconcile.WithDeadlineFunc(func(context.Context) (time.Time, bool) { return w.clk.Now().Add(100 * time.Second), true }))
	ctx := context.Background()

	t.Run("an invalid event fails with its reasons and marks the deployment failed", func(t *testing.T) {
		raw := envelope(t, "invalid-deployment.json", func(d map[string]any) { d["sequence"] = 7 })
		err := h.Handle(ctx, raw)
		if !errors.Is(err, deployevent.ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
		d := w.deployment(7)
		if d.State != registry.DeploymentFailed || !strings.Contains(d.Reason, "colour: must be") || !strings.Contains(d.Reason, "deployedBy: unknown field") {
			t.Errorf("record %s %q", d.State, d.Reason)
		}
	})

	t.Run("a deploy event runs until the deadline and hands over", func(t *testing.T) {
		raw := envelope(t, "deployment-completed.json", func(d map[string]any) {
			d["apiId"], d["sequence"] = w.apis["green"], 8
		})
		if err := h.Handle(ctx, raw); err != nil {
			t.Fatal(err)
		}
		if len(w.queue.msgs) != 1 || w.deployment(8).State != registry.DeploymentReceived {
			t.Fatalf("queue %+v, state %s", w.queue.msgs, w.deployment(8).State)
		}
	})

	t.Run("SQS continuations finish it", func(t *testing.T) {
		for i := 0; ; i++ {
			msg, ok := w.queue.pop()
			if !ok {
				break
			}
			var batch map[string]any
			if err := json.Unmarshal(fixture(t, "sqs-continuation.json"), &batch); err != nil {
				t.Fatal(err)
			}
			body, _ := json.Marshal(msg.c)
			batch["Records"].([]any)[0].(map[string]any)["body"] = string(body)
			raw, _ := json.Marshal(batch)
			w.clk.Advance(msg.delay)
			if err := h.Handle(ctx, raw); err != nil {
				t.Fatal(err)
			}
			if i > 10 {
				t.Fatal("no end in sight")
			}
		}
		if d := w.deployment(8); d.State != registry.DeploymentAssociated || d.Counts.PlansUpdated != 6 {
			t.Errorf("deployment 8: %s %+v", d.State, d.Counts)
		}
		if n := w.emu.Applied("UpdateUsagePlan"); n != 6 {
			t.Errorf("%d updates, want 6", n)
		}
	})

	t.Run("the scheduled event repairs a wiped plan", func(t *testing.T) {
		if err := w.emu.WipeAPIStages(w.planOf["tier003"]); err != nil {
			t.Fatal(err)
		}
		if err := h.Handle(ctx, fixture(t, "scheduled-event.json")); err != nil {
			t.Fatal(err)
		}
		if n := w.emu.Applied("UpdateUsagePlan"); n != 7 {
			t.Errorf("%d updates, want 7", n)
		}
	})

	t.Run("payloads it cannot handle", func(t *testing.T) {
		bad := []struct {
			name string
			raw  string
			want error
		}{
			{name: "not JSON", raw: `nope`, want: reconcile.ErrUnknownPayload},
			{name: "neither kind", raw: `{"hello":"world"}`, want: reconcile.ErrUnknownPayload},
			{name: "a continuation of another kind", raw: `{"Records":[{"messageId":"m1","body":"{\"version\":\"1\",\"kind\":\"other\",\"environment\":\"prod\",\"invocation\":1}"}]}`},
			{name: "another source", raw: string(envelope(t, "deployment-completed.json", func(map[string]any) {})), want: deployevent.ErrInvalid},
		}
		bad[3].raw = strings.Replace(bad[3].raw, `"source":"stagehand.deployment"`, `"source":"evil.source"`, 1)
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				err := h.Handle(ctx, json.RawMessage(tc.raw))
				if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
					t.Errorf("err = %v, want %v", err, tc.want)
				}
			})
		}
	})
}

func TestContinuationMessages(t *testing.T) {
	fake := &fakeSQS{}
	c := reconcile.SQSContinuer{Client: fake, QueueURL: "http://127.0.0.1/queue"}
	tests := []struct {
		name  string
		delay time.Duration
		want  int32
	}{
		{name: "rounded up to whole seconds", delay: 12300 * time.Millisecond, want: 13},
		{name: "capped at 15 minutes", delay: time.Hour, want: 900},
		{name: "never negative", delay: -time.Second, want: 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.Continue(context.Background(), reconcile.Continuation{Version: "1", Env: "prod", Sequence: 3, Invocation: 2}, tc.delay); err != nil {
				t.Fatal(err)
			}
			last := fake.in[len(fake.in)-1]
			if last.DelaySeconds != tc.want {
				t.Errorf("DelaySeconds = %d, want %d", last.DelaySeconds, tc.want)
			}
			got, err := reconcile.ParseContinuation(*last.MessageBody)
			if err != nil || got.Kind != reconcile.ContinuationKind || got.Sequence != 3 {
				t.Errorf("body round trip: %+v %v", got, err)
			}
		})
	}
}
