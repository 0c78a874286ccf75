package originverify

import (
	"context"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// AuthorizerHandler is the authorizer's Lambda handler
// (auth.Authorizer.Handle).
type AuthorizerHandler func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error)

// Wrap adds the value to send (ContextKey) to every response h allows or
// denies by policy; a rejection (an error) passes through unchanged. The
// context map of h's response may be shared between responses, so it is
// copied, never written.
//
// The authorizer's own decision caches never hold the value: it is added
// after the decision, on every response. API Gateway's result cache (when
// api.authorizerResultTtlSeconds > 0) does hold it, for at most that TTL;
// docs/cdk.md counts that TTL in the rotation overlap.
func (s *Sender) Wrap(h AuthorizerHandler) AuthorizerHandler {
	return func(ctx context.Context, req events.APIGatewayCustomAuthorizerRequestTypeRequest) (events.APIGatewayCustomAuthorizerResponse, error) {
		resp, err := h(ctx, req)
		if err != nil {
			return resp, err
		}
		out := make(map[string]any, len(resp.Context)+1)
		for k, v := range resp.Context {
			out[k] = v
		}
		out[ContextKey] = s.Value(ctx)
		resp.Context = out
		return resp, nil
	}
}

// Middleware rejects with 403 every request whose Header is not accepted by
// c, except GET and HEAD requests for exactly one of exempt (the load
// balancer's health check path: the NLB sends no header). The exempt path
// should answer without revealing anything.
func Middleware(c *Checker, exempt []string, next http.Handler) http.Handler {
	free := make(map[string]bool, len(exempt))
	for _, p := range exempt {
		free[p] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && free[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if !c.Valid(r.Context(), r.Header.Get(Header)) {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}
