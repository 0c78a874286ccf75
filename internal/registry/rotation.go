package registry

// Rotation items (package rotation decides; this file only stores):
//
//	item             PK                 SK                                  notes
//	rotation policy  ENV#<env>          ROTATION#PLAN#<plan>                per plan
//	                 ENV#<env>          ROTATION#CUST#<customerId>          per-customer override
//	warning marker   KEY#<keyId>        ROTATION#WARN#<due, YYYY-MM-DD>     once per key per window (TTL)
//	secret pickup    KEY#<newKeyId>     PICKUP                              envelope-encrypted secret (TTL = grace end)
//
// Access patterns:
//   - policies of an environment:   Query    ENV#<env>, begins_with ROTATION# (one query per run)
//   - warning claim:                conditional PutItem / UpdateItem on the marker
//   - pickup put:                   conditional PutItem (attribute_not_exists)
//   - pickup take:                  GetItem, then DeleteItem conditioned on the same nonce (one taker)
//
// Keys due for rotation are found by walking GSI2 ENV#<env>#KEYS (the keys of
// one environment, paginated, resumable by cursor): a daily job reads each
// key once, so a dedicated "created at" index would save little and cost a
// third index on every key write.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// RotationMode is what happens when a key reaches its maximum age.
type RotationMode string

// Rotation modes.
const (
	// RotationEnforce: the key expires one grace period after its due date.
	RotationEnforce RotationMode = "enforce"
	// RotationAuto: the key is rotated; the successor's secret waits for
	// one-time pickup and the old key works until the grace ends.
	RotationAuto RotationMode = "auto"
)

// RotationPolicy is a plan's key rotation policy, or (CustomerID set) a
// customer's override of its plan's.
type RotationPolicy struct {
	Env        string       `dynamodbav:"env" json:"env"`
	Plan       string       `dynamodbav:"plan,omitempty" json:"plan,omitempty"`
	CustomerID string       `dynamodbav:"customerId,omitempty" json:"customerId,omitempty"`
	MaxAge     Duration     `dynamodbav:"maxAgeSeconds" json:"maxAge"`
	Warning    Duration     `dynamodbav:"warningSeconds" json:"warning"`
	Grace      Duration     `dynamodbav:"graceSeconds" json:"grace"`
	Mode       RotationMode `dynamodbav:"mode" json:"mode"`
	UpdatedAt  time.Time    `dynamodbav:"updatedAt" json:"updatedAt"`
}

// Duration is a time.Duration stored as whole seconds and written in JSON
// as Go duration text ("720h").
type Duration time.Duration

// MarshalDynamoDBAttributeValue stores whole seconds.
func (d Duration) MarshalDynamoDBAttributeValue() (types.AttributeValue, error) {
	return avN(int64(time.Duration(d) / time.Second)), nil
}

// UnmarshalDynamoDBAttributeValue reads whole seconds.
func (d *Duration) UnmarshalDynamoDBAttributeValue(av types.AttributeValue) error {
	var secs int64
	if err := attributevalue.Unmarshal(av, &secs); err != nil {
		return err
	}
	*d = Duration(time.Duration(secs) * time.Second)
	return nil
}

// MarshalText writes Go duration text.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads Go duration text.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func rotationPolicyKey(p RotationPolicy) keyAttrs {
	if p.CustomerID != "" {
		return keyAttrs{PK: "ENV#" + p.Env, SK: "ROTATION#CUST#" + p.CustomerID}
	}
	return keyAttrs{PK: "ENV#" + p.Env, SK: "ROTATION#PLAN#" + p.Plan}
}

