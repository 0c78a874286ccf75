// Package scalesim models stagehand past one account: the authorizer's
// caches under a Zipf-distributed customer population (invocations,
// in-process cache hits per Lambda concurrency level, DynamoDB reads, added
// latency, cost per million requests) and re-association time when several
// environments share one account's UpdateUsagePlan quota.
//
// The model follows the authorizer as built (internal/auth): per warm
// instance, an LRU of API-key decisions and one of subscriptions, both
// refreshed after the cache TTL; verified JWTs cached until they expire and
// the client's principal (binding + subscription) refreshed after the TTL.
// Per-decision CPU times are the internal/auth benchmark figures of the
// run (see ParseBench); prices and AWS-side latencies are stated parameters
// (Prices, Latency), not measurements.
package scalesim

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Population is who calls the API.
type Population struct {
	Customers int
	// ZipfS is the exponent of the customers' traffic shares (> 1): the
	// customer of rank k sends a share proportional to 1/(1+k)^s.
	ZipfS float64
	// JWTFraction of customers call with JWTs; the rest with API keys.
	JWTFraction float64
	// KeysPerCustomer are the active API keys of a key customer, used
	// round-robin-at-random by its callers.
	KeysPerCustomer int
	// ClientsPerCustomer are the JWT clients (bindings) of a JWT customer.
	ClientsPerCustomer int
	// TokenLifetime: each JWT client fetches a new token this often (the
	// authorizer caches a verified token until it expires).
	TokenLifetime time.Duration
	// KeyRotation: each key is replaced by a new one this often (a new
	// credential for every cache); 0: never within the run.
	KeyRotation time.Duration
}

// Deployment is how the authorizer is run.
type Deployment struct {
	// RatePerSecond of requests reaching API Gateway.
	RatePerSecond float64
	// Concurrency is the number of warm authorizer instances; each request
	// goes to one of them at random, and each has its own caches.
	Concurrency int
	// CacheTTL is the in-process decision cache TTL (cacheTtlSeconds).
	CacheTTL time.Duration
	// CacheMaxEntries bounds each in-process LRU (cacheMaxEntries).
	CacheMaxEntries int
	// GatewayCacheTTL is API Gateway's authorizer result cache keyed on the
	// credential header (0: off, stagehand's default).
	GatewayCacheTTL time.Duration
	// RoundRobin routes requests to instances in turn instead of at random
	// (for hand-computed cases).
	RoundRobin bool
}

// Run is one simulation.
type Run struct {
	Population Population
	Deployment Deployment
	Costs      CostModel
	Requests   int
	Seed       int64
}

// Result is what one run measured, scaled to per million requests where
// the name says so.
type Result struct {
	Requests    int
	Invocations int // authorizer invocations (API Gateway cache misses)
	// InProcessHits are invocations answered from the instance's cache
	// without a registry read or a signature check.
	InProcessHits int
	ColdStarts    int
	DynamoReads   int // GetItem calls (strongly consistent, ≤ 4 KB: 1 RRU each)
	JWTVerifies   int // signature verifications
	// AddedP50, AddedP99: latency the authorizer adds to a request (0 for
	// an API Gateway cache hit).
	AddedP50, AddedP99 time.Duration
	// MeanHandler is the authorizer's mean handler time (before Lambda
	// rounds it up for billing); times the invocation rate, it is the
	// Lambda concurrency the load keeps busy.
	MeanHandler time.Duration
	Cost        Cost // per million requests
}

// HitRatio is the in-process cache hit ratio of invocations.
func (r Result) HitRatio() float64 {
	if r.Invocations == 0 {
		return 0
	}
	return float64(r.InProcessHits) / float64(r.Invocations)
}

// PerMillion scales a count to per million requests.
func (r Result) PerMillion(n int) float64 {
	return float64(n) * 1e6 / float64(r.Requests)
}

// ErrInvalid is returned for a run that cannot be simulated.
var ErrInvalid = errors.New("scalesim: invalid run")

