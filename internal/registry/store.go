package registry

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/stagehand-dev/stagehand/internal/clock"
)

// DynamoDB is the part of the DynamoDB client the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, optFns ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Store reads and writes the registry table. It is safe for concurrent use.
type Store struct {
	db    DynamoDB
	table string
	clock clock.Clock
}

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock used for timestamps (default: the system clock).
func WithClock(c clock.Clock) Option { return func(s *Store) { s.clock = c } }

// New returns a store over the named table.
func New(db DynamoDB, table string, opts ...Option) *Store {
	s := &Store{db: db, table: table, clock: clock.System{}}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Table returns the table name.
func (s *Store) Table() string { return s.table }

func (s *Store) now() time.Time { return s.clock.Now().UTC() }

// keyAttrs is the primary key of an item.
type keyAttrs struct {
	PK string `dynamodbav:"PK"`
	SK string `dynamodbav:"SK"`
}

func (k keyAttrs) av() map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		AttrPK: &types.AttributeValueMemberS{Value: k.PK},
		AttrSK: &types.AttributeValueMemberS{Value: k.SK},
	}
}

// indexAttrs are the optional GSI attributes of an item (sparse indexes).
type indexAttrs struct {
	GSI1PK string `dynamodbav:"GSI1PK,omitempty"`
	GSI1SK string `dynamodbav:"GSI1SK,omitempty"`
	GSI2PK string `dynamodbav:"GSI2PK,omitempty"`
	GSI2SK string `dynamodbav:"GSI2SK,omitempty"`
}

// marshalItem flattens the primary key, index keys and the domain value into
// one item.
func marshalItem(k keyAttrs, idx indexAttrs, v any) (map[string]types.AttributeValue, error) {
	item, err := attributevalue.MarshalMap(v)
	if err != nil {
		return nil, fmt.Errorf("marshal %T: %w", v, err)
	}
	for name, val := range k.av() {
		item[name] = val
	}
	extra, err := attributevalue.MarshalMap(idx)
	if err != nil {
		return nil, fmt.Errorf("marshal index attributes: %w", err)
	}
	for name, val := range extra {
		item[name] = val
	}
	return item, nil
}

func (s *Store) get(ctx context.Context, k keyAttrs, out any) error {
	res, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            k.av(),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return err
	}
	if res.Item == nil {
		return ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(res.Item, out); err != nil {
		return fmt.Errorf("unmarshal %s/%s: %w", k.PK, k.SK, err)
	}
	return nil
}

// listing is one key-range query: the items of one partition of the table
// or of an index, optionally only those whose sort key begins with a
// prefix. Every query goes through one, so that a cursor can be checked
// against the listing it is handed to before DynamoDB sees it.
type listing struct {
	index       string // IndexGSI1 or IndexGSI2; "" for the table
	partition   string // the partition key's value
	sortPrefix  string // "" for the whole partition
	newestFirst bool   // descending sort key order
	consistent  bool   // strongly consistent (the table only)
}

// keyNames are the partition and sort key attributes the listing reads.
func (l listing) keyNames() (pk, sk string) {
	switch l.index {
	case IndexGSI1:
		return AttrGSI1PK, AttrGSI1SK
	case IndexGSI2:
		return AttrGSI2PK, AttrGSI2SK
	}
	return AttrPK, AttrSK
}

func (l listing) input(table string) *dynamodb.QueryInput {
	pk, sk := l.keyNames()
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		KeyConditionExpression:    aws.String(pk + " = :pk"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":pk": avS(l.partition)},
	}
	if l.index != "" {
		in.IndexName = aws.String(l.index)
	}
	if l.sortPrefix != "" {
		in.KeyConditionExpression = aws.String(pk + " = :pk AND begins_with(" + sk + ", :prefix)")
		in.ExpressionAttributeValues[":prefix"] = avS(l.sortPrefix)
	}
	if l.newestFirst {
		in.ScanIndexForward = aws.Bool(false)
	}
	if l.consistent {
		in.ConsistentRead = aws.Bool(true)
	}
	return in
}

// startKey decodes a cursor into the key to resume this listing after. The
// cursor must be one this listing could have issued: exactly the table's
// key attributes (and the index's), in this partition, inside the sort key
// range. Anything else is ErrBadCursor, never a request DynamoDB refuses.
func (l listing) startKey(cursor string) (map[string]types.AttributeValue, error) {
	m, err := decodeCursor(cursor)
	if err != nil {
		return nil, err
	}
	pk, sk := l.keyNames()
	want := []string{AttrPK, AttrSK}
	if l.index != "" {
		want = append(want, pk, sk)
	}
	if len(m) != len(want) {
		return nil, ErrBadCursor
	}
	for _, name := range want {
		if m[name] == "" {
			return nil, ErrBadCursor
		}
	}
	if m[pk] != l.partition || !strings.HasPrefix(m[sk], l.sortPrefix) {
		return nil, ErrBadCursor
	}
	start := make(map[string]types.AttributeValue, len(m))
	for name, v := range m {
		start[name] = avS(v)
	}
	return start, nil
}

