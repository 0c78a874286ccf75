package iamgrant

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
)

// wireID stands for every id in a request Wire builds.
const wireID = "ID0"

var errCaptured = errors.New("iamgrant: request captured")

type captureTransport struct{ req *http.Request }

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.req = r
	return nil, errCaptured
}

// Wire returns the HTTP method and path (ids as "*") of the API Gateway
// SDK operation op, as the SDK's own serializer builds the request: it
// calls the operation on a client whose transport records the request and
// sends nothing. Tests use it to check a Table against the SDK.
func Wire(op string) (method, path string, err error) {
	tr := &captureTransport{}
	client := apigateway.New(apigateway.Options{
		Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:9"), Credentials: aws.AnonymousCredentials{},
		HTTPClient: &http.Client{Transport: tr}, Retryer: aws.NopRetryer{},
	})
	m := reflect.ValueOf(client).MethodByName(op)
	if !m.IsValid() {
		return "", "", fmt.Errorf("iamgrant: API Gateway has no operation %s", op)
	}
	in := reflect.New(m.Type().In(1).Elem())
	fill(in.Elem())
	m.Call([]reflect.Value{reflect.ValueOf(context.Background()), in})
	if tr.req == nil {
		return "", "", fmt.Errorf("iamgrant: %s sent no request", op)
	}
	segs := strings.Split(tr.req.URL.EscapedPath(), "/")
	for i, s := range segs {
		if s == wireID {
			segs[i] = "*"
		}
	}
	return tr.req.Method, strings.Join(segs, "/"), nil
}

// fill sets every *string and string field of an input struct to wireID,
// so that required path labels are present.
func fill(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if !f.CanSet() {
			continue
		}
		switch {
		case f.Kind() == reflect.String:
			f.SetString(wireID)
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.ValueOf(aws.String(wireID)).Convert(f.Type()))
		}
	}
}

// Check verifies a table against the SDK and the interfaces it serves:
// every method of each interface is mapped; every entry's method and path
// are the operation's own (Wire), so no grant is broader than its call;
// every write (not GET) carries a tag condition; TagsPath is set exactly
// for the operations whose input carries tags.
func Check(t Table, ifaces ...reflect.Type) error {
	var problems []string
	for _, iface := range ifaces {
		if _, err := t.For(iface); err != nil {
			problems = append(problems, err.Error())
		}
	}
	client := reflect.TypeFor[*apigateway.Client]()
	for name, g := range t {
		method, path, err := Wire(name)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if g.Method != method || g.Path != path {
			problems = append(problems, fmt.Sprintf("%s: granted %s %s, the SDK sends %s %s", name, g.Method, g.Path, method, path))
		}
		if g.Method != http.MethodGet && g.Scope == Unscoped {
			problems = append(problems, fmt.Sprintf("%s: a write (%s) without a tag condition", name, g.Method))
		}
		m, _ := client.MethodByName(name)
		_, tags := m.Type.In(2).Elem().FieldByName("Tags")
		if tags != (g.TagsPath != "") {
			problems = append(problems, fmt.Sprintf("%s: input carries tags %v, but TagsPath is %q", name, tags, g.TagsPath))
		}
		if g.TagsPath != "" && (g.Scope != EnvRequest || !strings.HasPrefix(g.TagsPath, "/tags/")) {
			problems = append(problems, fmt.Sprintf("%s: tag-on-create %q must be an env-request grant on /tags/", name, g.TagsPath))
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return errors.New("iamgrant: " + strings.Join(problems, "; "))
	}
	return nil
}
