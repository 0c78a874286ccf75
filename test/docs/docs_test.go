package docs_test

// The README and docs/*.md are tested like code. The rules:
//
//   - A command block is a fenced block tagged sh, bash or shell. A command
//     block that needs AWS is marked with `<!-- not-local: why -->` on the
//     line before its fence; every other command block that contains a
//     `bin/stagehand` command runs here, as written, with bash (set -euo
//     pipefail). Command blocks without a stagehand command (make, go test,
//     kill, ...) are skipped by that rule, so a new page needs no change here.
//   - In a block that runs, the lines that start what the test provides
//     itself are skipped: make, go, java, npx, cdk, kill, bin/apigw and
//     until (the test builds bin/stagehand, runs DynamoDB Local and the API
//     Gateway emulator, waits for them and stops them). After every `export` line the test exports
//     its own endpoints, table and dummy credentials again, so a block's
//     values for them (127.0.0.1:8000, "reg") are replaced by the test's.
//     The blocks of one file run in order against one table and one
//     emulator, as a reader pasting them would.
//   - Every `bin/stagehand` command in any command block, marked or not,
//     must name a real command with known flags, its required flags and the
//     right number of arguments (shell variables stand for any value); one
//     written with literal values only must also pass the CLI's checks of
//     those values (a REST API id of 10 characters, a git sha, ...).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/spf13/pflag"

	"github.com/stagehand-dev/stagehand/cdk/config"
	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/apigw"
	"github.com/stagehand-dev/stagehand/test/docs"
)

const root = "../.."

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "stagehand-docs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "stagehand")
	code := ddbtest.Run(m)
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func allBlocks(t *testing.T) []docs.Block {
	t.Helper()
	files, err := docs.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	var all []docs.Block
	for _, f := range files {
		bs, err := docs.Blocks(root, f)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, bs...)
	}
	if len(all) == 0 {
		t.Fatal("no fenced blocks found in README.md and docs/")
	}
	return all
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The table and stack names the docs use are the ones the code creates.
func TestNamesMatchTheStacks(t *testing.T) {
	tables := map[string]string{} // name -> env
	envs := config.Environments()
	for _, env := range envs {
		cfg, err := config.Load(env)
		if err != nil {
			t.Fatal(err)
		}
		tables[cfg.Registry.TableName] = env
	}
	tableRE := regexp.MustCompile(`STAGEHAND_TABLE=([^\s$"'` + "`" + `]+)`)
	envRE := regexp.MustCompile(`STAGEHAND_ENV=([a-z0-9]+)`)
	checked := 0
	for _, b := range allBlocks(t) {
		if !b.IsShell() {
			continue
		}
		for _, m := range tableRE.FindAllStringSubmatch(b.Text, -1) {
			checked++
			table := m[1]
			if !b.NotLocal {
				if !strings.Contains(b.Text, "registry create-table") {
					t.Errorf("%s:%d: local block uses table %q without creating it (registry create-table)", b.File, b.Line, table)
				}
				continue
			}
			env := ""
			if e := envRE.FindStringSubmatch(b.Text); e != nil {
				env = e[1]
			}
			if got, ok := tables[table]; !ok || got != env {
				t.Errorf("%s:%d: STAGEHAND_TABLE=%s with STAGEHAND_ENV=%s; the stack creates %q", b.File, b.Line, table, env, tableFor(tables, env))
			}
		}
	}
	if checked == 0 {
		t.Error("no STAGEHAND_TABLE= found: the README's examples should name the table")
	}
	// Table names anywhere in the prose too.
	files, _ := docs.Files(root)
	nameRE := regexp.MustCompile(`\bstagehand-[a-z0-9-]*registry[a-z0-9-]*\b`)
	codeRE := regexp.MustCompile("`[^`\n]+`")
	stackRE := regexp.MustCompile(`\b(?:(Shared|Network|Domain)-([a-z][a-z0-9]*)|Api-([a-z][a-z0-9]*)-([a-z]+))\b`)
	for _, f := range files {
		text := readFile(t, f)
		for _, name := range nameRE.FindAllString(text, -1) {
			if _, ok := tables[name]; !ok {
				t.Errorf("%s: table %q is not one the stacks create (%v)", f, name, keys(tables))
			}
		}
		// Stack names in code: command blocks and inline code spans.
		var code []string
		for _, b := range allBlocks(t) {
			if b.File == f && b.IsShell() {
				code = append(code, b.Text)
			}
		}
		code = append(code, codeRE.FindAllString(text, -1)...)
		for _, m := range stackRE.FindAllStringSubmatch(strings.Join(code, "\n"), -1) {
			env, colour := m[2], ""
			if m[3] != "" {
				env, colour = m[3], m[4]
			}
			if !slices.Contains(envs, env) || (m[3] != "" && colour != "blue" && colour != "green") {
				t.Errorf("%s: stack %q is not Shared-|Network-|Domain-<env> or Api-<env>-<blue|green> with env in %v", f, m[0], envs)
			}
		}
	}
}

