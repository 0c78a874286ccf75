package apigw

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// planView is the part of a usage plan the tests compare.
type planView struct {
	Name            string
	Description     string
	Stages          []string                          // "apiId:stage" in plan order
	MethodThrottles map[string]types.ThrottleSettings // "apiId:stage resourcePath/method"
	Throttle        *types.ThrottleSettings
	Quota           *types.QuotaSettings
	Tags            map[string]string
}

var ignoreSDK = cmpopts.IgnoreUnexported(types.ThrottleSettings{}, types.QuotaSettings{}, types.ApiStage{}, types.UsagePlan{}, types.ApiKey{}, types.UsagePlanKey{}, types.BasePathMapping{})

func viewOf(name, desc *string, stages []types.ApiStage, th *types.ThrottleSettings, q *types.QuotaSettings, tags map[string]string) planView {
	v := planView{Name: aws.ToString(name), Description: aws.ToString(desc), Throttle: th, Quota: q, Tags: tags}
	for _, s := range stages {
		ref := *s.ApiId + ":" + *s.Stage
		v.Stages = append(v.Stages, ref)
		for k, t := range s.Throttle {
			if v.MethodThrottles == nil {
				v.MethodThrottles = map[string]types.ThrottleSettings{}
			}
			v.MethodThrottles[ref+" "+k] = t
		}
	}
	return v
}

func getPlanView(t *testing.T, c *apigateway.Client, id string) planView {
	t.Helper()
	out, err := c.GetUsagePlan(ctx(t), &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(id)})
	if err != nil {
		t.Fatalf("GetUsagePlan %s: %v", id, err)
	}
	return viewOf(out.Name, out.Description, out.ApiStages, out.Throttle, out.Quota, out.Tags)
}

