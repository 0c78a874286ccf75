package scalesim

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// handModel has round numbers: every GetItem takes exactly 4 ms, invoking
// costs 2 ms, a cold start 100 ms.
func handModel() CostModel {
	m := DefaultCostModel()
	m.CPU = CPUFigures{APIKeyCached: 620 * time.Nanosecond, JWTCached: 1280 * time.Nanosecond, JWTFresh: 34500 * time.Nanosecond}
	m.Latency = Latency{InvokeOverhead: 2 * time.Millisecond, DynamoP50: 4 * time.Millisecond, DynamoP99: 4 * time.Millisecond, ColdStart: 100 * time.Millisecond}
	return m
}

func oneKey() Population {
	return Population{Customers: 1, ZipfS: 1.1, KeysPerCustomer: 1, ClientsPerCustomer: 1, TokenLifetime: time.Hour}
}

// TestSimulateHandComputed checks runs small enough to count by hand: 100
// requests, one a second, from one customer.
func TestSimulateHandComputed(t *testing.T) {
	// onLambda(620 ns) at 512 MiB = 620·1769/512 ns.
	cpuHit := time.Duration(620 * 1769 / 512) // integer ns, as onLambda truncates
	tests := []struct {
		name       string
		deployment Deployment
		want       Result
	}{
		{
			// One instance, TTL 30 s: the key and the subscription are read at
			// t = 0, 30, 60, 90 s; the other 96 decisions are cached.
			name:       "one instance, ttl 30s",
			deployment: Deployment{RatePerSecond: 1, Concurrency: 1, CacheTTL: 30 * time.Second, CacheMaxEntries: 10},
			want: Result{
				Requests: 100, Invocations: 100, InProcessHits: 96, ColdStarts: 1, DynamoReads: 8,
				// sorted added latencies: 96 × (2 ms + hit), 3 × (2 + 8 ms + hit), 1 × cold miss
				AddedP50:    2*time.Millisecond + cpuHit,
				AddedP99:    10*time.Millisecond + cpuHit,
				MeanHandler: cpuHit + 320*time.Microsecond, // 4 × 8 ms of reads over 100
				// Lambda: 100 invocations, billed 96 × 1 ms + 4 × 9 ms = 132 ms at 0.5 GB
				Cost: Cost{APIGateway: 3.50, Lambda: (0.20*100/1e6 + 0.0000133334*0.132*0.5) * 1e4, DynamoDB: 0.125 * 8 / 1e6 * 1e4},
			},
		},
		{
			// Two instances in turn: each reads at its first request and
			// every 30 s after (even seconds: 0,30,60,90; odd: 1,31,61,91).
			name:       "two instances round robin",
			deployment: Deployment{RatePerSecond: 1, Concurrency: 2, CacheTTL: 30 * time.Second, CacheMaxEntries: 10, RoundRobin: true},
			want: Result{
				Requests: 100, Invocations: 100, InProcessHits: 92, ColdStarts: 2, DynamoReads: 16,
				AddedP50:    2*time.Millisecond + cpuHit,
				AddedP99:    102*time.Millisecond + 8*time.Millisecond + cpuHit,
				MeanHandler: cpuHit + 640*time.Microsecond, // 8 × 8 ms over 100
				Cost:        Cost{APIGateway: 3.50, Lambda: (0.20*100/1e6 + 0.0000133334*(92+8*9)/1000*0.5) * 1e4, DynamoDB: 0.125 * 16 / 1e6 * 1e4},
			},
		},
		{
			// API Gateway's cache (60 s) lets 2 of 100 requests through, at
			// 0 and 60 s; both miss the 30 s in-process cache.
			name:       "gateway cache 60s",
			deployment: Deployment{RatePerSecond: 1, Concurrency: 1, CacheTTL: 30 * time.Second, CacheMaxEntries: 10, GatewayCacheTTL: 60 * time.Second},
			want: Result{
				Requests: 100, Invocations: 2, InProcessHits: 0, ColdStarts: 1, DynamoReads: 4,
				AddedP50:    0,
				AddedP99:    10*time.Millisecond + cpuHit,
				MeanHandler: 8*time.Millisecond + cpuHit,
				Cost:        Cost{APIGateway: 3.50, Lambda: (0.20*2/1e6 + 0.0000133334*0.018*0.5) * 1e4, DynamoDB: 0.125 * 4 / 1e6 * 1e4},
			},
		},
		{
			// TTL 0: every decision reads the registry.
			name:       "no in-process cache",
			deployment: Deployment{RatePerSecond: 1, Concurrency: 1, CacheTTL: 0, CacheMaxEntries: 10},
			want: Result{
				Requests: 100, Invocations: 100, ColdStarts: 1, DynamoReads: 200,
				AddedP50:    10*time.Millisecond + cpuHit,
				AddedP99:    10*time.Millisecond + cpuHit,
				MeanHandler: 8*time.Millisecond + cpuHit,
				Cost:        Cost{APIGateway: 3.50, Lambda: (0.20*100/1e6 + 0.0000133334*0.9*0.5) * 1e4, DynamoDB: 0.125 * 200 / 1e6 * 1e4},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Simulate(Run{Population: oneKey(), Deployment: tc.deployment, Costs: handModel(), Requests: 100, Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			approx := cmp.Comparer(func(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) })
			if diff := cmp.Diff(tc.want, got, approx); diff != "" {
				t.Errorf("result (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSimulateJWTVerifiesOncePerToken: a JWT client's token changes every
// lifetime; each token is verified once per instance, and its principal
// (binding + subscription) read every TTL.
func TestSimulateJWTVerifiesOncePerToken(t *testing.T) {
	pop := oneKey()
	pop.JWTFraction = 1
	pop.TokenLifetime = 40 * time.Second
	got, err := Simulate(Run{Population: pop, Deployment: Deployment{RatePerSecond: 1, Concurrency: 1, CacheTTL: 30 * time.Second, CacheMaxEntries: 10}, Costs: handModel(), Requests: 100, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	ph := phase(clientID{0, 0}, pop.TokenLifetime)
	tokens := map[time.Duration]bool{}
	for s := 0; s < 100; s++ {
		tokens[(time.Duration(s)*time.Second+ph)/pop.TokenLifetime] = true
	}
	if got.JWTVerifies != len(tokens) {
		t.Errorf("verifies = %d, want one per token: %d", got.JWTVerifies, len(tokens))
	}
	if got.DynamoReads != 8 { // binding + subscription at 0, 30, 60, 90 s
		t.Errorf("reads = %d, want 8", got.DynamoReads)
	}
}

// TestSimulateInvariants: on a small Zipf population, counts are
// consistent and more instances or a shorter TTL never raise the hit ratio.
func TestSimulateInvariants(t *testing.T) {
	pop := Population{Customers: 2000, ZipfS: 1.1, JWTFraction: 0.3, KeysPerCustomer: 2, ClientsPerCustomer: 2, TokenLifetime: time.Hour}
	run := func(conc int, ttl time.Duration) Result {
		r, err := Simulate(Run{Population: pop, Deployment: Deployment{RatePerSecond: 200, Concurrency: conc, CacheTTL: ttl, CacheMaxEntries: 10000}, Costs: DefaultCostModel(), Requests: 50000, Seed: 7})
		if err != nil {
			t.Fatal(err)
		}
		if r.Invocations != r.Requests || r.InProcessHits > r.Invocations || r.ColdStarts != conc {
			t.Errorf("conc %d ttl %v: inconsistent counts %+v", conc, ttl, r)
		}
		if r.DynamoReads > 2*(r.Invocations-r.InProcessHits) {
			t.Errorf("conc %d ttl %v: %d reads for %d misses", conc, ttl, r.DynamoReads, r.Invocations-r.InProcessHits)
		}
		return r
	}
	prev := 1.0
	for _, conc := range []int{1, 8, 64} {
		r := run(conc, 30*time.Second)
		if r.HitRatio() > prev {
			t.Errorf("hit ratio rose from %.3f to %.3f at concurrency %d", prev, r.HitRatio(), conc)
		}
		prev = r.HitRatio()
	}
	if short, long := run(8, 5*time.Second), run(8, 300*time.Second); short.HitRatio() > long.HitRatio() {
		t.Errorf("ttl 5s hit ratio %.3f > ttl 300s %.3f", short.HitRatio(), long.HitRatio())
	}
}

func TestSimulateRejectsInvalidRuns(t *testing.T) {
	good := Run{Population: oneKey(), Deployment: Deployment{RatePerSecond: 1, Concurrency: 1, CacheMaxEntries: 1}, Requests: 1}
	for name, mutate := range map[string]func(*Run){
		"no customers":      func(r *Run) { r.Population.Customers = 0 },
		"zipf exponent 1":   func(r *Run) { r.Population.Customers, r.Population.ZipfS = 10, 1 },
		"jwt fraction > 1":  func(r *Run) { r.Population.JWTFraction = 1.5 },
		"zero concurrency":  func(r *Run) { r.Deployment.Concurrency = 0 },
		"negative ttl":      func(r *Run) { r.Deployment.CacheTTL = -time.Second },
		"no requests":       func(r *Run) { r.Requests = 0 },
		"no token lifetime": func(r *Run) { r.Population.JWTFraction, r.Population.TokenLifetime = 0.5, 0 },
	} {
		t.Run(name, func(t *testing.T) {
			r := good
			mutate(&r)
			if _, err := Simulate(r); err == nil || !strings.Contains(err.Error(), "invalid run") {
				t.Errorf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestReassocHandComputed(t *testing.T) {
	// Two environments of 3 plans deploy at once: slots go A,B,A,B,A,B
	// at 0,20,…,100 s, so A is done at 80 s and B at 100 s.
	got, err := SimulateReassoc(Reassoc{Environments: 2, PlansPerEnv: 3, DeploysPerDay: 1, RetireAfter: 10 * time.Hour, Days: 1,
		Schedule: [][]time.Duration{{0}, {0}}})
	if err != nil {
		t.Fatal(err)
	}
	want := ReassocResult{Deploys: 2, P50: 80 * time.Second, P99: 100 * time.Second, Max: 100 * time.Second,
		Utilization: 12 * 20.0 / (24 * 3600)} // 6 associate + 6 retire slots in one day
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if SingleDeploy(300) != 5980*time.Second { // docs/reassociation.md: 300 plans, 5,980 s
		t.Errorf("SingleDeploy(300) = %v", SingleDeploy(300))
	}
	if got := MaxDeploysPerDay(300); got != 7.2 {
		t.Errorf("MaxDeploysPerDay(300) = %v, want 7.2", got)
	}
}

// TestReassocMergesRunsOfOneEnvironment: a second deploy 30 s into a run
// of 3 plans joins it (one run per environment): every plan needs one more
// update, so the run ends at 80 s, 80 s after the first event and 50 s
// after the second.
func TestReassocMergesRunsOfOneEnvironment(t *testing.T) {
	got, err := SimulateReassoc(Reassoc{Environments: 1, PlansPerEnv: 3, DeploysPerDay: 1, RetireAfter: 10 * time.Hour, Days: 1,
		Schedule: [][]time.Duration{{0, 30 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	if got.Deploys != 2 || got.P50 != 50*time.Second || got.Max != 80*time.Second {
		t.Errorf("got %+v, want 2 deploys associated after 50 s and 80 s", got)
	}
}

func TestReassocQueueGrowsWithLoad(t *testing.T) {
	run := func(perDay float64) ReassocResult {
		r, err := SimulateReassoc(Reassoc{Environments: 4, PlansPerEnv: 50, DeploysPerDay: perDay, RetireAfter: time.Hour, Days: 20, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		if r.P50 < SingleDeploy(50) {
			t.Errorf("%v/day: p50 %v below the lone deploy's %v", perDay, r.P50, SingleDeploy(50))
		}
		return r
	}
	light, heavy := run(1), run(8) // 4·50·2 slots per deploy round: heavy is ≈ 74 % utilized
	if heavy.P99 <= light.P99 || heavy.Utilization <= light.Utilization {
		t.Errorf("heavier load did not queue longer: light %+v heavy %+v", light, heavy)
	}
}

func TestParseBench(t *testing.T) {
	out := `goos: linux
BenchmarkAuthorizeAPIKeyCached-2   	 1845620	       620.5 ns/op	       0 B/op	       0 allocs/op
BenchmarkAuthorizeAPIKeyCached-2   	 1845620	       700 ns/op	       0 B/op	       0 allocs/op
BenchmarkAuthorizeAPIKeyCached-2   	 1845620	       600 ns/op	       0 B/op	       0 allocs/op
BenchmarkAuthorizeJWTCached-2      	  900000	      1280 ns/op
BenchmarkAuthorizeJWTRS256-2       	   34000	     34500 ns/op	    1100 B/op	      20 allocs/op
PASS
`
	b, err := ParseBench(strings.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := b.CPU()
	if err != nil {
		t.Fatal(err)
	}
	want := CPUFigures{APIKeyCached: 620 * time.Nanosecond, JWTCached: 1280 * time.Nanosecond, JWTFresh: 34500 * time.Nanosecond}
	if diff := cmp.Diff(want, cpu); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	delete(b, BenchJWTRS256)
	if _, err := b.CPU(); err == nil || !strings.Contains(err.Error(), BenchJWTRS256) {
		t.Errorf("missing benchmark: err = %v", err)
	}
}

func TestTopShare(t *testing.T) {
	// Two customers with s = 1: weights 1 and 1/2, so the top one sends 2/3.
	if got := TopShare(2, 1, 1); math.Abs(got-2.0/3) > 1e-12 {
		t.Errorf("TopShare(2,1,1) = %v, want 2/3", got)
	}
	if got := TopShare(10, 10, 1.1); got != 1 {
		t.Errorf("all customers send %v of requests, want 1", got)
	}
}
