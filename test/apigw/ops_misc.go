package apigw

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"
)

// tagsOf resolves a resource ARN such as
// arn:aws:apigateway:us-east-1::/usageplans/abc123 to the resource's tag map.
func (e *Emulator) tagsOf(arn string) (*map[string]string, *apiError) {
	prefix := "arn:aws:apigateway:" + Region + "::/"
	if !strings.HasPrefix(arn, prefix) {
		return nil, badRequest("Invalid resource ARN %s", arn)
	}
	parts := strings.Split(strings.TrimPrefix(arn, prefix), "/")
	switch {
	case len(parts) == 2 && parts[0] == "usageplans":
		if p := e.st.plans[parts[1]]; p != nil {
			return &p.tags, nil
		}
	case len(parts) == 2 && parts[0] == "apikeys":
		if k := e.st.keys[parts[1]]; k != nil {
			return &k.tags, nil
		}
	case len(parts) == 2 && parts[0] == "restapis":
		if a := e.st.apis[parts[1]]; a != nil {
			return &a.tags, nil
		}
	case len(parts) == 4 && parts[0] == "restapis" && parts[2] == "stages":
		if a := e.st.apis[parts[1]]; a != nil && a.stages[parts[3]] != nil {
			return &a.stages[parts[3]].tags, nil
		}
	case len(parts) == 2 && parts[0] == "domainnames":
		if d := e.st.domains[parts[1]]; d != nil {
			return &d.tags, nil
		}
	default:
		return nil, badRequest("Tagging is not emulated for resource %s", arn)
	}
	return nil, notFound("Invalid resource identifier specified %s", arn)
}

func opGetTags(e *Emulator, r *opRequest) (int, any, *apiError) {
	tags, apiErr := e.tagsOf(r.params["resourceArn"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	out := maps.Clone(*tags)
	if out == nil {
		out = map[string]string{}
	}
	return http.StatusOK, map[string]map[string]string{"tags": out}, nil
}

func opTagResource(e *Emulator, r *opRequest) (int, any, *apiError) {
	tags, apiErr := e.tagsOf(r.params["resourceArn"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	var in struct {
		Tags map[string]string `json:"tags"`
	}
	if apiErr := r.decode(&in); apiErr != nil {
		return 0, nil, apiErr
	}
	if *tags == nil {
		*tags = map[string]string{}
	}
	merged := maps.Clone(*tags)
	maps.Copy(merged, in.Tags)
	if len(merged) > 50 {
		return 0, nil, badRequest("A resource can have at most 50 tags")
	}
	*tags = merged
	return http.StatusNoContent, nil, nil
}

func opUntagResource(e *Emulator, r *opRequest) (int, any, *apiError) {
	tags, apiErr := e.tagsOf(r.params["resourceArn"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	for _, k := range r.query["tagKeys"] {
		delete(*tags, k)
	}
	return http.StatusNoContent, nil, nil
}

const dayLayout = "2006-01-02"

// opGetUsage reports, per API key and per day from startDate to endDate
// inclusive, [used, remaining]: used is what RecordUsage recorded that day
// for the plan and key; remaining is the plan's quota limit minus what the
// key used in the quota period up to that day (0 when the plan has no
// quota; the quota offset is ignored). Keys are those of the plan plus any with recorded usage, or only
// keyId when given; pagination is over keys.
func opGetUsage(e *Emulator, r *opRequest) (int, any, *apiError) {
	p, apiErr := e.plan(r.params["usagePlanId"])
	if apiErr != nil {
		return 0, nil, apiErr
	}
	startS, endS := r.query.Get("startDate"), r.query.Get("endDate")
	start, err1 := time.Parse(dayLayout, startS)
	end, err2 := time.Parse(dayLayout, endS)
	if err1 != nil || err2 != nil {
		return 0, nil, badRequest("startDate and endDate are required, in the format yyyy-MM-dd")
	}
	if end.Before(start) {
		return 0, nil, badRequest("endDate must not be before startDate")
	}
	var keyIDs []string
	if keyID := r.query.Get("keyId"); keyID != "" {
		keyIDs = []string{keyID}
	} else {
		set := map[string]struct{}{}
		for _, id := range p.keyIDs {
			set[id] = struct{}{}
		}
		for k := range e.st.usage {
			if k.planID == p.id {
				set[k.keyID] = struct{}{}
			}
		}
		keyIDs = slices.Sorted(maps.Keys(set))
	}
	ids, next, apiErr := paginate(keyIDs, r.query, nil)
	if apiErr != nil {
		return 0, nil, apiErr
	}
	values := map[string][][]int64{}
	for _, keyID := range ids {
		var rows [][]int64
		for d := start; !d.After(end); d = d.AddDate(0, 0, 1) {
			used := e.st.usage[usageKey{planID: p.id, keyID: keyID, day: d.Format(dayLayout)}]
			rows = append(rows, []int64{used, e.remaining(p, keyID, d)})
		}
		values[keyID] = rows
	}
	out := struct {
		UsagePlanID string               `json:"usagePlanId"`
		StartDate   string               `json:"startDate"`
		EndDate     string               `json:"endDate"`
		Values      map[string][][]int64 `json:"values"`
		Position    string               `json:"position,omitempty"`
	}{UsagePlanID: p.id, StartDate: startS, EndDate: endS, Values: values, Position: next}
	return http.StatusOK, out, nil
}

// remaining is the quota left to keyID at the end of day d.
func (e *Emulator) remaining(p *usagePlan, keyID string, d time.Time) int64 {
	if p.quota == nil {
		return 0
	}
	from := d
	switch p.quota.period {
	case "WEEK":
		from = d.AddDate(0, 0, -((int(d.Weekday()) + 6) % 7)) // back to Monday
	case "MONTH":
		from = time.Date(d.Year(), d.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	var used int64
	for day := from; !day.After(d); day = day.AddDate(0, 0, 1) {
		used += e.st.usage[usageKey{planID: p.id, keyID: keyID, day: day.Format(dayLayout)}]
	}
	return max(0, int64(p.quota.limit)-used)
}
