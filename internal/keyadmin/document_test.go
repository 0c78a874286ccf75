package keyadmin_test

import (
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/stagehand-dev/stagehand/internal/keyadmin"
)

// The handler validates requests with kin-openapi's own schema validator
// (see keyadmin.New): every schema of the document must keep to the
// keywords that validator shares with JSON Schema 2020-12, or a 3.1-only
// constraint would go unchecked.
func TestDocumentKeepsToSharedKeywords(t *testing.T) {
	doc, err := keyadmin.Document()
	if err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	seen := 0
	err = doc.WalkSchemas(func(ptr string, ref *openapi3.SchemaRef) error {
		seen++
		s := ref.Value
		var bad []string
		check := func(used bool, keyword string) {
			if used {
				bad = append(bad, keyword)
			}
		}
		check(s.Const != nil, "const")
		check(len(s.PrefixItems) > 0, "prefixItems")
		check(s.Contains != nil, "contains")
		check(len(s.PatternProperties) > 0, "patternProperties")
		check(len(s.DependentSchemas) > 0 || len(s.DependentRequired) > 0, "dependent*")
		check(s.PropertyNames != nil, "propertyNames")
		check(s.UnevaluatedItems.Has != nil || s.UnevaluatedItems.Schema != nil, "unevaluatedItems")
		check(s.UnevaluatedProperties.Has != nil || s.UnevaluatedProperties.Schema != nil, "unevaluatedProperties")
		check(s.If != nil || s.Then != nil || s.Else != nil, "if/then/else")
		check(len(s.Defs) > 0, "$defs")
		check(s.ContentSchema != nil, "contentSchema")
		check(s.Type != nil && s.Type.IsMultiple(), "type array")
		check(s.ExclusiveMin.Value != nil || s.ExclusiveMax.Value != nil, "numeric exclusive bounds")
		if len(bad) > 0 {
			t.Errorf("%s uses %s", ptr, strings.Join(bad, ", "))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 40 {
		t.Errorf("walked only %d schemas", seen)
	}
}
