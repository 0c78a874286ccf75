package usage

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/stagehand-dev/stagehand/internal/registry"
)

// GetUsageAPI reads usage; the collector is given reconcile.Client, which
// paces calls to the account's API Gateway budget and retries throttling.
type GetUsageAPI interface {
	GetUsage(ctx context.Context, in *apigateway.GetUsageInput, optFns ...func(*apigateway.Options)) (*apigateway.GetUsageOutput, error)
}

// CollectReport is what one collection read and stored.
type CollectReport struct {
	Env       string `json:"env"`
	Start     string `json:"start"`
	End       string `json:"end"`
	Plans     int    `json:"plans"`
	Customers int    `json:"customers"`
	Days      int    `json:"days"`
	// Unknown counts usage of API Gateway keys no subscription names (a key
	// created by hand); it is not stored.
	Unknown int `json:"unknownKeys"`
}

// Collect reads every usage plan's usage from start to end (UTC days,
// inclusive) with one paged GetUsage per plan (all its keys at once), maps
// metering keys to customers through the subscriptions and stores one
// item per customer and day. A key that moved between plans in the period
// is summed over them. Rerunning it rewrites the same items.
func Collect(ctx context.Context, store *registry.Store, api GetUsageAPI, env string, start, end time.Time, retention time.Duration, pageSize int32) (CollectReport, error) {
	start, end = start.UTC().Truncate(24*time.Hour), end.UTC().Truncate(24*time.Hour)
	rep := CollectReport{Env: env, Start: start.Format(time.DateOnly), End: end.Format(time.DateOnly)}
	if end.Before(start) || end.Sub(start) > 89*24*time.Hour {
		return rep, fmt.Errorf("collect %s..%s: the period must be 1 to 90 days", rep.Start, rep.End)
	}
	owner := map[string]string{} // metering key id -> customer
	for next := ""; ; {
		page, err := store.ListSubscriptions(ctx, env, next, 1000)
		if err != nil {
			return rep, err
		}
		for _, s := range page.Items {
			if s.UsageKeyID != "" {
				owner[s.UsageKeyID] = s.CustomerID
			}
		}
		if next = page.Next; next == "" {
			break
		}
	}
	plans, err := store.ListPlans(ctx, env)
	if err != nil {
		return rep, err
	}
	type cell struct{ used, remaining int64 }
	got := map[string]map[string]cell{} // customer -> date -> usage
	unknown := map[string]bool{}
	for _, p := range plans {
		if p.UsagePlanID == "" {
			continue
		}
		rep.Plans++
		pager := apigateway.NewGetUsagePaginator(api, &apigateway.GetUsageInput{
			UsagePlanId: aws.String(p.UsagePlanID), StartDate: aws.String(rep.Start), EndDate: aws.String(rep.End), Limit: aws.Int32(pageSize),
		})
		for pager.HasMorePages() {
			out, err := pager.NextPage(ctx)
			if err != nil {
				return rep, fmt.Errorf("get usage of usage plan %s: %w", p.UsagePlanID, err)
			}
			for keyID, rows := range out.Items {
				cust, ok := owner[keyID]
				if !ok {
					unknown[keyID] = true
					continue
				}
				if got[cust] == nil {
					got[cust] = map[string]cell{}
				}
				for i, row := range rows {
					if len(row) != 2 {
						continue
					}
					date := start.AddDate(0, 0, i).Format(time.DateOnly)
					c := got[cust][date]
					c.used += row[0]
					c.remaining = max(c.remaining, row[1])
					got[cust][date] = c
				}
			}
		}
	}
	rep.Unknown = len(unknown)
	for cust, days := range got {
		rep.Customers++
		for date, c := range days {
			if err := store.PutUsageDay(ctx, registry.UsageDay{CustomerID: cust, Env: env, Date: date, Used: c.used, Remaining: c.remaining}, retention); err != nil {
				return rep, err
			}
			rep.Days++
		}
	}
	return rep, nil
}
