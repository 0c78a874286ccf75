package auth

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// TestContextReserveCountsInTheSizeCheck: bytes reserved for context a
// wrapper adds (the origin-verify value) count against the 8 KiB limit.
func TestContextReserveCountsInTheSizeCheck(t *testing.T) {
	h := newHarness(t)
	secret := h.reg.addKey(t, nil)
	ev := loadEvent(t, "apikey-get-order", secret.Plaintext, "")
	resp, err := h.a.Authorize(context.Background(), &ev)
	if err != nil {
		t.Fatalf("Authorize: %v", err)
	}
	b, err := json.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	room := MaxPolicyBytes - len(b)
	tests := []struct {
		name    string
		reserve int
		wantErr bool
	}{
		{name: "fits", reserve: room - 200},
		{name: "does not fit", reserve: room + 200, wantErr: true},
		{name: "negative counts as zero", reserve: -MaxPolicyBytes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			WithContextReserve(tc.reserve)(h.a)
			_, err := h.a.Authorize(context.Background(), &ev)
			if got := errors.Is(err, ErrPolicyTooLarge); got != tc.wantErr {
				t.Fatalf("reserve %d (response %d bytes): err = %v, want ErrPolicyTooLarge: %v", tc.reserve, len(b), err, tc.wantErr)
			}
		})
	}
}