func (r Run) validate() error {
	p, d := r.Population, r.Deployment
	switch {
	case p.Customers < 1:
		return fmt.Errorf("%w: customers %d < 1", ErrInvalid, p.Customers)
	case p.Customers > 1 && p.ZipfS <= 1:
		return fmt.Errorf("%w: zipf exponent %v must be > 1", ErrInvalid, p.ZipfS)
	case p.JWTFraction < 0 || p.JWTFraction > 1:
		return fmt.Errorf("%w: jwt fraction %v", ErrInvalid, p.JWTFraction)
	case p.KeysPerCustomer < 1 || p.ClientsPerCustomer < 1:
		return fmt.Errorf("%w: keys and clients per customer must be ≥ 1", ErrInvalid)
	case p.JWTFraction > 0 && p.TokenLifetime <= 0:
		return fmt.Errorf("%w: token lifetime must be > 0", ErrInvalid)
	case d.RatePerSecond <= 0 || d.Concurrency < 1 || d.CacheMaxEntries < 1:
		return fmt.Errorf("%w: rate, concurrency and cache size must be > 0", ErrInvalid)
	case d.CacheTTL < 0 || d.GatewayCacheTTL < 0:
		return fmt.Errorf("%w: negative TTL", ErrInvalid)
	case r.Requests < 1:
		return fmt.Errorf("%w: requests %d < 1", ErrInvalid, r.Requests)
	}
	return nil
}

// credential identifies one credential value as API Gateway and the
// authorizer's caches see it.
type credential struct {
	customer int32
	client   int32 // key or JWT client index within the customer
	epoch    int32 // token (or rotated key) generation
	jwt      bool
}

type clientID struct {
	customer, client int32
}

// instance is one warm authorizer with its own caches.
type instance struct {
	warm       bool
	keys       *lru.Cache[credential, time.Duration] // API-key decision, cached at
	tokens     *lru.Cache[credential, time.Duration] // verified token, valid until
	principals *lru.Cache[clientID, time.Duration]   // JWT client's principal, cached at
	subs       *lru.Cache[int32, time.Duration]      // subscription, cached at
}

func newInstance(size int) *instance {
	mk := func() *lru.Cache[credential, time.Duration] {
		c, _ := lru.New[credential, time.Duration](size)
		return c
	}
	p, _ := lru.New[clientID, time.Duration](size)
	s, _ := lru.New[int32, time.Duration](size)
	return &instance{keys: mk(), tokens: mk(), principals: p, subs: s}
}

