package reconcile_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

const envName = "prod"

// world is one scenario's API Gateway emulator, registry table and runner,
// all on one virtual clock.
type world struct {
	t      testing.TB
	ctx    context.Context
	clk    *clock.Virtual
	emu    *apigw.Emulator
	gw     *apigateway.Client
	db     *dynamodb.Client
	table  string
	store  *registry.Store
	queue  *fakeQueue
	bus    *fakeBus
	runner *reconcile.Runner

	tiers     []string          // tier names, in order
	planOf    map[string]string // tier -> usage plan id
	customers []customer
	apis      map[string]string // colour or name -> REST API id
}

type customer struct {
	id, tier, keyID, keyValue string
	status                    registry.CustomerStatus
}

type worldConfig struct {
	plans, customers int
	// liveStage, when set, seeds the plans with that API's stage, keys
	// attached, and a first deployment (sequence 1) already associated.
	live         bool
	runnerOpts   []reconcile.RunnerOption
	emulatorOpts []apigw.Option
}

func newWorld(t testing.TB, cfg worldConfig) *world {
	t.Helper()
	clk := clock.NewVirtual(t0)
	emu := apigw.New(append([]apigw.Option{apigw.WithClock(clk), apigw.WithSeed(7)}, cfg.emulatorOpts...)...)
	db, table := ddbtest.NewTable(t)
	w := &world{t: t, ctx: context.Background(), clk: clk, emu: emu, gw: emu.Client(t), db: db, table: table,
		store: registry.New(db, table, registry.WithClock(clk)), queue: &fakeQueue{}, bus: &fakeBus{},
		planOf: map[string]string{}, apis: map[string]string{}}
	for _, colour := range []string{"blue", "green", "third"} {
		w.apis[colour] = emu.SeedRestAPI("api-"+colour, "prod")
	}
	var liveStages []apigw.StageRef
	if cfg.live {
		liveStages = []apigw.StageRef{{APIID: w.apis["blue"], Stage: "prod"}}
	}
	for i := 0; i < cfg.plans; i++ {
		tier := fmt.Sprintf("tier%03d", i)
		id, err := emu.SeedUsagePlan(apigw.SeedPlan{Name: envName + "-" + tier, Stages: liveStages,
			Throttle: &apigw.Throttle{RateLimit: 100, BurstLimit: 200}, Quota: &apigw.Quota{Limit: 10000, Period: "MONTH"},
			Tags: map[string]string{reconcile.TagEnv: envName, reconcile.TagPlan: tier}})
		if err != nil {
			t.Fatal(err)
		}
		w.tiers = append(w.tiers, tier)
		w.planOf[tier] = id
		// The registry owns the tier (as `plans apply` declares it); the
		// first run adopts the usage plan tagged with it.
		if _, err := w.store.PutPlan(w.ctx, registry.Plan{Env: envName, Name: tier, RateLimit: 100, BurstLimit: 200,
			QuotaLimit: 10000, QuotaPeriod: "MONTH"}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// A usage plan of another environment: never touched (when the
	// account limit leaves room for it).
	if cfg.plans >= apigw.DefaultMaxUsagePlans {
	} else if _, err := emu.SeedUsagePlan(apigw.SeedPlan{Name: "dev-basic", Tags: map[string]string{reconcile.TagEnv: "dev", reconcile.TagPlan: "basic"}}); err != nil {
		t.Fatal(err)
	}
	var subs []registry.Subscription
	for i := 0; i < cfg.customers; i++ {
		c := customer{id: fmt.Sprintf("cust%05d", i), tier: w.tiers[i%len(w.tiers)], status: registry.CustomerActive}
		var err error
		c.keyID, c.keyValue, err = emu.SeedAPIKey(apigw.SeedKey{Name: c.id, CustomerID: c.id, Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if cfg.live {
			if err := emu.AttachKeyDirectly(w.planOf[c.tier], c.keyID); err != nil {
				t.Fatal(err)
			}
		}
		w.customers = append(w.customers, c)
		subs = append(subs, registry.Subscription{CustomerID: c.id, Env: envName, Plan: c.tier, CustomerStatus: c.status,
			UsageKeyID: c.keyID, UsageKeyValue: c.keyValue, CreatedAt: t0, UpdatedAt: t0, Version: 1})
	}
	w.seedSubscriptions(subs)
	if cfg.live {
		w.deployed(1, "blue")
	}
	opts := append([]reconcile.RunnerOption{
		reconcile.WithClock(clk), reconcile.WithContinuer(w.queue), reconcile.WithPublisher(w.bus),
		reconcile.WithClientOptions(reconcile.WithJitterSeed(42)),
	}, cfg.runnerOpts...)
	r, err := reconcile.NewRunner(envName, w.store, w.gw, opts...)
	if err != nil {
		t.Fatal(err)
	}
	w.runner = r
	emu.ResetCounters()
	return w
}

// seedSubscriptions writes subscription items with BatchWriteItem, in the
// registry's layout (see registry/model.go), so that 10,000 customers take
// seconds, not minutes of transactions.
func (w *world) seedSubscriptions(subs []registry.Subscription) {
	w.t.Helper()
	var batch []ddbtypes.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := w.db.BatchWriteItem(w.ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]ddbtypes.WriteRequest{w.table: batch}})
			if err != nil {
				w.t.Fatal(err)
			}
			batch = out.UnprocessedItems[w.table]
		}
	}
	for _, s := range subs {
		item, err := attributevalue.MarshalMap(s)
		if err != nil {
			w.t.Fatal(err)
		}
		item["PK"] = &ddbtypes.AttributeValueMemberS{Value: "CUST#" + s.CustomerID}
		item["SK"] = &ddbtypes.AttributeValueMemberS{Value: "ENV#" + s.Env}
		item["GSI2PK"] = &ddbtypes.AttributeValueMemberS{Value: "ENV#" + s.Env + "#SUBS"}
		item["GSI2SK"] = &ddbtypes.AttributeValueMemberS{Value: s.CustomerID}
		batch = append(batch, ddbtypes.WriteRequest{PutRequest: &ddbtypes.PutRequest{Item: item}})
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
}

// deployed records an associated deployment of colour's API and its stage
// as desired, as if an earlier run had done it.
func (w *world) deployed(seq int64, colour string) {
	w.t.Helper()
	d := registry.Deployment{Env: envName, Sequence: seq, APIID: w.apis[colour], Stage: "prod", Colour: colour}
	if _, _, err := w.store.RecordDeployment(w.ctx, d, "test"); err != nil {
		w.t.Fatal(err)
	}
	if _, err := w.store.FinishDeployment(w.ctx, envName, seq, registry.DeploymentAssociated, "", registry.DeploymentCounts{}, "test"); err != nil {
		w.t.Fatal(err)
	}
	st, err := w.store.GetEnvStages(w.ctx, envName)
	if err != nil {
		w.t.Fatal(err)
	}
	st.Stages = append(st.Stages, registry.EnvStage{APIID: d.APIID, Stage: "prod", Colour: colour, Sequence: seq, At: t0})
	st.Sequence = seq
	if _, err := w.store.PutEnvStages(w.ctx, st, "deploy", "test"); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) ref(colour string) registry.StageRef {
	return registry.StageRef{APIID: w.apis[colour], Stage: "prod"}
}

func (w *world) event(seq int64, colour string) deployevent.Detail {
	return deployevent.Detail{Version: "1", Environment: envName, APIID: w.apis[colour], Stage: "prod", Colour: colourName(colour),
		StackName: "Api-prod-" + colourName(colour), Sequence: seq, GitSHA: "0123456789abcdef", Time: t0}
}

func colourName(c string) string {
	if c == "third" {
		return "blue"
	}
	return c
}

// state is API Gateway's end state as read back from the emulator.
type state struct {
	// Stages per tier ("apiId:stage", sorted).
	Stages map[string][]string
	// Keys per tier (customer ids, sorted; "?" for keys of no customer).
	Keys map[string][]string
}

// readBack reads every plan of the environment from the emulator through
// the SDK (its own paced client, after the run).
func (w *world) readBack() state {
	w.t.Helper()
	client := reconcile.NewClient(w.gw, reconcile.WithClientClock(w.clk))
	plans, err := client.ReadPlans(w.ctx, envName)
	if err != nil {
		w.t.Fatal(err)
	}
	byKey := map[string]string{}
	for _, c := range w.customers {
		byKey[c.keyID] = c.id
	}
	st := state{Stages: map[string][]string{}, Keys: map[string][]string{}}
	for _, p := range plans {
		stages := []string{}
		for _, s := range p.Stages {
			stages = append(stages, s.Ref.String())
		}
		slices.Sort(stages)
		st.Stages[p.Tier] = stages
		keys, err := client.ReadKeys(w.ctx, p.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		names := []string{}
		for _, k := range keys {
			name, ok := byKey[k]
			if !ok {
				name = "?" + k
			}
			names = append(names, name)
		}
		slices.Sort(names)
		st.Keys[p.Tier] = names
	}
	return st
}

// want builds the expected state: every tier has the stages given, every
// customer is in its tier.
func (w *world) want(colours ...string) state {
	st := state{Stages: map[string][]string{}, Keys: map[string][]string{}}
	var stages []string
	for _, c := range colours {
		stages = append(stages, w.ref(c).String())
	}
	slices.Sort(stages)
	for _, tier := range w.tiers {
		st.Stages[tier] = slices.Clone(stages)
		if st.Stages[tier] == nil {
			st.Stages[tier] = []string{}
		}
		st.Keys[tier] = []string{}
	}
	for _, c := range w.customers {
		st.Keys[c.tier] = append(st.Keys[c.tier], c.id)
	}
	for _, tier := range w.tiers {
		slices.Sort(st.Keys[tier])
	}
	return st
}

// callable checks the data-plane decision: every active customer's key
// value is accepted on colour's stage, metered by its tier's plan.
func (w *world) callable(colour string) {
	w.t.Helper()
	ref := w.ref(colour)
	for _, c := range w.customers {
		if c.status != registry.CustomerActive {
			continue
		}
		plan, _, _, ok := w.emu.UsagePlanForKeyValue(c.keyValue, ref.APIID, ref.Stage)
		if !ok || plan != w.planOf[c.tier] {
			w.t.Errorf("customer %s on %s: plan %q, ok %v; want %s", c.id, ref, plan, ok, w.planOf[c.tier])
		}
	}
}

func (w *world) deployment(seq int64) registry.Deployment {
	w.t.Helper()
	d, err := w.store.GetDeployment(w.ctx, envName, seq)
	if err != nil {
		w.t.Fatal(err)
	}
	return d
}

// fakeQueue stands in for the SQS continuation queue.
type fakeQueue struct {
	mu   sync.Mutex
	msgs []queued
}

type queued struct {
	c     reconcile.Continuation
	delay time.Duration
}

func (q *fakeQueue) Continue(_ context.Context, c reconcile.Continuation, delay time.Duration) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.msgs = append(q.msgs, queued{c: c, delay: delay})
	return nil
}

func (q *fakeQueue) pop() (queued, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.msgs) == 0 {
		return queued{}, false
	}
	m := q.msgs[0]
	q.msgs = q.msgs[1:]
	return m, true
}

