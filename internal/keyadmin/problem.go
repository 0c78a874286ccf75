package keyadmin

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"

	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// ProblemTypeBase prefixes every problem type; docs/keyadmin.md lists them.
const ProblemTypeBase = "https://stagehand.dev/problems/"

// problem is an RFC 9457 problem detail.
type problem struct {
	Type      string       `json:"type"`
	Title     string       `json:"title"`
	Status    int          `json:"status"`
	Detail    string       `json:"detail,omitempty"`
	Instance  string       `json:"instance,omitempty"`
	RequestID string       `json:"requestId,omitempty"`
	Errors    []fieldError `json:"errors,omitempty"`

	allow     string // the Allow header of a 405
	challenge string // the WWW-Authenticate header of a 401
}

// fieldError names one invalid input.
type fieldError struct {
	In      string `json:"in"`    // body, path, query or header
	Field   string `json:"field"` // name, or path in the body ("scopes[1]")
	Pointer string `json:"pointer,omitempty"`
	Reason  string `json:"reason"`
}

// problemTypes gives each status its problem type and title.
var problemTypes = map[int]struct{ slug, title string }{
	http.StatusBadRequest:            {"validation", "The request is not valid"},
	http.StatusUnauthorized:          {"unauthorized", "Authentication required"},
	http.StatusForbidden:             {"forbidden", "Not allowed"},
	http.StatusNotFound:              {"not-found", "Not found"},
	http.StatusMethodNotAllowed:      {"method-not-allowed", "Method not allowed"},
	http.StatusConflict:              {"conflict", "Conflict with the current state"},
	http.StatusPreconditionFailed:    {"stale-version", "The item changed since that version"},
	http.StatusRequestEntityTooLarge: {"too-large", "Body too large"},
	http.StatusUnsupportedMediaType:  {"unsupported-media-type", "Unsupported media type"},
	http.StatusUnprocessableEntity:   {"idempotency-key-reused", "Idempotency key used for a different request"},
	http.StatusPreconditionRequired:  {"if-match-required", "If-Match required"},
	http.StatusInternalServerError:   {"internal", "Internal error"},
}

func newProblem(status int, detail string) *problem {
	t, ok := problemTypes[status]
	if !ok {
		t = problemTypes[http.StatusInternalServerError]
	}
	return &problem{Type: ProblemTypeBase + t.slug, Title: t.title, Status: status, Detail: detail}
}

// problemFor maps an error from the service layer to a problem. Known
// outcomes (sentinel errors) keep their message, which names ids and
// states but never a secret; anything else is a 500 whose detail stays in
// the logs.
func problemFor(err error) *problem {
	var ve *service.ValidationError
	switch {
	case errors.As(err, &ve):
		p := newProblem(http.StatusBadRequest, "The request is not valid.")
		p.Errors = []fieldError{{Field: ve.Field, Reason: ve.Reason}}
		return p
	case errors.Is(err, registry.ErrBadCursor):
		p := newProblem(http.StatusBadRequest, "The cursor is not one this API issued.")
		p.Errors = []fieldError{{In: "query", Field: "cursor", Reason: "not a cursor from a previous page"}}
		return p
	case errors.Is(err, service.ErrIdempotencyMismatch):
		return newProblem(http.StatusUnprocessableEntity, err.Error())
	case errors.Is(err, registry.ErrVersionMismatch):
		return newProblem(http.StatusPreconditionFailed, err.Error())
	case errors.Is(err, registry.ErrCustomerSuspended):
		return newProblem(http.StatusConflict, err.Error())
	case errors.Is(err, registry.ErrNotFound):
		return newProblem(http.StatusNotFound, err.Error())
	case errors.Is(err, registry.ErrAlreadyExists), errors.Is(err, registry.ErrInvalidTransition),
		errors.Is(err, registry.ErrKeyRotated), errors.Is(err, registry.ErrConflict), errors.Is(err, registry.ErrIdempotencyKeyUsed):
		return newProblem(http.StatusConflict, err.Error())
	}
	return newProblem(http.StatusInternalServerError, "Something failed on our side; the request id identifies it in our logs.")
}

// locate fills in where a service validation error's field is: a path
// parameter of the operation, the Idempotency-Key header, a query
// parameter of a bodiless operation, or else a body field.
func locate(p *problem, op *operation) *problem {
	for i, fe := range p.Errors {
		if fe.In != "" {
			continue
		}
		root, _, _ := strings.Cut(fe.Field, "[")
		switch {
		case slices.Contains(op.pathParams, root):
			fe.In = "path"
		case fe.Field == "Idempotency-Key":
			fe.In = "header"
		case !op.hasBody:
			fe.In = "query"
		default:
			fe.In, fe.Pointer = "body", pointerOf(fe.Field)
		}
		p.Errors[i] = fe
	}
	return p
}

// pointerOf turns a field path ("scopes[1]") into a JSON Pointer
// ("/scopes/1").
func pointerOf(field string) string {
	if field == "" {
		return ""
	}
	r := strings.NewReplacer("~", "~0", "/", "~1", "[", "/", "]", "")
	return "/" + r.Replace(field)
}

