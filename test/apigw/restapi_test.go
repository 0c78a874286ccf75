package apigw

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"
)

// deployAPI creates a regional REST API, a deployment and the named stage
// through the SDK, as a CI deploy of one colour would.
func deployAPI(t *testing.T, c *apigateway.Client, name, stage string) string {
	t.Helper()
	api, err := c.CreateRestApi(ctx(t), &apigateway.CreateRestApiInput{
		Name:                  aws.String(name),
		ApiKeySource:          types.ApiKeySourceTypeAuthorizer,
		EndpointConfiguration: &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}},
		Tags:                  map[string]string{"stagehand:colour": name},
	})
	if err != nil {
		t.Fatalf("CreateRestApi: %v", err)
	}
	if _, err := c.CreateDeployment(ctx(t), &apigateway.CreateDeploymentInput{RestApiId: api.Id, StageName: aws.String(stage)}); err != nil {
		t.Fatalf("CreateDeployment: %v", err)
	}
	return *api.Id
}

func TestRestAPIsAndStages(t *testing.T) {
	_, c, _ := newEmu(t)
	id := deployAPI(t, c, "blue", "v1")

	t.Run("GetRestApi", func(t *testing.T) {
		got, err := c.GetRestApi(ctx(t), &apigateway.GetRestApiInput{RestApiId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		if *got.Name != "blue" || got.ApiKeySource != types.ApiKeySourceTypeAuthorizer ||
			!cmp.Equal(got.EndpointConfiguration.Types, []types.EndpointType{types.EndpointTypeRegional}) || got.Tags["stagehand:colour"] != "blue" {
			t.Errorf("GetRestApi = %+v", got)
		}
	})

	t.Run("CreateDeployment with stageName created the stage", func(t *testing.T) {
		st, err := c.GetStage(ctx(t), &apigateway.GetStageInput{RestApiId: aws.String(id), StageName: aws.String("v1")})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(st.DeploymentId) == "" {
			t.Error("stage has no deployment id")
		}
	})

	t.Run("CreateStage", func(t *testing.T) {
		dep, err := c.CreateDeployment(ctx(t), &apigateway.CreateDeploymentInput{RestApiId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name     string
			input    apigateway.CreateStageInput
			wantCode string
		}{
			{name: "new stage", input: apigateway.CreateStageInput{RestApiId: aws.String(id), StageName: aws.String("v2"), DeploymentId: dep.Id}},
			{name: "existing stage", input: apigateway.CreateStageInput{RestApiId: aws.String(id), StageName: aws.String("v1"), DeploymentId: dep.Id}, wantCode: "ConflictException"},
			{name: "unknown deployment", input: apigateway.CreateStageInput{RestApiId: aws.String(id), StageName: aws.String("v3"), DeploymentId: aws.String("nodep0")}, wantCode: "BadRequestException"},
			{name: "unknown API", input: apigateway.CreateStageInput{RestApiId: aws.String("nope000000"), StageName: aws.String("v3"), DeploymentId: dep.Id}, wantCode: "NotFoundException"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				_, err := c.CreateStage(ctx(t), &tc.input)
				if tc.wantCode != "" {
					wantCode(t, err, tc.wantCode)
				} else if err != nil {
					t.Fatal(err)
				}
			})
		}
		stages, err := c.GetStages(ctx(t), &apigateway.GetStagesInput{RestApiId: aws.String(id)})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, s := range stages.Item {
			names = append(names, *s.StageName)
		}
		if diff := cmp.Diff([]string{"v1", "v2"}, names); diff != "" {
			t.Errorf("GetStages (-want +got):\n%s", diff)
		}
	})

	t.Run("UpdateStage method throttling", func(t *testing.T) {
		out, err := c.UpdateStage(ctx(t), &apigateway.UpdateStageInput{RestApiId: aws.String(id), StageName: aws.String("v1"), PatchOperations: []types.PatchOperation{
			patch(types.OpReplace, "/*/*/throttling/rateLimit", "100"),
			patch(types.OpReplace, "/*/*/throttling/burstLimit", "50"),
			patch(types.OpReplace, "/~1pets/GET/throttling/rateLimit", "5"),
			patch(types.OpReplace, "/description", "green is live"),
		}})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][2]float64{}
		for k, m := range out.MethodSettings {
			got[k] = [2]float64{m.ThrottlingRateLimit, float64(m.ThrottlingBurstLimit)}
		}
		want := map[string][2]float64{"*/*": {100, 50}, "~1pets/GET": {5, 0}}
		if diff := cmp.Diff(want, got); diff != "" || aws.ToString(out.Description) != "green is live" {
			t.Errorf("methodSettings (-want +got):\n%s description=%q", diff, aws.ToString(out.Description))
		}
		_, err = c.UpdateStage(ctx(t), &apigateway.UpdateStageInput{RestApiId: aws.String(id), StageName: aws.String("v1"), PatchOperations: []types.PatchOperation{
			patch(types.OpReplace, "/*/*/throttling/rateLimit", "1"),
			patch(types.OpReplace, "/*/*/throttling/nonsense", "1"),
		}})
		wantCode(t, err, "BadRequestException")
		st, err := c.GetStage(ctx(t), &apigateway.GetStageInput{RestApiId: aws.String(id), StageName: aws.String("v1")})
		if err != nil {
			t.Fatal(err)
		}
		if r := st.MethodSettings["*/*"].ThrottlingRateLimit; r != 100 {
			t.Errorf("a refused UpdateStage changed rateLimit to %v", r)
		}
	})

	t.Run("a stage in a usage plan cannot be deleted, then can", func(t *testing.T) {
		plan := createPlan(t, c, "p", stageOf(id, "v2"))
		_, err := c.DeleteStage(ctx(t), &apigateway.DeleteStageInput{RestApiId: aws.String(id), StageName: aws.String("v2")})
		wantCode(t, err, "BadRequestException")
		_, err = c.DeleteRestApi(ctx(t), &apigateway.DeleteRestApiInput{RestApiId: aws.String(id)})
		wantCode(t, err, "BadRequestException")
		if _, err := updatePlan(t, c, plan, patch(types.OpRemove, "/apiStages", id+":v2")); err != nil {
			t.Fatal(err)
		}
		if _, err := c.DeleteStage(ctx(t), &apigateway.DeleteStageInput{RestApiId: aws.String(id), StageName: aws.String("v2")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetStage(ctx(t), &apigateway.GetStageInput{RestApiId: aws.String(id), StageName: aws.String("v2")})
		wantCode(t, err, "NotFoundException")
	})

	t.Run("DeleteRestApi", func(t *testing.T) {
		if _, err := c.DeleteRestApi(ctx(t), &apigateway.DeleteRestApiInput{RestApiId: aws.String(id)}); err != nil {
			t.Fatal(err)
		}
		_, err := c.GetRestApi(ctx(t), &apigateway.GetRestApiInput{RestApiId: aws.String(id)})
		wantCode(t, err, "NotFoundException")
	})
}

func TestStageDeleteProtectionCanBeTurnedOff(t *testing.T) {
	e, c, _ := newEmu(t, WithoutStageDeleteProtection())
	f := seedAPIs(e)
	createPlan(t, c, "p", stageOf(f.api2, "prod"))
	if _, err := c.DeleteStage(ctx(t), &apigateway.DeleteStageInput{RestApiId: aws.String(f.api2), StageName: aws.String("prod")}); err != nil {
		t.Fatalf("DeleteStage without protection: %v", err)
	}
}

func TestGetRestApisPagination(t *testing.T) {
	e, c, _ := newEmu(t)
	for i := range 30 {
		e.SeedRestAPI(fmt.Sprintf("api-%d", i), "s")
	}
	n := 0
	p := apigateway.NewGetRestApisPaginator(c, &apigateway.GetRestApisInput{Limit: aws.Int32(7)})
	for pages := 0; p.HasMorePages(); pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		n += len(out.Items)
	}
	if n != 30 {
		t.Errorf("walked %d APIs, want 30", n)
	}
}

func TestDomainNamesAndBasePathMappings(t *testing.T) {
	e, c, _ := newEmu(t)
	blue := deployAPI(t, c, "blue", "live")
	green := deployAPI(t, c, "green", "live")
	const domain = "api.example.com"

	dn, err := c.CreateDomainName(ctx(t), &apigateway.CreateDomainNameInput{
		DomainName:             aws.String(domain),
		RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/abc"),
		EndpointConfiguration:  &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(dn.RegionalDomainName) == "" || aws.ToString(dn.RegionalHostedZoneId) != regionalHostedZoneID || dn.DomainNameStatus != types.DomainNameStatusAvailable {
		t.Errorf("CreateDomainName = %+v", dn)
	}
	_, err = c.CreateDomainName(ctx(t), &apigateway.CreateDomainNameInput{DomainName: aws.String(domain), CertificateArn: aws.String("arn:x")})
	wantCode(t, err, "BadRequestException")
	got, err := c.GetDomainName(ctx(t), &apigateway.GetDomainNameInput{DomainName: aws.String(domain)})
	if err != nil || *got.RegionalDomainName != *dn.RegionalDomainName {
		t.Fatalf("GetDomainName = %+v, %v", got, err)
	}

	mapTests := []struct {
		name     string
		input    apigateway.CreateBasePathMappingInput
		wantCode string
		want     types.BasePathMapping
	}{
		{
			name:  "empty base path is (none)",
			input: apigateway.CreateBasePathMappingInput{DomainName: aws.String(domain), RestApiId: aws.String(blue), Stage: aws.String("live")},
			want:  types.BasePathMapping{BasePath: aws.String("(none)"), RestApiId: aws.String(blue), Stage: aws.String("live")},
		},
		{
			name:  "named base path",
			input: apigateway.CreateBasePathMappingInput{DomainName: aws.String(domain), BasePath: aws.String("orders"), RestApiId: aws.String(blue), Stage: aws.String("live")},
			want:  types.BasePathMapping{BasePath: aws.String("orders"), RestApiId: aws.String(blue), Stage: aws.String("live")},
		},
		{
			name:     "base path taken",
			input:    apigateway.CreateBasePathMappingInput{DomainName: aws.String(domain), BasePath: aws.String("orders"), RestApiId: aws.String(green)},
			wantCode: "ConflictException",
		},
		{
			name:     "unknown stage",
			input:    apigateway.CreateBasePathMappingInput{DomainName: aws.String(domain), BasePath: aws.String("x"), RestApiId: aws.String(blue), Stage: aws.String("nope")},
			wantCode: "BadRequestException",
		},
		{
			name:     "unknown API",
			input:    apigateway.CreateBasePathMappingInput{DomainName: aws.String(domain), BasePath: aws.String("x"), RestApiId: aws.String("nope000000")},
			wantCode: "NotFoundException",
		},
		{
			name:     "unknown domain",
			input:    apigateway.CreateBasePathMappingInput{DomainName: aws.String("other.example.com"), RestApiId: aws.String(blue)},
			wantCode: "NotFoundException",
		},
	}
	for _, tc := range mapTests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.CreateBasePathMapping(ctx(t), &tc.input)
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := types.BasePathMapping{BasePath: out.BasePath, RestApiId: out.RestApiId, Stage: out.Stage}
			if diff := cmp.Diff(tc.want, got, ignoreSDK); diff != "" {
				t.Errorf("CreateBasePathMapping (-want +got):\n%s", diff)
			}
			back, err := c.GetBasePathMapping(ctx(t), &apigateway.GetBasePathMappingInput{DomainName: aws.String(domain), BasePath: out.BasePath})
			if err != nil || *back.RestApiId != *out.RestApiId {
				t.Fatalf("GetBasePathMapping = %+v, %v", back, err)
			}
		})
	}

	t.Run("cutover moves the mapping to green in one patch", func(t *testing.T) {
		out, err := c.UpdateBasePathMapping(ctx(t), &apigateway.UpdateBasePathMappingInput{
			DomainName: aws.String(domain), BasePath: aws.String("(none)"),
			PatchOperations: []types.PatchOperation{patch(types.OpReplace, "/restapiId", green), patch(types.OpReplace, "/stage", "live")},
		})
		if err != nil {
			t.Fatal(err)
		}
		if *out.RestApiId != green {
			t.Errorf("mapping points at %s, want %s", *out.RestApiId, green)
		}
		if api, stage, ok := e.BasePathMapping(domain, ""); !ok || api != green || stage != "live" {
			t.Errorf("BasePathMapping reader = %s %s %v", api, stage, ok)
		}
	})

	t.Run("a cutover to a missing stage changes nothing", func(t *testing.T) {
		_, err := c.UpdateBasePathMapping(ctx(t), &apigateway.UpdateBasePathMappingInput{
			DomainName: aws.String(domain), BasePath: aws.String("orders"),
			PatchOperations: []types.PatchOperation{patch(types.OpReplace, "/restapiId", green), patch(types.OpReplace, "/stage", "gone")},
		})
		wantCode(t, err, "BadRequestException")
		if api, _, _ := e.BasePathMapping(domain, "orders"); api != blue {
			t.Errorf("orders maps to %s after a refused patch, want %s", api, blue)
		}
	})

	t.Run("list and delete", func(t *testing.T) {
		all, err := c.GetBasePathMappings(ctx(t), &apigateway.GetBasePathMappingsInput{DomainName: aws.String(domain)})
		if err != nil || len(all.Items) != 2 {
			t.Fatalf("GetBasePathMappings = %d, %v; want 2", len(all.Items), err)
		}
		if _, err := c.DeleteBasePathMapping(ctx(t), &apigateway.DeleteBasePathMappingInput{DomainName: aws.String(domain), BasePath: aws.String("orders")}); err != nil {
			t.Fatal(err)
		}
		_, err = c.GetBasePathMapping(ctx(t), &apigateway.GetBasePathMappingInput{DomainName: aws.String(domain), BasePath: aws.String("orders")})
		wantCode(t, err, "NotFoundException")
		if _, _, ok := e.BasePathMapping(domain, "orders"); ok {
			t.Error("reader still sees a deleted mapping")
		}
	})
}
