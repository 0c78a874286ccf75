package apigw

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

// quotaEmu is an emulator with the default quotas on a virtual clock.
func quotaEmu(t *testing.T, opts ...Option) (*Emulator, *apigateway.Client, *clock.Virtual) {
	t.Helper()
	vc := clock.NewVirtual(t0)
	e := New(append([]Option{WithClock(vc)}, opts...)...)
	return e, e.Client(t), vc
}

func retryAfter(t *testing.T, err error) string {
	t.Helper()
	var tm *types.TooManyRequestsException
	if !errors.As(err, &tm) {
		t.Fatalf("error %v is not a TooManyRequestsException", err)
	}
	return aws.ToString(tm.RetryAfterSeconds)
}

func TestUpdateUsagePlanQuotaIsOnePer20Seconds(t *testing.T) {
	e, c, vc := quotaEmu(t)
	f := seedAPIs(e)
	planID, err := e.SeedUsagePlan(SeedPlan{Name: "p"})
	if err != nil {
		t.Fatal(err)
	}
	add := func(stage string) error {
		_, err := updatePlan(t, c, planID, patch(types.OpAdd, "/apiStages", f.api1+":"+stage))
		return err
	}

	if err := add("blue"); err != nil {
		t.Fatalf("first UpdateUsagePlan: %v", err)
	}
	err = add("green")
	wantCode(t, err, "TooManyRequestsException")
	if got := retryAfter(t, err); got != "20" {
		t.Errorf("Retry-After = %q, want 20", got)
	}
	if got := getPlanView(t, c, planID).Stages; len(got) != 1 {
		t.Errorf("a throttled UpdateUsagePlan took effect: stages %v", got)
	}

	vc.Advance(19 * time.Second)
	err = add("green")
	wantCode(t, err, "TooManyRequestsException")
	if got := retryAfter(t, err); got != "1" {
		t.Errorf("Retry-After after 19 s = %q, want 1", got)
	}

	vc.Advance(time.Second)
	if err := add("green"); err != nil {
		t.Fatalf("UpdateUsagePlan 20 s later: %v", err)
	}
	if calls, applied := e.Calls("UpdateUsagePlan"), e.Applied("UpdateUsagePlan"); calls != 4 || applied != 2 {
		t.Errorf("Calls/Applied = %d/%d, want 4/2", calls, applied)
	}
}

func TestCreateAPIKeyQuotaIsFivePerSecond(t *testing.T) {
	_, c, vc := quotaEmu(t)
	create := func(i int) error {
		_, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String(fmt.Sprint(i))})
		return err
	}
	for i := range 5 {
		if err := create(i); err != nil {
			t.Fatalf("CreateApiKey %d: %v", i, err)
		}
	}
	err := create(5)
	wantCode(t, err, "TooManyRequestsException")
	if got := retryAfter(t, err); got != "1" {
		t.Errorf("Retry-After = %q, want 1", got)
	}
	vc.Advance(200 * time.Millisecond)
	if err := create(6); err != nil {
		t.Fatalf("CreateApiKey after 200 ms: %v", err)
	}
	wantCode(t, create(7), "TooManyRequestsException")
}

func TestAccountWideQuotaIsTenPerSecondBurst40(t *testing.T) {
	_, c, vc := quotaEmu(t)
	list := func() error {
		_, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{})
		return err
	}
	for i := range 40 {
		if err := list(); err != nil {
			t.Fatalf("call %d of the burst: %v", i+1, err)
		}
	}
	wantCode(t, list(), "TooManyRequestsException")
	vc.Advance(100 * time.Millisecond)
	if err := list(); err != nil {
		t.Fatalf("after 100 ms: %v", err)
	}
	wantCode(t, list(), "TooManyRequestsException")
	vc.Advance(4 * time.Second) // refills to the full burst of 40
	for i := range 40 {
		if err := list(); err != nil {
			t.Fatalf("call %d after refill: %v", i+1, err)
		}
	}
}

func TestQuotaOptions(t *testing.T) {
	tests := []struct {
		name     string
		opts     []Option
		op       func(c *apigateway.Client, i int) error
		calls    int
		want429s int
	}{
		{
			name:  "WithoutQuotas",
			opts:  []Option{WithoutQuotas()},
			op:    func(c *apigateway.Client, i int) error { _, err := c.GetApiKeys(t.Context(), nil); return err },
			calls: 100,
		},
		{
			name:     "WithQuota on one operation",
			opts:     []Option{WithoutQuotas(), WithQuota("GetApiKeys", time.Second, 2)},
			op:       func(c *apigateway.Client, i int) error { _, err := c.GetApiKeys(t.Context(), nil); return err },
			calls:    5,
			want429s: 3,
		},
		{
			name: "WithQuota every <= 0 removes the UpdateUsagePlan quota",
			opts: []Option{WithQuota("UpdateUsagePlan", 0, 0)},
			op: func(c *apigateway.Client, i int) error {
				_, err := c.UpdateUsagePlan(t.Context(), &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String("nope00")})
				if code, _ := errInfo(err); code == "NotFoundException" {
					return nil
				}
				return err
			},
			calls: 5,
		},
		{
			name: "WithDocumentedQuotas limits CreateRestApi to one per 3 s",
			opts: []Option{WithDocumentedQuotas()},
			op: func(c *apigateway.Client, i int) error {
				_, err := c.CreateRestApi(t.Context(), &apigateway.CreateRestApiInput{Name: aws.String("x")})
				return err
			},
			calls:    3,
			want429s: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, c, _ := quotaEmu(t, tc.opts...)
			got := 0
			for i := range tc.calls {
				err := tc.op(c, i)
				if code, _ := errInfo(err); code == "TooManyRequestsException" {
					got++
				} else if err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if got != tc.want429s {
				t.Errorf("%d of %d calls throttled, want %d", got, tc.calls, tc.want429s)
			}
		})
	}
}
