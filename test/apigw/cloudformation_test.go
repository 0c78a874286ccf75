package apigw

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
)

// TestCloudFormationUsagePlanSemantics: an update of a usage plan resource
// sets its stages to the template's list, dropping a stage attached outside
// the template (aws-cdk#32544); an unchanged resource is not updated; a
// stack tag change updates every plan; a removed resource is deleted unless
// it is retained. Keys stay where they are.
func TestCloudFormationUsagePlanSemantics(t *testing.T) {
	e, c, _ := newEmu(t)
	ctx := context.Background()
	api := e.SeedRestAPI("api", "prod")
	keyID, keyValue, err := e.SeedAPIKey(SeedKey{Name: "k", Enabled: true})
	if err != nil {
		t.Fatal(err)
	}
	stack := NewCloudFormationStack(e)
	basic := UsagePlanResource{UsagePlanName: "basic", Throttle: &Throttle{RateLimit: 10, BurstLimit: 20}, Quota: &Quota{Limit: 100, Period: "DAY"},
		Tags: map[string]string{"stagehand:plan": "basic"}}
	kept := UsagePlanResource{UsagePlanName: "kept", Retain: true}
	gone := UsagePlanResource{UsagePlanName: "gone"}
	if err := stack.Deploy(map[string]UsagePlanResource{"Basic": basic, "Kept": kept, "Gone": gone}, nil); err != nil {
		t.Fatal(err)
	}
	planID := stack.PhysicalID("Basic")
	// The reconciler attaches the stage and the key outside the template.
	if _, err := c.UpdateUsagePlan(ctx, &apigateway.UpdateUsagePlanInput{UsagePlanId: aws.String(planID),
		PatchOperations: []types.PatchOperation{{Op: types.OpAdd, Path: aws.String("/apiStages"), Value: aws.String(api + ":prod")}}}); err != nil {
		t.Fatal(err)
	}
	if err := e.AttachKeyDirectly(planID, keyID); err != nil {
		t.Fatal(err)
	}
	admitted := func() bool {
		_, _, _, ok := e.UsagePlanForKeyValue(keyValue, api, "prod")
		return ok
	}
	if !admitted() {
		t.Fatal("key not admitted after attaching")
	}

	// Same template: no update, the stage stays.
	if err := stack.Deploy(map[string]UsagePlanResource{"Basic": basic, "Kept": kept, "Gone": gone}, nil); err != nil {
		t.Fatal(err)
	}
	if stack.Updates != 0 || !admitted() {
		t.Fatalf("unchanged template: %d updates, admitted %v", stack.Updates, admitted())
	}
	// A stack-wide tag: every plan is updated and basic loses its stage.
	if err := stack.Deploy(map[string]UsagePlanResource{"Basic": basic, "Kept": kept, "Gone": gone}, map[string]string{"team": "api"}); err != nil {
		t.Fatal(err)
	}
	if stack.Updates != 3 || admitted() {
		t.Fatalf("stack tag change: %d updates (want 3), admitted %v (want false)", stack.Updates, admitted())
	}
	got, err := c.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(planID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.ApiStages) != 0 || got.Tags["team"] != "api" || got.Tags["stagehand:plan"] != "basic" {
		t.Errorf("after the update: stages %v tags %v", got.ApiStages, got.Tags)
	}
	keys, err := c.GetUsagePlanKeys(ctx, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(planID)})
	if err != nil || len(keys.Items) != 1 {
		t.Errorf("keys after the update: %v %v (an update leaves keys alone)", keys, err)
	}
	// A template with the stage declared keeps it across updates.
	withStage := basic
	withStage.ApiStages = []TemplateStage{{ApiID: api, Stage: "prod", Throttle: map[string]Throttle{"/pets/GET": {RateLimit: 1, BurstLimit: 2}}}}
	if err := stack.Deploy(map[string]UsagePlanResource{"Basic": withStage, "Kept": kept, "Gone": gone}, map[string]string{"team": "api"}); err != nil {
		t.Fatal(err)
	}
	if th, ok := e.MethodThrottle(planID, api, "prod", "/pets", "GET"); !admitted() || !ok || th.RateLimit != 1 {
		t.Errorf("declared stage: admitted %v, throttle %+v %v", admitted(), th, ok)
	}
	// DeletionPolicy alone is not a property: no update.
	before := stack.Updates
	retained := withStage
	retained.Retain = true
	if err := stack.Deploy(map[string]UsagePlanResource{"Basic": retained, "Kept": kept, "Gone": gone}, map[string]string{"team": "api"}); err != nil {
		t.Fatal(err)
	}
	if stack.Updates != before {
		t.Errorf("a DeletionPolicy change updated %d plans", stack.Updates-before)
	}
	// Removing resources: retained stays, the other is deleted.
	keptID, goneID := stack.PhysicalID("Kept"), stack.PhysicalID("Gone")
	if err := stack.Deploy(map[string]UsagePlanResource{"Basic": withStage}, map[string]string{"team": "api"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(keptID)}); err != nil {
		t.Errorf("retained plan: %v", err)
	}
	_, err = c.GetUsagePlan(ctx, &apigateway.GetUsagePlanInput{UsagePlanId: aws.String(goneID)})
	wantCode(t, err, "NotFoundException")
}
