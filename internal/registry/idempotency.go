package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrIdempotencyKeyUsed: a create carrying an idempotency record lost to an
// earlier (or concurrent) request with the same key; nothing was written.
// Read the record with GetIdempotencyRecord and replay it.
var ErrIdempotencyKeyUsed = errors.New("idempotency key already used")

// IdempotencyRecord remembers the outcome of a create made with a client's
// Idempotency-Key, so that a retry returns the first outcome instead of
// creating again. It is written in the same transaction as what it
// records, so a record exists if and only if the create happened.
//
// It never holds a secret: Result is the created items encoded with their
// JSON tags (which leave out a key's hash).
type IdempotencyRecord struct {
	// Actor is who sent the request; keys are scoped per actor.
	Actor string `dynamodbav:"actor"`
	// Key is the client's Idempotency-Key.
	Key string `dynamodbav:"idempotencyKey"`
	// Operation names what was done (for example "createKey").
	Operation string `dynamodbav:"operation"`
	// Fingerprint is a digest of the request; a retry must carry the same.
	Fingerprint string `dynamodbav:"fingerprint"`
	// Result is the JSON encoding of an IdempotentResult (set by the store).
	Result    string    `dynamodbav:"result"`
	CreatedAt time.Time `dynamodbav:"createdAt"`
	// ExpiresAt is when the record lapses; stored as the table's TTL
	// attribute (epoch seconds) too.
	ExpiresAt time.Time `dynamodbav:"expiresAt"`
}

// IdempotentResult is what a create made with an idempotency key produced.
type IdempotentResult struct {
	Customer *Customer `json:"customer,omitempty"`
	Key      *Key      `json:"key,omitempty"`
	// Previous is the old key of a rotation, as the rotation left it.
	Previous *Key `json:"previous,omitempty"`
}

// Decode returns the record's result.
func (r IdempotencyRecord) Decode() (IdempotentResult, error) {
	var out IdempotentResult
	if err := json.Unmarshal([]byte(r.Result), &out); err != nil {
		return IdempotentResult{}, fmt.Errorf("decode idempotency record %q: %w", r.Key, err)
	}
	return out, nil
}

// idempotencyKey scopes a client's key to the actor that sent it. The actor
// is hashed so that any principal ARN or JWT subject makes a short, safe
// partition key; the client's key comes last (it never holds "#").
func idempotencyKey(actor, key string) keyAttrs {
	sum := sha256.Sum256([]byte(actor))
	return keyAttrs{PK: "IDEMP#" + hex.EncodeToString(sum[:16]) + "#" + key, SK: "IDEMP"}
}

// GetIdempotencyRecord reads the live record of an actor's idempotency key;
// a missing or lapsed one is ErrNotFound.
func (s *Store) GetIdempotencyRecord(ctx context.Context, actor, key string) (IdempotencyRecord, error) {
	var r IdempotencyRecord
	if err := s.get(ctx, idempotencyKey(actor, key), &r); err != nil {
		if errors.Is(err, ErrNotFound) {
			return IdempotencyRecord{}, fmt.Errorf("idempotency key %q: %w", key, ErrNotFound)
		}
		return IdempotencyRecord{}, fmt.Errorf("get idempotency key %q: %w", key, err)
	}
	// DynamoDB deletes expired items lazily (within days): treat a lapsed
	// record as gone.
	if !s.now().Before(r.ExpiresAt) {
		return IdempotencyRecord{}, fmt.Errorf("idempotency key %q lapsed: %w", key, ErrNotFound)
	}
	return r, nil
}

// idempotencyPut is the transaction item that stores r with result res. It
// succeeds when the key is new or its earlier record has lapsed.
func (s *Store) idempotencyPut(r IdempotencyRecord, res IdempotentResult, now time.Time) (types.TransactWriteItem, error) {
	b, err := json.Marshal(res)
	if err != nil {
		return types.TransactWriteItem{}, fmt.Errorf("encode idempotent result: %w", err)
	}
	r.Result, r.CreatedAt = string(b), now
	item, err := marshalItem(idempotencyKey(r.Actor, r.Key), indexAttrs{}, r)
	if err != nil {
		return types.TransactWriteItem{}, err
	}
	item[AttrTTL] = &types.AttributeValueMemberN{Value: strconv.FormatInt(r.ExpiresAt.Unix(), 10)}
	return types.TransactWriteItem{Put: &types.Put{
		TableName:                 aws.String(s.table),
		Item:                      item,
		ConditionExpression:       aws.String("attribute_not_exists(PK) OR #ttl <= :now"),
		ExpressionAttributeNames:  map[string]string{"#ttl": AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{":now": avN(now.Unix())},
	}}, nil
}

// withRecord puts rec, holding res, first in a transaction's items and
// shifts the reasons of the others after it; the record's own condition
// failing is ErrIdempotencyKeyUsed. With rec nil it changes nothing.
func (s *Store) withRecord(rec *IdempotencyRecord, res IdempotentResult, now time.Time, items []types.TransactWriteItem, reasons map[int]error) ([]types.TransactWriteItem, map[int]error, error) {
	if rec == nil {
		return items, reasons, nil
	}
	idem, err := s.idempotencyPut(*rec, res, now)
	if err != nil {
		return nil, nil, err
	}
	shifted := map[int]error{0: ErrIdempotencyKeyUsed}
	for i, e := range reasons {
		shifted[i+1] = e
	}
	return append([]types.TransactWriteItem{idem}, items...), shifted, nil
}

// CreateCustomerOnce is CreateCustomer that also stores rec (with the
// created customer as its result) in the same transaction. If rec's key is
// already used it returns ErrIdempotencyKeyUsed and writes nothing.
func (s *Store) CreateCustomerOnce(ctx context.Context, c Customer, actor string, rec IdempotencyRecord) (Customer, error) {
	return s.createCustomer(ctx, c, actor, &rec)
}

// CreateKeyOnce is CreateKey that also stores rec (with the created key as
// its result) in the same transaction: a retried request can never write a
// second key. If rec's key is already used it returns ErrIdempotencyKeyUsed
// and writes nothing.
func (s *Store) CreateKeyOnce(ctx context.Context, k Key, actor string, rec IdempotencyRecord) (Key, error) {
	return s.createKey(ctx, k, actor, &rec)
}