// fieldOf turns JSON Pointer segments into a field path.
func fieldOf(segments []string) string {
	var b strings.Builder
	for _, s := range segments {
		if _, err := strconv.Atoi(s); err == nil && b.Len() > 0 {
			b.WriteString("[" + s + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func pointerFromSegments(segments []string) string {
	if len(segments) == 0 {
		return ""
	}
	r := strings.NewReplacer("~", "~0", "/", "~1")
	var b strings.Builder
	for _, s := range segments {
		b.WriteString("/" + r.Replace(s))
	}
	return b.String()
}

// validationProblem turns kin-openapi's request validation errors into a
// 400 listing every offending field.
func validationProblem(err error) *problem {
	p := newProblem(http.StatusBadRequest, "The request does not match the API's OpenAPI document.")
	for _, e := range flatten(err) {
		var re *openapi3filter.RequestError
		if !errors.As(e, &re) {
			p.Errors = append(p.Errors, fieldError{In: "body", Reason: cleanReason(e.Error())})
			continue
		}
		switch {
		case re.Parameter != nil:
			for _, inner := range flatten(re.Err) {
				reason := re.Reason
				if inner != nil {
					reason = schemaReason(inner)
				}
				p.Errors = append(p.Errors, fieldError{In: re.Parameter.In, Field: re.Parameter.Name, Reason: reason})
			}
		default:
			p.Errors = append(p.Errors, bodyErrors(re)...)
		}
	}
	slices.SortFunc(p.Errors, func(a, b fieldError) int {
		return cmp.Or(cmp.Compare(a.In, b.In), cmp.Compare(a.Field, b.Field), cmp.Compare(a.Reason, b.Reason))
	})
	return p
}

// flatten unpacks kin-openapi's multi-errors; a nil error flattens to one
// nil entry so that the caller still reports the outer reason.
func flatten(err error) []error {
	// Not errors.As: a RequestError wraps a MultiError of its own.
	if me, ok := err.(openapi3.MultiError); ok {
		var out []error
		for _, e := range me {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// quotedNames finds the property names a schema error's reason quotes
// ("property \"x\" is unsupported", or the JSON Schema 2020-12 validator's
// "missing properties 'a', 'b'").
var quotedNames = regexp.MustCompile(`["']([^"']*)["']`)

// bodyErrors lists the body fields a RequestError is about.
func bodyErrors(re *openapi3filter.RequestError) []fieldError {
	var out []fieldError
	for _, e := range flatten(re.Err) {
		var se *openapi3.SchemaError
		var pe *openapi3filter.ParseError
		switch {
		case errors.As(e, &se):
			out = append(out, schemaFieldErrors(se)...)
		case errors.As(e, &pe):
			out = append(out, fieldError{In: "body", Reason: "is not valid JSON"})
		case e == nil:
			out = append(out, fieldError{In: "body", Reason: cleanReason(re.Reason)})
		default:
			reason := cleanReason(e.Error())
			if strings.Contains(reason, "required but missing") {
				reason = "a JSON body is required"
			}
			out = append(out, fieldError{In: "body", Reason: reason})
		}
	}
	return out
}

// schemaFieldErrors locates one schema error in the body. A missing or an
// unknown property is reported at the property itself, not at its parent.
func schemaFieldErrors(se *openapi3.SchemaError) []fieldError {
	segs := se.JSONPointer()
	at := func(segs []string, reason string) fieldError {
		return fieldError{In: "body", Field: fieldOf(segs), Pointer: pointerFromSegments(segs), Reason: reason}
	}
	msg := cleanReason(se.Reason)
	var named []string
	for _, m := range quotedNames.FindAllStringSubmatch(msg, -1) {
		named = append(named, m[1])
	}
	switch {
	case se.SchemaField == "required" && strings.Contains(msg, " is missing"):
		// kin-openapi's validator already points at the missing property.
		return []fieldError{at(segs, "is required")}
	case (se.SchemaField == "required" || se.SchemaField == "additionalProperties" || se.SchemaField == "properties") && len(named) > 0:
		reason := "is not a known field"
		if se.SchemaField == "required" {
			reason = "is required"
		}
		var out []fieldError
		for _, n := range named {
			out = append(out, at(append(slices.Clip(segs), n), reason))
		}
		return out
	}
	return []fieldError{at(segs, schemaReason(se))}
}

// schemaReason is a short reason for a schema error.
func schemaReason(err error) string {
	var se *openapi3.SchemaError
	if !errors.As(err, &se) {
		var pe *openapi3filter.ParseError
		if errors.As(err, &pe) {
			return "cannot be parsed: " + cleanReason(pe.Error())
		}
		return cleanReason(err.Error())
	}
	if se.SchemaField == "format" && se.Schema != nil && se.Schema.Format != "" {
		return "must be a valid " + se.Schema.Format
	}
	return cleanReason(se.Reason)
}

var reasonPrefix = regexp.MustCompile(`^(error at "[^"]*": )?(at '[^']*': )?`)

// cleanReason drops the framing and location prefixes the validators put
// around their messages (the location is in field and pointer).
func cleanReason(s string) string {
	if _, rest, ok := strings.Cut(s, "jsonschema validation failed with "); ok {
		// "…with '<schema>'\n- at '': <reason>\n- at …": keep the reasons.
		var reasons []string
		for _, line := range strings.Split(rest, "\n- ")[1:] {
			reasons = append(reasons, reasonPrefix.ReplaceAllString(strings.TrimSpace(line), ""))
		}
		if len(reasons) > 0 {
			return strings.Join(reasons, "; ")
		}
	}
	s = reasonPrefix.ReplaceAllString(s, "")
	if s == "value is required but missing" {
		return "is required"
	}
	return s
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own response types are encoded; they always marshal.
		return `{"type":"` + ProblemTypeBase + `internal","title":"Internal error","status":500}`
	}
	return string(b)
}
