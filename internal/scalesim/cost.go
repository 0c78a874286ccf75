package scalesim

import (
	"math"
	"math/rand"
	"time"
)

// CPUFigures are per-decision CPU times of the authorizer on one core, from
// the internal/auth benchmarks (ParseBench reads them from `go test -bench`
// output).
type CPUFigures struct {
	APIKeyCached time.Duration // BenchmarkAuthorizeAPIKeyCached
	JWTCached    time.Duration // BenchmarkAuthorizeJWTCached
	JWTFresh     time.Duration // BenchmarkAuthorizeJWTRS256: a new token, signature verified
}

// Latency are the AWS-side latencies the model adds. They cannot be
// measured from this machine; each is a stated assumption (docs/scale.md).
type Latency struct {
	// InvokeOverhead is API Gateway's cost of invoking the authorizer,
	// beyond the handler's own time.
	InvokeOverhead time.Duration
	// DynamoP50 and DynamoP99 shape a log-normal GetItem latency.
	DynamoP50, DynamoP99 time.Duration
	// ColdStart is what a new instance adds to its first request.
	ColdStart time.Duration
}

// dynamoRead draws one GetItem latency: log-normal with the given median
// and 99th percentile (z(0.99) = 2.3263).
func (l Latency) dynamoRead(rng *rand.Rand) time.Duration {
	if l.DynamoP50 <= 0 {
		return 0
	}
	sigma := 0.0
	if l.DynamoP99 > l.DynamoP50 {
		sigma = math.Log(float64(l.DynamoP99)/float64(l.DynamoP50)) / 2.3263
	}
	return time.Duration(float64(l.DynamoP50) * math.Exp(sigma*rng.NormFloat64()))
}

// Prices are published on-demand prices (USD) the cost is computed with.
type Prices struct {
	APIGatewayPerMillion  float64 // REST API requests
	LambdaPerMillion      float64 // invocations
	LambdaPerGBSecond     float64 // arm64 duration
	DynamoPerMillionReads float64 // on-demand read request units
}

// CostModel is everything the simulation turns counts into time and money
// with.
type CostModel struct {
	CPU       CPUFigures
	Latency   Latency
	Prices    Prices
	MemoryMiB int // the authorizer's memory size (CPU share scales with it)
}

// Cost is USD per million requests.
type Cost struct {
	APIGateway, Lambda, DynamoDB float64
}

// Total is the sum of the parts.
func (c Cost) Total() float64 { return c.APIGateway + c.Lambda + c.DynamoDB }

// Authorizer is what stagehand's authorizer adds on top of API Gateway.
func (c Cost) Authorizer() float64 { return c.Lambda + c.DynamoDB }

// fullVCPUMiB is the memory size at which a Lambda function has one vCPU;
// below it the CPU share is proportional to memory (AWS Lambda developer
// guide, "Configure Lambda function memory").
const fullVCPUMiB = 1769

// onLambda converts CPU time measured on one full core to the function's
// CPU share.
func (m CostModel) onLambda(cpu time.Duration) time.Duration {
	if m.MemoryMiB <= 0 || m.MemoryMiB >= fullVCPUMiB {
		return cpu
	}
	return time.Duration(float64(cpu) * fullVCPUMiB / float64(m.MemoryMiB))
}

// cost prices one run, scaled to per million requests. Lambda bills each
// invocation's duration rounded up to the millisecond; every GetItem is
// strongly consistent and under 4 KB: one read request unit.
func (p Prices) cost(r Result, billedMs int64, memoryMiB int) Cost {
	perM := 1e6 / float64(r.Requests)
	gbSeconds := float64(billedMs) / 1000 * float64(memoryMiB) / 1024
	return Cost{
		APIGateway: p.APIGatewayPerMillion * float64(r.Requests) / 1e6 * perM,
		Lambda:     (p.LambdaPerMillion*float64(r.Invocations)/1e6 + p.LambdaPerGBSecond*gbSeconds) * perM,
		DynamoDB:   p.DynamoPerMillionReads * float64(r.DynamoReads) / 1e6 * perM,
	}
}

// DefaultCostModel is the model docs/scale.md uses: us-east-1 on-demand
// prices as published by AWS (2025), a 512 MiB arm64 authorizer (the
// Shared stack's default), and the stated latency assumptions. CPU figures
// default to docs/authorizer.md's measurements; the make target replaces
// them with the same run's benchmarks.
func DefaultCostModel() CostModel {
	return CostModel{
		CPU: CPUFigures{
			APIKeyCached: 620 * time.Nanosecond,
			JWTCached:    1280 * time.Nanosecond,
			JWTFresh:     34500 * time.Nanosecond,
		},
		Latency: Latency{
			InvokeOverhead: 2 * time.Millisecond,
			DynamoP50:      3 * time.Millisecond,
			DynamoP99:      9 * time.Millisecond,
			ColdStart:      150 * time.Millisecond,
		},
		Prices: Prices{
			APIGatewayPerMillion:  3.50,
			LambdaPerMillion:      0.20,
			LambdaPerGBSecond:     0.0000133334,
			DynamoPerMillionReads: 0.125,
		},
		MemoryMiB: 512,
	}
}
