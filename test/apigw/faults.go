package apigw

import (
	"math/rand/v2"
	"sync"
	"time"
)

// faults holds the fault-injection settings and the call counters. Settings
// keyed by "" apply to every operation; a setting for the operation itself
// wins over the "" one.
type faults struct {
	mu           sync.Mutex
	rng          *rand.Rand
	throttleRate map[string]float64
	latency      map[string]time.Duration
	failNext     map[string]*pending
	failAfter    map[string]*pending
	dropAfter    map[string]int
	failTarget   map[string]map[string]int // op -> path label value -> status
	calls        map[string]int
	applied      map[string]int
	callTimes    map[string][]time.Time
}

type pending struct {
	n      int
	status int
}

func newFaults(seed uint64) *faults {
	f := &faults{rng: rand.New(rand.NewPCG(seed, 0xfa17))}
	f.clear()
	f.calls = map[string]int{}
	f.applied = map[string]int{}
	f.callTimes = map[string][]time.Time{}
	return f
}

func (f *faults) clear() {
	f.throttleRate = map[string]float64{}
	f.latency = map[string]time.Duration{}
	f.failNext = map[string]*pending{}
	f.failAfter = map[string]*pending{}
	f.dropAfter = map[string]int{}
	f.failTarget = map[string]map[string]int{}
}

func (f *faults) recordCall(op string, at time.Time) {
	f.mu.Lock()
	f.calls[op]++
	f.callTimes[op] = append(f.callTimes[op], at)
	f.mu.Unlock()
}

// targetFailure reports the status FailTarget set for op on a request whose
// path labels include one of its targets.
func (f *faults) targetFailure(op string, params map[string]string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	targets := f.failTarget[op]
	for _, v := range params {
		if status, ok := targets[v]; ok {
			return status, true
		}
	}
	return 0, false
}

func (f *faults) recordApplied(op string) {
	f.mu.Lock()
	f.applied[op]++
	f.mu.Unlock()
}

func (f *faults) latencyFor(op string) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d, ok := f.latency[op]; ok {
		return d
	}
	return f.latency[""]
}

// throttled draws whether this call is answered 429 by SetThrottleRate.
func (f *faults) throttled(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	rate, ok := f.throttleRate[op]
	if !ok {
		rate = f.throttleRate[""]
	}
	return rate > 0 && f.rng.Float64() < rate
}

func takePending(m map[string]*pending, op string) (int, bool) {
	for _, name := range []string{op, ""} {
		if p := m[name]; p != nil && p.n > 0 {
			p.n--
			if p.n == 0 {
				delete(m, name)
			}
			return p.status, true
		}
	}
	return 0, false
}

func (f *faults) takeFailNext(op string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return takePending(f.failNext, op)
}

func (f *faults) takeFailAfter(op string) (int, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return takePending(f.failAfter, op)
}

func (f *faults) takeDrop(op string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, name := range []string{op, ""} {
		if n := f.dropAfter[name]; n > 0 {
			if n == 1 {
				delete(f.dropAfter, name)
			} else {
				f.dropAfter[name] = n - 1
			}
			return true
		}
	}
	return false
}

// SetThrottleRate makes the given fraction (0..1) of op's calls answer 429
// TooManyRequestsException (Retry-After: 1) without taking effect. op "" sets
// the rate for every operation that has no rate of its own. The draw uses the
// emulator's seeded random source (WithSeed), so a sequential run is
// repeatable. A fraction <= 0 removes the setting.
func (e *Emulator) SetThrottleRate(op string, fraction float64) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if fraction <= 0 {
		delete(e.faults.throttleRate, op)
		return
	}
	e.faults.throttleRate[op] = min(fraction, 1)
}

// FailNext makes the next n calls of op (op "" = any operation) answer the
// HTTP status (for example 500, 502 or 503, the last as
// ServiceUnavailableException with Retry-After) without taking effect.
func (e *Emulator) FailNext(op string, n int, status int) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if n <= 0 {
		delete(e.faults.failNext, op)
		return
	}
	e.faults.failNext[op] = &pending{n: n, status: status}
}

// DropAfterApply makes the next n calls of op (op "" = any operation) take
// effect and then lose their response: the emulator hijacks the connection
// and closes it without writing anything, as when a response is lost in the
// network. The SDK sees a transport error.
func (e *Emulator) DropAfterApply(op string, n int) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if n <= 0 {
		delete(e.faults.dropAfter, op)
		return
	}
	e.faults.dropAfter[op] = n
}

// FailAfterApply makes the next n calls of op (op "" = any operation) take
// effect and then answer the HTTP status (typically 500 or 503) instead of
// the result.
func (e *Emulator) FailAfterApply(op string, n int, status int) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if n <= 0 {
		delete(e.faults.failAfter, op)
		return
	}
	e.faults.failAfter[op] = &pending{n: n, status: status}
}

// SetLatency delays every response of op (op "" = every operation without a
// latency of its own) by d of real time, or until the client gives up. It is
// meant for client deadline tests: keep d small. d <= 0 removes the setting.
func (e *Emulator) SetLatency(op string, d time.Duration) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if d <= 0 {
		delete(e.faults.latency, op)
		return
	}
	e.faults.latency[op] = d
}

// FailTarget makes every call of op (an SDK operation name) addressed to
// the resource id (a path label: a usage plan id for UpdateUsagePlan)
// answer the HTTP status without taking effect, until ClearFaults: a
// resource that fails permanently while its neighbours work, as when one
// usage plan is in a state the service cannot update. It is checked after
// FailNext and before throttling and the quotas.
func (e *Emulator) FailTarget(op, id string, status int) {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	if e.faults.failTarget[op] == nil {
		e.faults.failTarget[op] = map[string]int{}
	}
	e.faults.failTarget[op][id] = status
}

// ClearFaults removes every fault-injection setting. Counters are kept.
func (e *Emulator) ClearFaults() {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.clear()
}

// Calls returns how many requests of op (an SDK operation name such as
// "UpdateUsagePlan") the emulator received, whatever their outcome. op ""
// returns the total over all operations.
func (e *Emulator) Calls(op string) int {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	return count(e.faults.calls, op)
}

// Applied returns how many requests of op took effect (a 2xx outcome,
// including those whose response DropAfterApply or FailAfterApply then
// replaced). op "" returns the total over all operations.
func (e *Emulator) Applied(op string) int {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	return count(e.faults.applied, op)
}

// CallTimes returns the clock time (WithClock) at which each request of op
// arrived, in arrival order.
func (e *Emulator) CallTimes(op string) []time.Time {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	return append([]time.Time(nil), e.faults.callTimes[op]...)
}

// ResetCounters sets every Calls and Applied counter to zero and forgets
// CallTimes.
func (e *Emulator) ResetCounters() {
	e.faults.mu.Lock()
	defer e.faults.mu.Unlock()
	e.faults.calls = map[string]int{}
	e.faults.applied = map[string]int{}
	e.faults.callTimes = map[string][]time.Time{}
}

func count(m map[string]int, op string) int {
	if op != "" {
		return m[op]
	}
	total := 0
	for _, n := range m {
		total += n
	}
	return total
}
