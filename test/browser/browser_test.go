// Package browser drives the console and portal in headless Chromium
// (Debian's chromium, through chromedp) against the dev stack, started by
// the test: the journeys an operator and a customer take, isolation
// between customers, axe-core accessibility checks on every page, the
// 320 px layout, keyboard focus, and a screenshot of each page saved to
// $STAGEHAND_SCREENSHOTS (default: a temporary directory, logged).
//
// Without chromium the test fails under CI=true (make test installs it)
// and is skipped elsewhere.
package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/stagehand-dev/stagehand/internal/keys"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/devstack"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

// chromiumPath finds Debian's chromium.
func chromiumPath(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (make test installs it: apt-get install -y chromium)")
	}
	t.Skip("chromium is not installed; make test installs it")
	return ""
}

// axeSource is axe-core from node_modules (pinned in package.json).
func axeSource(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join("..", "..", "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is not installed (npm ci installs it): %v", err)
	}
	return string(b)
}

type browser struct {
	t     *testing.T
	ctx   context.Context
	stack *devstack.Stack
	axe   string
	shots string
	n     int
}

func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

// get runs one action and returns its value.
func get[T any](b *browser, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return v
}

func (b *browser) eval(expr string) any {
	b.t.Helper()
	return get(b, chromedp.Evaluate[any](expr))
}

// open navigates and returns the document's HTTP status.
func (b *browser) open(path string) int64 {
	b.t.Helper()
	res, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(b.stack.PortalURL+path))
	if err != nil {
		b.t.Fatalf("open %s: %v", path, err)
	}
	return res.Status
}

// submit clicks a button that submits a form and returns the status of
// the page it leads to.
func (b *browser) submit(sel string) int64 {
	b.t.Helper()
	res, err := chromedp.RunResponse(b.ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("submit %s: %v", sel, err)
	}
	return res.Status
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	return get(b, chromedp.Text(chromedp.CSS(sel)))
}

func (b *browser) html() string {
	b.t.Helper()
	return get(b, chromedp.OuterHTML(chromedp.CSS("html")))
}

func (b *browser) path() string {
	b.t.Helper()
	return strings.TrimPrefix(get(b, chromedp.Location()), b.stack.PortalURL)
}

type violation struct {
	ID, Impact, Help string
	Nodes            int
}