// Simulate runs r and returns what it measured.
func Simulate(r Run) (Result, error) {
	if err := r.validate(); err != nil {
		return Result{}, err
	}
	p, d, c := r.Population, r.Deployment, r.Costs
	rng := rand.New(rand.NewSource(r.Seed))
	var zipf *rand.Zipf
	if p.Customers > 1 {
		zipf = rand.NewZipf(rng, p.ZipfS, 1, uint64(p.Customers-1))
	}
	// Which customers use JWTs: a fixed pseudo-random subset, independent
	// of their traffic rank.
	jwtCustomer := func(cust int32) bool {
		return p.JWTFraction > 0 && float64(mix(uint64(cust), 0x9e3779b97f4a7c15)%1_000_000) < p.JWTFraction*1_000_000
	}

	instances := make([]*instance, d.Concurrency)
	gateway := map[credential]time.Duration{} // credential -> cached until
	interval := time.Duration(float64(time.Second) / d.RatePerSecond)
	added := make([]time.Duration, 0, r.Requests)
	latRng := rand.New(rand.NewSource(r.Seed ^ 0x5eed))
	res := Result{Requests: r.Requests}
	var billedMs int64
	var handlerSum time.Duration

	for i := 0; i < r.Requests; i++ {
		now := time.Duration(i) * interval
		cust := int32(0)
		if zipf != nil {
			cust = int32(zipf.Uint64())
		}
		cred := credential{customer: cust, jwt: jwtCustomer(cust)}
		if cred.jwt {
			cred.client = int32(rng.Intn(p.ClientsPerCustomer))
			id := clientID{cust, cred.client}
			cred.epoch = int32((now + phase(id, p.TokenLifetime)) / p.TokenLifetime)
		} else {
			cred.client = int32(rng.Intn(p.KeysPerCustomer))
			if p.KeyRotation > 0 {
				id := clientID{cust, cred.client}
				cred.epoch = int32((now + phase(id, p.KeyRotation)) / p.KeyRotation)
			}
		}

		if d.GatewayCacheTTL > 0 {
			if until, ok := gateway[cred]; ok && now < until {
				added = append(added, 0)
				continue
			}
			gateway[cred] = now + d.GatewayCacheTTL
		}
		res.Invocations++

		var idx int
		if d.RoundRobin {
			idx = (res.Invocations - 1) % d.Concurrency
		} else {
			idx = rng.Intn(d.Concurrency)
		}
		in := instances[idx]
		if in == nil {
			in = newInstance(d.CacheMaxEntries)
			instances[idx] = in
		}
		cold := !in.warm
		if cold {
			in.warm = true
			res.ColdStarts++
		}
		reads, verifies := decide(in, cred, now, d.CacheTTL, p.TokenLifetime)
		// CPU: the benchmark figure of the decision taken; I/O: its
		// registry reads, one after another.
		var cpu, io time.Duration
		switch {
		case reads == 0 && verifies == 0:
			res.InProcessHits++
			cpu = c.CPU.APIKeyCached
			if cred.jwt {
				cpu = c.CPU.JWTCached
			}
		case verifies > 0:
			cpu = c.CPU.JWTFresh
		case cred.jwt:
			cpu = c.CPU.JWTCached
		default:
			cpu = c.CPU.APIKeyCached
		}
		for j := 0; j < reads; j++ {
			io += c.Latency.dynamoRead(latRng)
		}
		res.DynamoReads += reads
		res.JWTVerifies += verifies
		handler := c.onLambda(cpu) + io
		handlerSum += handler
		billedMs += int64(math.Ceil(float64(handler) / float64(time.Millisecond)))
		total := c.Latency.InvokeOverhead + handler
		if cold {
			total += c.Latency.ColdStart
		}
		added = append(added, total)
	}
	sort.Slice(added, func(i, j int) bool { return added[i] < added[j] })
	res.AddedP50 = percentile(added, 0.50)
	res.AddedP99 = percentile(added, 0.99)
	if res.Invocations > 0 {
		res.MeanHandler = handlerSum / time.Duration(res.Invocations)
	}
	res.Cost = c.Prices.cost(res, billedMs, c.MemoryMiB)
	return res, nil
}

// decide applies one authorizer decision to the instance's caches and
// returns the registry reads and signature verifications it needed.
func decide(in *instance, cred credential, now, ttl, lifetime time.Duration) (reads, verifies int) {
	fresh := func(at time.Duration) bool { return now-at < ttl }
	subscription := func() int {
		if at, ok := in.subs.Get(cred.customer); ok && fresh(at) {
			return 0
		}
		in.subs.Add(cred.customer, now)
		return 1
	}
	if !cred.jwt {
		if at, ok := in.keys.Get(cred); ok && fresh(at) {
			return 0, 0
		}
		in.keys.Add(cred, now)
		return 1 + subscription(), 0 // GetKey, then the subscription
	}
	if until, ok := in.tokens.Get(cred); !ok || now >= until {
		// Verified once, cached until the token expires.
		id := clientID{cred.customer, cred.client}
		end := time.Duration(cred.epoch+1)*lifetime - phase(id, lifetime)
		in.tokens.Add(cred, end)
		verifies = 1
	}
	id := clientID{cred.customer, cred.client}
	if at, ok := in.principals.Get(id); ok && fresh(at) {
		return 0, verifies
	}
	in.principals.Add(id, now)
	return 1 + subscription(), verifies // GetBinding, then the subscription
}

func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	if i < 0 {
		i = 0
	}
	return sorted[i]
}

// phase is where a client's token (or key) schedule starts within a
// period: clients do not all renew at once.
func phase(id clientID, period time.Duration) time.Duration {
	return time.Duration(mix(uint64(id.customer)<<20|uint64(id.client), 0xbf58476d1ce4e5b9) % uint64(period))
}

// mix is SplitMix64's finalizer: a fixed, well-spread hash of x.
func mix(x, salt uint64) uint64 {
	x += salt
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}