func tableFor(tables map[string]string, env string) string {
	for name, e := range tables {
		if e == env {
			return name
		}
	}
	return "(no such environment)"
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Every relative link resolves to a file inside the repository.
func TestLinksStayInTheRepository(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	files, err := docs.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	linkRE := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	for _, f := range files {
		for _, m := range linkRE.FindAllStringSubmatch(readFile(t, f), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") || strings.HasPrefix(target, "#") {
				continue
			}
			target, _, _ = strings.Cut(target, "#")
			p := filepath.Clean(filepath.Join(abs, filepath.Dir(f), target))
			if rel, err := filepath.Rel(abs, p); err != nil || strings.HasPrefix(rel, "..") {
				t.Errorf("%s: link %q leaves the repository", f, m[1])
				continue
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("%s: link %q: %v", f, m[1], err)
			}
		}
	}
	if !strings.Contains(readFile(t, "README.md"), "(docs/architecture.md)") {
		t.Error("README.md does not link docs/architecture.md")
	}
}

// .nvmrc, the README and every workflow name the same Node.js version.
func TestNodeVersionAgrees(t *testing.T) {
	want, err := strconv.Atoi(strings.TrimSpace(readFile(t, ".nvmrc")))
	if err != nil {
		t.Fatalf(".nvmrc: %v", err)
	}
	if readme := readFile(t, "README.md"); !strings.Contains(readme, fmt.Sprintf("Node.js %d", want)) {
		t.Errorf("README.md does not name Node.js %d (.nvmrc)", want)
	}
	workflows, err := filepath.Glob(filepath.Join(root, ".github", "workflows", "*.yml"))
	if err != nil || len(workflows) == 0 {
		t.Fatalf("no workflows: %v", err)
	}
	for _, w := range workflows {
		b, err := os.ReadFile(w)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if strings.Contains(text, "node-version:") {
			t.Errorf("%s: sets node-version; use node-version-file: .nvmrc", filepath.Base(w))
		}
		if n := strings.Count(text, "actions/setup-node"); n != strings.Count(text, "node-version-file: .nvmrc") {
			t.Errorf("%s: %d setup-node steps, not all with node-version-file: .nvmrc", filepath.Base(w), n)
		}
	}
}

// The README's global-flags sentence lists every global flag.
func TestReadmeListsEveryGlobalFlag(t *testing.T) {
	readme := readFile(t, "README.md")
	i := strings.Index(readme, "Global flags:")
	if i < 0 {
		t.Fatal(`README.md has no "Global flags:" paragraph`)
	}
	para, _, _ := strings.Cut(readme[i:], "\n\n")
	root := cli.NewRootCommand(&cli.App{})
	root.PersistentFlags().VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(para, "`--"+f.Name) {
			t.Errorf("README's global flags do not list --%s", f.Name)
		}
	})
	if !strings.Contains(para, "`--version`") {
		t.Error("README's global flags do not list --version")
	}
}

