package rotation_test

import (
	"context"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/rotation"
)

// The rotation benchmarks run on DynamoDB Local; one op is one key. Run
// with a fixed count, e.g. -benchtime=400x, and compare against
// BenchmarkFloorGetItem (one consistent GetItem per op on the same server):
// the ratio is the per-key cost in DynamoDB round trips' worth.

// BenchmarkRotateDueKey: one auto rotation (KMS stand-in, pickup put,
// rotation transaction, event) per op.
func BenchmarkRotateDueKey(b *testing.B) {
	f := newFixture(b, registry.RotationAuto, b.N-1)
	f.set(t0.Add(100 * day))
	job := f.job(&recorder{}, rotation.WithPageSize(500))
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := job.Run(context.Background(), rotation.RunInput{Env: "dev"})
	b.StopTimer()
	if err != nil || rep.Count(rotation.ActionRotate, rotation.ResultDone) != b.N {
		b.Fatalf("rotated %d of %d: %v", rep.Count(rotation.ActionRotate, rotation.ResultDone), b.N, err)
	}
}

// BenchmarkScanKey: one key read and judged not due per op (most keys on
// most days).
func BenchmarkScanKey(b *testing.B) {
	f := newFixture(b, registry.RotationAuto, b.N-1)
	f.set(t0.Add(10 * day))
	job := f.job(&recorder{}, rotation.WithPageSize(500))
	b.ReportAllocs()
	b.ResetTimer()
	rep, err := job.Run(context.Background(), rotation.RunInput{Env: "dev"})
	b.StopTimer()
	if err != nil || rep.Scanned != b.N {
		b.Fatalf("scanned %d of %d: %v", rep.Scanned, b.N, err)
	}
}

// BenchmarkFloorGetItem: the floor, one GetItem per op.
func BenchmarkFloorGetItem(b *testing.B) {
	f := newFixture(b, registry.RotationAuto, 0)
	var id string
	for k := range f.keys {
		id = k
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := f.store.GetKey(context.Background(), id); err != nil {
			b.Fatal(err)
		}
	}
}
