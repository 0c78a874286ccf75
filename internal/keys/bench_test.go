package keys_test

import (
	"crypto/sha256"
	"hash/crc32"
	"net/netip"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/keys"
)

// benchKey is a production-shaped key: "sh_prod_" + 38 characters.
func benchKey(b *testing.B) string {
	k := loadVectors(b)[1].Key
	if _, err := keys.Validate(k); err != nil {
		b.Fatal(err)
	}
	return k
}

func BenchmarkValidateKey(b *testing.B) {
	key := benchKey(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.Validate(key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHashKey(b *testing.B) {
	key := benchKey(b)
	b.ReportAllocs()
	for b.Loop() {
		_ = keys.HashKey(key)
	}
}

// BenchmarkSHA256Floor is the cost of the hash alone on the same bytes: the
// floor for BenchmarkHashKey.
func BenchmarkSHA256Floor(b *testing.B) {
	key := []byte(benchKey(b))
	b.ReportAllocs()
	for b.Loop() {
		_ = sha256.Sum256(key)
	}
}

// BenchmarkCRC32Floor is the standard library's (SIMD) CRC-32 on the same
// bytes: the floor for BenchmarkValidateKey.
func BenchmarkCRC32Floor(b *testing.B) {
	key := []byte(benchKey(b))
	b.ReportAllocs()
	for b.Loop() {
		_ = crc32.ChecksumIEEE(key)
	}
}

func BenchmarkGenerate(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keys.New("prod"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAllowed(b *testing.B) {
	list, err := keys.ParseAllowlist([]string{"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "2001:db8::/32", "203.0.113.7"})
	if err != nil {
		b.Fatal(err)
	}
	ip := netip.MustParseAddr("::ffff:203.0.113.7") // matches the last entry
	b.ReportAllocs()
	for b.Loop() {
		if !keys.Allowed(list, ip) {
			b.Fatal("not allowed")
		}
	}
}