// PutRotationPolicy creates or replaces a plan's policy or a customer's
// override (validated by the caller), with an audit entry.
func (s *Store) PutRotationPolicy(ctx context.Context, p RotationPolicy, actor string) (RotationPolicy, error) {
	if (p.Plan == "") == (p.CustomerID == "") {
		return RotationPolicy{}, errors.New("a rotation policy names exactly one of plan or customer")
	}
	now := s.now()
	p.UpdatedAt = now
	k := rotationPolicyKey(p)
	item, err := marshalItem(k, indexAttrs{}, p)
	if err != nil {
		return RotationPolicy{}, err
	}
	audit, err := s.auditPut(AuditEntry{Subject: EnvSubject(p.Env), At: now, Actor: actor, Action: "rotation-policy.put",
		Target: strings.TrimPrefix(k.SK, "ROTATION#"), Details: map[string]string{
			"maxAge": time.Duration(p.MaxAge).String(), "warning": time.Duration(p.Warning).String(),
			"grace": time.Duration(p.Grace).String(), "mode": string(p.Mode),
		}})
	if err != nil {
		return RotationPolicy{}, err
	}
	if err := s.transact(ctx, []types.TransactWriteItem{s.put(item, "", nil, nil), audit}, nil); err != nil {
		return RotationPolicy{}, fmt.Errorf("put rotation policy %s/%s: %w", p.Env, k.SK, err)
	}
	return p, nil
}

// ListRotationPolicies returns every plan policy and customer override of
// an environment (one query).
func (s *Store) ListRotationPolicies(ctx context.Context, env string) ([]RotationPolicy, error) {
	ps, err := queryAll[RotationPolicy](ctx, s, listing{partition: "ENV#" + env, sortPrefix: "ROTATION#", consistent: true})
	if err != nil {
		return nil, fmt.Errorf("list rotation policies in %s: %w", env, err)
	}
	return ps, nil
}

// ErrAlreadyDone: an idempotent step was already completed (by this run
// before a crash, or by a concurrent run).
var ErrAlreadyDone = errors.New("already done")

func warnKey(keyID, due string) keyAttrs {
	return keyAttrs{PK: "KEY#" + keyID, SK: "ROTATION#WARN#" + due}
}

// ClaimRotationWarning claims the right to send a key's rotation warning
// for the window ending on due (YYYY-MM-DD). It succeeds when no marker
// exists, or when the marker is an unsent claim whose lease has run out (a
// run that died between claiming and sending); it returns ErrAlreadyDone
// when the warning was sent, and ErrConflict while another run holds the
// claim. The marker lapses by TTL at expires.
func (s *Store) ClaimRotationWarning(ctx context.Context, keyID, due, owner string, lease time.Duration, expires time.Time) error {
	now := s.now()
	k := warnKey(keyID, due)
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      k.av(),
		UpdateExpression:         aws.String("SET #owner = :owner, leaseUntil = :until, #ttl = :ttl"),
		ConditionExpression:      aws.String("attribute_not_exists(PK) OR (attribute_not_exists(sentAt) AND leaseUntil < :now)"),
		ExpressionAttributeNames: map[string]string{"#owner": "owner", "#ttl": AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":owner": avS(owner), ":until": avN(now.Add(lease).UnixMilli()), ":now": avN(now.UnixMilli()),
			":ttl": avN(expires.Unix()),
		},
	})
	if err == nil {
		return nil
	}
	if !isConditionFailed(err) {
		return fmt.Errorf("claim rotation warning %s/%s: %w", keyID, due, err)
	}
	var m struct {
		SentAt string `dynamodbav:"sentAt"`
	}
	if gerr := s.get(ctx, k, &m); gerr != nil {
		return fmt.Errorf("claim rotation warning %s/%s: %w", keyID, due, gerr)
	}
	if m.SentAt != "" {
		return fmt.Errorf("rotation warning %s/%s: %w", keyID, due, ErrAlreadyDone)
	}
	return fmt.Errorf("rotation warning %s/%s is claimed by another run: %w", keyID, due, ErrConflict)
}

// MarkRotationWarningSent records that owner sent the warning it claimed.
func (s *Store) MarkRotationWarningSent(ctx context.Context, keyID, due, owner string) error {
	_, err := s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       warnKey(keyID, due).av(),
		UpdateExpression:          aws.String("SET sentAt = :at"),
		ConditionExpression:       aws.String("#owner = :owner"),
		ExpressionAttributeNames:  map[string]string{"#owner": "owner"},
		ExpressionAttributeValues: map[string]types.AttributeValue{":owner": avS(owner), ":at": avTime(s.now())},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("rotation warning %s/%s: claim lost: %w", keyID, due, ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("mark rotation warning %s/%s sent: %w", keyID, due, err)
	}
	return nil
}

