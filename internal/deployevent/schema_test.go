package deployevent_test

import (
	"bytes"
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
)

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

const schemaFile = "schema/deployment-event.schema.json"

// compileSchema compiles the schema file with a JSON Schema 2020-12
// validator, asserting formats (date-time).
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	s, err := c.Compile(schemaFile)
	if err != nil {
		t.Fatalf("compile %s: %v", schemaFile, err)
	}
	return s
}

// TestSchemaAgreesWithParser validates fixtures and mutated details with
// both the JSON Schema and ParseDetail: they must accept and refuse the same
// documents.
func TestSchemaAgreesWithParser(t *testing.T) {
	schema := compileSchema(t)
	fixture := loadEvent(t, "deployment-completed.json").Detail
	mutate := func(fn func(m map[string]any)) []byte {
		var m map[string]any
		if err := json.Unmarshal(fixture, &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		b, _ := json.Marshal(m)
		return b
	}
	tests := []struct {
		name  string
		raw   []byte
		valid bool
	}{
		{name: "completed fixture", raw: fixture, valid: true},
		{name: "retiring fixture", raw: loadEvent(t, "stack-retiring.json").Detail, valid: true},
		{name: "invalid fixture", raw: loadEvent(t, "invalid-deployment.json").Detail},
		{name: "unknown field", raw: mutate(func(m map[string]any) { m["extra"] = 1 })},
		{name: "missing stage", raw: mutate(func(m map[string]any) { delete(m, "stage") })},
		{name: "bad colour", raw: mutate(func(m map[string]any) { m["colour"] = "teal" })},
		{name: "bad api id", raw: mutate(func(m map[string]any) { m["apiId"] = "ABCDEFGHIJ" })},
		{name: "zero sequence", raw: mutate(func(m map[string]any) { m["sequence"] = 0 })},
		{name: "string sequence", raw: mutate(func(m map[string]any) { m["sequence"] = "7" })},
		{name: "version 2", raw: mutate(func(m map[string]any) { m["version"] = "2" })},
		{name: "short sha", raw: mutate(func(m map[string]any) { m["gitSha"] = "abc" })},
		{name: "time not a date", raw: mutate(func(m map[string]any) { m["time"] = "tomorrow" })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			schemaErr := schema.Validate(doc)
			_, parseErr := deployevent.ParseDetail(tc.raw)
			if (schemaErr == nil) != tc.valid {
				t.Errorf("schema valid = %v, want %v (%v)", schemaErr == nil, tc.valid, schemaErr)
			}
			if (parseErr == nil) != tc.valid {
				t.Errorf("parser valid = %v, want %v (%v)", parseErr == nil, tc.valid, parseErr)
			}
		})
	}
}

func TestSchemaRequiresEveryField(t *testing.T) {
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Properties map[string]json.RawMessage `json:"properties"`
		Required   []string                   `json:"required"`
	}
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	var props []string
	for name := range schema.Properties {
		props = append(props, name)
	}
	slices.Sort(props)
	required := slices.Sorted(slices.Values(schema.Required))
	want := []string{"apiId", "colour", "environment", "gitSha", "sequence", "stackName", "stage", "time", "version"}
	if !slices.Equal(props, want) || !slices.Equal(required, want) {
		t.Errorf("properties %v, required %v; want both %v", props, required, want)
	}
}
