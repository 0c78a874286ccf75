package apigw

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"
)

func TestUsagePlanForKeyValue(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	enabledID, enabled := createKey(t, c, "on", true)
	disabledID, disabled := createKey(t, c, "off", false)
	_, loose := createKey(t, c, "in-no-plan", true)
	plan, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{
		Name: aws.String("gold"), ApiStages: []types.ApiStage{{ApiId: aws.String(f.api1), Stage: aws.String("blue"),
			Throttle: map[string]types.ThrottleSettings{"/pets/GET": {RateLimit: 2, BurstLimit: 3}}}},
		Throttle: &types.ThrottleSettings{RateLimit: 10, BurstLimit: 20},
		Quota:    &types.QuotaSettings{Limit: 100, Period: types.QuotaPeriodTypeDay},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{enabledID, disabledID} {
		if err := attach(t, c, *plan.Id, k); err != nil {
			t.Fatal(err)
		}
	}

	type decision struct {
		PlanID   string
		Throttle *Throttle
		Quota    *Quota
		OK       bool
	}
	tests := []struct {
		name              string
		value, api, stage string
		want              decision
	}{
		{name: "enabled key, stage in plan", value: enabled, api: f.api1, stage: "blue",
			want: decision{PlanID: *plan.Id, Throttle: &Throttle{RateLimit: 10, BurstLimit: 20}, Quota: &Quota{Limit: 100, Period: "DAY"}, OK: true}},
		{name: "stage not in plan (the new colour before reconcile)", value: enabled, api: f.api1, stage: "green"},
		{name: "disabled key", value: disabled, api: f.api1, stage: "blue"},
		{name: "key in no plan", value: loose, api: f.api1, stage: "blue"},
		{name: "unknown value", value: "not-a-key-value-at-all", api: f.api1, stage: "blue"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got decision
			got.PlanID, got.Throttle, got.Quota, got.OK = e.UsagePlanForKeyValue(tc.value, tc.api, tc.stage)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("UsagePlanForKeyValue (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("after WipeAPIStages nothing is admitted", func(t *testing.T) {
		if err := e.WipeAPIStages(*plan.Id); err != nil {
			t.Fatal(err)
		}
		if _, _, _, ok := e.UsagePlanForKeyValue(enabled, f.api1, "blue"); ok {
			t.Error("key admitted after its plan's stages were wiped")
		}
		if got := getPlanView(t, c, *plan.Id).Stages; len(got) != 0 {
			t.Errorf("GetUsagePlan still lists stages %v", got)
		}
	})

	t.Run("MethodThrottle and APIKeyForValue", func(t *testing.T) {
		e2, c2, _ := newEmu(t)
		f2 := seedAPIs(e2)
		p, err := c2.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{Name: aws.String("m"), ApiStages: []types.ApiStage{{ApiId: aws.String(f2.api1), Stage: aws.String("blue"),
			Throttle: map[string]types.ThrottleSettings{"/pets/GET": {RateLimit: 2, BurstLimit: 3}}}}})
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := e2.MethodThrottle(*p.Id, f2.api1, "blue", "/pets", "GET"); !ok || got != (Throttle{RateLimit: 2, BurstLimit: 3}) {
			t.Errorf("MethodThrottle = %+v, %v", got, ok)
		}
		if _, ok := e2.MethodThrottle(*p.Id, f2.api1, "blue", "/pets", "POST"); ok {
			t.Error("MethodThrottle found a throttle that was never set")
		}
		id, value, err := e2.SeedAPIKey(SeedKey{Name: "x", Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if got, on, ok := e2.APIKeyForValue(value); got != id || !on || !ok {
			t.Errorf("APIKeyForValue = %s %v %v, want %s true true", got, on, ok, id)
		}
	})
}

func TestGetUsage(t *testing.T) {
	e, c, vc := newEmu(t)
	f := seedAPIs(e)
	keyA, _ := createKey(t, c, "a", true)
	keyB, _ := createKey(t, c, "b", true)
	plan, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{
		Name: aws.String("p"), ApiStages: []types.ApiStage{stageOf(f.api1, "blue")},
		Quota: &types.QuotaSettings{Limit: 10, Period: types.QuotaPeriodTypeWeek},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{keyA, keyB} {
		if err := attach(t, c, *plan.Id, k); err != nil {
			t.Fatal(err)
		}
	}
	// Monday 2 requests, Tuesday 3 requests for key A; nothing for B.
	for range 2 {
		e.RecordUsage(keyA, *plan.Id, vc.Now())
	}
	vc.Advance(24 * time.Hour)
	for range 3 {
		e.RecordUsage(keyA, *plan.Id, vc.Now())
	}

	tests := []struct {
		name  string
		input apigateway.GetUsageInput
		want  map[string][][]int64
	}{
		{
			name:  "every key of the plan, per day",
			input: apigateway.GetUsageInput{UsagePlanId: plan.Id, StartDate: aws.String("2026-03-02"), EndDate: aws.String("2026-03-04")},
			want: map[string][][]int64{
				keyA: {{2, 8}, {3, 5}, {0, 5}},
				keyB: {{0, 10}, {0, 10}, {0, 10}},
			},
		},
		{
			name:  "one key",
			input: apigateway.GetUsageInput{UsagePlanId: plan.Id, KeyId: aws.String(keyA), StartDate: aws.String("2026-03-03"), EndDate: aws.String("2026-03-03")},
			want:  map[string][][]int64{keyA: {{3, 5}}},
		},
		{
			name:  "a new week resets the quota",
			input: apigateway.GetUsageInput{UsagePlanId: plan.Id, KeyId: aws.String(keyA), StartDate: aws.String("2026-03-09"), EndDate: aws.String("2026-03-09")},
			want:  map[string][][]int64{keyA: {{0, 10}}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.GetUsage(ctx(t), &tc.input)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, out.Items); diff != "" {
				t.Errorf("GetUsage values (-want +got):\n%s", diff)
			}
			if aws.ToString(out.UsagePlanId) != *plan.Id || aws.ToString(out.StartDate) != *tc.input.StartDate {
				t.Errorf("usagePlanId/startDate = %s/%s", aws.ToString(out.UsagePlanId), aws.ToString(out.StartDate))
			}
		})
	}

	t.Run("bad dates", func(t *testing.T) {
		_, err := c.GetUsage(ctx(t), &apigateway.GetUsageInput{UsagePlanId: plan.Id, StartDate: aws.String("2026-03-04"), EndDate: aws.String("2026-03-02")})
		wantCode(t, err, "BadRequestException")
		_, err = c.GetUsage(ctx(t), &apigateway.GetUsageInput{UsagePlanId: plan.Id, StartDate: aws.String("March"), EndDate: aws.String("2026-03-02")})
		wantCode(t, err, "BadRequestException")
	})

	t.Run("paginated over keys", func(t *testing.T) {
		seen := map[string]bool{}
		p := apigateway.NewGetUsagePaginator(c, &apigateway.GetUsageInput{UsagePlanId: plan.Id, StartDate: aws.String("2026-03-02"), EndDate: aws.String("2026-03-02"), Limit: aws.Int32(1)})
		for pages := 0; p.HasMorePages(); pages++ {
			if pages > 3 {
				t.Fatal("pagination does not end")
			}
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			for k := range out.Items {
				seen[k] = true
			}
		}
		if len(seen) != 2 {
			t.Errorf("paginated GetUsage saw %d keys, want 2", len(seen))
		}
	})
}

func TestTags(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	plan := createPlan(t, c, "p", stageOf(f.api1, "blue"))
	arn := "arn:aws:apigateway:us-east-1::/usageplans/" + plan

	if _, err := c.TagResource(ctx(t), &apigateway.TagResourceInput{ResourceArn: aws.String(arn), Tags: map[string]string{"stagehand:env": "prod", "stagehand:plan": "gold"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagResource(ctx(t), &apigateway.UntagResourceInput{ResourceArn: aws.String(arn), TagKeys: []string{"stagehand:plan"}}); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetTags(ctx(t), &apigateway.GetTagsInput{ResourceArn: aws.String(arn)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"stagehand:env": "prod"}, got.Tags); diff != "" {
		t.Errorf("GetTags (-want +got):\n%s", diff)
	}
	list, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{})
	if err != nil || list.Items[0].Tags["stagehand:env"] != "prod" {
		t.Errorf("GetUsagePlans tags = %v, %v", list.Items, err)
	}

	errTests := []struct {
		name, arn, code string
	}{
		{name: "unknown plan", arn: "arn:aws:apigateway:us-east-1::/usageplans/nope00", code: "NotFoundException"},
		{name: "not an API Gateway ARN", arn: "arn:aws:s3:::bucket", code: "BadRequestException"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.GetTags(ctx(t), &apigateway.GetTagsInput{ResourceArn: aws.String(tc.arn)})
			wantCode(t, err, tc.code)
		})
	}
}
