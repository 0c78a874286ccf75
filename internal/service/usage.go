package service

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// GetUsageAPI is the part of the API Gateway client that reads usage.
type GetUsageAPI interface {
	GetUsage(ctx context.Context, in *apigateway.GetUsageInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsageOutput, error)
}

var _ GetUsageAPI = (*apigateway.Client)(nil)

// MaxUsageDays is the longest period one usage report covers.
const MaxUsageDays = 90

// DateLayout is how usage dates are written (API Gateway's format).
const DateLayout = "2006-01-02"

// DayUsage is one day of a customer's metered requests.
type DayUsage struct {
	Date      string // YYYY-MM-DD (UTC)
	Used      int64
	Remaining int64 // quota left in that period, as API Gateway reports it (0 without a quota)
}

// UsageReport is a customer's metered usage in one environment: the
// requests counted against its API Gateway metering key in its plan's usage
// plan, per day.
type UsageReport struct {
	CustomerID  string
	Env         string
	Plan        string
	UsagePlanID string
	UsageKeyID  string
	Start, End  string // YYYY-MM-DD, inclusive
	Days        []DayUsage
}

// UsageReader reads customers' usage from API Gateway.
type UsageReader struct {
	store *registry.Store
	api   GetUsageAPI
}

// NewUsageReader returns a UsageReader over the registry and API Gateway.
func NewUsageReader(store *registry.Store, api GetUsageAPI) *UsageReader {
	return &UsageReader{store: store, api: api}
}

// Usage reports a customer's usage in env from start to end (dates,
// inclusive; at most MaxUsageDays). A plan without a usage plan id has no
// metering: the report has no days.
func (u *UsageReader) Usage(ctx context.Context, customerID, env string, start, end time.Time) (UsageReport, error) {
	if err := validEnv(env); err != nil {
		return UsageReport{}, err
	}
	start, end = start.UTC().Truncate(24*time.Hour), end.UTC().Truncate(24*time.Hour)
	if end.Before(start) {
		return UsageReport{}, invalid("end", "%s is before start %s", end.Format(DateLayout), start.Format(DateLayout))
	}
	days := int(end.Sub(start)/(24*time.Hour)) + 1
	if days > MaxUsageDays {
		return UsageReport{}, invalid("end", "the period is %d days, at most %d", days, MaxUsageDays)
	}
	sub, err := u.store.GetSubscription(ctx, customerID, env)
	if err != nil {
		return UsageReport{}, err
	}
	rep := UsageReport{
		CustomerID: customerID, Env: env, Plan: sub.Plan, UsageKeyID: sub.UsageKeyID,
		Start: start.Format(DateLayout), End: end.Format(DateLayout), Days: []DayUsage{},
	}
	plan, err := u.store.GetPlan(ctx, env, sub.Plan)
	if err != nil && !errors.Is(err, registry.ErrNotFound) {
		return UsageReport{}, err
	}
	rep.UsagePlanID = plan.UsagePlanID
	if rep.UsagePlanID == "" || rep.UsageKeyID == "" {
		return rep, nil
	}
	p := apigateway.NewGetUsagePaginator(u.api, &apigateway.GetUsageInput{
		UsagePlanId: aws.String(rep.UsagePlanID), KeyId: aws.String(rep.UsageKeyID),
		StartDate: aws.String(rep.Start), EndDate: aws.String(rep.End),
	})
	for p.HasMorePages() {
		out, err := p.NextPage(ctx)
		if err != nil {
			return UsageReport{}, fmt.Errorf("get usage of %s in usage plan %s: %w", rep.UsageKeyID, rep.UsagePlanID, err)
		}
		for i, day := range out.Items[rep.UsageKeyID] {
			if len(day) != 2 {
				continue
			}
			rep.Days = append(rep.Days, DayUsage{
				Date: start.AddDate(0, 0, i).Format(DateLayout), Used: day[0], Remaining: day[1],
			})
		}
	}
	return rep, nil
}