func TestCreateUsagePlan(t *testing.T) {
	throttles := func(n int) map[string]types.ThrottleSettings {
		m := map[string]types.ThrottleSettings{}
		for i := range n {
			m[fmt.Sprintf("/r%d/GET", i)] = types.ThrottleSettings{RateLimit: 1, BurstLimit: 2}
		}
		return m
	}
	tests := []struct {
		name     string
		input    func(f fixture) *apigateway.CreateUsagePlanInput
		wantCode string
		want     func(f fixture) planView
	}{
		{
			name: "every field round-trips",
			input: func(f fixture) *apigateway.CreateUsagePlanInput {
				return &apigateway.CreateUsagePlanInput{
					Name: aws.String("gold"), Description: aws.String("gold tier"),
					ApiStages: []types.ApiStage{
						{ApiId: aws.String(f.api1), Stage: aws.String("blue"), Throttle: map[string]types.ThrottleSettings{"/pets/GET": {RateLimit: 5, BurstLimit: 10}}},
						stageOf(f.api2, "prod"),
					},
					Throttle: &types.ThrottleSettings{RateLimit: 100.5, BurstLimit: 200},
					Quota:    &types.QuotaSettings{Limit: 1000, Period: types.QuotaPeriodTypeMonth},
					Tags:     map[string]string{"stagehand:env": "prod", "stagehand:plan": "gold"},
				}
			},
			want: func(f fixture) planView {
				return planView{
					Name: "gold", Description: "gold tier",
					Stages:          []string{f.api1 + ":blue", f.api2 + ":prod"},
					MethodThrottles: map[string]types.ThrottleSettings{f.api1 + ":blue /pets/GET": {RateLimit: 5, BurstLimit: 10}},
					Throttle:        &types.ThrottleSettings{RateLimit: 100.5, BurstLimit: 200},
					Quota:           &types.QuotaSettings{Limit: 1000, Period: types.QuotaPeriodTypeMonth},
					Tags:            map[string]string{"stagehand:env": "prod", "stagehand:plan": "gold"},
				}
			},
		},
		{
			name: "20 method throttles on a stage are allowed",
			input: func(f fixture) *apigateway.CreateUsagePlanInput {
				return &apigateway.CreateUsagePlanInput{Name: aws.String("p"), ApiStages: []types.ApiStage{{ApiId: aws.String(f.api1), Stage: aws.String("blue"), Throttle: throttles(20)}}}
			},
			want: func(f fixture) planView {
				v := planView{Name: "p", Stages: []string{f.api1 + ":blue"}, MethodThrottles: map[string]types.ThrottleSettings{}}
				for k, th := range throttles(20) {
					v.MethodThrottles[f.api1+":blue "+k] = th
				}
				return v
			},
		},
		{
			name: "21 method throttles on a stage are refused",
			input: func(f fixture) *apigateway.CreateUsagePlanInput {
				return &apigateway.CreateUsagePlanInput{Name: aws.String("p"), ApiStages: []types.ApiStage{{ApiId: aws.String(f.api1), Stage: aws.String("blue"), Throttle: throttles(21)}}}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "unknown stage",
			input: func(f fixture) *apigateway.CreateUsagePlanInput {
				return &apigateway.CreateUsagePlanInput{Name: aws.String("p"), ApiStages: []types.ApiStage{stageOf(f.api1, "nope")}}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "unknown API",
			input: func(f fixture) *apigateway.CreateUsagePlanInput {
				return &apigateway.CreateUsagePlanInput{Name: aws.String("p"), ApiStages: []types.ApiStage{stageOf("zzzzzzzzzz", "blue")}}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "same stage twice",
			input: func(f fixture) *apigateway.CreateUsagePlanInput {
				return &apigateway.CreateUsagePlanInput{Name: aws.String("p"), ApiStages: []types.ApiStage{stageOf(f.api1, "blue"), stageOf(f.api1, "blue")}}
			},
			wantCode: "ConflictException",
		},
		{
			name: "quota without a period",
			input: func(f fixture) *apigateway.CreateUsagePlanInput {
				return &apigateway.CreateUsagePlanInput{Name: aws.String("p"), Quota: &types.QuotaSettings{Limit: 10}}
			},
			wantCode: "BadRequestException",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, c, _ := newEmu(t)
			f := seedAPIs(e)
			out, err := c.CreateUsagePlan(ctx(t), tc.input(f))
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
				if n := e.Applied("CreateUsagePlan"); n != 0 {
					t.Errorf("Applied(CreateUsagePlan) = %d after a refused create, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateUsagePlan: %v", err)
			}
			created := viewOf(out.Name, out.Description, out.ApiStages, out.Throttle, out.Quota, out.Tags)
			if diff := cmp.Diff(tc.want(f), created, ignoreSDK, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("CreateUsagePlan output (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want(f), getPlanView(t, c, *out.Id), ignoreSDK, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("GetUsagePlan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUsagePlanAccountLimit(t *testing.T) {
	e, c, _ := newEmu(t, WithLimits(Limits{UsagePlans: 2}))
	seedAPIs(e)
	createPlan(t, c, "a")
	createPlan(t, c, "b")
	_, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{Name: aws.String("c")})
	wantCode(t, err, "LimitExceededException")
	if _, status := errInfo(err); status != http.StatusTooManyRequests {
		t.Errorf("LimitExceededException status = %d, want 429 (as the API reference documents)", status)
	}
}

func TestDefaultUsagePlanLimitIs300(t *testing.T) {
	e, c, _ := newEmu(t)
	for i := range DefaultMaxUsagePlans {
		if _, err := e.SeedUsagePlan(SeedPlan{Name: fmt.Sprintf("p%d", i)}); err != nil {
			t.Fatalf("seed plan %d: %v", i, err)
		}
	}
	_, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{Name: aws.String("one-too-many")})
	wantCode(t, err, "LimitExceededException")
}

func TestGetAndDeleteUsagePlan(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	withStage := createPlan(t, c, "with-stage", stageOf(f.api1, "blue"))
	bare := createPlan(t, c, "bare")
	keyID, _ := createKey(t, c, "k", true)
	if err := attach(t, c, bare, keyID); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		id       string
		wantCode string
	}{
		{name: "a plan with API stages cannot be deleted", id: withStage, wantCode: "BadRequestException"},
		{name: "unknown plan", id: "nope00", wantCode: "NotFoundException"},
		{name: "a plan with keys and no stages is deleted", id: bare},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.DeleteUsagePlan(ctx(t), &apigateway.DeleteUsagePlanInput{UsagePlanId: aws.String(tc.id)})
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("DeleteUsagePlan: %v", err)
			}
			_, err = c.GetUsagePlan(ctx(t), &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(tc.id)})
			wantCode(t, err, "NotFoundException")
			plans, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{KeyId: aws.String(keyID)})
			if err != nil {
				t.Fatal(err)
			}
			if len(plans.Items) != 0 {
				t.Errorf("key still reports %d plans after its plan was deleted", len(plans.Items))
			}
		})
	}
}

