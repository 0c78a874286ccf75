package registry

// Usage time series (package usage collects and judges; billing bills):
//
//	item           PK                           SK                         notes
//	usage day      USAGE#<env>#<customerId>     DAY#<YYYY-MM-DD>           used, remaining, denied (TTL: retention)
//	anomaly mark   USAGE#<env>#<customerId>     ANOMALY#<date>#<kind>      one event per customer, day and kind (TTL)
//
// Access patterns:
//   - a customer's days in a range:  Query USAGE#<env>#<customerId>, SK BETWEEN DAY#<from> AND DAY#<to>
//   - record a day:                  UpdateItem (collections overwrite used/remaining; denials their own attribute)

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// UsageDay is one customer's metered usage on one UTC day.
type UsageDay struct {
	CustomerID string `dynamodbav:"customerId" json:"customerId"`
	Env        string `dynamodbav:"env" json:"env"`
	Date       string `dynamodbav:"date" json:"date"` // YYYY-MM-DD
	Used       int64  `dynamodbav:"used" json:"used"`
	// Remaining is the quota left at the end of the day as API Gateway
	// reported it (0 without a quota).
	Remaining int64 `dynamodbav:"remaining" json:"remaining"`
	// Denied is the authorizer's count of denied requests that day.
	Denied      int64     `dynamodbav:"denied" json:"denied"`
	CollectedAt time.Time `dynamodbav:"collectedAt" json:"collectedAt"`
}

func usagePK(env, customerID string) string { return "USAGE#" + env + "#" + customerID }

// PutUsageDay records used and remaining for a day (a later collection of
// the same day overwrites them: API Gateway's count only grows), keeping
// denied, with a TTL of retention after the day.
func (s *Store) PutUsageDay(ctx context.Context, d UsageDay, retention time.Duration) error {
	day, err := time.Parse(time.DateOnly, d.Date)
	if err != nil {
		return fmt.Errorf("usage day %q: %w", d.Date, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      keyAttrs{PK: usagePK(d.Env, d.CustomerID), SK: "DAY#" + d.Date}.av(),
		UpdateExpression:         aws.String("SET customerId = :c, env = :e, #date = :d, used = :u, remaining = :r, collectedAt = :at, #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{"#date": "date", "#ttl": AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":c": avS(d.CustomerID), ":e": avS(d.Env), ":d": avS(d.Date), ":u": avN(d.Used), ":r": avN(d.Remaining),
			":at": avTime(s.now()), ":ttl": avN(day.Add(retention).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("put usage %s/%s/%s: %w", d.Env, d.CustomerID, d.Date, err)
	}
	return nil
}

// PutDeniedCount records the authorizer's denials of a customer on a day.
func (s *Store) PutDeniedCount(ctx context.Context, env, customerID, date string, denied int64, retention time.Duration) error {
	day, err := time.Parse(time.DateOnly, date)
	if err != nil {
		return fmt.Errorf("usage day %q: %w", date, err)
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      keyAttrs{PK: usagePK(env, customerID), SK: "DAY#" + date}.av(),
		UpdateExpression:         aws.String("SET customerId = :c, env = :e, #date = :d, denied = :n, #ttl = :ttl"),
		ExpressionAttributeNames: map[string]string{"#date": "date", "#ttl": AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":c": avS(customerID), ":e": avS(env), ":d": avS(date), ":n": avN(denied), ":ttl": avN(day.Add(retention).Unix()),
		},
	})
	if err != nil {
		return fmt.Errorf("put denials %s/%s/%s: %w", env, customerID, date, err)
	}
	return nil
}

// ListUsageDays returns a customer's recorded days from..to (inclusive,
// YYYY-MM-DD), oldest first. Days never recorded are absent.
func (s *Store) ListUsageDays(ctx context.Context, env, customerID, from, to string) ([]UsageDay, error) {
	in := &dynamodb.QueryInput{
		TableName:              aws.String(s.table),
		KeyConditionExpression: aws.String("PK = :pk AND SK BETWEEN :from AND :to"),
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pk": avS(usagePK(env, customerID)), ":from": avS("DAY#" + from), ":to": avS("DAY#" + to),
		},
	}
	var out []UsageDay
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list usage %s/%s: %w", env, customerID, err)
		}
		var page []UsageDay
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, fmt.Errorf("unmarshal usage: %w", err)
		}
		out = append(out, page...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// MarkAnomaly records that an anomaly of kind on date was reported for a
// customer; an existing mark is ErrAlreadyExists (report it once).
func (s *Store) MarkAnomaly(ctx context.Context, env, customerID, date, kind string, expires time.Time) error {
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table),
		Item: map[string]types.AttributeValue{
			AttrPK: avS(usagePK(env, customerID)), AttrSK: avS("ANOMALY#" + date + "#" + kind),
			"at": avTime(s.now()), AttrTTL: avN(expires.Unix()),
		},
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("anomaly %s %s of %s: %w", kind, date, customerID, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("mark anomaly: %w", err)
	}
	return nil
}

// UnmarkAnomaly removes a mark whose event could not be sent, so the next
// run reports it.
func (s *Store) UnmarkAnomaly(ctx context.Context, env, customerID, date, kind string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(s.table),
		Key:       keyAttrs{PK: usagePK(env, customerID), SK: "ANOMALY#" + date + "#" + kind}.av(),
	})
	if err != nil {
		return fmt.Errorf("unmark anomaly: %w", err)
	}
	return nil
}
