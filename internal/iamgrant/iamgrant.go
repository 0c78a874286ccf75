// Package iamgrant maps the API Gateway SDK operations a component calls
// to the IAM statements that authorize exactly those calls, so that a role
// is derived from the small interface its code uses (reconcile.Gateway,
// the key-admin service's interfaces) and a test can prove it grants no
// more.
//
// API Gateway's control plane authorizes a request as apigateway:<HTTP
// method> on arn:<partition>:apigateway:<region>::<request path>
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/permissions.html).
// A Grant names that method and path, ids written as "*", plus a Scope:
// tag conditions that limit writes to one environment's resources.
//
// Usage plans and API keys take tags, and a usage plan's tags are
// inherited by its usage plan keys for attribute-based access control
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-tagging-supported-resources.html),
// so aws:ResourceTag/stagehand:env limits UpdateUsagePlan and
// Create/DeleteUsagePlanKey to the environment's plans, and DeleteApiKey to
// its keys; aws:RequestTag and aws:TagKeys limit what a create may tag
// (https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-tagging-iam-policy.html).
// A create that carries tags is also authorized as apigateway:PUT on the
// new resource's tags path (TagsPath).
package iamgrant

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// TagEnv is the tag naming a resource's environment.
const TagEnv = "stagehand:env"

// TagKeyPattern is every tag key stagehand writes.
const TagKeyPattern = "stagehand:*"

// Scope says which tag condition a grant carries.
type Scope int

// Scopes.
const (
	// Unscoped: no condition. Only for reads: listing has no resource
	// tags to test, and a stage or a usage report is read, not changed.
	Unscoped Scope = iota
	// EnvResource: aws:ResourceTag/stagehand:env equals the environment
	// (the resource, or the usage plan of a usage plan key, is the
	// environment's own).
	EnvResource
	// EnvRequest: a create whose request tags the new resource with the
	// environment and with stagehand:* tag keys only.
	EnvRequest
)

func (s Scope) String() string {
	switch s {
	case EnvResource:
		return "env-resource"
	case EnvRequest:
		return "env-request"
	}
	return "unscoped"
}

// Grant authorizes one SDK operation.
type Grant struct {
	// Method is the operation's HTTP method: the IAM action is
	// apigateway:<Method>.
	Method string
	// Path is the operation's request path with each id as "*".
	Path  string
	Scope Scope
	// TagsPath, for a create that carries tags, is the pattern of the new
	// resource's tags path (apigateway:PUT, same conditions as the create).
	TagsPath string
}

// Table maps SDK operation names to their grants.
type Table map[string]Grant

// Op is one operation of an interface with its grant.
type Op struct {
	Name string
	Grant
}

// For returns the grants of the methods of iface (an interface type), in
// method order. A method the table does not map is an error: a new call
// must be granted deliberately.
func (t Table) For(iface reflect.Type) ([]Op, error) {
	if iface.Kind() != reflect.Interface {
		return nil, fmt.Errorf("iamgrant: %s is not an interface", iface)
	}
	var ops []Op
	var missing []string
	for i := 0; i < iface.NumMethod(); i++ {
		name := iface.Method(i).Name
		g, ok := t[name]
		if !ok {
			missing = append(missing, name)
			continue
		}
		ops = append(ops, Op{Name: name, Grant: g})
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("iamgrant: %s has methods with no IAM grant: %s", iface, strings.Join(missing, ", "))
	}
	return ops, nil
}

// Statement is one IAM statement: one action on paths, with the tag
// conditions of its scope.
type Statement struct {
	Action string
	Paths  []string
	Scope  Scope
}

// Conditions renders the statement's IAM condition block for env (nil for
// an unscoped statement).
func (s Statement) Conditions(env string) map[string]any {
	switch s.Scope {
	case EnvResource:
		return map[string]any{"StringEquals": map[string]any{"aws:ResourceTag/" + TagEnv: env}}
	case EnvRequest:
		return map[string]any{
			"StringEquals":            map[string]any{"aws:RequestTag/" + TagEnv: env},
			"ForAllValues:StringLike": map[string]any{"aws:TagKeys": []string{TagKeyPattern}},
		}
	}
	return nil
}

// Statements merges the grants of ops into statements, one per action and
// scope, paths sorted and unique; statements sorted by action then scope.
func Statements(ops ...[]Op) []Statement {
	type key struct {
		action string
		scope  Scope
	}
	paths := map[key][]string{}
	add := func(k key, p string) {
		if !slices.Contains(paths[k], p) {
			paths[k] = append(paths[k], p)
		}
	}
	for _, list := range ops {
		for _, op := range list {
			add(key{"apigateway:" + op.Method, op.Scope}, op.Path)
			if op.TagsPath != "" {
				add(key{"apigateway:PUT", op.Scope}, op.TagsPath)
			}
		}
	}
	out := make([]Statement, 0, len(paths))
	for k, ps := range paths {
		slices.Sort(ps)
		out = append(out, Statement{Action: k.action, Paths: ps, Scope: k.scope})
	}
	slices.SortFunc(out, func(a, b Statement) int {
		if c := strings.Compare(a.Action, b.Action); c != 0 {
			return c
		}
		return int(a.Scope) - int(b.Scope)
	})
	return out
}
