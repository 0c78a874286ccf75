// Package emf writes CloudWatch embedded metric format (EMF) records
// through a log/slog JSON logger: a Lambda's log line becomes a metric
// without a PutMetricData call (no extra IAM, no extra latency).
//
// A record is a JSON object whose "_aws" member declares the metrics and
// whose root members hold the dimension and metric values; CloudWatch Logs
// extracts it from any log line of the function's log group. slog's JSON
// handler adds "time", "level" and "msg" members, which the format allows.
// Specification: https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
// The functions use Lambda's JSON log format, under which "Lambda does not
// double-encode any log that is already JSON-encoded"
// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html),
// so the record reaches CloudWatch Logs as written.
package emf

import (
	"context"
	"log/slog"
	"slices"
	"time"
)

// Namespace is stagehand's CloudWatch metric namespace.
const Namespace = "Stagehand"

// Metric names.
const (
	// FailingUsagePlans counts usage plans whose UpdateUsagePlan kept
	// failing past the reconciler's bound in one run (dimension
	// Environment). The Shared stack alarms on it.
	FailingUsagePlans = "FailingUsagePlans"
)

// DimEnvironment is the dimension every stagehand metric carries.
const DimEnvironment = "Environment"

// Count logs one EMF record of a Count metric with the given dimensions at
// time at, as an INFO line with message msg.
func Count(ctx context.Context, log *slog.Logger, at time.Time, msg, name string, value float64, dims map[string]string) {
	keys := make([]string, 0, len(dims))
	for k := range dims {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := []any{
		slog.Any("_aws", map[string]any{
			"Timestamp": at.UnixMilli(),
			"CloudWatchMetrics": []any{map[string]any{
				"Namespace":  Namespace,
				"Dimensions": [][]string{keys},
				"Metrics":    []any{map[string]string{"Name": name, "Unit": "Count"}},
			}},
		}),
		slog.Float64(name, value),
	}
	for _, k := range keys {
		attrs = append(attrs, slog.String(k, dims[k]))
	}
	log.InfoContext(ctx, msg, attrs...)
}
