// Package integration holds the authorizer's integration tests: a real
// registry store on DynamoDB Local (started by the tests on 127.0.0.1) and a
// JWKS served on loopback. It has no non-test code.
package integration