// Every bin/stagehand command in the docs names a real command, known
// flags, its required flags and the right number of arguments.
func TestDocumentedCommandsParse(t *testing.T) {
	n := 0
	for _, b := range allBlocks(t) {
		if !b.IsShell() {
			continue
		}
		for _, line := range docs.Commands(b.Text) {
			for _, args := range stagehandInvocations(line) {
				n++
				if err := parseOnly(args); err != nil {
					t.Errorf("%s:%d: stagehand %s: %v", b.File, b.Line, strings.Join(args, " "), err)
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("found %d stagehand commands in the docs; the extraction is broken", n)
	}
}

// Every documented bin/stagehand command written with literal values only
// gets past the CLI's own checks (ids, names, flags' values): it runs
// in-process with a context that is already cancelled, so it stops at its
// first AWS call without a connection, and must not exit 2. The block's
// STAGEHAND_ENV (or dev) is its --env. e2e is parse-only: its secrets come
// from STAGEHAND_E2E_* variables a reader sets, not from the command line.
func TestDocumentedCommandsPassValidation(t *testing.T) {
	envRE := regexp.MustCompile(`STAGEHAND_ENV=([a-z0-9]+)`)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	n := 0
	for _, b := range allBlocks(t) {
		if !b.IsShell() {
			continue
		}
		env := "dev"
		if m := envRE.FindStringSubmatch(b.Text); m != nil {
			env = m[1]
		}
		for _, line := range docs.Commands(b.Text) {
			for _, args := range stagehandInvocations(line) {
				if slices.Contains(args, placeholder) || len(args) == 0 || args[0] == "e2e" {
					continue
				}
				n++
				full := append([]string{"--env", env, "--table", "t", "--region", "us-east-1", "--endpoint", "http://127.0.0.1:9",
					"--apigateway-endpoint", "http://127.0.0.1:9", "--events-endpoint", "http://127.0.0.1:9"}, args...)
				var out, errb bytes.Buffer
				if code := cli.Execute(ctx, full, &out, &errb); code == cli.ExitUsage {
					t.Errorf("%s:%d: stagehand %s: refused as written: %s", b.File, b.Line, strings.Join(args, " "), errb.String())
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("checked %d commands; the extraction is broken", n)
	}
}

// stagehandInvocations finds the `bin/stagehand ...` commands of a line
// (there may be one inside $(...)) and splits their words; a word with a
// shell expansion stands for any value.
func stagehandInvocations(line string) [][]string {
	var out [][]string
	for rest := line; ; {
		i := strings.Index(rest, "bin/stagehand ")
		if i < 0 {
			return out
		}
		rest = rest[i+len("bin/stagehand "):]
		words, _ := shellWords(rest)
		out = append(out, words)
	}
}

// shellWords splits up to the end of the command (| & ; ) > < # outside
// quotes), honouring quotes; words with $ become placeholder.
func shellWords(s string) ([]string, int) {
	var words []string
	var cur strings.Builder
	inWord, expand := false, false
	var quote byte
	flush := func() {
		if inWord {
			w := cur.String()
			if expand {
				w = placeholder
			}
			words = append(words, w)
		}
		cur.Reset()
		inWord, expand = false, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
				continue
			}
			if c == '$' {
				expand = true
			}
			cur.WriteByte(c)
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == ' ' || c == '\t':
			flush()
		case strings.IndexByte("|&;)><#", c) >= 0:
			flush()
			return words, i
		default:
			if c == '$' {
				expand = true
			}
			cur.WriteByte(c)
			inWord = true
		}
	}
	flush()
	return words, len(s)
}

func parseOnly(args []string) error {
	root := cli.NewRootCommand(&cli.App{})
	cmd, rest, err := root.Find(args)
	if err != nil {
		return err
	}
	if cmd.Annotations[cli.GroupAnnotation] != "" {
		return fmt.Errorf("%q is not a command", strings.Join(args, " "))
	}
	// A shell expansion stands for a value of the flag's type.
	for i := 1; i < len(rest); i++ {
		if rest[i] != placeholder || !strings.HasPrefix(rest[i-1], "--") {
			continue
		}
		if f := cmd.Flag(strings.TrimPrefix(rest[i-1], "--")); f != nil {
			switch f.Value.Type() {
			case "int", "int32", "int64", "float64", "uint":
				rest[i] = "1"
			case "duration":
				rest[i] = "1s"
			}
		}
	}
	if err := cmd.ParseFlags(rest); err != nil {
		return err
	}
	if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
		return err
	}
	// --git-sha defaults from GITHUB_SHA, which a reader's shell lacks.
	if f := cmd.Flags().Lookup("git-sha"); f != nil && !f.Changed {
		return fmt.Errorf("--git-sha is required (GITHUB_SHA is set only in GitHub Actions)")
	}
	return cmd.ValidateRequiredFlags()
}

// placeholder stands for a word with a shell expansion ($VAR, $(...)).
const placeholder = "x1"

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// stagehandBinary builds bin/stagehand once per test run (TestMain removes
// it).
func stagehandBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		out, err := exec.Command("go", "build", "-o", binPath, "../../scripts/stagehand").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// skipped lists the first words of lines a runnable block does not run: the
// test provides the binary, DynamoDB Local and the emulator itself.
var skipped = []string{"make", "go", "java", "npx", "cdk", "kill", "bin/apigw", "until"}

// Every command block that does not need AWS runs, as written.
func TestLocalCommandBlocksRun(t *testing.T) {
	byFile := map[string][]docs.Block{}
	var files []string
	for _, b := range allBlocks(t) {
		if !b.IsShell() || b.NotLocal || !strings.Contains(b.Text, "bin/stagehand ") {
			continue
		}
		if _, ok := byFile[b.File]; !ok {
			files = append(files, b.File)
		}
		byFile[b.File] = append(byFile[b.File], b)
	}
	if len(byFile["README.md"]) == 0 {
		t.Fatal("README.md has no runnable command block: the local walkthrough should run")
	}
	bin := stagehandBinary(t)
	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			work := t.TempDir()
			if err := os.Mkdir(filepath.Join(work, "bin"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(bin, filepath.Join(work, "bin", "stagehand")); err != nil {
				t.Fatal(err)
			}
			table := freshTable(t, byFile[file])
			owned := map[string]string{
				"STAGEHAND_DYNAMODB_ENDPOINT":   ddbtest.Endpoint(t),
				"STAGEHAND_APIGATEWAY_ENDPOINT": apigw.New(apigw.WithoutQuotas()).Start(t),
				"STAGEHAND_EVENTS_ENDPOINT":     "http://127.0.0.1:9",
				"STAGEHAND_TABLE":               table,
				"AWS_ACCESS_KEY_ID":             "local",
				"AWS_SECRET_ACCESS_KEY":         "local",
				"AWS_REGION":                    "us-east-1",
				"AWS_EC2_METADATA_DISABLED":     "true",
				"AWS_ENDPOINT_URL":              "http://127.0.0.1:9",
			}
			var exports []string
			for _, k := range slices.Sorted(mapKeys(owned)) {
				exports = append(exports, "export "+k+"="+owned[k])
			}
			reexport := strings.Join(exports, "\n")
			for _, b := range byFile[file] {
				script := []string{"set -euo pipefail", "export STAGEHAND_ENV=dev", reexport}
				for _, line := range docs.Commands(b.Text) {
					first, _, _ := strings.Cut(line, " ")
					if slices.Contains(skipped, first) {
						continue
					}
					script = append(script, line)
					if first == "export" {
						script = append(script, reexport)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				cmd := exec.CommandContext(ctx, "bash", "-c", strings.Join(script, "\n"))
				cmd.Dir = work
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + work}
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				err := cmd.Run()
				cancel()
				if err != nil {
					t.Errorf("%s:%d: the block does not run as written: %v\n--- script\n%s\n--- output\n%s", b.File, b.Line, err, strings.Join(script, "\n"), out.String())
				}
				if strings.Contains(out.String(), "checksum") {
					t.Errorf("%s:%d: the SDK's checksum warning:\n%s", b.File, b.Line, out.String())
				}
			}
		})
	}
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// freshTable names a table for one file's blocks and deletes it at the end;
// it creates the table unless a block does (registry create-table).
func freshTable(t *testing.T, blocks []docs.Block) string {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "stagehand-docs-" + hex.EncodeToString(b)
	db := ddbtest.Client(t)
	creates := false
	for _, bl := range blocks {
		creates = creates || strings.Contains(bl.Text, "registry create-table")
	}
	if !creates {
		if _, err := db.CreateTable(context.Background(), registry.TableDefinition(name)); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_, _ = db.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	return name
}

// `make cli` injects the version, commit and build date that --version
// prints: the Makefile's command, run as make would run it.
func TestMakeCliInjectsVersion(t *testing.T) {
	makeN := exec.Command("make", "-s", "-n", "--no-print-directory", "-C", root, "cli", "VERSION=v9.9.9", "COMMIT=abc1234", "BUILD_DATE=2027-01-01T00:00:00Z")
	// Independent of a parent make (make test): no inherited flags or jobserver.
	makeN.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "MAKEFLAGS" || name == "MFLAGS" || name == "MAKELEVEL"
	})
	out, err := makeN.Output()
	if err != nil {
		t.Fatalf("make -n cli: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "stagehand")
	script := strings.Replace(string(out), "-o bin/stagehand", "-o "+bin, 1)
	if script == string(out) {
		t.Fatalf("make -n cli does not build bin/stagehand:\n%s", out)
	}
	build := exec.Command("bash", "-c", script)
	build.Dir = root
	if b, err := build.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
	got, err := exec.Command(bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	if want := "stagehand version v9.9.9 (commit abc1234, built 2027-01-01T00:00:00Z)\n"; string(got) != want {
		t.Errorf("--version = %q, want %q", got, want)
	}
}
