package apigw

import (
	"sync"
	"time"
)

// RateQuota is a token bucket: one token every Every, at most Burst tokens.
// A full bucket lets Burst requests through at once.
type RateQuota struct {
	Every time.Duration
	Burst int
}

// DefaultQuotas returns the quotas a new Emulator enforces, keyed by SDK
// operation name ("" is the account-wide total): UpdateUsagePlan 1 request
// every 20 seconds, CreateApiKey 5 per second, and all operations together
// 10 per second with a burst of 40, as the API Gateway quotas page lists
// them.
func DefaultQuotas() map[string]RateQuota {
	return map[string]RateQuota{
		"":                {Every: 100 * time.Millisecond, Burst: 40},
		"UpdateUsagePlan": {Every: 20 * time.Second, Burst: 1},
		"CreateApiKey":    {Every: 200 * time.Millisecond, Burst: 5},
	}
}

// DocumentedQuotas returns DefaultQuotas plus the other fixed per-operation
// quotas the API Gateway documentation lists for operations this emulator
// serves. They are not on by default because tests that create several
// REST APIs or deployments on a virtual clock would otherwise have to
// advance it between calls; enable them with WithDocumentedQuotas.
func DocumentedQuotas() map[string]RateQuota {
	q := DefaultQuotas()
	q["CreateDeployment"] = RateQuota{Every: 5 * time.Second, Burst: 1}
	q["CreateDomainName"] = RateQuota{Every: 30 * time.Second, Burst: 1}
	q["DeleteDomainName"] = RateQuota{Every: 30 * time.Second, Burst: 1}
	q["CreateRestApi"] = RateQuota{Every: 3 * time.Second, Burst: 1} // regional or private
	q["DeleteRestApi"] = RateQuota{Every: 30 * time.Second, Burst: 1}
	q["DeleteApiKey"] = RateQuota{Every: 200 * time.Millisecond, Burst: 5}
	return q
}

// bucket is a token bucket kept as GCRA (generic cell rate algorithm) on
// integer time, so no rounding creeps in: tat is the theoretical arrival
// time of the next request; a request at now conforms when
// now >= tat - (burst-1)*every.
type bucket struct {
	spec RateQuota
	tat  time.Time
}

// wait returns how long a request at now has to wait to conform (0: it
// conforms now).
func (b *bucket) wait(now time.Time) time.Duration {
	tolerance := time.Duration(b.spec.Burst-1) * b.spec.Every
	if earliest := b.tat.Add(-tolerance); now.Before(earliest) {
		return earliest.Sub(now)
	}
	return 0
}

func (b *bucket) take(now time.Time) {
	if b.tat.Before(now) {
		b.tat = now
	}
	b.tat = b.tat.Add(b.spec.Every)
}

// quotaSet holds the token buckets, keyed by operation ("" = total).
type quotaSet struct {
	mu      sync.Mutex
	buckets map[string]*bucket
}

func newQuotaSet(specs map[string]RateQuota) *quotaSet {
	q := &quotaSet{buckets: make(map[string]*bucket, len(specs))}
	for op, s := range specs {
		q.buckets[op] = &bucket{spec: s}
	}
	return q
}

// take consumes one token from the operation's bucket and from the total
// bucket, both or neither. When either is empty it returns the number of
// whole seconds (at least 1) after which a retry can succeed.
func (q *quotaSet) take(op string, now time.Time) (retryAfter int, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var need []*bucket
	for _, name := range []string{op, ""} {
		if b := q.buckets[name]; b != nil {
			need = append(need, b)
		}
	}
	var longest time.Duration
	for _, b := range need {
		longest = max(longest, b.wait(now))
	}
	if longest > 0 {
		return max(1, int((longest+time.Second-1)/time.Second)), false
	}
	for _, b := range need {
		b.take(now)
	}
	return 0, true
}