func TestGetUsagePlansPagination(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	const n = 60
	for i := range n {
		if _, err := e.SeedUsagePlan(SeedPlan{Name: fmt.Sprintf("plan-%02d", i), Tags: map[string]string{"stagehand:plan": fmt.Sprint(i)}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("default page is 25 with a position", func(t *testing.T) {
		out, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Items) != 25 || out.Position == nil {
			t.Fatalf("got %d items, position %v; want 25 and a position", len(out.Items), out.Position)
		}
		if out.Items[0].Tags["stagehand:plan"] == "" {
			t.Errorf("GetUsagePlans items carry no tags")
		}
	})

	t.Run("paginator walks every plan once", func(t *testing.T) {
		seen := map[string]bool{}
		var sizes []int
		p := apigateway.NewGetUsagePlansPaginator(c, &apigateway.GetUsagePlansInput{Limit: aws.Int32(25)})
		for p.HasMorePages() {
			out, err := p.NextPage(ctx(t))
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(out.Items))
			for _, it := range out.Items {
				if seen[*it.Id] {
					t.Fatalf("plan %s returned twice", *it.Id)
				}
				seen[*it.Id] = true
			}
		}
		if diff := cmp.Diff([]int{25, 25, 10}, sizes); diff != "" {
			t.Errorf("page sizes (-want +got):\n%s", diff)
		}
		if len(seen) != n {
			t.Errorf("saw %d plans, want %d", len(seen), n)
		}
	})

	t.Run("limit above 500 is refused", func(t *testing.T) {
		_, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{Limit: aws.Int32(501)})
		wantCode(t, err, "BadRequestException")
	})

	t.Run("a position that is not a token is refused", func(t *testing.T) {
		_, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{Position: aws.String("!!!")})
		wantCode(t, err, "BadRequestException")
	})

	t.Run("keyId returns only the plans that contain the key", func(t *testing.T) {
		keyID, _ := createKey(t, c, "k", true)
		a := createPlan(t, c, "has-key-a", stageOf(f.api1, "blue"))
		b := createPlan(t, c, "has-key-b", stageOf(f.api1, "green"))
		for _, id := range []string{a, b} {
			if err := attach(t, c, id, keyID); err != nil {
				t.Fatal(err)
			}
		}
		out, err := c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{KeyId: aws.String(keyID), Limit: aws.Int32(1)})
		if err != nil {
			t.Fatal(err)
		}
		got := []string{*out.Items[0].Id}
		out, err = c.GetUsagePlans(ctx(t), &apigateway.GetUsagePlansInput{KeyId: aws.String(keyID), Position: out.Position})
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			got = append(got, *it.Id)
		}
		if diff := cmp.Diff([]string{a, b}, got, cmpopts.SortSlices(func(x, y string) bool { return x < y })); diff != "" {
			t.Errorf("plans for key (-want +got):\n%s", diff)
		}
	})
}

// basePlan is the starting point of every patch case: api1:blue with one
// method throttle, a plan throttle and a monthly quota.
func basePlan(t *testing.T, c *apigateway.Client, f fixture) string {
	t.Helper()
	out, err := c.CreateUsagePlan(ctx(t), &apigateway.CreateUsagePlanInput{
		Name: aws.String("base"), Description: aws.String("d"),
		ApiStages: []types.ApiStage{{ApiId: aws.String(f.api1), Stage: aws.String("blue"),
			Throttle: map[string]types.ThrottleSettings{"/pets/GET": {RateLimit: 5, BurstLimit: 10}}}},
		Throttle: &types.ThrottleSettings{RateLimit: 100, BurstLimit: 200},
		Quota:    &types.QuotaSettings{Limit: 1000, Period: types.QuotaPeriodTypeMonth},
	})
	if err != nil {
		t.Fatal(err)
	}
	return *out.Id
}

