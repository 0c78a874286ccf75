package registry

// Billing items (package billing decides):
//
//	item             PK                       SK                                 notes
//	billing record   BILL#<env>#<date>        CUST#<customerId>#V<version:04>    immutable, conditional put
//	billing account  CUST#<customerId>        BILLING#<system>                   the customer's id in a billing system
//
// Access patterns:
//   - records of a day:          Query BILL#<env>#<date> (export, sending)
//   - record once:               PutItem attribute_not_exists(PK)
//   - delivery markers:          UpdateItem SET sent.<system> conditioned on its absence
//   - billing account:           GetItem / PutItem

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// BillingRecord is one customer's billable usage on one UTC day. It is
// written once (per version) and never changed, except for the delivery
// markers of Sent.
type BillingRecord struct {
	Env        string `dynamodbav:"env" json:"env"`
	Date       string `dynamodbav:"date" json:"date"`
	CustomerID string `dynamodbav:"customerId" json:"customerId"`
	// Version is 1 for a day's record; a correction is a new version.
	Version  int    `dynamodbav:"version" json:"version"`
	Plan     string `dynamodbav:"plan" json:"plan"`
	Quantity int64  `dynamodbav:"quantity" json:"quantity"`
	Unit     string `dynamodbav:"unit" json:"unit"`
	// ID is env/date/customer/vN: the idempotency key every billing system
	// receives for this record.
	ID        string    `dynamodbav:"recordId" json:"id"`
	CreatedAt time.Time `dynamodbav:"createdAt" json:"createdAt"`
	// Sent maps a delivery (a billing system, or "event") to when it
	// succeeded.
	Sent map[string]time.Time `dynamodbav:"sent" json:"sent,omitempty"`
}

func billKey(env, date, customerID string, version int) keyAttrs {
	return keyAttrs{PK: "BILL#" + env + "#" + date, SK: fmt.Sprintf("CUST#%s#V%04d", customerID, version)}
}

// PutBillingRecord stores r once: a record with the same env, date,
// customer and version is ErrAlreadyExists and nothing changes.
func (s *Store) PutBillingRecord(ctx context.Context, r BillingRecord) (BillingRecord, error) {
	r.CreatedAt, r.Sent = s.now(), map[string]time.Time{}
	item, err := marshalItem(billKey(r.Env, r.Date, r.CustomerID, r.Version), indexAttrs{}, r)
	if err != nil {
		return BillingRecord{}, err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if isConditionFailed(err) {
		return BillingRecord{}, fmt.Errorf("billing record %s: %w", r.ID, ErrAlreadyExists)
	}
	if err != nil {
		return BillingRecord{}, fmt.Errorf("put billing record %s: %w", r.ID, err)
	}
	return r, nil
}

// ListBillingRecords returns every record of a day, ordered by customer
// and version.
func (s *Store) ListBillingRecords(ctx context.Context, env, date string) ([]BillingRecord, error) {
	in := &dynamodb.QueryInput{
		TableName: aws.String(s.table), KeyConditionExpression: aws.String("PK = :pk"), ConsistentRead: aws.Bool(true),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS("BILL#" + env + "#" + date)},
	}
	var out []BillingRecord
	for {
		res, err := s.db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list billing records %s/%s: %w", env, date, err)
		}
		var page []BillingRecord
		if err := attributevalue.UnmarshalListOfMaps(res.Items, &page); err != nil {
			return nil, fmt.Errorf("unmarshal billing records: %w", err)
		}
		out = append(out, page...)
		if len(res.LastEvaluatedKey) == 0 {
			return out, nil
		}
		in.ExclusiveStartKey = res.LastEvaluatedKey
	}
}

// MarkBillingSent records that delivery (a billing system's name, or
// "event") of r succeeded; already marked is ErrAlreadyExists.
func (s *Store) MarkBillingSent(ctx context.Context, r BillingRecord, delivery string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       billKey(r.Env, r.Date, r.CustomerID, r.Version).av(),
		UpdateExpression:          aws.String("SET sent.#d = :at"),
		ConditionExpression:       aws.String("attribute_exists(PK) AND attribute_not_exists(sent.#d)"),
		ExpressionAttributeNames:  map[string]string{"#d": delivery},
		ExpressionAttributeValues: map[string]types.AttributeValue{":at": avTime(s.now())},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("billing record %s already sent to %s: %w", r.ID, delivery, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("mark billing record %s sent to %s: %w", r.ID, delivery, err)
	}
	return nil
}

// BillingAccount maps a customer to its id in a billing system.
type BillingAccount struct {
	CustomerID string    `dynamodbav:"customerId" json:"customerId"`
	System     string    `dynamodbav:"system" json:"system"`
	AccountID  string    `dynamodbav:"accountId" json:"accountId"`
	UpdatedAt  time.Time `dynamodbav:"updatedAt" json:"updatedAt"`
}

// ErrBillingAccountNotFound: the customer has no account in that system.
var ErrBillingAccountNotFound = fmt.Errorf("billing account %w", ErrNotFound)

// PutBillingAccount creates or replaces a customer's billing account.
func (s *Store) PutBillingAccount(ctx context.Context, a BillingAccount) error {
	a.UpdatedAt = s.now()
	item, err := marshalItem(keyAttrs{PK: "CUST#" + a.CustomerID, SK: "BILLING#" + a.System}, indexAttrs{}, a)
	if err != nil {
		return err
	}
	if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(s.table), Item: item}); err != nil {
		return fmt.Errorf("put billing account %s/%s: %w", a.CustomerID, a.System, err)
	}
	return nil
}

// GetBillingAccount reads a customer's billing account.
func (s *Store) GetBillingAccount(ctx context.Context, customerID, system string) (BillingAccount, error) {
	var a BillingAccount
	if err := s.get(ctx, keyAttrs{PK: "CUST#" + customerID, SK: "BILLING#" + system}, &a); err != nil {
		if errors.Is(err, ErrNotFound) {
			return a, fmt.Errorf("customer %s in %s: %w", customerID, system, ErrBillingAccountNotFound)
		}
		return a, err
	}
	return a, nil
}
