package iamgrant_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/iamgrant"
)

type planAPI interface {
	GetUsagePlan(ctx context.Context, in *apigateway.GetUsagePlanInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsagePlanOutput, error)
	UpdateUsagePlan(ctx context.Context, in *apigateway.UpdateUsagePlanInput, optFns ...func(*apigateway.Options)) (*apigateway.UpdateUsagePlanOutput, error)
}

func TestWire(t *testing.T) {
	tests := []struct{ op, method, path string }{
		{"GetUsagePlans", "GET", "/usageplans"},
		{"UpdateUsagePlan", "PATCH", "/usageplans/*"},
		{"DeleteUsagePlanKey", "DELETE", "/usageplans/*/keys/*"},
		{"GetStage", "GET", "/restapis/*/stages/*"},
		{"CreateApiKey", "POST", "/apikeys"},
	}
	for _, tc := range tests {
		t.Run(tc.op, func(t *testing.T) {
			method, path, err := iamgrant.Wire(tc.op)
			if err != nil || method != tc.method || path != tc.path {
				t.Errorf("Wire(%s) = %s %s, %v; want %s %s", tc.op, method, path, err, tc.method, tc.path)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	good := iamgrant.Table{
		"GetUsagePlan":    {Method: "GET", Path: "/usageplans/*"},
		"UpdateUsagePlan": {Method: "PATCH", Path: "/usageplans/*", Scope: iamgrant.EnvResource},
		"CreateUsagePlan": {Method: "POST", Path: "/usageplans", Scope: iamgrant.EnvRequest, TagsPath: "/tags/*usageplans*"},
	}
	iface := reflect.TypeFor[planAPI]()
	if err := iamgrant.Check(good, iface); err != nil {
		t.Fatalf("good table: %v", err)
	}
	tests := []struct {
		name string
		edit func(iamgrant.Table)
		want string
	}{
		{"an interface method the table does not map", func(tb iamgrant.Table) { delete(tb, "UpdateUsagePlan") }, "no IAM grant: UpdateUsagePlan"},
		{"a broader path than the call", func(tb iamgrant.Table) {
			tb["UpdateUsagePlan"] = iamgrant.Grant{Method: "PATCH", Path: "/*", Scope: iamgrant.EnvResource}
		}, "granted PATCH /*"},
		{"another verb than the call", func(tb iamgrant.Table) {
			tb["GetUsagePlan"] = iamgrant.Grant{Method: "DELETE", Path: "/usageplans/*", Scope: iamgrant.EnvResource}
		}, "granted DELETE"},
		{"a write without a tag condition", func(tb iamgrant.Table) {
			tb["UpdateUsagePlan"] = iamgrant.Grant{Method: "PATCH", Path: "/usageplans/*"}
		}, "without a tag condition"},
		{"a create with tags and no tag-on-create grant", func(tb iamgrant.Table) {
			tb["CreateUsagePlan"] = iamgrant.Grant{Method: "POST", Path: "/usageplans", Scope: iamgrant.EnvRequest}
		}, "input carries tags true"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tb := iamgrant.Table{}
			for k, v := range good {
				tb[k] = v
			}
			tc.edit(tb)
			err := iamgrant.Check(tb, iface)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestStatements(t *testing.T) {
	ops, err := iamgrant.Table{
		"GetUsagePlan":    {Method: "GET", Path: "/usageplans/*"},
		"UpdateUsagePlan": {Method: "PATCH", Path: "/usageplans/*", Scope: iamgrant.EnvResource},
	}.For(reflect.TypeFor[planAPI]())
	if err != nil {
		t.Fatal(err)
	}
	more := []iamgrant.Op{
		{Name: "CreateUsagePlan", Grant: iamgrant.Grant{Method: "POST", Path: "/usageplans", Scope: iamgrant.EnvRequest, TagsPath: "/tags/*usageplans*"}},
		{Name: "GetUsagePlanKeys", Grant: iamgrant.Grant{Method: "GET", Path: "/usageplans/*/keys"}},
	}
	got := iamgrant.Statements(ops, more)
	want := []iamgrant.Statement{
		{Action: "apigateway:GET", Paths: []string{"/usageplans/*", "/usageplans/*/keys"}},
		{Action: "apigateway:PATCH", Paths: []string{"/usageplans/*"}, Scope: iamgrant.EnvResource},
		{Action: "apigateway:POST", Paths: []string{"/usageplans"}, Scope: iamgrant.EnvRequest},
		{Action: "apigateway:PUT", Paths: []string{"/tags/*usageplans*"}, Scope: iamgrant.EnvRequest},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("statements (-want +got):\n%s", diff)
	}
	wantCond := map[string]any{
		"StringEquals":            map[string]any{"aws:RequestTag/stagehand:env": "prod"},
		"ForAllValues:StringLike": map[string]any{"aws:TagKeys": []string{"stagehand:*"}},
	}
	if diff := cmp.Diff(wantCond, got[2].Conditions("prod")); diff != "" {
		t.Errorf("env-request conditions (-want +got):\n%s", diff)
	}
	if c := got[0].Conditions("prod"); c != nil {
		t.Errorf("unscoped conditions %v, want none", c)
	}
}
