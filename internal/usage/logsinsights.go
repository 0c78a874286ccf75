package usage

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// LogsQuerier is the part of the CloudWatch Logs API the denial source
// calls; *cloudwatchlogs.Client implements it.
type LogsQuerier interface {
	StartQuery(ctx context.Context, in *cloudwatchlogs.StartQueryInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.StartQueryOutput, error)
	GetQueryResults(ctx context.Context, in *cloudwatchlogs.GetQueryResultsInput, optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.GetQueryResultsOutput, error)
}

var _ LogsQuerier = (*cloudwatchlogs.Client)(nil)

// ErrDenialQuery: the Logs Insights query of the denial counts did not
// complete (failed, cancelled, timed out) or returned rows it cannot read.
var ErrDenialQuery = errors.New("denial query")

// MaxDenialRows is the most rows one Logs Insights query returns
// (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_StartQuery.html,
// limit): the customers with the most denials come first, so a day with
// more customers with denials than this loses only the smallest counts.
const MaxDenialRows = 10000

// LogsInsightsDenials reads the per-customer denial counts of one UTC day
// from the authorizer's log group with one CloudWatch Logs Insights query
// over its EMF lines (see DenialEMF): the sum of Denied by CustomerId for
// the environment.
type LogsInsightsDenials struct {
	Client   LogsQuerier
	LogGroup string        // the authorizer's log group name
	Poll     time.Duration // between GetQueryResults calls; 0: 2 s
}

var _ DenialSource = LogsInsightsDenials{}

// DenialQuery is the Logs Insights query for env (a name reEnv accepts).
func DenialQuery(env string) string {
	return `filter Env = "` + env + `" and ispresent(CustomerId) and ispresent(` + DenialMetric + `)` +
		` | stats sum(` + DenialMetric + `) as denied by CustomerId` +
		` | sort denied desc` +
		` | limit ` + strconv.Itoa(MaxDenialRows)
}

// Denials runs the query over [day, day+24h) and waits for its result.
func (s LogsInsightsDenials) Denials(ctx context.Context, env string, day time.Time) (map[string]int64, error) {
	if !reEnv.MatchString(env) {
		return nil, fmt.Errorf("%w: environment %q is not a lowercase name", ErrDenialQuery, env)
	}
	day = day.UTC().Truncate(24 * time.Hour)
	start, err := s.Client.StartQuery(ctx, &cloudwatchlogs.StartQueryInput{
		LogGroupNames: []string{s.LogGroup},
		StartTime:     aws.Int64(day.Unix()),
		// endTime is inclusive (seconds).
		EndTime:     aws.Int64(day.Add(24*time.Hour).Unix() - 1),
		QueryString: aws.String(DenialQuery(env)),
		Limit:       aws.Int32(MaxDenialRows),
	})
	if err != nil {
		return nil, fmt.Errorf("start denial query on %s: %w", s.LogGroup, err)
	}
	id := aws.ToString(start.QueryId)
	poll := s.Poll
	if poll <= 0 {
		poll = 2 * time.Second
	}
	t := time.NewTimer(poll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("denial query %s: %w", id, ctx.Err())
		case <-t.C:
		}
		out, err := s.Client.GetQueryResults(ctx, &cloudwatchlogs.GetQueryResultsInput{QueryId: aws.String(id)})
		if err != nil {
			return nil, fmt.Errorf("denial query %s results: %w", id, err)
		}
		switch out.Status {
		case types.QueryStatusScheduled, types.QueryStatusRunning:
			t.Reset(poll)
			continue
		case types.QueryStatusComplete:
			return denialRows(id, out.Results)
		default:
			return nil, fmt.Errorf("%w %s: status %s", ErrDenialQuery, id, out.Status)
		}
	}
}

// denialRows reads the CustomerId and denied columns.
func denialRows(id string, rows [][]types.ResultField) (map[string]int64, error) {
	counts := make(map[string]int64, len(rows))
	for _, row := range rows {
		var cust, denied string
		for _, f := range row {
			switch aws.ToString(f.Field) {
			case "CustomerId":
				cust = aws.ToString(f.Value)
			case "denied":
				denied = aws.ToString(f.Value)
			}
		}
		if cust == "" {
			continue
		}
		// stats sum() may print a float ("12.0"); counts are whole.
		n, err := strconv.ParseFloat(denied, 64)
		if err != nil || n < 0 || n != math.Trunc(n) || n > math.MaxInt64/2 {
			return nil, fmt.Errorf("%w %s: customer %q: denied %q is not a count", ErrDenialQuery, id, cust, denied)
		}
		counts[cust] += int64(n)
	}
	return counts, nil
}
