package apigw

import (
	"fmt"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// TestConcurrentUse drives every kind of entry point at once: SDK calls,
// data-plane readers, direct helpers, fault setters and counters. Run with
// -race; the final state must account for every call.
func TestConcurrentUse(t *testing.T) {
	e, c, _ := newEmu(t)
	api := e.SeedRestAPI("api", "s0", "s1", "s2")
	var plans []string
	for i := range 3 {
		plans = append(plans, createPlan(t, c, fmt.Sprint("p", i), stageOf(api, fmt.Sprint("s", i))))
	}

	const workers, iters = 8, 20
	var wg sync.WaitGroup
	errs := make(chan error, workers*iters)
	for w := range workers {
		wg.Go(func() {
			plan := plans[w%len(plans)]
			for i := range iters {
				k, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String(fmt.Sprintf("w%d-%d", w, i)), Enabled: true})
				if err != nil {
					errs <- err
					return
				}
				if _, err := c.CreateUsagePlanKey(ctx(t), &apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: k.Id, KeyType: aws.String("API_KEY")}); err != nil {
					errs <- err
					return
				}
				if id, _, _, ok := e.UsagePlanForKeyValue(*k.Value, api, fmt.Sprint("s", w%len(plans))); !ok || id != plan {
					errs <- fmt.Errorf("key %s not admitted to its plan %s (got %q)", *k.Id, plan, id)
					return
				}
				e.RecordUsage(*k.Id, plan, t0)
				if _, err := c.UpdateUsagePlan(ctx(t), &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(plan),
					PatchOperations: []types.PatchOperation{patch(types.OpReplace, "/throttle/rateLimit", fmt.Sprint(i+1))}}); err != nil {
					errs <- err
					return
				}
				if _, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{KeyId: k.Id}); err != nil {
					errs <- err
					return
				}
				_ = e.Calls("")
			}
		})
	}
	wg.Go(func() { // fault settings change under load, on an operation nobody asserts on
		for i := range 50 {
			e.SetThrottleRate("GetRestApis", 0.5)
			e.SetLatency("GetRestApis", 0)
			_, _ = c.GetRestApis(ctx(t), &apigateway.GetRestApisInput{})
			if i%10 == 0 {
				e.ClearFaults()
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	total := 0
	for _, plan := range plans {
		p := apigateway.NewGetUsagePlanKeysPaginator(c, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(plan), Limit: aws.Int32(500)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			total += len(out.Items)
		}
	}
	if total != workers*iters {
		t.Errorf("usage plan keys = %d, want %d", total, workers*iters)
	}
	if got := e.Applied("CreateApiKey"); got != workers*iters {
		t.Errorf("Applied(CreateApiKey) = %d, want %d", got, workers*iters)
	}
	used := int64(0)
	for _, plan := range plans {
		out, err := c.GetUsage(ctx(t), &apigateway.GetUsageInput{UsagePlanId: aws.String(plan), StartDate: aws.String("2026-03-02"), EndDate: aws.String("2026-03-02"), Limit: aws.Int32(500)})
		if err != nil {
			t.Fatal(err)
		}
		for _, days := range out.Items {
			used += days[0][0]
		}
	}
	if used != workers*iters {
		t.Errorf("recorded usage = %d, want %d", used, workers*iters)
	}
}
