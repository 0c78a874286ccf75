package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

// BenchmarkPages measures server time per page (handler in, HTML out) with
// the registry on DynamoDB Local, next to the floor: one bare GetItem on
// the same server. Each sub-benchmark reports its p50 and p99 in ms; the
// ratio to the floor is what carries across machines.
func BenchmarkPages(b *testing.B) {
	f := newFixture(b)
	client := ddbtest.Client(b)
	b.Run("floor GetItem", func(b *testing.B) {
		key := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "CUST#acme"}, "SK": &types.AttributeValueMemberS{Value: "PROFILE"}}
		measure(b, func() {
			if _, err := client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(f.srv.svc.Store().Table()), Key: key, ConsistentRead: aws.Bool(true)}); err != nil {
				b.Fatal(err)
			}
		})
	})
	for _, p := range []struct {
		name, path string
		s          Session
	}{
		{"console customers", "/console/", operator},
		{"console customer", "/console/customers/acme", operator},
		{"console audit", "/console/audit?subject=acme", operator},
		{"portal keys", "/portal/", acme},
		{"portal usage", "/portal/usage", acme},
		{"portal usage chart", "/portal/usage.svg", acme},
		{"portal docs", "/portal/docs", acme},
	} {
		ck := f.session(b, p.s)
		b.Run(p.name, func(b *testing.B) {
			measure(b, func() {
				req := httptest.NewRequest(http.MethodGet, "https://portal.example"+p.path, nil)
				req.AddCookie(ck)
				rec := httptest.NewRecorder()
				f.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s = %d", p.path, rec.Code)
				}
			})
		})
	}
}

func measure(b *testing.B, fn func()) {
	b.ReportAllocs()
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		fn()
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(ds[len(ds)*99/100])/1e6, "p99-ms")
}
