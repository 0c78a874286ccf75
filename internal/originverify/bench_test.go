package originverify_test

import (
	"context"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/stagehand-dev/stagehand/internal/originverify"
)

// BenchmarkWrap measures what Wrap adds to an authorizer response (a copy
// of the context plus one entry); BenchmarkWrapFloor is the same inner
// handler unwrapped. Report Wrap as a ratio of the floor.
func benchInner() originverify.AuthorizerHandler {
	shared := map[string]any{"customerId": "cus_1", "keyId": "key_1", "plan": "basic", "scopes": "read write", "authMethod": "api_key"}
	return func(context.Context, events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		return events.APIGatewayCustomAuthorizerResponse{PrincipalID: "cus_1", Context: shared, UsageIdentifierKey: "usage"}, nil
	}
}

func BenchmarkWrapFloor(b *testing.B) {
	h := benchInner()
	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: "arn"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWrap(b *testing.B) {
	s, err := originverify.NewSender(context.Background(), newFake("bench-value-0123456789", t0), secretID)
	if err != nil {
		b.Fatal(err)
	}
	h := s.Wrap(benchInner())
	req := events.APIGatewayCustomAuthorizerRequestTypeRequest{MethodArn: "arn"}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
