package usage

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// naiveMAD sorts twice: the definition sortedMAD must agree with.
func naiveMAD(x []float64) float64 {
	a := slices.Clone(x)
	slices.Sort(a)
	med := sortedMedian(a)
	for i := range a {
		a[i] = math.Abs(a[i] - med)
	}
	slices.Sort(a)
	return sortedMedian(a)
}

func TestSortedMADMatchesTheDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for n := 1; n <= 40; n++ {
		for range 200 {
			var win []float64
			for range n {
				v := math.Round(r.NormFloat64() * 50)
				if r.IntN(10) == 0 {
					v = math.Round(r.Float64() * 5) // ties and small values
				}
				win = insertSorted(win, v)
			}
			if got, want := sortedMAD(win), naiveMAD(win); got != want {
				t.Fatalf("n=%d %v: sortedMAD %v, definition %v", n, win, got, want)
			}
			if len(win) > 1 {
				win = removeSorted(win, win[r.IntN(len(win))])
				if !slices.IsSorted(win) || len(win) != n-1 {
					t.Fatalf("removeSorted broke the window: %v", win)
				}
			}
		}
	}
}
