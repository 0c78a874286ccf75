package keys

import (
	"hash/crc32"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestBase62CharIsUnbiased proves the generator has no modulo bias: over all
// 256 byte values, each base62 character comes from exactly 4 of them and
// the other 8 are discarded, so uniform bytes give uniform characters.
func TestBase62CharIsUnbiased(t *testing.T) {
	counts := map[byte]int{}
	discarded := 0
	for b := 0; b < 256; b++ {
		c, ok := base62Char(byte(b))
		if !ok {
			discarded++
			continue
		}
		counts[c]++
	}
	if discarded != 256-acceptBelow {
		t.Errorf("%d byte values discarded, want %d", discarded, 256-acceptBelow)
	}
	if len(counts) != 62 {
		t.Errorf("%d distinct characters, want 62", len(counts))
	}
	for c, n := range counts {
		if n != 4 || !strings.ContainsRune(alphabet, rune(c)) {
			t.Errorf("character %q comes from %d byte values, want 4 (and base62)", c, n)
		}
	}
}

func TestEntropy(t *testing.T) {
	if bits := float64(BodyLen) * math.Log2(62); bits < 160 {
		t.Errorf("body carries %.1f bits, want at least 160", bits)
	}
	// What DisplayPrefix reveals still leaves at least 160 unknown bits.
	if bits := float64(BodyLen-displayBodyLen) * math.Log2(62); bits < 160 {
		t.Errorf("after the display prefix %.1f bits remain, want at least 160", bits)
	}
}

func TestEncodeCheck(t *testing.T) {
	tests := []struct {
		name string
		in   uint32
		want string
	}{
		{name: "zero is padded", in: 0, want: "000000"},
		{name: "one", in: 1, want: "000001"},
		{name: "61", in: 61, want: "00000z"},
		{name: "62", in: 62, want: "000010"},
		{name: "max uint32", in: math.MaxUint32, want: "4gfFC3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := encodeCheck(tc.in)
			if string(got[:]) != tc.want {
				t.Errorf("encodeCheck(%d) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestCRCStringMatchesStdlib(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for n := 0; n < 200; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if got, want := crcString(string(b)), crc32.ChecksumIEEE(b); got != want {
			t.Fatalf("crcString(%d bytes) = %#x, want %#x", n, got, want)
		}
	}
}
