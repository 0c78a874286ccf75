package web

import (
	"fmt"
	"slices"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// apiDocs is the operator's OpenAPI document, prepared for the portal:
// every operation with copy-ready requests in four languages.
type apiDocs struct {
	Title, Version, Description string
	BaseURL                     string
	Operations                  []apiOperation
}

type apiOperation struct {
	Method, Path, Summary, Description string
	Examples                           []codeExample
}

type codeExample struct{ Lang, Code string }

// KeyPlaceholder stands for the customer's key in every example.
const KeyPlaceholder = "$STAGEHAND_API_KEY"

func parseAPIDocs(doc []byte, baseURL string) (*apiDocs, error) {
	d := &apiDocs{BaseURL: strings.TrimRight(baseURL, "/")}
	if len(doc) == 0 {
		return d, nil
	}
	spec, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("API documentation: parse OpenAPI document: %w", err)
	}
	if spec.Info != nil {
		d.Title, d.Version, d.Description = spec.Info.Title, spec.Info.Version, spec.Info.Description
	}
	if d.BaseURL == "" && len(spec.Servers) > 0 {
		d.BaseURL = strings.TrimRight(spec.Servers[0].URL, "/")
	}
	paths := spec.Paths.InMatchingOrder()
	slices.Sort(paths)
	for _, path := range paths {
		item := spec.Paths.Value(path)
		for _, method := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			op := item.GetOperation(method)
			if op == nil {
				continue
			}
			url := d.BaseURL + path
			d.Operations = append(d.Operations, apiOperation{Method: method, Path: path, Summary: op.Summary,
				Description: op.Description, Examples: examples(method, url, op.RequestBody != nil)})
		}
	}
	return d, nil
}

func examples(method, url string, body bool) []codeExample {
	curlBody, goBody, pyBody, jsBody := "", "nil", "", ""
	if body {
		curlBody = " \\\n  -H 'Content-Type: application/json' -d '{}'"
		goBody = `strings.NewReader("{}")`
		pyBody = ", json={}"
		jsBody = `, headers: { "x-api-key": process.env.STAGEHAND_API_KEY, "Content-Type": "application/json" }, body: "{}"`
	}
	js := fmt.Sprintf("const res = await fetch(%q, { method: %q, headers: { \"x-api-key\": process.env.STAGEHAND_API_KEY } });\nconsole.log(res.status, await res.text());", url, method)
	if body {
		js = fmt.Sprintf("const res = await fetch(%q, { method: %q%s });\nconsole.log(res.status, await res.text());", url, method, jsBody)
	}
	return []codeExample{
		{"curl", fmt.Sprintf("curl -X %s '%s' \\\n  -H \"x-api-key: %s\"%s", method, url, KeyPlaceholder, curlBody)},
		{"Go", fmt.Sprintf("req, _ := http.NewRequest(%q, %q, %s)\nreq.Header.Set(\"x-api-key\", os.Getenv(\"STAGEHAND_API_KEY\"))\nres, err := http.DefaultClient.Do(req)", method, url, goBody)},
		{"Python", fmt.Sprintf("import os, requests\nres = requests.request(%q, %q, headers={\"x-api-key\": os.environ[\"STAGEHAND_API_KEY\"]}%s)\nprint(res.status_code, res.text)", method, url, pyBody)},
		{"JavaScript", js},
	}
}
