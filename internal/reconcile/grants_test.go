package reconcile_test

import (
	"reflect"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/iamgrant"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
)

// TestGatewayGrantsMatchTheCalls: every Gateway method has a grant, and
// each grant is exactly its call's method and path (read from the SDK),
// scoped to the environment when it writes.
func TestGatewayGrantsMatchTheCalls(t *testing.T) {
	if err := iamgrant.Check(reconcile.GatewayGrants, reflect.TypeFor[reconcile.Gateway]()); err != nil {
		t.Error(err)
	}
}