// SecretPickup is a rotated key's new secret, envelope-encrypted, waiting
// for its customer to collect it once. It never holds plaintext.
type SecretPickup struct {
	KeyID      string `dynamodbav:"keyId"`
	CustomerID string `dynamodbav:"customerId"`
	Env        string `dynamodbav:"env"`
	// RotatedFrom is the key this one replaces.
	RotatedFrom string `dynamodbav:"rotatedFrom"`
	// EncryptedDataKey is the data key as the KMS key encrypted it;
	// Nonce and Ciphertext are the AES-256-GCM sealing of the secret.
	EncryptedDataKey []byte    `dynamodbav:"encryptedDataKey"`
	Nonce            []byte    `dynamodbav:"nonce"`
	Ciphertext       []byte    `dynamodbav:"ciphertext"`
	CreatedAt        time.Time `dynamodbav:"createdAt"`
	// ExpiresAt is the end of the old key's grace; DynamoDB's TTL removes
	// the item after it, and a read after it finds nothing.
	ExpiresAt time.Time `dynamodbav:"expiresAt"`
	TTL       int64     `dynamodbav:"ttl"`
}

func pickupKey(keyID string) keyAttrs { return keyAttrs{PK: "KEY#" + keyID, SK: "PICKUP"} }

// ErrPickupNotFound: no secret waits for that key (never, picked up, or
// expired).
var ErrPickupNotFound = fmt.Errorf("secret pickup %w", ErrNotFound)

// PutSecretPickup stores a pickup; one already stored for the key is
// ErrAlreadyExists.
func (s *Store) PutSecretPickup(ctx context.Context, p SecretPickup) error {
	p.TTL = p.ExpiresAt.Unix()
	item, err := marshalItem(pickupKey(p.KeyID), indexAttrs{}, p)
	if err != nil {
		return err
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(s.table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)"),
	})
	if isConditionFailed(err) {
		return fmt.Errorf("secret pickup for %s: %w", p.KeyID, ErrAlreadyExists)
	}
	if err != nil {
		return fmt.Errorf("put secret pickup for %s: %w", p.KeyID, err)
	}
	return nil
}

// GetSecretPickup reads a pending pickup; an expired one is
// ErrPickupNotFound even before TTL removes it.
func (s *Store) GetSecretPickup(ctx context.Context, keyID string) (SecretPickup, error) {
	var p SecretPickup
	if err := s.get(ctx, pickupKey(keyID), &p); err != nil {
		if errors.Is(err, ErrNotFound) {
			return SecretPickup{}, fmt.Errorf("key %s: %w", keyID, ErrPickupNotFound)
		}
		return SecretPickup{}, fmt.Errorf("get secret pickup %s: %w", keyID, err)
	}
	if !s.now().Before(p.ExpiresAt) {
		return SecretPickup{}, fmt.Errorf("key %s: pickup expired: %w", keyID, ErrPickupNotFound)
	}
	return p, nil
}

// TakeSecretPickup deletes the pickup read as p, on condition that it is
// still the same one (same nonce) and not expired: of two concurrent takers
// exactly one succeeds; the other gets ErrPickupNotFound.
func (s *Store) TakeSecretPickup(ctx context.Context, p SecretPickup) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName:                aws.String(s.table),
		Key:                      pickupKey(p.KeyID).av(),
		ConditionExpression:      aws.String("nonce = :nonce AND #ttl > :now"),
		ExpressionAttributeNames: map[string]string{"#ttl": AttrTTL},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":nonce": &types.AttributeValueMemberB{Value: p.Nonce}, ":now": avN(s.now().Unix()),
		},
	})
	if isConditionFailed(err) {
		return fmt.Errorf("key %s: already picked up: %w", p.KeyID, ErrPickupNotFound)
	}
	if err != nil {
		return fmt.Errorf("take secret pickup %s: %w", p.KeyID, err)
	}
	return nil
}

// DeleteSecretPickup removes a pickup whose rotation did not happen (a
// concurrent run rotated the key first); absent is success.
func (s *Store) DeleteSecretPickup(ctx context.Context, keyID string) error {
	_, err := s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String(s.table), Key: pickupKey(keyID).av()})
	if err != nil {
		return fmt.Errorf("delete secret pickup %s: %w", keyID, err)
	}
	return nil
}
