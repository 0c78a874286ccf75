package apigw

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestCreateAPIKey(t *testing.T) {
	generated := regexp.MustCompile(`^[A-Za-z0-9]{40}$`)
	tests := []struct {
		name      string
		input     apigateway.CreateApiKeyInput
		wantCode  string
		wantValue func(string) bool
		want      types.ApiKey
	}{
		{
			name:      "generated value, disabled by default",
			input:     apigateway.CreateApiKeyInput{Name: aws.String("acme-1"), CustomerId: aws.String("acme")},
			wantValue: generated.MatchString,
			want:      types.ApiKey{Name: aws.String("acme-1"), CustomerId: aws.String("acme"), Enabled: false, StageKeys: []string{}},
		},
		{
			name: "given value, enabled, tags",
			input: apigateway.CreateApiKeyInput{Name: aws.String("acme-2"), Value: aws.String("abcdefghij0123456789XYZ"), Enabled: true,
				Description: aws.String("d"), Tags: map[string]string{"stagehand:env": "prod"}},
			wantValue: func(v string) bool { return v == "abcdefghij0123456789XYZ" },
			want: types.ApiKey{Name: aws.String("acme-2"), Enabled: true, Description: aws.String("d"), StageKeys: []string{},
				Tags: map[string]string{"stagehand:env": "prod"}},
		},
		{
			name:     "value shorter than 20 characters",
			input:    apigateway.CreateApiKeyInput{Name: aws.String("x"), Value: aws.String("short")},
			wantCode: "BadRequestException",
		},
		{
			name:     "value already used by another key",
			input:    apigateway.CreateApiKeyInput{Name: aws.String("x"), Value: aws.String("existing-value-0123456789")},
			wantCode: "ConflictException",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, c, _ := newEmu(t)
			if _, _, err := e.SeedAPIKey(SeedKey{Name: "existing", Value: "existing-value-0123456789"}); err != nil {
				t.Fatal(err)
			}
			out, err := c.CreateApiKey(ctx(t), &tc.input)
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
				return
			}
			if err != nil {
				t.Fatalf("CreateApiKey: %v", err)
			}
			if !tc.wantValue(aws.ToString(out.Value)) {
				t.Errorf("value %q not as expected", aws.ToString(out.Value))
			}
			if !regexp.MustCompile(`^[a-z0-9]{10}$`).MatchString(*out.Id) {
				t.Errorf("id %q is not 10 lowercase alphanumerics", *out.Id)
			}
			got, err := c.GetApiKey(ctx(t), &apigateway.GetApiKeyInput{ApiKey: out.Id})
			if err != nil {
				t.Fatal(err)
			}
			gotKey := types.ApiKey{Name: got.Name, CustomerId: got.CustomerId, Enabled: got.Enabled, Description: got.Description,
				StageKeys: got.StageKeys, Tags: got.Tags, Value: got.Value}
			if diff := cmp.Diff(tc.want, gotKey, ignoreSDK, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("GetApiKey without includeValue (-want +got):\n%s", diff)
			}
			if !got.CreatedDate.Equal(t0) {
				t.Errorf("createdDate = %v, want the virtual clock's %v", got.CreatedDate, t0)
			}
			withValue, err := c.GetApiKey(ctx(t), &apigateway.GetApiKeyInput{ApiKey: out.Id, IncludeValue: aws.Bool(true)})
			if err != nil {
				t.Fatal(err)
			}
			if aws.ToString(withValue.Value) != aws.ToString(out.Value) {
				t.Errorf("includeValue=true returned %q, want %q", aws.ToString(withValue.Value), aws.ToString(out.Value))
			}
		})
	}
}

