package usage_test

import (
	"math/rand/v2"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/usage"
)

// fleet is 10,000 customers × 90 days of synthetic usage (a fifth with an
// anomaly), built once.
func fleet() [][]float64 {
	r := rand.New(rand.NewPCG(3, 3))
	out := make([][]float64, 10000)
	kinds := []usage.Kind{"", "", usage.KindSpike, usage.KindDrop, usage.KindLevelShift}
	for i := range out {
		out[i] = synth(r, kinds[i%len(kinds)]).v
	}
	return out
}

// BenchmarkDetect10kCustomers90Days: one op scans every day of every
// customer's 90 days (the budget: ≤ 1 s per op).
func BenchmarkDetect10kCustomers90Days(b *testing.B) {
	f := fleet()
	d, _ := usage.NewDetector(usage.DefaultConfig())
	s := d.NewScanner()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for range b.N {
		for _, v := range f {
			n += len(s.ScanFrom(v, 0))
		}
	}
	b.ReportMetric(float64(n)/float64(b.N), "findings/op")
}

// BenchmarkFloorSum10kCustomers90Days: the floor, a plain sum over the same
// 900,000 values.
func BenchmarkFloorSum10kCustomers90Days(b *testing.B) {
	f := fleet()
	b.ReportAllocs()
	b.ResetTimer()
	var s float64
	for range b.N {
		for _, v := range f {
			for _, x := range v {
				s += x
			}
		}
	}
	if s < 0 {
		b.Fatal(s)
	}
}
