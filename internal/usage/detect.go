// Package usage collects customers' daily usage from API Gateway into the
// registry (a time series with a retention) and looks for anomalies in it:
// spikes and drops against the customer's own weekly-seasonal baseline,
// level shifts, quota exhaustion projected before the period ends, and
// surges of denied requests (the authorizer's per-customer denial counts).
// Findings are published as "Usage Anomaly Detected" events with their
// evidence.
package usage

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Kind is what an anomaly is.
type Kind string

// Anomaly kinds.
const (
	KindSpike       Kind = "spike"
	KindDrop        Kind = "drop"
	KindLevelShift  Kind = "level-shift"
	KindQuota       Kind = "quota-exhaustion"
	KindDenialSurge Kind = "denial-surge"
)

// Config tunes the detector. The zero value is not valid; start from
// DefaultConfig.
type Config struct {
	// Weeks is how many same-weekday values (one, two ... weeks back) form
	// a day's expected value: their median, so that weekly seasonality is
	// the baseline and one odd week does not move it. At least 2 must exist.
	Weeks int
	// Window is how many past days' residuals (value minus expected) give
	// the scale: 1.4826 × their median absolute deviation.
	Window int
	// Threshold is how many scales a day must be from its expected value.
	Threshold float64
	// MinVolume is the smallest absolute deviation (requests per day) worth
	// an alert, so small customers page nobody.
	MinVolume float64
	// RelativeFloor and the Poisson floor (√expected) keep the scale from
	// collapsing on a very regular series.
	RelativeFloor float64
	// Persist: a deviation lasting this many days in one direction is a
	// level shift.
	Persist int
	// Cooldown: after an alert, the same direction is quiet this many days
	// (a level shift keeps deviating until the baseline has moved).
	Cooldown int
}

// DefaultConfig is the tuning evaluated in eval_test.go.
func DefaultConfig() Config {
	return Config{Weeks: 4, Window: 21, Threshold: 6, MinVolume: 100, RelativeFloor: 0.05, Persist: 3, Cooldown: 28}
}

// ErrConfig marks an invalid detector configuration.
var ErrConfig = errors.New("invalid detector configuration")

// Validate checks the configuration.
func (c Config) Validate() error {
	switch {
	case c.Weeks < 2 || c.Weeks > 8:
		return fmt.Errorf("%w: weeks %d must be in [2, 8]", ErrConfig, c.Weeks)
	case c.Window < 7 || c.Window > 60:
		return fmt.Errorf("%w: window %d must be in [7, 60]", ErrConfig, c.Window)
	case c.Threshold <= 0 || c.MinVolume < 0 || c.RelativeFloor < 0:
		return fmt.Errorf("%w: threshold, minimum volume and relative floor must be positive", ErrConfig)
	case c.Persist < 2 || c.Cooldown < c.Persist:
		return fmt.Errorf("%w: persist must be ≥ 2 and cooldown ≥ persist", ErrConfig)
	}
	return nil
}

// Finding is one anomalous day with its evidence.
type Finding struct {
	Kind     Kind    `json:"kind"`
	Day      int     `json:"day"` // index into the series
	Observed float64 `json:"observed"`
	Expected float64 `json:"expected"`
	// Scale is the robust scale the deviation was measured in; Score is
	// (observed - expected) / scale.
	Scale float64 `json:"scale"`
	Score float64 `json:"score"`
}

// Detector finds spikes, drops and level shifts in daily series. It is
// safe for concurrent use; Scan reuses no state between calls.
type Detector struct{ cfg Config }

// NewDetector returns a detector; cfg must be valid.
func NewDetector(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Detector{cfg: cfg}, nil
}

// MinHistory is how many days precede the first day Scan can judge.
func (d *Detector) MinHistory() int { return 14 + 7 }

// Scan judges every day of v (daily counts, oldest first) from
// MinHistory on and returns the findings, oldest first. A day is a spike
// (drop) when it lies Threshold scales above (below) its expected value
// and at least MinVolume requests away from it; a deviation in one
// direction for Persist days in a row is reported once more as a level
// shift; after a finding, the same direction is quiet for Cooldown days.
func (d *Detector) Scan(v []float64) []Finding { return d.NewScanner().ScanFrom(v, 0) }

// ScanFrom is Scan that reports only findings on day from or later (the
// daily job judges the last day; the history still counts for cooldowns).
func (d *Detector) ScanFrom(v []float64, from int) []Finding { return d.NewScanner().ScanFrom(v, from) }

// Scanner is a Detector with reusable buffers: scanning many series with
// one Scanner allocates only the findings. Not safe for concurrent use.
type Scanner struct {
	d               *Detector
	expected, resid []float64
	ok              []bool
	win             []float64 // the window's residuals, sorted
}