// query runs one page of a listing and decodes the items into T.
func query[T any](ctx context.Context, s *Store, l listing, next string, limit int32) (Page[T], error) {
	in := l.input(s.table)
	if limit > 0 {
		in.Limit = aws.Int32(limit)
	}
	if next != "" {
		start, err := l.startKey(next)
		if err != nil {
			return Page[T]{}, err
		}
		in.ExclusiveStartKey = start
	}
	res, err := s.db.Query(ctx, in)
	if err != nil {
		return Page[T]{}, err
	}
	page := Page[T]{Items: make([]T, 0, len(res.Items))}
	if err := attributevalue.UnmarshalListOfMaps(res.Items, &page.Items); err != nil {
		return Page[T]{}, fmt.Errorf("unmarshal query results: %w", err)
	}
	if len(res.LastEvaluatedKey) > 0 {
		page.Next, err = encodeCursor(res.LastEvaluatedKey)
		if err != nil {
			return Page[T]{}, err
		}
	}
	return page, nil
}

// queryAll follows every page of a listing.
func queryAll[T any](ctx context.Context, s *Store, l listing) ([]T, error) {
	var all []T
	next := ""
	for {
		page, err := query[T](ctx, s, l, next, 0)
		if err != nil {
			return nil, err
		}
		all = append(all, page.Items...)
		if page.Next == "" {
			return all, nil
		}
		next = page.Next
	}
}

// ErrBadCursor: a pagination cursor that this store did not issue for the
// listing it was given to.
var ErrBadCursor = errors.New("invalid pagination cursor")

// Cursors are opaque to callers: base64url JSON of the last evaluated key,
// whose attributes in this table are all strings.
func encodeCursor(key map[string]types.AttributeValue) (string, error) {
	m := make(map[string]string, len(key))
	for k, v := range key {
		s, ok := v.(*types.AttributeValueMemberS)
		if !ok {
			return "", fmt.Errorf("cursor attribute %s is not a string", k)
		}
		m[k] = s.Value
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// decodeCursor reads a cursor's attributes; listing.startKey judges them.
func decodeCursor(c string) (map[string]string, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return nil, ErrBadCursor
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil || len(m) == 0 {
		return nil, ErrBadCursor
	}
	return m, nil
}

// transact runs a transaction. When it is cancelled, reasons maps the index
// of each item whose condition failed to the error to return; the first
// matching index wins. Unlisted condition failures return ErrConflict.
func (s *Store) transact(ctx context.Context, items []types.TransactWriteItem, reasons map[int]error) error {
	_, err := s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items})
	if err == nil {
		return nil
	}
	var tce *types.TransactionCanceledException
	if errors.As(err, &tce) {
		for i, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) != "ConditionalCheckFailed" {
				continue
			}
			if e, ok := reasons[i]; ok {
				return e
			}
			return ErrConflict
		}
		for _, r := range tce.CancellationReasons {
			if aws.ToString(r.Code) == "TransactionConflict" {
				return ErrConflict
			}
		}
	}
	return err
}

func isConditionFailed(err error) bool {
	var ccf *types.ConditionalCheckFailedException
	return errors.As(err, &ccf)
}

// auditPut is the transaction item that appends an audit entry.
func (s *Store) auditPut(e AuditEntry) (types.TransactWriteItem, error) {
	if e.At.IsZero() {
		e.At = s.now()
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	k := keyAttrs{PK: "AUDIT#" + e.Subject, SK: e.At.UTC().Format(time.RFC3339Nano) + "#" + hex.EncodeToString(suffix)}
	item, err := marshalItem(k, indexAttrs{}, e)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	return types.TransactWriteItem{Put: &types.Put{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(PK)"),
	}}, nil
}

func (s *Store) put(item map[string]types.AttributeValue, cond string, names map[string]string, values map[string]types.AttributeValue) types.TransactWriteItem {
	p := &types.Put{TableName: aws.String(s.table), Item: item}
	if cond != "" {
		p.ConditionExpression = aws.String(cond)
	}
	if len(names) > 0 {
		p.ExpressionAttributeNames = names
	}
	if len(values) > 0 {
		p.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{Put: p}
}

func (s *Store) conditionCheck(k keyAttrs, cond string, names map[string]string, values map[string]types.AttributeValue) types.TransactWriteItem {
	c := &types.ConditionCheck{TableName: aws.String(s.table), Key: k.av(), ConditionExpression: aws.String(cond)}
	if len(names) > 0 {
		c.ExpressionAttributeNames = names
	}
	if len(values) > 0 {
		c.ExpressionAttributeValues = values
	}
	return types.TransactWriteItem{ConditionCheck: c}
}

func avS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func avN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}
func avTime(t time.Time) types.AttributeValue {
	return &types.AttributeValueMemberS{Value: t.UTC().Format(time.RFC3339Nano)}
}
