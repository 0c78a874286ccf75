package keyadmin_test

import (
	"testing"

	"github.com/stagehand-dev/stagehand/internal/keyadmin"
	"github.com/stagehand-dev/stagehand/internal/registry"
)

// The API's plan-name schema is the registry's one rule, so a name the CLI
// or a config file refuses is refused here too.
func TestPlanNameSchemaIsTheRegistryRule(t *testing.T) {
	doc, err := keyadmin.Document()
	if err != nil {
		t.Fatal(err)
	}
	ref, ok := doc.Components.Schemas["PlanName"]
	if !ok || ref.Value == nil {
		t.Fatal("no PlanName schema")
	}
	if got := ref.Value.Pattern; got != registry.PlanNamePattern {
		t.Errorf("PlanName pattern = %q, want registry.PlanNamePattern %q", got, registry.PlanNamePattern)
	}
	for _, name := range []string{"basic", "pro-2024", "Bad_Name", "", "a#b"} {
		schemaErr := ref.Value.VisitJSON(name)
		ruleErr := registry.ValidatePlanName(name)
		if (schemaErr == nil) != (ruleErr == nil) {
			t.Errorf("%q: schema says %v, registry says %v", name, schemaErr, ruleErr)
		}
	}
}
