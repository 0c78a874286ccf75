package service_test

import (
	"reflect"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/iamgrant"
	"github.com/stagehand-dev/stagehand/internal/service"
)

// TestKeyGrantsMatchTheCalls: every API Gateway call of the key-admin
// service has a grant, and each grant is exactly its call's method and
// path (read from the SDK), scoped to the environment when it writes.
func TestKeyGrantsMatchTheCalls(t *testing.T) {
	if err := iamgrant.Check(service.KeyGrants, reflect.TypeFor[service.APIGatewayKeysAPI](), reflect.TypeFor[service.GetUsageAPI]()); err != nil {
		t.Error(err)
	}
}
