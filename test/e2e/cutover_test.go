package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"

	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/eventbus"
)

const (
	clients       = 50               // concurrent callers through the domain
	maxPerClient  = 4000             // bound on requests per caller
	leaseTTL      = 2 * time.Minute  // the re-association run lease (virtual time)
	verifyTimeout = 60 * time.Second // stagehand deploy verify --wait
)

// deployment wires the re-association handler into the world the way the
// Lambda is wired: EventBridge rules for deploy and retire events, an SQS
// delay queue for continuations (here: redelivered in-process after the
// delay in virtual time), the registry and API Gateway.
type deployment struct {
	w       *world
	handler *reconcile.Handler
	runner  *reconcile.Runner // the scheduled reconcile's
	wg      sync.WaitGroup    // continuations in flight
	errs    chan error

	// kill, when set, cancels the first run's context after that many
	// UpdateUsagePlan calls took effect: a Lambda killed mid-run.
	kill    int
	killed  atomic.Bool
	invokes atomic.Int32
}

func (w *world) wireDeployment(kill int) *deployment {
	d := &deployment{w: w, errs: make(chan error, 100), kill: kill, runner: w.newRepairRunner()}
	client := ddbtest.Client(w.t)
	// The handler's registry runs on the same virtual clock as its pacer
	// and API Gateway's quotas, so leases and pacing agree.
	store := registry.New(client, w.table, registry.WithClock(w.vclock))
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	runner, err := reconcile.NewRunner(envName, store, w.gw,
		reconcile.WithClock(w.vclock), reconcile.WithLogger(quiet), reconcile.WithLeaseTTL(leaseTTL),
		reconcile.WithContinuer(d), reconcile.WithPublisher(reconcile.EventBridgePublisher{Client: eventbus.Client(w.busURL), Bus: "default"}))
	if err != nil {
		w.t.Fatal(err)
	}
	d.handler = reconcile.NewHandler(runner, store, reconcile.WithHandlerLogger(quiet),
		reconcile.WithDeadlineFunc(func(context.Context) (time.Time, bool) { return time.Time{}, false }))
	w.bus.AddRule(eventbus.Rule{
		Name: "deployment", Source: deployevent.DefaultSource,
		DetailTypes: []string{deployevent.DeploymentCompleted, deployevent.StackRetiring},
		MaxAttempts: 5,
		// EventBridge backs off before a retry; a killed run's lease expires.
		BeforeRetry: func() { w.vclock.Advance(leaseTTL) },
		Target:      d.invoke,
	})
	return d
}

// invoke is one Lambda invocation for an EventBridge event.
func (d *deployment) invoke(ctx context.Context, ev events.CloudWatchEvent) error {
	d.invokes.Add(1)
	if d.kill > 0 && d.killed.CompareAndSwap(false, true) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		start := d.w.emu.Applied("UpdateUsagePlan")
		stop := make(chan struct{})
		defer close(stop)
		go func() { // the kill: no checkpoint, no goodbye
			for {
				select {
				case <-stop:
					return
				case <-time.After(time.Millisecond):
					if d.w.emu.Applied("UpdateUsagePlan")-start >= d.kill {
						cancel()
						return
					}
				}
			}
		}()
		return d.handler.HandleEvent(ctx, ev)
	}
	return d.handler.HandleEvent(ctx, ev)
}

// Continue implements reconcile.Continuer: an SQS message with a delivery
// delay, delivered to the same function after the delay (virtual time).
func (d *deployment) Continue(_ context.Context, c reconcile.Continuation, delay time.Duration) error {
	c.Kind = reconcile.ContinuationKind
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		d.w.vclock.Advance(delay)
		raw, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-" + strconv.Itoa(c.Invocation), Body: string(body)}}})
		d.invokes.Add(1)
		if err := d.handler.Handle(context.Background(), raw); err != nil {
			d.errs <- fmt.Errorf("continuation %s: %w", body, err)
		}
	}()
	return nil
}

// settle waits until every delivery and continuation has finished.
func (d *deployment) settle() {
	for {
		d.w.bus.Wait()
		d.wg.Wait()
		if d.quiet() {
			return
		}
	}
}

