package auth

import (
	"strings"
	"testing"
)

// visibleASCIISlow is the byte-at-a-time definition visibleASCII must match.
func visibleASCIISlow(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return true
}

// TestVisibleASCII puts every byte value at every position of tokens of
// several lengths (so in every lane of the 8-byte words and in the tail),
// alone and next to an out-of-range neighbour (borrows and carries).
func TestVisibleASCII(t *testing.T) {
	tests := []struct {
		name      string
		length    int
		neighbour []byte // the byte after the one under test, if set
	}{
		{name: "one word", length: 8},
		{name: "words and a tail", length: 21},
		{name: "shorter than a word", length: 5},
		{name: "next to a NUL", length: 16, neighbour: []byte{0x00}},
		{name: "next to 0xff", length: 16, neighbour: []byte{0xff}},
		{name: "next to 0x7f", length: 16, neighbour: []byte{0x7f}},
		{name: "next to '!'", length: 16, neighbour: []byte{'!'}},
		{name: "next to '~'", length: 16, neighbour: []byte{'~'}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := []byte(strings.Repeat("a", tc.length))
			for pos := range tc.length {
				for v := range 256 {
					b := append([]byte(nil), base...)
					b[pos] = byte(v)
					if tc.neighbour != nil {
						b[(pos+1)%tc.length] = tc.neighbour[0]
					}
					s := string(b)
					if got, want := visibleASCII(s), visibleASCIISlow(s); got != want {
						t.Fatalf("visibleASCII(%q) = %v, want %v", s, got, want)
					}
				}
			}
		})
	}
}

func FuzzVisibleASCII(f *testing.F) {
	f.Add("eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
	f.Add("abc\x7fdefgh")
	f.Add("\x00\x00\x00\x00\x00\x00\x00\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := visibleASCII(s), visibleASCIISlow(s); got != want {
			t.Fatalf("visibleASCII(%q) = %v, want %v", s, got, want)
		}
	})
}
