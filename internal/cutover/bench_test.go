package cutover_test

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/stagehand-dev/stagehand/internal/cutover"
)

// The floor: one SDK round trip to the emulator (GetBasePathMapping).
// Compare BenchmarkCutover to it: a cutover is three calls (read the
// mapping, check the target stage, one atomic update).
func BenchmarkFloorGetBasePathMapping(b *testing.B) {
	w := newBenchWorld(b)
	in := &apigateway.GetBasePathMappingInput{DomainName: aws.String(domain), BasePath: aws.String(cutover.NoBasePath)}
	for b.Loop() {
		if _, err := w.client.GetBasePathMapping(context.Background(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCutover flips the mapping blue <-> green with the guard on.
func BenchmarkCutover(b *testing.B) {
	w := newBenchWorld(b)
	c := cutover.New(w.client)
	from, to := w.blue, w.green
	for b.Loop() {
		if _, err := c.Cutover(context.Background(), cutover.Request{Domain: domain, To: cutover.Target{APIID: to, Stage: "dev"}, ExpectCurrent: from}); err != nil {
			b.Fatal(err)
		}
		from, to = to, from
	}
}

func newBenchWorld(b *testing.B) world {
	b.Helper()
	w := newWorld(b)
	w.mapTo(b, "", w.blue)
	return w
}
