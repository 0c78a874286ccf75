package ddbclient_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go/logging"

	"github.com/stagehand-dev/stagehand/internal/ddbclient"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

// errorResponses makes DynamoDB Local answer with errors (a failed
// condition, a missing table) and returns what the SDK logged.
func errorResponses(t *testing.T, opts ...func(*dynamodb.Options)) string {
	t.Helper()
	_, table := ddbtest.NewTable(t)
	var logged bytes.Buffer
	base := dynamodb.Options{
		Region:      "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		Logger:      logging.NewStandardLogger(&logged),
	}
	db := dynamodb.New(base, opts...)
	ctx := context.Background()
	item := map[string]types.AttributeValue{"PK": &types.AttributeValueMemberS{Value: "p"}, "SK": &types.AttributeValueMemberS{Value: "s"}}
	if _, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
		t.Fatal(err)
	}
	var ccf *types.ConditionalCheckFailedException
	_, err := db.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: item, ConditionExpression: aws.String("attribute_not_exists(PK)")})
	if err == nil || !asErr(err, &ccf) {
		t.Fatalf("conditional put: %v, want ConditionalCheckFailedException", err)
	}
	var rnf *types.ResourceNotFoundException
	if _, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table + "-missing"), Key: item}); err == nil || !asErr(err, &rnf) {
		t.Fatalf("get from a missing table: %v, want ResourceNotFoundException", err)
	}
	return logged.String()
}

func TestNoChecksumWarningAfterDynamoDBLocalErrors(t *testing.T) {
	logged := errorResponses(t, ddbclient.WithEndpoint(ddbtest.Endpoint(t)))
	if strings.Contains(logged, "checksum") || strings.Contains(logged, "WARN") {
		t.Errorf("the SDK logged after DynamoDB Local's error responses:\n%s", logged)
	}
}

// The control: with only the endpoint set (as every client was built
// before), the SDK's CRC32 validation logs the warning. If this starts to
// fail, the SDK or DynamoDB Local changed and the workaround may go.
func TestChecksumWarningWithoutTheOption(t *testing.T) {
	logged := errorResponses(t, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(ddbtest.Endpoint(t)) })
	if !strings.Contains(logged, "did not match expected checksum") {
		t.Errorf("expected the SDK's checksum warning without ddbclient.WithEndpoint, logged %q", logged)
	}
}

func TestIsAWSEndpoint(t *testing.T) {
	tests := []struct {
		name     string
		endpoint string
		want     bool
	}{
		{"regional", "https://dynamodb.eu-west-1.amazonaws.com", true},
		{"china", "https://dynamodb.cn-north-1.amazonaws.com.cn", true},
		{"dual-stack", "https://dynamodb.us-east-1.api.aws", true},
		{"VPC endpoint", "https://vpce-0123-abcd.dynamodb.eu-west-1.vpce.amazonaws.com", true},
		{"DynamoDB Local", "http://127.0.0.1:8000", false},
		{"container", "http://dynamodb-local:8000", false},
		{"look-alike", "https://amazonaws.com.example.org", false},
		{"garbage", "://", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ddbclient.IsAWSEndpoint(tc.endpoint); got != tc.want {
				t.Errorf("IsAWSEndpoint(%q) = %v, want %v", tc.endpoint, got, tc.want)
			}
		})
	}
}

func TestWithEndpointKeepsValidationForAWS(t *testing.T) {
	var o dynamodb.Options
	ddbclient.WithEndpoint("https://dynamodb.eu-west-1.amazonaws.com")(&o)
	if o.DisableValidateResponseChecksum || aws.ToString(o.BaseEndpoint) != "https://dynamodb.eu-west-1.amazonaws.com" {
		t.Errorf("AWS endpoint: %+v", o)
	}
	var empty dynamodb.Options
	ddbclient.WithEndpoint("")(&empty)
	if empty.BaseEndpoint != nil || empty.DisableValidateResponseChecksum {
		t.Errorf("no endpoint: %+v", empty)
	}
}

func asErr[T error](err error, target *T) bool { return errors.As(err, target) }
