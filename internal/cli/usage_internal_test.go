package cli

import "testing"

func TestOneLine(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"already one line", `scopes[0]: "a  b" is not valid`, `scopes[0]: "a  b" is not valid`},
		{"cobra suggestion", "unknown command \"x\"\n\nDid you mean this?\n\tcustomers\n", `unknown command "x" Did you mean this? customers`},
		{"trailing newline", "boom\n", "boom"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := oneLine(tc.in); got != tc.want {
				t.Errorf("oneLine(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
