package apigw

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// fullAccount seeds the account limits: 300 usage plans (one stage each)
// and 10,000 enabled keys spread over them.
type fullAccount struct {
	e      *Emulator
	c      *apigateway.Client
	api    string
	plans  []string
	keys   []string
	values []string
}

func seedFullAccount(b *testing.B) fullAccount {
	b.Helper()
	e := New(WithoutQuotas())
	stages := make([]string, DefaultMaxUsagePlans+1)
	for i := range stages {
		stages[i] = fmt.Sprint("s", i)
	}
	fa := fullAccount{e: e, c: e.Client(b), api: e.SeedRestAPI("api", stages...)}
	for i := range DefaultMaxUsagePlans {
		id, err := e.SeedUsagePlan(SeedPlan{Name: fmt.Sprint("p", i), Stages: []StageRef{{APIID: fa.api, Stage: stages[i]}}})
		if err != nil {
			b.Fatal(err)
		}
		fa.plans = append(fa.plans, id)
	}
	for i := range DefaultMaxAPIKeys {
		id, value, err := e.SeedAPIKey(SeedKey{Name: fmt.Sprintf("k%05d", i), Enabled: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.AttachKeyDirectly(fa.plans[i%len(fa.plans)], id); err != nil {
			b.Fatal(err)
		}
		fa.keys, fa.values = append(fa.keys, id), append(fa.values, value)
	}
	return fa
}

// BenchmarkFloorGetUsagePlan is the floor: the cheapest SDK round trip (one
// small object) on an otherwise empty emulator. Report the others as ratios
// to it.
func BenchmarkFloorGetUsagePlan(b *testing.B) {
	e := New(WithoutQuotas())
	c := e.Client(b)
	id, err := e.SeedUsagePlan(SeedPlan{Name: "p"})
	if err != nil {
		b.Fatal(err)
	}
	in := &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(id)}
	for b.Loop() {
		if _, err := c.GetUsagePlan(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetUsagePlanFullAccount: the same call with 300 plans and
// 10,000 keys in the account (should stay at the floor).
func BenchmarkGetUsagePlanFullAccount(b *testing.B) {
	fa := seedFullAccount(b)
	in := &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(fa.plans[150])}
	for b.Loop() {
		if _, err := fa.c.GetUsagePlan(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetApiKeysPage500 fetches one 500-key page from the middle of
// 10,000 keys.
func BenchmarkGetApiKeysPage500(b *testing.B) {
	fa := seedFullAccount(b)
	first, err := fa.c.GetApiKeys(b.Context(), &apigateway.GetApiKeysInput{Limit: aws.Int32(500)})
	if err != nil {
		b.Fatal(err)
	}
	in := &apigateway.GetApiKeysInput{Limit: aws.Int32(500), Position: first.Position}
	for b.Loop() {
		if _, err := fa.c.GetApiKeys(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetUsagePlansByKey is the verify step's lookup: the plans of one
// key among 300 plans and 10,000 keys.
func BenchmarkGetUsagePlansByKey(b *testing.B) {
	fa := seedFullAccount(b)
	in := &apigateway.GetUsagePlansInput{KeyId: aws.String(fa.keys[4321])}
	for b.Loop() {
		if _, err := fa.c.GetUsagePlans(b.Context(), in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateUsagePlanBusyPlan swaps a stage in and out of a plan that
// holds 10,000 keys (every key is checked against its other plans).
func BenchmarkUpdateUsagePlanBusyPlan(b *testing.B) {
	e := New(WithoutQuotas())
	c := e.Client(b)
	api := e.SeedRestAPI("api", "a", "b")
	plan, err := e.SeedUsagePlan(SeedPlan{Name: "busy", Stages: []StageRef{{APIID: api, Stage: "a"}}})
	if err != nil {
		b.Fatal(err)
	}
	for i := range DefaultMaxAPIKeys {
		id, _, err := e.SeedAPIKey(SeedKey{Name: fmt.Sprint(i)})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.AttachKeyDirectly(plan, id); err != nil {
			b.Fatal(err)
		}
	}
	ops := [2][]types.PatchOperation{
		{{Op: types.OpAdd, Path: aws.String("/apiStages"), Value: aws.String(api + ":b")}},
		{{Op: types.OpRemove, Path: aws.String("/apiStages"), Value: aws.String(api + ":b")}},
	}
	i := 0
	for b.Loop() {
		if _, err := c.UpdateUsagePlan(b.Context(), &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(plan), PatchOperations: ops[i%2]}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkUsagePlanForKeyValue is the data plane's per-request decision
// (no HTTP), in a full account.
func BenchmarkUsagePlanForKeyValue(b *testing.B) {
	fa := seedFullAccount(b)
	value, stage := fa.values[777], fmt.Sprint("s", 777%len(fa.plans))
	for b.Loop() {
		if _, _, _, ok := fa.e.UsagePlanForKeyValue(value, fa.api, stage); !ok {
			b.Fatal("not admitted")
		}
	}
}