func (d *deployment) quiet() bool {
	done := make(chan struct{})
	go func() { d.w.bus.Wait(); d.wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

// cycleReport is what one blue/green cycle measured.
type cycleReport struct {
	requests, rejected int
	phases             map[string][]time.Duration
	virtual            time.Duration
	revokedAfterBound  int
	stageMismatches    int
}

// scenario is one variant of the cycle.
type scenario struct {
	name string
	// throttle: fraction of control-plane calls answered 429.
	throttle float64
	// kill: cancel the re-association run after this many plan updates.
	kill int
	// cutEarly: cut over before publishing the deploy event (the control
	// run: it must show rejections, proving the test can fail).
	cutEarly bool
	// extraPlans adds usage plans without customers, so a run spans
	// several pacing windows.
	extraPlans int
	// sharedUpdate, when set, updates the Shared stack and a plan's limits
	// while blue serves traffic: "registry" (the design: the stack owns no
	// usage plan; the change goes through plans apply and the reconciler)
	// or "cloudformation" (the control: the stack owns the plans, as
	// before, and its update resets their stages).
	sharedUpdate string
}

func TestBlueGreenCutover(t *testing.T) {
	for _, sc := range []scenario{
		{name: "clean cycle"},
		{name: "control: cutover before association", cutEarly: true},
		{name: "30% throttled, handler killed mid-run and resumed", throttle: 0.3, kill: 2, extraPlans: 4},
		{name: "Shared stack updated and plan limits changed mid-traffic", sharedUpdate: "registry"},
		{name: "control: CloudFormation-owned plans updated mid-traffic", sharedUpdate: "cloudformation"},
	} {
		t.Run(sc.name, func(t *testing.T) {
			rep := runCycle(t, sc)
			t.Logf("requests %d, rejected %d, revoked key rejected after bound %d, virtual cycle %s",
				rep.requests, rep.rejected, rep.revokedAfterBound, rep.virtual)
			for _, ph := range []string{"blue live", "shared stack update", "green deploy + verify", "after cutover"} {
				if len(rep.phases[ph]) == 0 && ph == "shared stack update" {
					continue
				}
				p50, p99 := percentiles(rep.phases[ph])
				t.Logf("phase %-22s n=%-6d p50 %-10s p99 %s", ph, len(rep.phases[ph]), p50, p99)
			}
			if rep.requests < clients*10 {
				t.Errorf("only %d requests: the load did not run through the cycle", rep.requests)
			}
			if rep.stageMismatches != 0 {
				t.Errorf("%d responses came from a stage the domain was not mapped to", rep.stageMismatches)
			}
			if sc.cutEarly || sc.sharedUpdate == "cloudformation" {
				if rep.rejected == 0 {
					t.Error("control run rejected nothing — the test cannot fail")
				}
				return
			}
			if rep.rejected != 0 {
				t.Errorf("%d valid requests rejected across the cycle, want 0", rep.rejected)
			}
			if rep.revokedAfterBound == 0 {
				t.Error("the revoked key was never tried after the revocation bound")
			}
		})
	}
}

func runCycle(t *testing.T, sc scenario) cycleReport {
	w := newWorld(t)
	w.declarePlans(sc.extraPlans)
	dep := w.wireDeployment(sc.kill)
	virtualStart := w.vclock.Now()

	// Step 1 of the workflow: the shared stack is deployed (with the old
	// design, it creates the usage plans), the config file's plans are
	// applied, then reconcile creates (or adopts) the usage plans.
	shared := w.newSharedStack(sc.sharedUpdate)
	w.mustStagehand("plans", "apply", "--file", w.plansFile)
	w.mustStagehand("reconcile")
	w.loadPlans()
	var custs []customer
	for i := range 10 {
		tier := "basic"
		if i%2 == 1 {
			tier = "enterprise"
		}
		custs = append(custs, w.addCustomer(fmt.Sprintf("cust%02d", i), tier))
	}
	revoked := w.addCustomer("leaver", "basic")

	// First colour: deploy, publish, verify, cut over (no traffic yet).
	blue := w.emu.SeedRestAPI("Api-dev-blue", envName)
	w.mustStagehand("deploy", "publish", "--api-id", blue, "--stage", envName, "--colour", "blue",
		"--stack-name", "Api-dev-blue", "--sequence", "1", "--git-sha", "aaaaaaa")
	dep.settle()
	w.mustStagehand("deploy", "verify", "--api-id", blue, "--stage", envName, "--wait", verifyTimeout.String(), "--interval", "500ms")
	w.cutover(blue)

	// Traffic from now on, without pause.
	stop := make(chan struct{})
	results := w.load(custs, clients, maxPerClient, stop)
	leaverStop := make(chan struct{})
	leaverResults := w.load([]customer{revoked}, 1, maxPerClient, leaverStop)
	phase := map[string]time.Time{"blue live": time.Now()}
	time.Sleep(300 * time.Millisecond)
	if sc.sharedUpdate != "" {
		phase["shared stack update"] = time.Now()
		w.updateSharedMidTraffic(dep, shared)
	}

	// Second colour under load.
	if sc.throttle > 0 {
		w.emu.SetThrottleRate("", sc.throttle)
	}
	phase["green deploy + verify"] = time.Now()
	green := w.emu.SeedRestAPI("Api-dev-green", envName)
	if sc.cutEarly {
		w.cutover(green) // the mistake stagehand exists to prevent
		time.Sleep(300 * time.Millisecond)
	}
	w.mustStagehand("deploy", "publish", "--api-id", green, "--stage", envName, "--colour", "green",
		"--stack-name", "Api-dev-green", "--sequence", "2", "--git-sha", "bbbbbbb")
	// Revoke a key mid-cycle: the leaver's requests must fail within the
	// bound. The write lands somewhere inside the CLI call: requests that
	// ended before it started must have passed, requests that started more
	// than the cache TTL after it returned must be refused.
	revokeStart := time.Now()
	w.mustStagehand("keys", "revoke", revoked.keyID)
	revokeDone := time.Now()
	if _, err := w.stagehand("deploy", "verify", "--api-id", green, "--stage", envName, "--wait", verifyTimeout.String(), "--interval", "500ms"); err != nil {
		dep.settle()
		drainErrs(t, dep)
		t.Fatal(err)
	}
	phase["after cutover"] = time.Now()
	w.cutover(green)
	time.Sleep(300 * time.Millisecond)

	// Retire the old colour once traffic has moved.
	w.mustStagehand("deploy", "retire", "--api-id", blue, "--stage", envName, "--colour", "blue",
		"--stack-name", "Api-dev-blue", "--sequence", "2", "--git-sha", "bbbbbbb")
	dep.settle()
	time.Sleep(max(cacheTTL+500*time.Millisecond-time.Since(revokeDone), 200*time.Millisecond))
	close(stop)
	close(leaverStop)
	all := <-results
	leaver := <-leaverResults
	dep.settle()
	w.emu.SetThrottleRate("", 0)
	drainErrs(t, dep)

	// The end state read back from API Gateway: every plan has green and not
	// blue; the stack can go.
	plans, err := w.gw.GetUsagePlans(w.ctx, &apigateway.GetUsagePlansInput{Limit: aws.Int32(500)})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans.Items {
		var stages []string
		for _, s := range p.ApiStages {
			stages = append(stages, aws.ToString(s.ApiId)+":"+aws.ToString(s.Stage))
		}
		if !slices.Equal(stages, []string{green + ":" + envName}) {
			t.Errorf("usage plan %s stages = %v, want only green", aws.ToString(p.Name), stages)
		}
	}
	if dl := w.bus.DeadLetters(); len(dl) != 0 {
		t.Errorf("events sent to the DLQ: %+v", dl)
	}
	if sc.kill > 0 && !dep.killed.Load() {
		t.Error("the kill never happened")
	}

	rep := cycleReport{phases: map[string][]time.Duration{}, virtual: w.vclock.Now().Sub(virtualStart)}
	phaseOf := func(at time.Time) string {
		name, latest := "", time.Time{}
		for n, p := range phase {
			if !at.Before(p) && p.After(latest) {
				name, latest = n, p
			}
		}
		return name
	}
	for _, r := range all {
		rep.requests++
		rep.phases[phaseOf(r.start)] = append(rep.phases[phaseOf(r.start)], r.end.Sub(r.start))
		if r.err != nil || r.status != http.StatusOK {
			rep.rejected++
			if rep.rejected <= 3 && !sc.cutEarly && sc.sharedUpdate != "cloudformation" {
				t.Logf("rejected: client %d jwt=%v status %d stage %s err %v", r.client, r.jwt, r.status, r.stage, r.err)
			}
			continue
		}
		if !w.allowedStages(r.start, r.end)[r.stage] || r.sawStage != r.stage {
			rep.stageMismatches++
		}
	}
	bound := revokeDone.Add(cacheTTL)
	for _, r := range leaver {
		rep.requests++
		switch {
		case r.end.Before(revokeStart):
			if r.status != http.StatusOK && !sc.cutEarly {
				rep.rejected++
			}
		case r.start.After(bound):
			rep.revokedAfterBound++
			if r.status != http.StatusUnauthorized {
				t.Errorf("revoked key answered %d %s after revocation (bound %s)", r.status, r.start.Sub(revokeDone), cacheTTL)
			}
		}
	}
	return rep
}

func drainErrs(t *testing.T, d *deployment) {
	t.Helper()
	for {
		select {
		case err := <-d.errs:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("re-association: %v", err)
			}
		default:
			return
		}
	}
}

func percentiles(ds []time.Duration) (p50, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2], s[min(len(s)-1, len(s)*99/100)]
}
