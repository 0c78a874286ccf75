package apigw

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
)

func TestSetThrottleRate(t *testing.T) {
	t.Run("fraction 1 throttles every call without effect", func(t *testing.T) {
		e, c, _ := newEmu(t)
		f := seedAPIs(e)
		id := createPlan(t, c, "p")
		e.SetThrottleRate("UpdateUsagePlan", 1)
		_, err := updatePlan(t, c, id, patch(types.OpAdd, "/apiStages", f.api1+":blue"))
		wantCode(t, err, "TooManyRequestsException")
		if got := retryAfter(t, err); got != "1" {
			t.Errorf("Retry-After = %q, want 1", got)
		}
		if got := getPlanView(t, c, id).Stages; len(got) != 0 {
			t.Errorf("throttled call took effect: %v", got)
		}
		if _, err := c.GetUsagePlan(ctx(t), &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(id)}); err != nil {
			t.Errorf("another operation was throttled: %v", err)
		}
		e.SetThrottleRate("UpdateUsagePlan", 0)
		if _, err := updatePlan(t, c, id, patch(types.OpAdd, "/apiStages", f.api1+":blue")); err != nil {
			t.Errorf("after removing the rate: %v", err)
		}
	})

	t.Run("a fraction for all operations is repeatable with a seed", func(t *testing.T) {
		outcomes := func(seed uint64) []bool {
			e := New(WithoutQuotas(), WithSeed(seed))
			c := e.Client(t)
			e.SetThrottleRate("", 0.3)
			var got []bool
			for range 200 {
				_, err := c.GetApiKeys(ctx(t), &apigateway.GetApiKeysInput{})
				got = append(got, err != nil)
			}
			return got
		}
		a, b := outcomes(42), outcomes(42)
		if diff := cmp.Diff(a, b); diff != "" {
			t.Errorf("same seed, different outcomes (-first +second):\n%s", diff)
		}
		n := 0
		for _, throttled := range a {
			if throttled {
				n++
			}
		}
		if n < 30 || n > 90 {
			t.Errorf("%d of 200 calls throttled at rate 0.3", n)
		}
	})
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		status   int
		wantCode string
	}{
		{status: http.StatusInternalServerError, wantCode: "InternalFailure"},
		{status: http.StatusBadGateway, wantCode: "BadGatewayException"},
		{status: http.StatusServiceUnavailable, wantCode: "ServiceUnavailableException"},
	}
	for _, tc := range tests {
		t.Run(http.StatusText(tc.status), func(t *testing.T) {
			e, c, _ := newEmu(t)
			e.FailNext("CreateUsagePlan", 2, tc.status)
			for range 2 {
				_, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{Name: aws.String("p")})
				wantCode(t, err, tc.wantCode)
				if _, status := errInfo(err); status != tc.status {
					t.Errorf("status = %d, want %d", status, tc.status)
				}
			}
			if _, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{Name: aws.String("p")}); err != nil {
				t.Fatalf("third call: %v", err)
			}
			list, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{})
			if err != nil || len(list.Items) != 1 {
				t.Fatalf("plans after 2 failures + 1 success = %d, %v; want 1", len(list.Items), err)
			}
			if calls, applied := e.Calls("CreateUsagePlan"), e.Applied("CreateUsagePlan"); calls != 3 || applied != 1 {
				t.Errorf("Calls/Applied = %d/%d, want 3/1", calls, applied)
			}
		})
	}
}

func TestFailNextWithTheSDKRetryer(t *testing.T) {
	e := New(WithoutQuotas())
	c := e.ClientWithOptions(t, func(o *apigateway.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
	})
	e.FailNext("", 2, http.StatusServiceUnavailable)
	if _, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String("k")}); err != nil {
		t.Fatalf("the SDK's standard retryer did not get past two 503s: %v", err)
	}
	if calls, applied := e.Calls("CreateApiKey"), e.Applied("CreateApiKey"); calls != 3 || applied != 1 {
		t.Errorf("Calls/Applied = %d/%d, want 3/1", calls, applied)
	}
}

func TestDropAfterApply(t *testing.T) {
	e, c, _ := newEmu(t)
	e.DropAfterApply("CreateApiKey", 1)
	_, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String("lost-response")})
	if err == nil {
		t.Fatal("CreateApiKey succeeded although its response was dropped")
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		t.Errorf("a dropped connection surfaced as an API error %q, want a transport error", ae.ErrorCode())
	}
	keys, err := c.GetApiKeys(ctx(t), &apigateway.GetApiKeysInput{NameQuery: aws.String("lost-response")})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) != 1 {
		t.Errorf("the dropped CreateApiKey created %d keys, want 1 (it took effect)", len(keys.Items))
	}
	if calls, applied := e.Calls("CreateApiKey"), e.Applied("CreateApiKey"); calls != 1 || applied != 1 {
		t.Errorf("Calls/Applied = %d/%d, want 1/1", calls, applied)
	}
	if _, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String("next")}); err != nil {
		t.Errorf("the next call failed too: %v", err)
	}
}