func TestAPIKeyAccountLimit(t *testing.T) {
	e, c, _ := newEmu(t, WithLimits(Limits{APIKeys: 3}))
	for i := range 3 {
		if _, _, err := e.SeedAPIKey(SeedKey{Name: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String("one-too-many")})
	wantCode(t, err, "LimitExceededException")
}

func TestGetAPIKeysFilters(t *testing.T) {
	e, c, _ := newEmu(t)
	for _, k := range []SeedKey{
		{Name: "acme-a", CustomerID: "acme"}, {Name: "acme-b", CustomerID: "acme"}, {Name: "globex-a", CustomerID: "globex"},
		{Name: "acmex", CustomerID: "other"},
	} {
		if _, _, err := e.SeedAPIKey(k); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name       string
		input      apigateway.GetApiKeysInput
		wantNames  []string
		wantValues bool
	}{
		{name: "all", input: apigateway.GetApiKeysInput{}, wantNames: []string{"acme-a", "acme-b", "acmex", "globex-a"}},
		{name: "name is a prefix filter", input: apigateway.GetApiKeysInput{NameQuery: aws.String("acme-")}, wantNames: []string{"acme-a", "acme-b"}},
		{name: "customerId is exact", input: apigateway.GetApiKeysInput{CustomerId: aws.String("acme")}, wantNames: []string{"acme-a", "acme-b"}},
		{name: "both", input: apigateway.GetApiKeysInput{NameQuery: aws.String("acme"), CustomerId: aws.String("other")}, wantNames: []string{"acmex"}},
		{name: "includeValues", input: apigateway.GetApiKeysInput{NameQuery: aws.String("globex"), IncludeValues: aws.Bool(true)}, wantNames: []string{"globex-a"}, wantValues: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := c.GetApiKeys(ctx(t), &tc.input)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range out.Items {
				names = append(names, *k.Name)
				if (k.Value != nil) != tc.wantValues {
					t.Errorf("key %s value present = %v, want %v", *k.Name, k.Value != nil, tc.wantValues)
				}
			}
			if diff := cmp.Diff(tc.wantNames, names, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
				t.Errorf("names (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWalkTenThousandKeys walks the account-limit number of keys with the
// SDK paginator at the maximum page size.
func TestWalkTenThousandKeys(t *testing.T) {
	e, c, _ := newEmu(t)
	for i := range DefaultMaxAPIKeys {
		if _, _, err := e.SeedAPIKey(SeedKey{Name: fmt.Sprintf("k%05d", i), Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	seen := make(map[string]bool, DefaultMaxAPIKeys)
	pages := 0
	p := apigateway.NewGetApiKeysPaginator(c, &apigateway.GetApiKeysInput{Limit: aws.Int32(500)})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(out.Items) > 500 {
			t.Fatalf("page of %d items, limit is 500", len(out.Items))
		}
		for _, k := range out.Items {
			if seen[*k.Id] {
				t.Fatalf("key %s seen twice", *k.Id)
			}
			seen[*k.Id] = true
		}
	}
	if len(seen) != DefaultMaxAPIKeys || pages != DefaultMaxAPIKeys/500 {
		t.Errorf("walked %d keys in %d pages, want %d in %d", len(seen), pages, DefaultMaxAPIKeys, DefaultMaxAPIKeys/500)
	}
	_, err := c.CreateApiKey(ctx(t), &apigateway.CreateApiKeyInput{Name: aws.String("10001")})
	wantCode(t, err, "LimitExceededException")
}

func TestUpdateAndDeleteAPIKey(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	keyID, value := createKey(t, c, "k", false)
	plan := createPlan(t, c, "p", stageOf(f.api1, "blue"))
	if err := attach(t, c, plan, keyID); err != nil {
		t.Fatal(err)
	}
	upd := func(ops ...types.PatchOperation) error {
		_, err := c.UpdateApiKey(ctx(t), &apigateway.UpdateApiKeyInput{ApiKey: aws.String(keyID), PatchOperations: ops})
		return err
	}
	tests := []struct {
		name     string
		ops      []types.PatchOperation
		wantCode string
		check    func(t *testing.T, k *apigateway.GetApiKeyOutput)
	}{
		{
			name: "enable and rename",
			ops:  []types.PatchOperation{patch(types.OpReplace, "/enabled", "true"), patch(types.OpReplace, "/name", "renamed")},
			check: func(t *testing.T, k *apigateway.GetApiKeyOutput) {
				if !k.Enabled || *k.Name != "renamed" {
					t.Errorf("enabled=%v name=%q, want true, renamed", k.Enabled, *k.Name)
				}
			},
		},
		{name: "bad boolean", ops: []types.PatchOperation{patch(types.OpReplace, "/enabled", "yes please")}, wantCode: "BadRequestException"},
		{name: "unknown path", ops: []types.PatchOperation{patch(types.OpReplace, "/value", "x")}, wantCode: "BadRequestException"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := upd(tc.ops...)
			if tc.wantCode != "" {
				wantCode(t, err, tc.wantCode)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			k, err := c.GetApiKey(ctx(t), &apigateway.GetApiKeyInput{ApiKey: aws.String(keyID)})
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, k)
		})
	}

	if _, _, _, ok := e.UsagePlanForKeyValue(value, f.api1, "blue"); !ok {
		t.Fatal("enabled key in a plan with the stage is not admitted")
	}
	if _, err := c.DeleteApiKey(ctx(t), &apigateway.DeleteApiKeyInput{ApiKey: aws.String(keyID)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.GetApiKey(ctx(t), &apigateway.GetApiKeyInput{ApiKey: aws.String(keyID)})
	wantCode(t, err, "NotFoundException")
	keys, err := c.GetUsagePlanKeys(ctx(t), &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(plan)})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Items) != 0 {
		t.Errorf("deleted key still in its plan: %d usage plan keys", len(keys.Items))
	}
	if _, _, _, ok := e.UsagePlanForKeyValue(value, f.api1, "blue"); ok {
		t.Error("deleted key still admitted")
	}
}

func TestUsagePlanKeys(t *testing.T) {
	e, c, _ := newEmu(t)
	f := seedAPIs(e)
	plan := createPlan(t, c, "p", stageOf(f.api1, "blue"))
	keyID, value := createKey(t, c, "alpha-1", true)
	other, _ := createKey(t, c, "beta-1", true)

	t.Run("create returns the key", func(t *testing.T) {
		out, err := c.CreateUsagePlanKey(ctx(t), &apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(keyID), KeyType: aws.String("API_KEY")})
		if err != nil {
			t.Fatal(err)
		}
		want := types.UsagePlanKey{Id: aws.String(keyID), Name: aws.String("alpha-1"), Type: aws.String("API_KEY"), Value: aws.String(value)}
		got := types.UsagePlanKey{Id: out.Id, Name: out.Name, Type: out.Type, Value: out.Value}
		if diff := cmp.Diff(want, got, ignoreSDK); diff != "" {
			t.Errorf("CreateUsagePlanKey (-want +got):\n%s", diff)
		}
	})
	if err := attach(t, c, plan, other); err != nil {
		t.Fatal(err)
	}

	errTests := []struct {
		name     string
		input    apigateway.CreateUsagePlanKeyInput
		wantCode string
	}{
		{name: "already in the plan", input: apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(keyID), KeyType: aws.String("API_KEY")}, wantCode: "ConflictException"},
		{name: "unknown key", input: apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String("nokey00000"), KeyType: aws.String("API_KEY")}, wantCode: "NotFoundException"},
		{name: "unknown plan", input: apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String("nop123"), KeyId: aws.String(keyID), KeyType: aws.String("API_KEY")}, wantCode: "NotFoundException"},
		{name: "wrong key type", input: apigateway.CreateUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(keyID), KeyType: aws.String("JWT")}, wantCode: "BadRequestException"},
	}
	for _, tc := range errTests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.CreateUsagePlanKey(ctx(t), &tc.input)
			wantCode(t, err, tc.wantCode)
		})
	}

	t.Run("get and list with a name prefix", func(t *testing.T) {
		got, err := c.GetUsagePlanKey(ctx(t), &apigateway.GetUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(other)})
		if err != nil || *got.Name != "beta-1" {
			t.Fatalf("GetUsagePlanKey = %v, %v", got, err)
		}
		all, err := c.GetUsagePlanKeys(ctx(t), &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(plan)})
		if err != nil || len(all.Items) != 2 {
			t.Fatalf("GetUsagePlanKeys = %d items, %v; want 2", len(all.Items), err)
		}
		alpha, err := c.GetUsagePlanKeys(ctx(t), &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(plan), NameQuery: aws.String("alpha")})
		if err != nil || len(alpha.Items) != 1 || *alpha.Items[0].Id != keyID {
			t.Fatalf("nameQuery=alpha gave %+v, %v", alpha.Items, err)
		}
	})

	t.Run("delete, then it is gone", func(t *testing.T) {
		in := &apigateway.DeleteUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(other)}
		if _, err := c.DeleteUsagePlanKey(ctx(t), in); err != nil {
			t.Fatal(err)
		}
		_, err := c.DeleteUsagePlanKey(ctx(t), in)
		wantCode(t, err, "NotFoundException")
		_, err = c.GetUsagePlanKey(ctx(t), &apigateway.GetUsagePlanKeyInput{UsagePlanId: aws.String(plan), KeyId: aws.String(other)})
		wantCode(t, err, "NotFoundException")
	})
}

func TestUsagePlanKeysPagination(t *testing.T) {
	e, c, _ := newEmu(t)
	plan, err := e.SeedUsagePlan(SeedPlan{Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 1234
	for i := range n {
		id, _, err := e.SeedAPIKey(SeedKey{Name: fmt.Sprintf("key-%04d", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.AttachKeyDirectly(plan, id); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	p := apigateway.NewGetUsagePlanKeysPaginator(c, &apigateway.GetUsagePlanKeysInput{UsagePlanId: aws.String(plan), Limit: aws.Int32(500)})
	var sizes []int
	for p.HasMorePages() {
		out, err := p.NextPage(ctx(t))
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(out.Items))
		for _, k := range out.Items {
			if !strings.HasPrefix(*k.Name, "key-") || seen[*k.Id] {
				t.Fatalf("unexpected or repeated key %+v", k)
			}
			seen[*k.Id] = true
		}
	}
	if diff := cmp.Diff([]int{500, 500, 234}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
}