func baseView(f fixture) planView {
	return planView{
		Name: "base", Description: "d", Stages: []string{f.api1 + ":blue"},
		MethodThrottles: map[string]types.ThrottleSettings{f.api1 + ":blue /pets/GET": {RateLimit: 5, BurstLimit: 10}},
		Throttle:        &types.ThrottleSettings{RateLimit: 100, BurstLimit: 200},
		Quota:           &types.QuotaSettings{Limit: 1000, Period: types.QuotaPeriodTypeMonth},
	}
}

func TestUpdateUsagePlanPatch(t *testing.T) {
	const (
		add     = types.OpAdd
		remove  = types.OpRemove
		replace = types.OpReplace
	)
	tests := []struct {
		name     string
		ops      func(f fixture) []types.PatchOperation
		wantCode string
		want     func(f fixture, v *planView) // edits baseView into the expected result
	}{
		{
			name: "replace name and description",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/name", "n2"), patch(replace, "/description", "d2")}
			},
			want: func(f fixture, v *planView) { v.Name, v.Description = "n2", "d2" },
		},
		{
			name: "replace plan throttle",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/throttle/rateLimit", "7.5"), patch(replace, "/throttle/burstLimit", "15")}
			},
			want: func(f fixture, v *planView) { v.Throttle = &types.ThrottleSettings{RateLimit: 7.5, BurstLimit: 15} },
		},
		{
			name: "replace quota",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/quota/limit", "50"), patch(replace, "/quota/period", "DAY"), patch(replace, "/quota/offset", "0")}
			},
			want: func(f fixture, v *planView) {
				v.Quota = &types.QuotaSettings{Limit: 50, Period: types.QuotaPeriodTypeDay}
			},
		},
		{
			name: "remove throttle and quota",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(remove, "/throttle", ""), patch(remove, "/quota", "")}
			},
			want: func(f fixture, v *planView) { v.Throttle, v.Quota = nil, nil },
		},
		{
			name: "add a stage",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(add, "/apiStages", f.api1+":green")}
			},
			want: func(f fixture, v *planView) { v.Stages = append(v.Stages, f.api1+":green") },
		},
		{
			name: "remove a stage removes its method throttles",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(remove, "/apiStages", f.api1+":blue")}
			},
			want: func(f fixture, v *planView) { v.Stages, v.MethodThrottles = nil, nil },
		},
		{
			name: "swap blue for green in one call",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(add, "/apiStages", f.api1+":green"), patch(remove, "/apiStages", f.api1+":blue")}
			},
			want: func(f fixture, v *planView) { v.Stages, v.MethodThrottles = []string{f.api1 + ":green"}, nil },
		},
		{
			name: "add a stage that does not exist",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(add, "/apiStages", f.api1+":nope")}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "add a stage already in the plan",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(add, "/apiStages", f.api1+":blue")}
			},
			wantCode: "ConflictException",
		},
		{
			name: "remove a stage not in the plan",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(remove, "/apiStages", f.api1+":green")}
			},
			wantCode: "NotFoundException",
		},
		{
			name:     "remove /apiStages without a value",
			ops:      func(f fixture) []types.PatchOperation { return []types.PatchOperation{patch(remove, "/apiStages", "")} },
			wantCode: "BadRequestException",
		},
		{
			name: "replace a method rate limit with ~1 escaping",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/apiStages/"+f.api1+":blue/throttle/~1pets/GET/rateLimit", "7")}
			},
			want: func(f fixture, v *planView) {
				v.MethodThrottles[f.api1+":blue /pets/GET"] = types.ThrottleSettings{RateLimit: 7, BurstLimit: 10}
			},
		},
		{
			name: "a new method throttle on a nested path",
			ops: func(f fixture) []types.PatchOperation {
				p := "/apiStages/" + f.api1 + ":blue/throttle/~1orders~1{id}/POST/"
				return []types.PatchOperation{patch(replace, p+"rateLimit", "2"), patch(replace, p+"burstLimit", "4")}
			},
			want: func(f fixture, v *planView) {
				v.MethodThrottles[f.api1+":blue /orders/{id}/POST"] = types.ThrottleSettings{RateLimit: 2, BurstLimit: 4}
			},
		},
		{
			name: "the root resource is ~1 and keys as //GET",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/apiStages/"+f.api1+":blue/throttle/~1/GET/burstLimit", "3")}
			},
			want: func(f fixture, v *planView) {
				v.MethodThrottles[f.api1+":blue //GET"] = types.ThrottleSettings{BurstLimit: 3}
			},
		},
		{
			name: "an unescaped resource path is accepted too",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/apiStages/"+f.api1+":blue/throttle//pets/GET/burstLimit", "11")}
			},
			want: func(f fixture, v *planView) {
				v.MethodThrottles[f.api1+":blue /pets/GET"] = types.ThrottleSettings{RateLimit: 5, BurstLimit: 11}
			},
		},
		{
			name: "remove one method throttle",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(remove, "/apiStages/"+f.api1+":blue/throttle/~1pets/GET", "")}
			},
			want: func(f fixture, v *planView) { v.MethodThrottles = nil },
		},
		{
			name: "remove every method throttle of a stage",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(remove, "/apiStages/"+f.api1+":blue/throttle", "")}
			},
			want: func(f fixture, v *planView) { v.MethodThrottles = nil },
		},
		{
			name: "replace the whole throttle map of a stage",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/apiStages/"+f.api1+":blue/throttle", `{"/a/GET":{"rateLimit":1,"burstLimit":2}}`)}
			},
			want: func(f fixture, v *planView) {
				v.MethodThrottles = map[string]types.ThrottleSettings{f.api1 + ":blue /a/GET": {RateLimit: 1, BurstLimit: 2}}
			},
		},
		{
			name: "remove of a single rateLimit is not a valid remove path",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(remove, "/apiStages/"+f.api1+":blue/throttle/~1pets/GET/rateLimit", "")}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "remove a method throttle that is not set",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(remove, "/apiStages/"+f.api1+":blue/throttle/~1cats/GET", "")}
			},
			wantCode: "NotFoundException",
		},
		{
			name: "method throttle on a stage not in the plan",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/apiStages/"+f.api1+":green/throttle/~1pets/GET/rateLimit", "1")}
			},
			wantCode: "NotFoundException",
		},
		{
			name: "method throttle with an unknown HTTP method",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/apiStages/"+f.api1+":blue/throttle/~1pets/FETCH/rateLimit", "1")}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "unsupported op",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(types.OpMove, "/name", "x")}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "unknown path",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/colour", "blue")}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "invalid quota period",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/quota/period", "YEAR")}
			},
			wantCode: "BadRequestException",
		},
		{
			name: "negative rate",
			ops: func(f fixture) []types.PatchOperation {
				return []types.PatchOperation{patch(replace, "/throttle/rateLimit", "-1")}
			},
			wantCode: "BadRequestException",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, c, _ := newEmu(t)
			f := seedAPIs(e)
			id := basePlan(t, c, f)
			out, err := updatePlan(t, c, id, tc.ops(f)...)
			want := baseView(f)
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
			} else {
				if err != nil {
					t.Fatalf("UpdateUsagePlan: %v", err)
				}
				tc.want(f, &want)
				got := viewOf(out.Name, out.Description, out.ApiStages, out.Throttle, out.Quota, out.Tags)
				if diff := cmp.Diff(want, got, ignoreSDK, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("UpdateUsagePlan output (-want +got):\n%s", diff)
				}
			}
			// A refused patch leaves the plan as it was.
			if diff := cmp.Diff(want, getPlanView(t, c, id), ignoreSDK, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("GetUsagePlan after the patch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUpdateUsagePlanIsAtomic(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	id := basePlan(t, c, f)
	_, err := updatePlan(t, c, id,
		patch(types.OpAdd, "/apiStages", f.api1+":green"),
		patch(types.OpReplace, "/throttle/rateLimit", "1"),
		patch(types.OpReplace, "/name", "renamed"),
		patch(types.OpAdd, "/apiStages", f.api2+":missing"), // fails last
	)
	wantCode(t, err, "BadRequestException")
	if diff := cmp.Diff(baseView(f), getPlanView(t, c, id), ignoreSDK, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("a failed multi-op patch changed the plan (-want +got):\n%s", diff)
	}
	if n := e.Applied("UpdateUsagePlan"); n != 0 {
		t.Errorf("Applied(UpdateUsagePlan) = %d, want 0", n)
	}
}

func TestMethodThrottleLimit(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	id := createPlan(t, c, "p", stageOf(f.api1, "blue"))
	path := func(i int) string { return fmt.Sprintf("/apiStages/%s:blue/throttle/~1r%d/GET/rateLimit", f.api1, i) }

	var ops []types.PatchOperation
	for i := range 21 {
		ops = append(ops, patch(types.OpReplace, path(i), "1"))
	}
	_, err := updatePlan(t, c, id, ops...)
	wantCode(t, err, "BadRequestException")
	if got := getPlanView(t, c, id).MethodThrottles; len(got) != 0 {
		t.Fatalf("a refused 21-throttle patch left %d throttles", len(got))
	}

	if _, err := updatePlan(t, c, id, ops[:20]...); err != nil {
		t.Fatalf("20 throttles: %v", err)
	}
	_, err = updatePlan(t, c, id, ops[20])
	wantCode(t, err, "BadRequestException")
	// Replacing an existing one is still fine at the limit.
	if _, err := updatePlan(t, c, id, patch(types.OpReplace, path(3), "9")); err != nil {
		t.Fatalf("replace at the limit: %v", err)
	}
}

func TestKeyCannotBeInTwoPlansSharingAStage(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	keyID, _ := createKey(t, c, "k", true)
	blue := createPlan(t, c, "blue", stageOf(f.api1, "blue"))
	alsoBlue := createPlan(t, c, "also-blue", stageOf(f.api1, "blue"), stageOf(f.api2, "prod"))
	green := createPlan(t, c, "green", stageOf(f.api1, "green"))
	if err := attach(t, c, blue, keyID); err != nil {
		t.Fatal(err)
	}

	t.Run("CreateUsagePlanKey into a plan sharing a stage", func(t *testing.T) {
		wantCode(t, attach(t, c, alsoBlue, keyID), "BadRequestException")
	})
	t.Run("CreateUsagePlanKey into a plan with other stages", func(t *testing.T) {
		if err := attach(t, c, green, keyID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("UpdateUsagePlan adding a shared stage to a plan of the key", func(t *testing.T) {
		_, err := updatePlan(t, c, green, patch(types.OpAdd, "/apiStages", f.api1+":blue"))
		wantCode(t, err, "BadRequestException")
		if got := getPlanView(t, c, green).Stages; !cmp.Equal(got, []string{f.api1 + ":green"}) {
			t.Errorf("refused patch changed stages to %v", got)
		}
	})
	t.Run("AttachKeyDirectly applies the same rule", func(t *testing.T) {
		if err := e.AttachKeyDirectly(alsoBlue, keyID); err == nil {
			t.Fatal("AttachKeyDirectly into a plan sharing a stage succeeded")
		}
	})
}

func TestKeyInAtMostTenPlans(t *testing.T) {
	e, c, _ := newEmu(t)
	stages := make([]string, 11)
	for i := range stages {
		stages[i] = fmt.Sprintf("s%d", i)
	}
	api := e.SeedRestAPI("many", stages...)
	keyID, _ := createKey(t, c, "k", true)
	for i, s := range stages {
		id := createPlan(t, c, "p"+s, stageOf(api, s))
		err := attach(t, c, id, keyID)
		if i < 10 && err != nil {
			t.Fatalf("plan %d: %v", i+1, err)
		}
		if i == 10 {
			wantCode(t, err, "LimitExceededException")
		}
	}
}
