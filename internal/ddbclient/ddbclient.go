// Package ddbclient holds the one DynamoDB client option every entry point
// applies: the endpoint override from configuration, and what an endpoint
// that is not AWS's needs.
//
// DynamoDB Local answers an error (a failed condition, a missing table)
// without the X-Amz-Crc32 header that DynamoDB sends on every response. The
// SDK's DynamoDB CRC32 response validation (the DynamoDB:ResponseChecksum-
// Validation middleware, on unless Options.DisableValidateResponseChecksum)
// then compares the body's CRC32 with 0 when it closes the body and fails,
// and smithy-go logs
//
//	WARN failed to close HTTP response body, this may affect connection reuse:
//	response did not match expected checksum, 0, <crc>
//
// after every such error. The check has nothing to validate against a
// server that sends no checksum, so it is turned off for endpoints outside
// AWS (DynamoDB Local on loopback or a container name); against AWS's
// endpoints, including VPC endpoints, it stays on.
package ddbclient

import (
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// WithEndpoint points a client at endpoint ("" keeps the SDK's resolution)
// and, when that is not an AWS endpoint, turns off the CRC32 response
// validation that DynamoDB Local cannot satisfy.
func WithEndpoint(endpoint string) func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		if endpoint == "" {
			return
		}
		o.BaseEndpoint = aws.String(endpoint)
		if !IsAWSEndpoint(endpoint) {
			o.DisableValidateResponseChecksum = true
		}
	}
}

// IsAWSEndpoint reports whether endpoint is a DynamoDB endpoint run by AWS
// (a host under amazonaws.com, amazonaws.com.cn or api.aws).
func IsAWSEndpoint(endpoint string) bool {
	u, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	host := strings.ToLower(u.Hostname())
	for _, suffix := range []string{".amazonaws.com", ".amazonaws.com.cn", ".api.aws"} {
		if strings.HasSuffix(host, suffix) {
			return true
		}
	}
	return false
}
