package service

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"

	"github.com/stagehand-dev/stagehand/internal/iamgrant"
)

// APIGatewayKeysAPI is the part of the API Gateway client that provisions
// metering keys.
type APIGatewayKeysAPI interface {
	CreateApiKey(ctx context.Context, in *apigateway.CreateApiKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.CreateApiKeyOutput, error)
	DeleteApiKey(ctx context.Context, in *apigateway.DeleteApiKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.DeleteApiKeyOutput, error)
	CreateUsagePlanKey(ctx context.Context, in *apigateway.CreateUsagePlanKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.CreateUsagePlanKeyOutput, error)
	DeleteUsagePlanKey(ctx context.Context, in *apigateway.DeleteUsagePlanKeyInput, optFns ...func(*apigateway.Options)) (*apigateway.DeleteUsagePlanKeyOutput, error)
}

var _ APIGatewayKeysAPI = (*apigateway.Client)(nil)

// KeyGrants are the IAM grants of the key-admin function's API Gateway
// calls (APIGatewayKeysAPI and GetUsageAPI), kept next to the interfaces:
// cdk/stacks derives the key-admin role from them by reflection. Keys are
// created tagged with the environment (stagehand:* tag keys only; tagging
// on create is also apigateway:PUT on the key's tags) and deleted, attached
// and detached only when they or their usage plan carry the role's
// environment tag (a usage plan key inherits its plan's tags).
var KeyGrants = iamgrant.Table{
	"CreateApiKey":       {Method: "POST", Path: "/apikeys", Scope: iamgrant.EnvRequest, TagsPath: "/tags/*apikeys*"},
	"DeleteApiKey":       {Method: "DELETE", Path: "/apikeys/*", Scope: iamgrant.EnvResource},
	"CreateUsagePlanKey": {Method: "POST", Path: "/usageplans/*/keys", Scope: iamgrant.EnvResource},
	"DeleteUsagePlanKey": {Method: "DELETE", Path: "/usageplans/*/keys/*", Scope: iamgrant.EnvResource},
	// A usage report is a read of a usage plan's child; API Gateway does not
	// list usage among the resources that inherit a plan's tags, so a tag
	// condition could deny it.
	"GetUsage": {Method: "GET", Path: "/usageplans/*/usage"},
}

// APIGatewayUsageKeys provisions metering keys in API Gateway.
type APIGatewayUsageKeys struct{ api APIGatewayKeysAPI }

var _ UsageKeys = (*APIGatewayUsageKeys)(nil)

// NewAPIGatewayUsageKeys returns UsageKeys over an API Gateway client.
func NewAPIGatewayUsageKeys(api APIGatewayKeysAPI) *APIGatewayUsageKeys {
	return &APIGatewayUsageKeys{api: api}
}

// UsageKeyName is the API Gateway key name of a customer in an environment.
func UsageKeyName(env, customerID string) string { return "stagehand-" + env + "-" + customerID }

// CreateUsageKey creates an enabled API Gateway key (API Gateway generates
// the value) tagged with the environment and customer.
func (u *APIGatewayUsageKeys) CreateUsageKey(ctx context.Context, env, customerID string) (string, string, error) {
	out, err := u.api.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{
		Name:        aws.String(UsageKeyName(env, customerID)),
		Description: aws.String("stagehand metering key; not a credential (apiKeySource AUTHORIZER)"),
		Enabled:     true,
		CustomerId:  aws.String(customerID),
		Tags:        map[string]string{"stagehand:env": env, "stagehand:customer": customerID},
	})
	if err != nil {
		return "", "", fmt.Errorf("create API key: %w", err)
	}
	return aws.ToString(out.Id), aws.ToString(out.Value), nil
}

// DeleteUsageKey deletes an API Gateway key.
func (u *APIGatewayUsageKeys) DeleteUsageKey(ctx context.Context, id string) error {
	if _, err := u.api.DeleteApiKey(ctx, &apigateway.DeleteApiKeyInput{ApiKey: aws.String(id)}); err != nil {
		return fmt.Errorf("delete API key %s: %w", id, err)
	}
	return nil
}

// AttachUsageKey puts a key in a usage plan; already there is success.
func (u *APIGatewayUsageKeys) AttachUsageKey(ctx context.Context, usagePlanID, keyID string) error {
	_, err := u.api.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{
		UsagePlanId: aws.String(usagePlanID), KeyId: aws.String(keyID), KeyType: aws.String("API_KEY"),
	})
	var conflict *types.ConflictException
	if err != nil && !errors.As(err, &conflict) {
		return fmt.Errorf("attach key %s to usage plan %s: %w", keyID, usagePlanID, err)
	}
	return nil
}

// DetachUsageKey removes a key from a usage plan; already absent is success.
func (u *APIGatewayUsageKeys) DetachUsageKey(ctx context.Context, usagePlanID, keyID string) error {
	_, err := u.api.DeleteUsagePlanKey(ctx, &apigateway.DeleteUsagePlanKeyInput{
		UsagePlanId: aws.String(usagePlanID), KeyId: aws.String(keyID),
	})
	var nf *types.NotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("detach key %s from usage plan %s: %w", keyID, usagePlanID, err)
	}
	return nil
}
