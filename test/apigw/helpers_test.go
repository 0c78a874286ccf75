package apigw

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // a Monday

// newEmu returns an emulator on a virtual clock, with quotas off unless opts
// turn some on, and an SDK client without retries.
func newEmu(t *testing.T, opts ...Option) (*Emulator, *apigateway.Client, *clock.Virtual) {
	t.Helper()
	vc := clock.NewVirtual(t0)
	e := New(append([]Option{WithClock(vc), WithoutQuotas()}, opts...)...)
	return e, e.Client(t), vc
}

// errInfo returns the error code and HTTP status of an SDK error ("" and 0
// for nil).
func errInfo(err error) (string, int) {
	if err == nil {
		return "", 0
	}
	code := "?"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	}
	status := 0
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	return code, status
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	got, status := errInfo(err)
	if got != code {
		t.Fatalf("error code = %q (HTTP %d, err %v), want %q", got, status, err, code)
	}
}

// fixture is a REST API with stages "blue" and "green" and one with "prod".
type fixture struct {
	api1, api2 string
}

func seedAPIs(e *Emulator) fixture {
	return fixture{api1: e.SeedRestAPI("orders-blue", "blue", "green"), api2: e.SeedRestAPI("billing", "prod")}
}

func ctx(t *testing.T) context.Context { return t.Context() }

func createPlan(t *testing.T, c *apigateway.Client, name string, stages ...types.ApiStage) string {
	t.Helper()
	out, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{Name: aws.String(name), ApiStages: stages})
	if err != nil {
		t.Fatalf("CreateUsagePlan %s: %v", name, err)
	}
	return *out.Id
}

func createKey(t *testing.T, c *apigateway.Client, name string, enabled bool) (id, value string) {
	t.Helper()
	out, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String(name), Enabled: enabled})
	if err != nil {
		t.Fatalf("CreateApiKey %s: %v", name, err)
	}
	return *out.Id, *out.Value
}

func attach(t *testing.T, c *apigateway.Client, planID, keyID string) error {
	t.Helper()
	_, err := c.CreateUsagePlanKey(ctx(t), &apigateway.CreateUsagePlanKeyInput{
		UsagePlanId: aws.String(planID), KeyId: aws.String(keyID), KeyType: aws.String("API_KEY"),
	})
	return err
}

func stageOf(apiID, stage string) types.ApiStage {
	return types.ApiStage{ApiId: aws.String(apiID), Stage: aws.String(stage)}
}

func patch(op types.Op, path, value string) types.PatchOperation {
	p := types.PatchOperation{Op: op, Path: aws.String(path)}
	if value != "" {
		p.Value = aws.String(value)
	}
	return p
}

func updatePlan(t *testing.T, c *apigateway.Client, planID string, ops ...types.PatchOperation) (*apigateway.UpdateUsagePlanOutput, error) {
	t.Helper()
	return c.UpdateUsagePlan(ctx(t), &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(planID), PatchOperations: ops})
}
