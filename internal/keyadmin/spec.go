package keyadmin

import (
	"context"
	_ "embed"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
)

// openAPI is the API's contract, embedded so that the function validates
// requests against exactly the document in the repository.
//
//go:embed openapi.yaml
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document (YAML) that the handler enforces.
func OpenAPI() []byte { return append([]byte(nil), openAPI...) }

// Document parses and validates the OpenAPI document. Each call returns a
// fresh copy.
func Document() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPI)
	if err != nil {
		return nil, fmt.Errorf("load OpenAPI document: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableExamplesValidation()); err != nil {
		return nil, fmt.Errorf("validate OpenAPI document: %w", err)
	}
	return doc, nil
}
