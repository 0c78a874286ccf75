package rotation

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
)

// Event source and detail types the job publishes. No event ever carries a
// secret: keys appear by id.
const (
	Source             = "stagehand.rotation"
	DetailRotationDue  = "Key Rotation Due"
	DetailKeyRotated   = "Key Rotated"
	DetailKeyExpiring  = "Key Expiry Scheduled"
	eventSchemaVersion = "1"
)

// Event is the detail of every rotation event. EventID is the same on every
// redelivery of one fact (key, kind, due date), so subscribers can dedupe.
type Event struct {
	Version    string `json:"version"`
	EventID    string `json:"eventId"`
	Env        string `json:"env"`
	CustomerID string `json:"customerId"`
	KeyID      string `json:"keyId"`
	DueAt      string `json:"dueAt"`
	Mode       string `json:"mode"`
	// NewKeyID and PickupExpiresAt are set on Key Rotated: the successor
	// whose secret waits for pickup until then (the old key works until then
	// too). ExpiresAt is set on Key Expiry Scheduled.
	NewKeyID        string `json:"newKeyId,omitempty"`
	PickupExpiresAt string `json:"pickupExpiresAt,omitempty"`
	ExpiresAt       string `json:"expiresAt,omitempty"`
}

// Publisher sends one event.
type Publisher interface {
	Publish(ctx context.Context, detailType string, e Event) error
}

// PutEventsAPI is the part of the EventBridge client the publisher uses.
type PutEventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

// EventBridgePublisher publishes to an event bus ("" is the default bus).
type EventBridgePublisher struct {
	Client PutEventsAPI
	Bus    string
}

var _ Publisher = EventBridgePublisher{}

// Publish sends one event; a per-entry failure is an error.
func (p EventBridgePublisher) Publish(ctx context.Context, detailType string, e Event) error {
	e.Version = eventSchemaVersion
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s: %w", detailType, err)
	}
	entry := ebtypes.PutEventsRequestEntry{Source: aws.String(Source), DetailType: aws.String(detailType), Detail: aws.String(string(b))}
	if p.Bus != "" {
		entry.EventBusName = aws.String(p.Bus)
	}
	out, err := p.Client.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{entry}})
	if err != nil {
		return fmt.Errorf("put %s event: %w", detailType, err)
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		return fmt.Errorf("put %s event: %s: %s", detailType, aws.ToString(out.Entries[0].ErrorCode), aws.ToString(out.Entries[0].ErrorMessage))
	}
	return nil
}