// axeRun injects axe-core into the page and returns its violations.
func (b *browser) axeRun() []violation {
	b.t.Helper()
	b.eval(b.axe)
	return get(b, chromedp.Evaluate[[]violation](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => r.violations.map(v => ({ID: v.id, Impact: v.impact || "", Help: v.help, Nodes: v.nodes.length})))`,
		func(p *runtime.EvaluateParams) { p.AwaitPromise = &[]bool{true}[0] }))
}

// check runs axe-core in the page (0 serious or critical violations) and
// saves a screenshot.
func (b *browser) check(name string) {
	b.t.Helper()
	vs := b.axeRun()
	serious := 0
	for _, v := range vs {
		if v.Impact == "serious" || v.Impact == "critical" {
			serious++
			b.t.Errorf("%s: axe %s violation %s (%d nodes): %s", name, v.Impact, v.ID, v.Nodes, v.Help)
		} else {
			b.t.Logf("%s: axe %s %s: %s", name, v.Impact, v.ID, v.Help)
		}
	}
	b.t.Logf("axe %s: %d violations, %d serious or critical", name, len(vs), serious)
	png := get(b, chromedp.FullScreenshot(100))
	b.n++
	file := filepath.Join(b.shots, fmt.Sprintf("%02d-%s.png", b.n, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn goes through the local OpenID provider's login form.
func (b *browser) signIn(area, user, password string) {
	b.t.Helper()
	b.open("/" + area + "/login")
	b.do(chromedp.WaitVisible(chromedp.CSS("#username")),
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password))
	b.submit(`button[type="submit"]`)
}

func (b *browser) signOut() {
	b.t.Helper()
	if status := b.submit(`header form[action="/logout"] button`); status != http.StatusOK {
		b.t.Fatalf("sign out ended with %d", status)
	}
}

var keyPattern = regexp.MustCompile(keys.Pattern)

func TestConsoleAndPortalInABrowser(t *testing.T) {
	exe := chromiumPath(t)
	axe := axeSource(t)
	shots := os.Getenv("STAGEHAND_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	stack, err := devstack.Start(context.Background(), devstack.Options{DynamoDBEndpoint: ddbtest.Endpoint(t), UpdateUsagePlanEvery: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer stack.Close()

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	defer cancelTimeout()
	b := &browser{t: t, ctx: ctx, stack: stack, axe: axe, shots: shots}

	// Start page.
	if status := b.open("/"); status != http.StatusOK {
		t.Fatalf("start page = %d", status)
	}
	b.check("start")

	// Operator: sign in, create a customer, issue a key, bind the portal user.
	b.signIn("console", devstack.Logins[0].User, devstack.Logins[0].Password)
	if p := b.path(); p != "/console/" {
		t.Fatalf("operator signed in to %s", p)
	}
	b.check("console-customers")
	b.do(chromedp.SendKeys(chromedp.CSS("#c-id"), "initech"), chromedp.SendKeys(chromedp.CSS("#c-name"), "Initech"))
	if status := b.submit(`form[action="/console/customers"] button`); status != http.StatusOK || b.path() != "/console/customers/initech?done=created" {
		t.Fatalf("create customer: %d at %s", status, b.path())
	}
	b.do(chromedp.SendKeys(chromedp.CSS("#b-iss"), stack.IssuerURL), chromedp.SendKeys(chromedp.CSS("#b-sub"), devstack.Subject(3)))
	b.submit(`form[action="/console/customers/initech/bindings"] button`)
	b.do(chromedp.SendKeys(chromedp.CSS("#k-name"), "first"))
	b.submit(`form[action="/console/customers/initech/keys"] button`)
	first := keyPattern.FindString(b.text("#secret"))
	if first == "" {
		t.Fatal("the console did not show the new key")
	}
	b.check("console-new-key")
	firstPrefix := keys.DisplayPrefix(first)
	b.open("/console/customers/initech")
	if h := b.html(); strings.Contains(h, first) || !strings.Contains(h, firstPrefix) {
		t.Error("the customer page must list the key by prefix and never show its secret")
	}
	b.check("console-customer")
	for _, p := range []string{"/console/plans", "/console/deployments", "/console/audit?subject=initech"} {
		if status := b.open(p); status != http.StatusOK {
			t.Errorf("GET %s = %d", p, status)
		}
		b.check("console-" + strings.Split(strings.TrimPrefix(p, "/console/"), "?")[0])
	}
	b.signOut()

	// Customer: sees the key prefix, rotates (secret once), revokes the old key.
	ivy := devstack.Logins[3]
	b.signIn("portal", ivy.User, ivy.Password)
	if p := b.path(); p != "/portal/" {
		t.Fatalf("customer signed in to %s: %s", p, b.text("main"))
	}
	if !strings.Contains(b.html(), firstPrefix) {
		t.Fatal("the portal does not list the key's prefix")
	}
	b.check("portal-keys")
	// Rotate with a grace period other than the preselected 24 h: the old
	// key's expiry shown is now + 7 days.
	rotateForm := fmt.Sprintf(`form:has(button[aria-label="Rotate %s"])`, firstPrefix)
	if sel := get(b, chromedp.Value(chromedp.CSS(rotateForm+" select"))); sel != "24h" {
		t.Errorf("the grace preselected is %q, want 24h", sel)
	}
	b.do(chromedp.SetValue(chromedp.CSS(rotateForm+" select"), "7d"))
	rotateStart := time.Now().UTC().Truncate(time.Second)
	b.submit(rotateForm + " button")
	rotateEnd := time.Now().UTC()
	second := keyPattern.FindString(b.text("#secret"))
	if second == "" || second == first {
		t.Fatal("rotation did not show a new secret")
	}
	const week = 7 * 24 * time.Hour
	oldExpiry, err := time.Parse(time.RFC3339, get(b, chromedp.AttributeValue(chromedp.CSS("#old-key time"), "datetime")).Value)
	if err != nil {
		t.Fatalf("the secret page shows no machine-readable expiry of the old key: %v", err)
	}
	if oldExpiry.Before(rotateStart.Add(week)) || oldExpiry.After(rotateEnd.Add(week)) {
		t.Errorf("old key expires %s, want now + 7 days (%s to %s)", oldExpiry, rotateStart.Add(week), rotateEnd.Add(week))
	}
	shown := oldExpiry.Format("2006-01-02 15:04")
	if txt := b.text("#old-key"); !strings.Contains(txt, shown+" UTC") || !strings.Contains(txt, "7 days") {
		t.Errorf("the secret page says %q, want the old key's expiry %s UTC and the 7 days chosen", txt, shown)
	}
	b.check("portal-new-key")
	b.open("/portal/")
	if strings.Contains(b.html(), second) {
		t.Error("the secret is shown a second time")
	}
	if exp := b.eval(fmt.Sprintf(`[...document.querySelectorAll("tbody tr")].find(r => r.textContent.includes(%q)).children[5].textContent`, firstPrefix)); exp != shown {
		t.Errorf("the key list shows the old key expiring %q, want %q", exp, shown)
	}
	b.submit(fmt.Sprintf(`button[aria-label="Revoke %s"]`, firstPrefix))
	oldStatus := b.eval(fmt.Sprintf(`[...document.querySelectorAll("tbody tr")].find(r => r.textContent.includes(%q)).children[2].textContent`, firstPrefix))
	if oldStatus != "revoked" {
		t.Errorf("old key status %q, want revoked", oldStatus)
	}

	// Usage: requests with the new key show in the chart and table.
	for range 5 {
		req, _ := http.NewRequest(http.MethodGet, stack.APIURL+"/orders/7", nil)
		req.Header.Set("x-api-key", second)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("API call with the rotated key = %d", res.StatusCode)
		}
	}
	b.open("/portal/usage")
	chartWidth := get(b, chromedp.Poll[int](`document.querySelector("img.chart").complete && document.querySelector("img.chart").naturalWidth`,
		chromedp.WithPollingTimeout(10*time.Second)))
	if chartWidth == 0 {
		t.Error("the usage chart did not render")
	}
	if !strings.Contains(b.text("main"), "5 requests") {
		t.Errorf("usage page: %q", b.text("main p"))
	}
	b.check("portal-usage")
	b.open("/portal/docs")
	b.check("portal-docs")

	// 320 px wide: nothing overflows horizontally; Tab reaches the skip link first.
	b.do(chromedp.EmulateViewport(320, 800))
	b.open("/portal/")
	overflow := b.eval(`document.documentElement.scrollWidth > 320`)
	b.do(chromedp.KeyEvent("\t"))
	focused := b.eval(`document.activeElement.className`)
	if overflow != false {
		t.Error("the portal overflows 320 px")
	}
	if focused != "skip" {
		t.Errorf("first Tab focuses %q, want the skip link", focused)
	}
	b.check("portal-keys-320px")
	b.do(chromedp.EmulateViewport(1280, 900))

	// Plan change: requested by the customer, approved by the operator.
	b.do(chromedp.SetValue(chromedp.CSS("#to-plan"), "pro"))
	b.submit(`form[action="/portal/plan-requests"] button`)
	b.signOut()
	b.signIn("console", devstack.Logins[0].User, devstack.Logins[0].Password)
	b.check("console-pending-request")
	b.submit(`button[aria-label="Approve initech to pro"]`)
	b.signOut()
	b.signIn("portal", ivy.User, ivy.Password)
	if plan := b.text("#plan"); plan != "pro" {
		t.Errorf("plan after approval = %q, want pro", plan)
	}
	b.signOut()

	// A second customer cannot reach the first one's pages.
	gil := devstack.Logins[2]
	b.signIn("portal", gil.User, gil.Password)
	if strings.Contains(b.html(), "Initech") || strings.Contains(b.html(), firstPrefix) {
		t.Error("globex's portal shows initech's data")
	}
	for _, p := range []string{"/console/customers/initech", "/console/", "/console/audit?subject=initech"} {
		if status := b.open(p); status != http.StatusForbidden {
			t.Errorf("globex: GET %s = %d, want 403", p, status)
		}
	}
	b.check("forbidden")

	// Control: axe does find a violation when there is one (an image
	// without a text alternative), so the zeros above mean something.
	b.eval(`document.querySelector("main").insertAdjacentHTML("beforeend", '<img src="/static/app.css">')`)
	found := false
	for _, v := range b.axeRun() {
		found = found || (v.ID == "image-alt" && v.Impact == "critical")
	}
	if !found {
		t.Error("axe missed an image without alt text: the accessibility checks are not running")
	}
}