// fakeBus records published events through the real EventBridgePublisher.
type fakeBus struct {
	mu      sync.Mutex
	entries []ebtypes.PutEventsRequestEntry
}

func (b *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.entries = append(b.entries, in.Entries...)
	return &eventbridge.PutEventsOutput{}, nil
}

func (b *fakeBus) PublishAssociated(ctx context.Context, source string, d deployevent.AssociatedDetail) error {
	return reconcile.EventBridgePublisher{Client: b}.PublishAssociated(ctx, source, d)
}

func (b *fakeBus) details(t testing.TB) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.entries {
		if aws.ToString(e.DetailType) != deployevent.KeysAssociated || aws.ToString(e.Source) != deployevent.DefaultSource {
			t.Errorf("unexpected event %s/%s", aws.ToString(e.Source), aws.ToString(e.DetailType))
		}
		out = append(out, aws.ToString(e.Detail))
	}
	return out
}

// fakeSQS records SendMessage inputs.
type fakeSQS struct{ in []*sqs.SendMessageInput }

func (f *fakeSQS) SendMessage(_ context.Context, in *sqs.SendMessageInput, _ ...func(*sqs.Options)) (*sqs.SendMessageOutput, error) {
	f.in = append(f.in, in)
	return &sqs.SendMessageOutput{MessageId: aws.String("m")}, nil
}
