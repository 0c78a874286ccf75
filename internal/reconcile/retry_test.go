package reconcile_test

import (
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

// TestRetriesSleepOnTheClock: the SDK's retry loop waits on the injected
// clock (at least the Retry-After the service sent), not in real time, and
// gives up on errors retries cannot fix.
func TestRetriesSleepOnTheClock(t *testing.T) {
	tests := []struct {
		name        string
		fault       func(e *apigw.Emulator)
		call        func(w *world, c *reconcile.Client) error
		wantErr     bool
		transient   bool
		wantRetries int
		minWait     time.Duration
	}{
		{
			name:  "503s are retried after Retry-After",
			fault: func(e *apigw.Emulator) { e.FailNext("GetUsagePlans", 3, 503) },
			call: func(w *world, c *reconcile.Client) error {
				_, err := c.ReadPlans(w.ctx, envName)
				return err
			},
			wantRetries: 3, minWait: 3 * time.Second,
		},
		{
			name:  "a lost response is retried; the key already attached is success",
			fault: func(e *apigw.Emulator) { e.DropAfterApply("CreateUsagePlanKey", 1) },
			call: func(w *world, c *reconcile.Client) error {
				return c.AttachKey(w.ctx, w.planOf["tier000"], w.customers[0].keyID)
			},
			wantRetries: 1,
		},
		{
			name:  "retries run out on a storm",
			fault: func(e *apigw.Emulator) { e.FailNext("GetUsagePlans", 50, 500) },
			call: func(w *world, c *reconcile.Client) error {
				_, err := c.ReadPlans(w.ctx, envName)
				return err
			},
			wantErr: true, transient: true, wantRetries: 7,
		},
		{
			name:  "UpdateUsagePlan is one request: the SDK never retries it (the executor does, in a pacer slot of its own)",
			fault: func(e *apigw.Emulator) { e.FailNext("UpdateUsagePlan", 1, 503) },
			call: func(w *world, c *reconcile.Client) error {
				_, err := c.UpdatePlan(w.ctx, w.planOf["tier000"], []reconcile.PatchOp{{Op: "add", Path: "/apiStages", Value: w.ref("blue").String()}})
				if n := w.emu.Calls("UpdateUsagePlan"); n != 1 {
					w.t.Errorf("%d UpdateUsagePlan requests, want 1", n)
				}
				return err
			},
			wantErr: true, transient: true, wantRetries: 0,
		},
		{
			name: "an account limit is not retried",
			call: func(w *world, c *reconcile.Client) error {
				if err := c.AttachKey(w.ctx, w.planOf["tier000"], w.customers[0].keyID); err != nil {
					return err
				}
				return c.AttachKey(w.ctx, w.planOf["tier001"], w.customers[0].keyID)
			},
			wantErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, worldConfig{plans: 2, customers: 1, emulatorOpts: []apigw.Option{apigw.WithLimits(apigw.Limits{PlansPerKey: 1})}})
			if tc.fault != nil {
				tc.fault(w.emu)
			}
			c := reconcile.NewClient(w.gw, reconcile.WithClientClock(w.clk), reconcile.WithJitterSeed(1))
			start := w.clk.Now()
			err := tc.call(w, c)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && reconcile.IsTransient(err) != tc.transient {
				t.Errorf("IsTransient(%v) = %v", err, !tc.transient)
			}
			if got := c.Stats().Retries; got != tc.wantRetries {
				t.Errorf("retries = %d, want %d", got, tc.wantRetries)
			}
			waited := w.clk.Now().Sub(start)
			if waited < tc.minWait {
				t.Errorf("virtual wait %v, want at least %v", waited, tc.minWait)
			}
		})
	}
}
