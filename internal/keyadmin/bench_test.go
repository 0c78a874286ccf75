package keyadmin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// Handler latency against DynamoDB Local, as p50/p99 over the benchmark's
// calls. Run with -benchtime=1000x for 1,000 calls each. Compare them with
// BenchmarkFloorGetItem from the same run: one raw GetItem round trip to the
// same server, the least any request can cost.

func BenchmarkCreateKey(b *testing.B) {
	w := newWorld(b)
	w.customer(b, "acme")
	ev := event(b, "POST", "/customers/acme/keys", body(`{"name":"bench","scopes":["orders:read"]}`))
	ctx := context.Background()
	measure(b, func() error {
		out, err := w.h.Handle(ctx, ev)
		if err != nil || out.StatusCode != http.StatusCreated {
			return fmt.Errorf("status %d: %s", out.StatusCode, out.Body)
		}
		var c created
		if err := json.Unmarshal([]byte(out.Body), &c); err != nil || c.Secret == "" {
			return fmt.Errorf("no secret in %s", out.Body)
		}
		suite.forbid(c.Secret) // must not show up in any log line
		return nil
	})
}

func BenchmarkGetKey(b *testing.B) {
	w := newWorld(b)
	w.customer(b, "acme")
	id, _ := w.key(b, "acme")
	ev := event(b, "GET", "/keys/"+id)
	ctx := context.Background()
	measure(b, func() error {
		out, err := w.h.Handle(ctx, ev)
		if err != nil || out.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d: %s", out.StatusCode, out.Body)
		}
		return nil
	})
}

// BenchmarkFloorGetItem is one consistent GetItem of a key item, straight
// through the SDK client the handler's store uses.
func BenchmarkFloorGetItem(b *testing.B) {
	w := newWorld(b)
	w.customer(b, "acme")
	id, _ := w.key(b, "acme")
	in := &dynamodb.GetItemInput{
		TableName:      aws.String(w.table),
		Key:            map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "KEY#" + id}, "SK": &types.AttributeValueMemberS{Value: "KEY"}},
		ConsistentRead: aws.Bool(true),
	}
	ctx := context.Background()
	measure(b, func() error {
		out, err := w.db.GetItem(ctx, in)
		if err == nil && out.Item == nil {
			err = errors.New("no item")
		}
		return err
	})
}

// BenchmarkFloorStoreCreateKey is the registry write a key creation needs
// (one transaction: key, subscription check, audit entry), without HTTP,
// validation or the service layer: the floor of BenchmarkCreateKey.
func BenchmarkFloorStoreCreateKey(b *testing.B) {
	w := newWorld(b)
	w.customer(b, "acme")
	ctx := context.Background()
	measure(b, func() error {
		secret, err := keys.New("dev") // ~1 µs: negligible next to the write
		if err != nil {
			return err
		}
		k := registry.Key{ID: secret.ID, Hash: secret.Hash.String(), CustomerID: "acme", Env: "dev", DisplayPrefix: secret.DisplayPrefix, Scopes: []string{"orders:read"}}
		_, err = w.store.CreateKey(ctx, k, "bench")
		return err
	})
}

// warmUpCalls are made, untimed, before a benchmark measures: DynamoDB
// Local is a JVM whose JIT compiles its request paths during the first
// thousand or so requests, which would otherwise land in whichever
// benchmark runs first.
const warmUpCalls = 1000

// measure warms up, then times call once per iteration and reports the
// latency percentiles.
func measure(b *testing.B, call func() error) {
	b.Helper()
	for range warmUpCalls {
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	var lat []time.Duration
	for b.Loop() {
		start := time.Now()
		err := call()
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	reportLatency(b, lat)
}

// reportLatency reports the median and 99th percentile of lat in
// microseconds.
func reportLatency(b *testing.B, lat []time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration {
		i := int(float64(len(lat))*p+0.5) - 1
		return lat[min(max(i, 0), len(lat)-1)]
	}
	b.ReportMetric(float64(pct(0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(pct(0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(len(lat)), "calls")
}
