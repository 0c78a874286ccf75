package registry

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// DynamoDB compares strings byte by byte, so the rotation's condition
// (expiresAt >= :exp) is only right if stored expiries order as strings
// exactly as they order in time.
func TestExpiryEncodingOrdersLikeTime(t *testing.T) {
	enc := func(tm time.Time) string { return avExpiry(tm).(*types.AttributeValueMemberS).Value }
	base := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	// The pairs RFC3339Nano orders wrongly (trimmed fractions), and
	// offsets that would order wrongly if not normalised to UTC.
	paris := time.FixedZone("CET", 3600)
	pairs := [][2]time.Time{
		{base, base.Add(500 * time.Millisecond)},
		{base.Add(500 * time.Millisecond), base.Add(550 * time.Millisecond)},
		{base.Add(time.Nanosecond), base.Add(time.Second)},
		{base.In(paris), base.Add(time.Minute)},
		{base.Add(-30 * time.Minute), base.In(paris)},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		a := base.Add(time.Duration(rng.Int64N(int64(400 * 24 * time.Hour))))
		b := a.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
		pairs = append(pairs, [2]time.Time{a, b})
	}
	for _, p := range pairs {
		a, b := enc(p[0]), enc(p[1])
		if want := p[0].Compare(p[1]); cmpStrings(a, b) != want {
			t.Errorf("%s vs %s compares %d as strings, %d in time", a, b, cmpStrings(a, b), want)
		}
		if len(a) != len(expiryLayout) {
			t.Errorf("%s is not fixed-width", a)
		}
		if got, err := time.Parse(time.RFC3339, a); err != nil || !got.Equal(p[0]) {
			t.Errorf("%s parses as %v, %v; want %v", a, got, err, p[0])
		}
	}
	// The trimmed form this replaces gets the second pair wrong.
	if x, y := base.Add(500*time.Millisecond).Format(time.RFC3339Nano), base.Add(550*time.Millisecond).Format(time.RFC3339Nano); x < y {
		t.Errorf("RFC3339Nano %s < %s: the counter-example no longer holds", x, y)
	}
}

func cmpStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
