package scalesim

import (
	"fmt"
	"math"
	"math/rand"
	"sort"
	"time"
)

// UpdateUsagePlanInterval is API Gateway's fixed account-wide quota on
// UpdateUsagePlan: one request every 20 seconds, not adjustable.
const UpdateUsagePlanInterval = 20 * time.Second

// Reassoc is an account whose environments deploy and share one
// UpdateUsagePlan pacer (internal/reconcile/pacer).
type Reassoc struct {
	Environments int
	// PlansPerEnv: each deploy adds its stage to every plan of its
	// environment (one UpdateUsagePlan each), each retire removes the old
	// stage (one more each).
	PlansPerEnv int
	// DeploysPerDay per environment, arriving at random (Poisson).
	DeploysPerDay float64
	// RetireAfter: the old colour is retired this long after its
	// replacement is associated (the grace period of deploy.yml).
	RetireAfter time.Duration
	Days        int
	Seed        int64
	// Schedule, when set, replaces the random arrivals: the deploy times
	// of each environment (index = environment).
	Schedule [][]time.Duration
}

// ReassocResult is what a Reassoc run measured.
type ReassocResult struct {
	Deploys int
	// Association time of a deploy: from its event to its last plan
	// updated.
	P50, P99, Max time.Duration
	// Utilization of the account's UpdateUsagePlan slots.
	Utilization float64
}

// SingleDeploy is the association time of one deploy with the pacer to
// itself: P plans need P slots, the first at once.
func SingleDeploy(plans int) time.Duration {
	return time.Duration(plans-1) * UpdateUsagePlanInterval
}

// MaxDeploysPerDay is the most deploys a day the account can absorb, across
// all its environments: each costs 2·P slots (associate, then retire).
func MaxDeploysPerDay(plans int) float64 {
	return float64(24*time.Hour/UpdateUsagePlanInterval) / float64(2*plans)
}

type pacerJob struct {
	arrived time.Duration
	left    int
	deploy  bool
	env     int
	merged  []time.Duration // later deploys merged into this run
}

// SimulateReassoc runs r: slots are granted one per interval, round robin
// across the runs waiting for one (each environment's run claims the
// shared slot in turn).
func SimulateReassoc(r Reassoc) (ReassocResult, error) {
	if r.Environments < 1 || r.PlansPerEnv < 1 || r.DeploysPerDay <= 0 || r.Days < 1 {
		return ReassocResult{}, fmt.Errorf("%w: reassoc %+v", ErrInvalid, r)
	}
	rng := rand.New(rand.NewSource(r.Seed))
	horizon := time.Duration(r.Days) * 24 * time.Hour
	var arrivals []pacerJob
	for e, at := range r.Schedule {
		for _, t := range at {
			arrivals = append(arrivals, pacerJob{arrived: t, left: r.PlansPerEnv, deploy: true, env: e})
		}
	}
	for e := 0; e < r.Environments && r.Schedule == nil; e++ {
		mean := float64(24*time.Hour) / r.DeploysPerDay
		for t := time.Duration(rng.ExpFloat64() * mean); t < horizon; t += time.Duration(rng.ExpFloat64() * mean) {
			arrivals = append(arrivals, pacerJob{arrived: t, left: r.PlansPerEnv, deploy: true, env: e})
		}
	}
	sort.SliceStable(arrivals, func(i, j int) bool { return arrivals[i].arrived < arrivals[j].arrived })

	var (
		active   []*pacerJob
		retires  []pacerJob // scheduled, sorted by arrival
		times    []time.Duration
		slots    int
		now      time.Duration
		next     int // next deploy arrival
		turn     int
		lastSlot = time.Duration(math.MinInt64 / 2)
	)
	// join starts a run for j, or merges j into its environment's run:
	// the run re-plans, so every plan needs one more update at most (the
	// ones not yet updated carry both changes in one), and a deploy counts
	// from its own event.
	join := func(j pacerJob) {
		for _, a := range active {
			if a.env == j.env {
				a.left = r.PlansPerEnv
				if j.deploy && !a.deploy {
					a.deploy, a.arrived = true, j.arrived
				}
				if j.deploy && a.deploy {
					a.merged = append(a.merged, j.arrived)
				}
				return
			}
		}
		active = append(active, &j)
	}
	admit := func(t time.Duration) {
		for next < len(arrivals) && arrivals[next].arrived <= t {
			join(arrivals[next])
			next++
		}
		for len(retires) > 0 && retires[0].arrived <= t {
			join(retires[0])
			retires = retires[1:]
		}
	}
	for {
		admit(now)
		if len(active) == 0 {
			// Idle: jump to the next arrival of either kind.
			t := time.Duration(math.MaxInt64)
			if next < len(arrivals) {
				t = arrivals[next].arrived
			}
			if len(retires) > 0 && retires[0].arrived < t {
				t = retires[0].arrived
			}
			if t == time.Duration(math.MaxInt64) {
				break
			}
			now = max(t, lastSlot+UpdateUsagePlanInterval)
			continue
		}
		turn %= len(active)
		j := active[turn]
		j.left--
		slots++
		lastSlot = now
		if j.left == 0 {
			active = append(active[:turn], active[turn+1:]...)
			if j.deploy {
				times = append(times, now-j.arrived)
				for _, at := range j.merged {
					times = append(times, now-at)
				}
				at := now + r.RetireAfter
				i := sort.Search(len(retires), func(i int) bool { return retires[i].arrived > at })
				retires = append(retires, pacerJob{})
				copy(retires[i+1:], retires[i:])
				retires[i] = pacerJob{arrived: at, left: r.PlansPerEnv, env: j.env}
			}
		} else {
			turn++
		}
		now += UpdateUsagePlanInterval
	}
	res := ReassocResult{Deploys: len(times)}
	if len(times) == 0 {
		return res, nil
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	res.P50, res.P99, res.Max = percentile(times, 0.5), percentile(times, 0.99), times[len(times)-1]
	span := max(now, horizon)
	res.Utilization = float64(slots) * float64(UpdateUsagePlanInterval) / float64(span)
	return res, nil
}
