package usage_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	apigwtypes "github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/testutil/ddbtest"
	"github.com/stagehand-dev/stagehand/internal/usage"
	"github.com/stagehand-dev/stagehand/test/apigw"
)

func TestMain(m *testing.M) { os.Exit(ddbtest.Run(m)) }

var day0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC) // a Monday

type published struct {
	mu   sync.Mutex
	got  []usage.Anomaly
	fail error
}

func (p *published) Publish(_ context.Context, a usage.Anomaly) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return p.fail
	}
	p.got = append(p.got, a)
	return nil
}

type world struct {
	store  *registry.Store
	gw     *apigw.Emulator
	client *reconcile.Client
	clk    *clock.Virtual
	plan   string
	keys   map[string]string // customer -> metering key id
}

// newWorld: plan "basic" (quota quota/MONTH when > 0) in dev, customers
// subscribed with metering keys in the emulator's usage plan.
func newWorld(t *testing.T, quota int32, customers ...string) *world {
	t.Helper()
	ctx := context.Background()
	db, table := ddbtest.NewTable(t)
	clk := clock.NewVirtual(day0.AddDate(0, 0, 70))
	gw := apigw.New(apigw.WithoutQuotas(), apigw.WithClock(clk))
	gwc := gw.Client(t)
	w := &world{store: registry.New(db, table, registry.WithClock(clk)), gw: gw, clk: clk, keys: map[string]string{},
		client: reconcile.NewClient(gwc, reconcile.WithClientClock(clk), reconcile.WithJitterSeed(1))}
	in := &apigateway.CreateUsagePlanInput{Name: aws.String("basic")}
	if quota > 0 {
		in.Quota = &apigwtypes.QuotaSettings{Limit: quota, Period: apigwtypes.QuotaPeriodTypeMonth}
	}
	up, err := gwc.CreateUsagePlan(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	w.plan = aws.ToString(up.Id)
	if _, err := w.store.PutPlan(ctx, registry.Plan{Env: "dev", Name: "basic", UsagePlanID: w.plan, QuotaLimit: quota, QuotaPeriod: map[bool]string{true: "MONTH"}[quota > 0]}, "test"); err != nil {
		t.Fatal(err)
	}
	for _, c := range customers {
		k, err := gwc.CreateApiKey(ctx, &apigateway.CreateApiKeyInput{Name: aws.String(c), Enabled: true})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := gwc.CreateUsagePlanKey(ctx, &apigateway.CreateUsagePlanKeyInput{UsagePlanId: up.Id, KeyId: k.Id, KeyType: aws.String("API_KEY")}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.store.CreateCustomer(ctx, registry.Customer{ID: c, Name: c}, "test"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.store.Subscribe(ctx, registry.Subscription{CustomerID: c, Env: "dev", Plan: "basic", UsageKeyID: aws.ToString(k.Id), UsageKeyValue: aws.ToString(k.Value)}, "test"); err != nil {
			t.Fatal(err)
		}
		w.keys[c] = aws.ToString(k.Id)
	}
	return w
}

func (w *world) record(customer string, day time.Time, n int) {
	for range n {
		w.gw.RecordUsage(w.keys[customer], w.plan, day)
	}
}

// history stores days of flat usage (per customer per day) before day.
func (w *world) history(t *testing.T, customer string, perDay int64, from, to time.Time) {
	t.Helper()
	for d := from; d.Before(to); d = d.AddDate(0, 0, 1) {
		if err := w.store.PutUsageDay(context.Background(), registry.UsageDay{CustomerID: customer, Env: "dev", Date: d.Format(time.DateOnly), Used: perDay}, 400*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCollectPagesThroughThrottling(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 0, "c1", "c2", "c3", "c4", "c5")
	day := day0.AddDate(0, 0, 60)
	for i, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		w.record(c, day, 10*(i+1))
		w.record(c, day.AddDate(0, 0, 1), i+1)
	}
	w.gw.RecordUsage("hand-made-key", w.plan, day)
	// The first two GetUsage calls are throttled; pages of two keys.
	w.gw.FailNext("GetUsage", 2, 429)
	job := usage.NewJob(w.store, w.client, &published{}, usage.WithClock(w.clk), usage.WithPageSize(2))
	rep, err := job.Collect(ctx, "dev", day, day.AddDate(0, 0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Customers != 5 || rep.Days != 10 || rep.Unknown != 1 || rep.Plans != 1 {
		t.Errorf("report %+v", rep)
	}
	if w.gw.Calls("GetUsage") < 3 || w.client.Stats().Retries == 0 {
		t.Errorf("GetUsage calls %d, retries %d: want paging (3+ pages) and retried throttling", w.gw.Calls("GetUsage"), w.client.Stats().Retries)
	}
	for i, c := range []string{"c1", "c2", "c3", "c4", "c5"} {
		days, err := w.store.ListUsageDays(ctx, "dev", c, day.Format(time.DateOnly), day.AddDate(0, 0, 1).Format(time.DateOnly))
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, d := range days {
			got = append(got, d.Used)
		}
		if diff := cmp.Diff([]int64{int64(10 * (i + 1)), int64(i + 1)}, got); diff != "" {
			t.Errorf("%s days (-want +got):\n%s", c, diff)
		}
	}
}

func TestRunReportsASpikeOnce(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 0, "steady", "spiky")
	day := day0.AddDate(0, 0, 60)
	w.history(t, "steady", 300, day0, day.AddDate(0, 0, -2))
	w.history(t, "spiky", 300, day0, day.AddDate(0, 0, -2))
	for _, d := range []time.Time{day.AddDate(0, 0, -2), day.AddDate(0, 0, -1)} {
		w.record("steady", d, 300)
		w.record("spiky", d, 300)
	}
	w.record("steady", day, 300)
	w.record("spiky", day, 2400)

	fail := &published{fail: errors.New("EventBridge unavailable")}
	rep, err := usage.NewJob(w.store, w.client, fail, usage.WithClock(w.clk)).Run(ctx, "dev", day)
	if err == nil || rep.Failed != 1 {
		t.Fatalf("failing publisher: %v, report %+v; want the anomaly failed", err, rep)
	}
	ev := &published{}
	job := usage.NewJob(w.store, w.client, ev, usage.WithClock(w.clk))
	rep, err = job.Run(ctx, "dev", day)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Published != 1 || len(ev.got) != 1 {
		t.Fatalf("report %+v, events %+v; want one spike (the failed one, retried)", rep, ev.got)
	}
	a := ev.got[0]
	if a.CustomerID != "spiky" || a.Kind != usage.KindSpike || a.Observed != 2400 || a.Expected != 300 || a.Date != day.Format(time.DateOnly) || len(a.Series) == 0 {
		t.Errorf("anomaly %+v", a)
	}
	rep, err = job.Run(ctx, "dev", day)
	if err != nil || rep.Published != 0 || rep.Already != 1 || len(ev.got) != 1 {
		t.Errorf("rerun: %v %+v; want it reported already", err, rep)
	}
}

type denials map[string]int64

func (d denials) Denials(context.Context, string, time.Time) (map[string]int64, error) { return d, nil }

func TestDenialSurge(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 0, "leaky")
	day := day0.AddDate(0, 0, 60)
	w.history(t, "leaky", 500, day0, day)
	for d := day0; d.Before(day); d = d.AddDate(0, 0, 1) {
		if err := w.store.PutDeniedCount(ctx, "dev", "leaky", d.Format(time.DateOnly), 5, 400*24*time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	w.record("leaky", day, 500)
	ev := &published{}
	rep, err := usage.NewJob(w.store, w.client, ev, usage.WithClock(w.clk), usage.WithDenials(denials{"leaky": 4000})).Run(ctx, "dev", day)
	if err != nil || len(ev.got) != 1 || ev.got[0].Kind != usage.KindDenialSurge || ev.got[0].Observed != 4000 {
		t.Errorf("run: %v, %+v, events %+v; want one denial surge", err, rep, ev.got)
	}
}

func TestQuotaProjectedExhaustion(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t, 30000, "heavy", "light")
	// June 2026: on the 20th, heavy has used 20 × 1,400 = 28,000 of 30,000
	// and uses 1,400 a day: out by the 22nd. light uses 100 a day.
	day := time.Date(2026, 6, 20, 0, 0, 0, 0, time.UTC)
	w.history(t, "heavy", 1400, day.AddDate(0, 0, -40), day.AddDate(0, 0, -2))
	w.history(t, "light", 100, day.AddDate(0, 0, -40), day.AddDate(0, 0, -2))
	for _, d := range []time.Time{day.AddDate(0, 0, -2), day.AddDate(0, 0, -1), day} {
		w.record("heavy", d, 1400)
		w.record("light", d, 100)
	}
	ev := &published{}
	job := usage.NewJob(w.store, w.client, ev, usage.WithClock(w.clk))
	if _, err := job.Run(ctx, "dev", day); err != nil {
		t.Fatal(err)
	}
	want := []usage.Anomaly{{EventID: "quota-exhaustion:heavy:2026-06-30", Env: "dev", CustomerID: "heavy", Kind: usage.KindQuota, Date: "2026-06-20",
		Observed: 28000, Expected: 42000, QuotaLimit: 30000, QuotaPeriod: "MONTH", PeriodEnd: "2026-06-30", ExhaustedBy: "2026-06-22"}}
	if diff := cmp.Diff(want, ev.got); diff != "" {
		t.Errorf("anomalies (-want +got):\n%s", diff)
	}
	// The next day it is still projected: reported once per period.
	w.record("heavy", day.AddDate(0, 0, 1), 1000)
	w.record("light", day.AddDate(0, 0, 1), 100)
	if _, err := job.Run(ctx, "dev", day.AddDate(0, 0, 1)); err != nil || len(ev.got) != 1 {
		t.Errorf("next day: %v, events %+v; want no second quota event", err, ev.got)
	}
}

func TestDenialEMFShape(t *testing.T) {
	var line struct {
		AWS struct {
			Timestamp         int64
			CloudWatchMetrics []struct {
				Namespace  string
				Dimensions [][]string
				Metrics    []struct{ Name, Unit string }
			}
		} `json:"_aws"`
		Env, CustomerId, KeyId string
		Status, Denied         int
	}
	at := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if err := json.Unmarshal(usage.DenialEMF(at, "prod", "acme", "key_abc", 403, 17), &line); err != nil {
		t.Fatal(err)
	}
	m := line.AWS.CloudWatchMetrics
	got := fmt.Sprint(line.AWS.Timestamp, m[0].Namespace, m[0].Dimensions, m[0].Metrics, line.Env, line.CustomerId, line.KeyId, line.Status, line.Denied)
	want := fmt.Sprint(at.UnixMilli(), "stagehand/authorizer", [][]string{{"Env"}}, []struct{ Name, Unit string }{{"Denied", "Count"}}, "prod", "acme", "key_abc", 403, 17)
	if got != want {
		t.Errorf("EMF line\n got %s\nwant %s", got, want)
	}
}
