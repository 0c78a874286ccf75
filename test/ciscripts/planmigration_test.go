// Package ciscripts tests the shell scripts of scripts/ci that decide
// something, with fixture inputs.
package ciscripts

import (
	"os/exec"
	"strings"
	"testing"
)

// TestCheckPlanMigration: the deploy workflow refuses a Shared-stack deploy
// that would make CloudFormation delete a usage plan (an environment that
// skipped the retainLegacyUsagePlans release); the migration's two
// releases and a new environment pass.
func TestCheckPlanMigration(t *testing.T) {
	if _, err := exec.LookPath("jq"); err != nil {
		t.Fatal("jq is required (the deploy workflow uses it): ", err)
	}
	tests := []struct {
		name, deployed, next string
		code                 int
		out                  string
	}{
		{"legacy plans dropped without Retain", "shared-legacy", "shared-registry-owned", 1, "UsagePlanbasic2B5A3F55,UsagePlanenterprise6C1E8D2A"},
		{"release 1: legacy plans retained", "shared-legacy", "shared-retained", 0, "no CloudFormation deletion"},
		{"release 2: retained plans dropped", "shared-retained", "shared-registry-owned", 0, "no CloudFormation deletion"},
		{"registry-owned to registry-owned", "shared-registry-owned", "shared-registry-owned", 0, "no CloudFormation deletion"},
		{"a new stack", "new-stack", "shared-registry-owned", 0, "no CloudFormation deletion"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("../../scripts/ci/check-plan-migration.sh",
				"testdata/"+tc.deployed+".template.json", "testdata/"+tc.next+".template.json")
			out, err := cmd.CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(string(out), tc.out) {
				t.Errorf("exit %d, output %q; want exit %d naming %q", code, out, tc.code, tc.out)
			}
		})
	}
	if out, err := exec.Command("../../scripts/ci/check-plan-migration.sh").CombinedOutput(); err == nil || !strings.Contains(string(out), "usage:") {
		t.Errorf("no arguments: %v %q", err, out)
	}
}