// NewScanner returns a Scanner over d.
func (d *Detector) NewScanner() *Scanner { return &Scanner{d: d} }

// ScanFrom scans v, reporting findings on day from or later.
func (s *Scanner) ScanFrom(v []float64, from int) []Finding {
	c := s.d.cfg
	n := len(v)
	s.expected = grow(s.expected, n)
	s.resid = grow(s.resid, n)
	if cap(s.ok) < n {
		s.ok = make([]bool, n)
	}
	s.ok = s.ok[:n]
	var wk [8]float64
	for t := range n {
		m := 0
		for w := 1; w <= c.Weeks && t-7*w >= 0; w++ {
			wk[m] = v[t-7*w]
			m++
		}
		s.ok[t] = m >= 2
		if s.ok[t] {
			s.expected[t] = smallMedian(wk[:m])
			s.resid[t] = v[t] - s.expected[t]
		}
	}
	var out []Finding
	quietUp, quietDown := -1, -1 // last day of each direction's cooldown
	runUp, runDown := 0, 0
	s.win = s.win[:0]
	for t := 0; t < n; t++ {
		// The window holds the residuals of days [t-Window, t-1].
		if t > 0 && s.ok[t-1] {
			s.win = insertSorted(s.win, s.resid[t-1])
		}
		if old := t - 1 - c.Window; old >= 0 && s.ok[old] {
			s.win = removeSorted(s.win, s.resid[old])
		}
		if t < s.d.MinHistory() || !s.ok[t] || len(s.win) < 7 {
			continue
		}
		e := s.expected[t]
		scale := 1.4826 * sortedMAD(s.win)
		scale = math.Max(scale, math.Max(c.RelativeFloor*math.Abs(e), math.Sqrt(math.Max(e, 1))))
		dev := v[t] - e
		score := dev / scale
		f := Finding{Day: t, Observed: v[t], Expected: e, Scale: scale, Score: score}
		switch {
		case score > c.Threshold && dev >= c.MinVolume:
			runUp, runDown = runUp+1, 0
			if t > quietUp && t >= from {
				f.Kind = KindSpike
				out = append(out, f)
				quietUp = t + c.Cooldown
			} else if runUp == c.Persist && t >= from {
				f.Kind = KindLevelShift
				out = append(out, f)
			}
		case score < -c.Threshold && -dev >= c.MinVolume:
			runDown, runUp = runDown+1, 0
			if t > quietDown && t >= from {
				f.Kind = KindDrop
				out = append(out, f)
				quietDown = t + c.Cooldown
			} else if runDown == c.Persist && t >= from {
				f.Kind = KindLevelShift
				out = append(out, f)
			}
		default:
			runUp, runDown = 0, 0
		}
	}
	return out
}

// insertSorted inserts x into sorted a.
func insertSorted(a []float64, x float64) []float64 {
	i, _ := slices.BinarySearch(a, x)
	return slices.Insert(a, i, x)
}

// removeSorted removes one x from sorted a.
func removeSorted(a []float64, x float64) []float64 {
	i, found := slices.BinarySearch(a, x)
	if !found {
		return a
	}
	return slices.Delete(a, i, i+1)
}

// sortedMedian is the median of sorted a.
func sortedMedian(a []float64) float64 {
	m := len(a) / 2
	if len(a)%2 == 1 {
		return a[m]
	}
	return (a[m-1] + a[m]) / 2
}

// sortedMAD is the median absolute deviation from the median of sorted a,
// without sorting: the deviations below and above the median are two
// sorted runs, merged up to the middle.
func sortedMAD(a []float64) float64 {
	n := len(a)
	med := sortedMedian(a)
	p, _ := slices.BinarySearch(a, med) // a[p:] >= med, a[:p] < med
	l, r := p-1, p
	next := func() float64 {
		if r < n && (l < 0 || a[r]-med <= med-a[l]) {
			r++
			return a[r-1] - med
		}
		l--
		return med - a[l+1]
	}
	var prev, cur float64
	for range n/2 + 1 {
		prev, cur = cur, next()
	}
	if n%2 == 1 {
		return cur
	}
	return (prev + cur) / 2
}

// smallMedian is the median of up to 8 values (insertion sort in place).
func smallMedian(x []float64) float64 {
	for i := 1; i < len(x); i++ {
		for j := i; j > 0 && x[j] < x[j-1]; j-- {
			x[j], x[j-1] = x[j-1], x[j]
		}
	}
	return sortedMedian(x)
}

func grow(b []float64, n int) []float64 {
	if cap(b) < n {
		return make([]float64, n)
	}
	return b[:n]
}
