package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunWritesReport runs the whole program on a small population and
// checks that the document keeps its hand-written text, gains the tables,
// and that the charts are SVG.
func TestRunWritesReport(t *testing.T) {
	dir := t.TempDir()
	doc := filepath.Join(dir, "scale.md")
	orig := "# Scale\n\nhand-written\n\n" + beginMarker + "\nstale\n" + endMarker + "\n\nafter\n"
	if err := os.WriteFile(doc, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	bench := filepath.Join(dir, "bench.txt")
	os.WriteFile(bench, []byte("BenchmarkAuthorizeAPIKeyCached-2 100 700 ns/op\nBenchmarkAuthorizeJWTCached-2 100 1300 ns/op\nBenchmarkAuthorizeJWTRS256-2 100 35000 ns/op\nBenchmarkRSAVerifyFloor-2 100 30000 ns/op\n"), 0o644)
	var stderr bytes.Buffer
	if err := run([]string{"-bench", bench, "-requests", "20000", "-reassoc-days", "30", "-doc", doc, "-img", filepath.Join(dir, "img")}, &stderr); err != nil {
		t.Fatalf("run: %v\n%s", err, stderr.String())
	}
	got, _ := os.ReadFile(doc)
	for _, want := range []string{"hand-written", "after", "| 10,000 customers |", "1.17× the bare RSA verify", "Re-association", "![hit ratio by concurrency]"} {
		if !strings.Contains(string(got), want) {
			t.Errorf("document lacks %q", want)
		}
	}
	if strings.Contains(string(got), "stale") {
		t.Error("old generated section kept")
	}
	for _, name := range []string{"scale-hit-ratio.svg", "scale-cost-ttl.svg"} {
		svg, err := os.ReadFile(filepath.Join(dir, "img", name))
		if err != nil || !bytes.Contains(svg, []byte("<svg")) {
			t.Errorf("%s: not an SVG (err %v)", name, err)
		}
	}
	// The real document carries the markers the program needs.
	real, err := os.ReadFile("../../docs/scale.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(real, []byte(beginMarker)) || !bytes.Contains(real, []byte(endMarker)) {
		t.Error("docs/scale.md lacks the generated-section markers")
	}
}

func TestRunRejectsBadBench(t *testing.T) {
	dir := t.TempDir()
	bench := filepath.Join(dir, "bench.txt")
	os.WriteFile(bench, []byte("BenchmarkAuthorizeAPIKeyCached-2 100 700 ns/op\n"), 0o644)
	err := run([]string{"-bench", bench, "-requests", "1000", "-doc", filepath.Join(dir, "none.md"), "-img", dir}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "AuthorizeJWTCached") {
		t.Errorf("err = %v, want the missing benchmark named", err)
	}
}
