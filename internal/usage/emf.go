package usage

import (
	"context"
	"encoding/json"
	"time"
)

// Denial metric: the authorizer counts denied requests (401/403 whose
// credentials name a customer) per customer, key and status in memory and,
// at most once a minute per instance, writes one CloudWatch Embedded
// Metric Format line per (customer, key, status) with the window's count
// (internal/auth, denials.go):
//
//	{"_aws":{"Timestamp":1764720000000,"CloudWatchMetrics":[{"Namespace":"stagehand/authorizer",
//	  "Dimensions":[["Env"]],"Metrics":[{"Name":"Denied","Unit":"Count"}]}]},
//	 "Env":"prod","CustomerId":"acme","KeyId":"key_…","Status":403,"Denied":17}
//
// Env is the only dimension: one CloudWatch metric per environment (an
// alarm on all denials), not one per customer or key, which would cost a
// custom metric each. CustomerId, KeyId and Status are properties: the
// usage job sums Denied by CustomerId with a Logs Insights query over the
// authorizer's log group (LogsInsightsDenials), and a surge found per
// customer is traced to its key with the same lines (docs/jobs.md).
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
const (
	DenialNamespace = "stagehand/authorizer"
	DenialMetric    = "Denied"
)

// DenialEMF returns the EMF line for n denied requests of one customer's
// key (or JWT client) with one status (401 or 403).
func DenialEMF(at time.Time, env, customerID, keyID string, status int, n int64) []byte {
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  DenialNamespace,
				"Dimensions": [][]string{{"Env"}},
				"Metrics":    []any{map[string]string{"Name": DenialMetric, "Unit": "Count"}},
			}},
		},
		"Env": env, "CustomerId": customerID, "KeyId": keyID, "Status": status, DenialMetric: n,
	}
	b, _ := json.Marshal(line)
	return b
}

// DenialSource reads the per-customer denial counts of one UTC day (the
// Sum of DenialMetric by CustomerId); the job stores them next to usage
// and looks for surges in them. LogsInsightsDenials reads them from the
// authorizer's log group.
type DenialSource interface {
	Denials(ctx context.Context, env string, day time.Time) (map[string]int64, error)
}
