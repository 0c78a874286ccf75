package usage

import (
	"context"
	"encoding/json"
	"time"
)

// Denial metric: the authorizer writes one CloudWatch Embedded Metric
// Format line per denied request (401/403), so CloudWatch counts denials
// per environment and customer without a PutMetricData call:
//
//	{"_aws":{"Timestamp":1764720000000,"CloudWatchMetrics":[{"Namespace":"stagehand/authorizer",
//	  "Dimensions":[["Env","CustomerId"]],"Metrics":[{"Name":"Denied","Unit":"Count"}]}]},
//	 "Env":"prod","CustomerId":"acme","KeyId":"key_…","Reason":"scope","Denied":1}
//
// KeyId and Reason are properties, not dimensions (a dimension per key
// would be a metric per key): a surge found per customer is traced to its
// key with Logs Insights on the same lines. Requests whose credentials name
// no customer are counted under CustomerId "unknown".
// https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
const (
	DenialNamespace = "stagehand/authorizer"
	DenialMetric    = "Denied"
)

// DenialEMF returns the EMF line for one denied request.
func DenialEMF(at time.Time, env, customerID, keyID, reason string) []byte {
	line := map[string]any{
		"_aws": map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  DenialNamespace,
				"Dimensions": [][]string{{"Env", "CustomerId"}},
				"Metrics":    []any{map[string]string{"Name": DenialMetric, "Unit": "Count"}},
			}},
		},
		"Env": env, "CustomerId": customerID, "KeyId": keyID, "Reason": reason, DenialMetric: 1,
	}
	b, _ := json.Marshal(line)
	return b
}

// DenialSource reads the per-customer denial counts of one UTC day (the
// Sum of DenialMetric by CustomerId); the job stores them next to usage
// and looks for surges in them. A CloudWatch GetMetricData implementation
// plugs in here.
type DenialSource interface {
	Denials(ctx context.Context, env string, day time.Time) (map[string]int64, error)
}
