package reconcile_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stagehand-dev/stagehand/internal/reconcile"
)

// BenchmarkDeployVirtualTime measures, on the virtual clock, how long a
// full deploy of P plans takes against the quota floor (P-1) x 20 s, with
// no fault and with 30 % of all calls throttled, and how many control-plane
// calls a deploy makes when keys need nothing (GetUsagePlanKeys at limit
// 500). Real time per iteration is the cost of the emulator and DynamoDB
// Local round trips; the figures that matter are the custom metrics.
func BenchmarkDeployVirtualTime(b *testing.B) {
	for _, bc := range []struct {
		plans, customers int
		throttle         float64
	}{
		{plans: 300, customers: 3000},
		{plans: 300, customers: 3000, throttle: 0.3},
		{plans: 50, customers: 500},
		{plans: 50, customers: 500, throttle: 0.3},
	} {
		b.Run(fmt.Sprintf("plans=%d/throttled=%.0f%%", bc.plans, bc.throttle*100), func(b *testing.B) {
			var virtual time.Duration
			var reads, calls, updates int
			for b.Loop() {
				b.StopTimer()
				w := newWorld(b, worldConfig{plans: bc.plans, customers: bc.customers, live: true})
				w.emu.SetThrottleRate("", bc.throttle)
				start := w.clk.Now()
				b.StartTimer()
				out, err := w.runner.Deploy(w.ctx, w.event(2, "green"), time.Time{})
				if err != nil || out.Status != reconcile.StatusAssociated {
					b.Fatalf("deploy: %+v %v", out, err)
				}
				b.StopTimer()
				virtual = w.clk.Now().Sub(start)
				reads = out.Reads + 1 // + the deploy event's own GetStage
				calls = w.emu.Calls("")
				updates = w.emu.Applied("UpdateUsagePlan")
				if updates != bc.plans {
					b.Fatalf("%d updates, want %d", updates, bc.plans)
				}
				b.StartTimer()
			}
			floor := time.Duration(bc.plans-1) * 20 * time.Second
			b.ReportMetric(virtual.Seconds(), "virtual-s")
			b.ReportMetric(floor.Seconds(), "floor-s")
			b.ReportMetric(virtual.Seconds()/floor.Seconds(), "x-floor")
			b.ReportMetric(float64(reads), "reads")
			b.ReportMetric(float64(updates), "updates")
			b.ReportMetric(float64(calls), "calls-received")
		})
	}
}
