package scalesim

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// BenchFigures are the medians of `go test -bench` results by benchmark
// name (without the "Benchmark" prefix and the -N suffix), in ns/op.
type BenchFigures map[string]float64

// ParseBench reads `go test -bench` output and returns each benchmark's
// median ns/op over its repeated lines (-count).
func ParseBench(r io.Reader) (BenchFigures, error) {
	samples := map[string][]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		for i := 2; i+1 < len(f); i++ {
			if f[i+1] != "ns/op" {
				continue
			}
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("parse bench line %q: %w", sc.Text(), err)
			}
			name := strings.TrimPrefix(f[0], "Benchmark")
			if j := strings.LastIndexByte(name, '-'); j > 0 {
				if _, err := strconv.Atoi(name[j+1:]); err == nil {
					name = name[:j]
				}
			}
			samples[name] = append(samples[name], v)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read bench output: %w", err)
	}
	out := BenchFigures{}
	for name, v := range samples {
		sort.Float64s(v)
		out[name] = v[len(v)/2]
	}
	return out, nil
}

// The benchmarks of internal/auth the model reads.
const (
	BenchAPIKeyCached = "AuthorizeAPIKeyCached"
	BenchJWTCached    = "AuthorizeJWTCached"
	BenchJWTRS256     = "AuthorizeJWTRS256"
	BenchRSAFloor     = "RSAVerifyFloor"
)

// CPU returns the per-decision CPU figures, or an error naming the first
// benchmark missing from the output.
func (b BenchFigures) CPU() (CPUFigures, error) {
	get := func(name string) (time.Duration, error) {
		v, ok := b[name]
		if !ok || v <= 0 {
			return 0, fmt.Errorf("benchmark %s missing from the bench output", name)
		}
		return time.Duration(v), nil
	}
	var c CPUFigures
	var err error
	if c.APIKeyCached, err = get(BenchAPIKeyCached); err != nil {
		return c, err
	}
	if c.JWTCached, err = get(BenchJWTCached); err != nil {
		return c, err
	}
	if c.JWTFresh, err = get(BenchJWTRS256); err != nil {
		return c, err
	}
	return c, nil
}