func TestFailAfterApply(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	id := createPlan(t, c, "p")
	e.FailAfterApply("UpdateUsagePlan", 1, http.StatusInternalServerError)
	_, err := updatePlan(t, c, id, patch(types.OpAdd, "/apiStages", f.api1+":blue"))
	if _, status := errInfo(err); status != http.StatusInternalServerError {
		t.Fatalf("status = %d (%v), want 500", status, err)
	}
	if got := getPlanView(t, c, id).Stages; !cmp.Equal(got, []string{f.api1 + ":blue"}) {
		t.Errorf("stages = %v: the call should have taken effect", got)
	}
	// A blind retry of the same patch now conflicts: the caller must
	// re-read state to learn its first attempt worked.
	_, err = updatePlan(t, c, id, patch(types.OpAdd, "/apiStages", f.api1+":blue"))
	wantCode(t, err, "ConflictException")
}

func TestSetLatency(t *testing.T) {
	e, c, _ := newEmu(t)
	e.SetLatency("GetUsagePlans", 2*time.Second)
	short, cancel := context.WithTimeout(ctx(t), 20*time.Millisecond)
	defer cancel()
	_, err := c.GetUsagePlans(short, &apigateway.GetUsagePlansInput{})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline exceeded", err)
	}
	if _, err := c.GetApiKeys(ctx(t), &apigateway.GetApiKeysInput{}); err != nil {
		t.Errorf("an operation without latency failed: %v", err)
	}
	e.SetLatency("GetUsagePlans", time.Millisecond)
	if _, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{}); err != nil {
		t.Errorf("with 1 ms latency: %v", err)
	}
}

func TestCountersAndClearFaults(t *testing.T) {
	e, c, _ := newEmu(t)
	e.FailNext("GetApiKeys", 1, http.StatusServiceUnavailable)
	for range 3 {
		_, _ = c.GetApiKeys(ctx(t), &apigateway.GetApiKeysInput{})
	}
	_, _ = c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{})
	got := [4]int{e.Calls("GetApiKeys"), e.Applied("GetApiKeys"), e.Calls(""), e.Applied("")}
	if want := [4]int{3, 2, 4, 3}; got != want {
		t.Errorf("Calls(GetApiKeys), Applied(GetApiKeys), Calls(), Applied() = %v, want %v", got, want)
	}
	e.ResetCounters()
	if e.Calls("") != 0 || e.Applied("") != 0 {
		t.Errorf("counters not reset")
	}
	e.SetThrottleRate("", 1)
	e.FailNext("", 5, 500)
	e.ClearFaults()
	if _, err := c.GetApiKeys(ctx(t), &apigateway.GetApiKeysInput{}); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}

func TestFailTarget(t *testing.T) {
	e, c, vc := newEmu(t)
	f := seedAPIs(e)
	bad, good := createPlan(t, c, "bad"), createPlan(t, c, "good")
	e.ResetCounters()
	e.FailTarget("UpdateUsagePlan", bad, http.StatusServiceUnavailable)
	_, err := updatePlan(t, c, bad, patch(types.OpAdd, "/apiStages", f.api1+":blue"))
	wantCode(t, err, "ServiceUnavailableException")
	if got := getPlanView(t, c, bad).Stages; len(got) != 0 {
		t.Errorf("failed call took effect: %v", got)
	}
	if _, err := updatePlan(t, c, good, patch(types.OpAdd, "/apiStages", f.api1+":blue")); err != nil {
		t.Errorf("another plan failed: %v", err)
	}
	if _, err := c.GetUsagePlan(ctx(t), &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(bad)}); err != nil {
		t.Errorf("another operation on the target failed: %v", err)
	}
	if got := len(e.CallTimes("UpdateUsagePlan")); got != 2 {
		t.Errorf("CallTimes(UpdateUsagePlan) has %d entries, want 2", got)
	}
	e.ClearFaults()
	vc.Advance(DefaultQuotas()["UpdateUsagePlan"].Every)
	if _, err := updatePlan(t, c, bad, patch(types.OpAdd, "/apiStages", f.api1+":blue")); err != nil {
		t.Errorf("after ClearFaults: %v", err)
	}
}
