// Package docs checks the repository's documentation against the code: the
// names it uses, its links, its Node version, and that its command examples
// run as written (docs_test.go has the rules).
package docs

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// NotLocal is the comment that marks the next fenced block as needing AWS:
// `<!-- not-local: why -->` on the line before the fence.
const NotLocal = "<!-- not-local"

// Block is one fenced code block of a markdown file.
type Block struct {
	File     string // path relative to the repository root
	Line     int    // line of the opening fence
	Info     string // the fence's info string ("sh", "json", "")
	Text     string
	NotLocal bool // preceded by a NotLocal comment
}

// IsShell reports whether the block is a command block (sh, bash, shell).
func (b Block) IsShell() bool {
	switch b.Info {
	case "sh", "bash", "shell":
		return true
	}
	return false
}

// Files lists README.md and every docs/*.md (a new page is picked up
// without editing the tests).
func Files(root string) ([]string, error) {
	docs, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		return nil, err
	}
	files := []string{"README.md"}
	for _, d := range docs {
		rel, err := filepath.Rel(root, d)
		if err != nil {
			return nil, err
		}
		files = append(files, rel)
	}
	return files, nil
}

// Blocks parses the fenced blocks of a markdown file.
func Blocks(root, file string) ([]Block, error) {
	f, err := os.Open(filepath.Join(root, file))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		blocks   []Block
		cur      *Block
		body     []string
		prev     string // last non-blank line outside a block
		fence    string
		lineNo   int
		sc       = bufio.NewScanner(f)
		fenceRE  = regexp.MustCompile("^\\s*(```+|~~~+)\\s*([A-Za-z0-9_-]*)")
		closeFor = func(open, line string) bool {
			t := strings.TrimSpace(line)
			return strings.HasPrefix(t, open) && strings.Trim(t, open[:1]) == ""
		}
	)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if cur != nil {
			if closeFor(fence, line) {
				cur.Text = strings.Join(body, "\n")
				blocks = append(blocks, *cur)
				cur, body = nil, nil
				continue
			}
			body = append(body, line)
			continue
		}
		if m := fenceRE.FindStringSubmatch(line); m != nil {
			fence = m[1]
			cur = &Block{File: file, Line: lineNo, Info: m[2], NotLocal: strings.HasPrefix(strings.TrimSpace(prev), NotLocal)}
			continue
		}
		if strings.TrimSpace(line) != "" {
			prev = line
		}
	}
	return blocks, sc.Err()
}

// Commands splits a shell block into logical lines: continuations joined,
// blank lines and comment-only lines dropped, indentation removed.
func Commands(text string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if cur.Len() == 0 && (t == "" || strings.HasPrefix(t, "#")) {
			continue
		}
		if strings.HasSuffix(t, "\\") {
			cur.WriteString(strings.TrimSuffix(t, "\\"))
			cur.WriteString(" ")
			continue
		}
		cur.WriteString(t)
		out = append(out, cur.String())
		cur.Reset()
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}
