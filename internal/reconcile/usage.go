package reconcile

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"
)

// UsageGateway is a Gateway that also reads usage; *apigateway.Client is one.
type UsageGateway interface {
	GetUsage(ctx context.Context, in *apigateway.GetUsageInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsageOutput, error)
}

var _ UsageGateway = (*apigateway.Client)(nil)

// GetUsage is API Gateway's GetUsage through the client's call budget and
// retries (throttling and 5xx are retried with backoff, see retry.go), for
// the usage collector. The client's gateway must implement UsageGateway.
// Its signature is the SDK's, so apigateway.NewGetUsagePaginator pages
// through it.
func (c *Client) GetUsage(ctx context.Context, in *apigateway.GetUsageInput, _ ...func(*apigateway.Options)) (*apigateway.GetUsageOutput, error) {
	u, ok := c.gw.(UsageGateway)
	if !ok {
		return nil, errors.New("reconcile: the gateway does not read usage")
	}
	var out *apigateway.GetUsageOutput
	err := c.call(ctx, "GetUsage", func(opt func(*apigateway.Options)) error {
		var err error
		out, err = u.GetUsage(ctx, in, opt)
		return err
	})
	return out, err
}
