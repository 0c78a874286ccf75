package registry_test

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

func TestPlanValidate(t *testing.T) {
	ok := registry.Plan{Name: "basic", RateLimit: 10, BurstLimit: 20, QuotaLimit: 10000, QuotaPeriod: "DAY"}
	tests := []struct {
		name      string
		edit      func(p *registry.Plan)
		wantField string // "" for valid
	}{
		{"valid", func(*registry.Plan) {}, ""},
		{"no throttle, no quota", func(p *registry.Plan) { *p = registry.Plan{Name: "free"} }, ""},
		{"fractional rate", func(p *registry.Plan) { p.RateLimit = 0.5 }, ""},
		{"week", func(p *registry.Plan) { p.QuotaPeriod = "WEEK" }, ""},
		{"month", func(p *registry.Plan) { p.QuotaPeriod = "MONTH" }, ""},
		{"32-character name", func(p *registry.Plan) { p.Name = "a" + strings.Repeat("b", 31) }, ""},
		{"33-character name", func(p *registry.Plan) { p.Name = "a" + strings.Repeat("b", 32) }, "name"},
		{"upper case and underscore", func(p *registry.Plan) { p.Name = "Bad_Name" }, "name"},
		{"leading digit", func(p *registry.Plan) { p.Name = "1gold" }, "name"},
		{"empty name", func(p *registry.Plan) { p.Name = "" }, "name"},
		{"negative rate", func(p *registry.Plan) { p.RateLimit = -1 }, "rateLimit"},
		{"NaN rate", func(p *registry.Plan) { p.RateLimit = math.NaN() }, "rateLimit"},
		{"infinite rate", func(p *registry.Plan) { p.RateLimit = math.Inf(1) }, "rateLimit"},
		{"negative burst", func(p *registry.Plan) { p.BurstLimit = -20 }, "burstLimit"},
		{"rate without burst", func(p *registry.Plan) { p.BurstLimit = 0 }, "burstLimit"},
		{"burst without rate", func(p *registry.Plan) { p.RateLimit = 0 }, "rateLimit"},
		{"negative quota", func(p *registry.Plan) { p.QuotaLimit = -5 }, "quotaLimit"},
		{"quota without period", func(p *registry.Plan) { p.QuotaPeriod = "" }, "quotaPeriod"},
		{"period without quota", func(p *registry.Plan) { p.QuotaLimit = 0 }, "quotaPeriod"},
		{"lower-case period", func(p *registry.Plan) { p.QuotaPeriod = "day" }, "quotaPeriod"},
		{"year", func(p *registry.Plan) { p.QuotaPeriod = "YEAR" }, "quotaPeriod"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := ok
			tc.edit(&p)
			err := p.Validate()
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *registry.PlanFieldError
			if !errors.As(err, &fe) || fe.Field != tc.wantField || !errors.Is(err, registry.ErrInvalidPlan) {
				t.Fatalf("Validate() = %v, want a PlanFieldError on %s", err, tc.wantField)
			}
		})
	}
}

func TestValidateLimitsAboveInt32(t *testing.T) {
	if err := registry.ValidateThrottle(1, math.MaxInt32+1); err == nil {
		t.Error("burst above int32 accepted")
	}
	if err := registry.ValidateQuota(math.MaxInt32+1, "DAY"); err == nil {
		t.Error("quota above int32 accepted")
	}
}
