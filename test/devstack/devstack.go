// Package devstack is the whole of stagehand on one machine, for `make dev`
// and for the tests that drive a browser against it: DynamoDB Local, the
// API Gateway emulator (control plane), the local data plane serving the
// custom domain through the real authorizer with blue and green stages, a
// sample backend, the EventBridge stand-in wired to the real re-association
// handler, the local OpenID provider and the console + portal. It seeds
// demo plans, customers, keys and logins, deploys blue and cuts over to it;
// Deploy runs the next blue/green cycle (deploy event, re-association,
// verify, cutover, retire) while traffic flows.
package devstack

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/apigateway/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/stagehand-dev/stagehand/internal/auth"
	"github.com/stagehand-dev/stagehand/internal/auth/jwtverify"
	"github.com/stagehand-dev/stagehand/internal/cli"
	"github.com/stagehand-dev/stagehand/internal/clock"
	"github.com/stagehand-dev/stagehand/internal/deployevent"
	"github.com/stagehand-dev/stagehand/internal/reconcile"
	"github.com/stagehand-dev/stagehand/internal/reconcile/pacer"
	"github.com/stagehand-dev/stagehand/internal/registry"
	"github.com/stagehand-dev/stagehand/internal/service"
	"github.com/stagehand-dev/stagehand/internal/testutil/dynamolocal"
	"github.com/stagehand-dev/stagehand/internal/web"
	"github.com/stagehand-dev/stagehand/test/apigw"
	"github.com/stagehand-dev/stagehand/test/e2e/gateway"
	"github.com/stagehand-dev/stagehand/test/eventbus"
	"github.com/stagehand-dev/stagehand/test/oidcissuer"
)

//go:embed openapi.yaml
var openAPI []byte

// Env is the environment the stack serves.
const Env = "dev"

// Domain is the custom domain the local data plane serves.
const Domain = "api.dev.local"

// OperatorGroup is the group that makes a demo user an operator.
const OperatorGroup = "stagehand-operators"

// Login is a demo account of the local OpenID provider.
type Login struct {
	User, Password, Role, Customer string
}

// Logins are the demo accounts.
var Logins = []Login{
	{User: "operator@demo.local", Password: "operator-demo", Role: "operator"},
	{User: "ann@acme.local", Password: "acme-demo", Role: "customer", Customer: "acme"},
	{User: "gil@globex.local", Password: "globex-demo", Role: "customer", Customer: "globex"},
	// Not bound to a customer: an operator binds it in the console (its
	// subject is Subject(3)).
	{User: "ivy@initech.local", Password: "initech-demo", Role: "customer"},
}

// Subject is the OpenID subject of Logins[i].
func Subject(i int) string { return fmt.Sprintf("demo-%d", i+1) }

// Options choose addresses ("127.0.0.1:0" picks a free port).
type Options struct {
	PortalAddr, IssuerAddr, APIAddr, ControlAddr string
	// DynamoDBEndpoint is a running DynamoDB Local; empty: start one.
	DynamoDBEndpoint string
	// UpdateUsagePlanEvery paces the re-association's UpdateUsagePlan calls
	// (AWS allows one every 20 s; default here 1 s, so a cycle takes
	// seconds, not minutes).
	UpdateUsagePlanEvery time.Duration
	// Traffic sends demo requests through the domain continuously.
	Traffic bool
	Log     *slog.Logger
}

// Stack is a running local system.
type Stack struct {
	PortalURL, IssuerURL, APIURL, ControlURL string
	// DemoKeys are the seeded customers' API keys (customer id → key).
	DemoKeys map[string]string
	// Table is the registry table.
	Table string

	opts     Options
	log      *slog.Logger
	ctx      context.Context
	cancel   context.CancelFunc
	ddb      *dynamolocal.Server
	ddbURL   string
	emu      *apigw.Emulator
	emuURL   string
	gw       *apigateway.Client
	bus      *eventbus.Bus
	busURL   string
	store    *registry.Store
	svc      *service.Service
	issuer   *oidcissuer.Issuer
	servers  []*http.Server
	cont     sync.WaitGroup // re-association continuations in flight
	deployMu sync.Mutex
	seq      int64
	live     string // colour
	liveAPI  string
	traffic  trafficStats
	bg       sync.WaitGroup
}

type trafficStats struct {
	ok, rejected atomic.Int64
	mu           sync.Mutex
	byStage      map[string]int64
}

// Start brings the stack up; Close takes it down. On error everything
// started so far is stopped.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	s := &Stack{opts: opts, log: opts.Log, DemoKeys: map[string]string{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.ddbURL = opts.DynamoDBEndpoint
	if s.ddbURL == "" {
		if s.ddb, err = dynamolocal.Start(ctx); err != nil {
			return nil, fmt.Errorf("start DynamoDB Local: %w", err)
		}
		s.ddbURL = s.ddb.Endpoint
	}
	db := dynamolocal.Client(s.ddbURL)
	s.Table = "stagehand-dev-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := db.CreateTable(ctx, registry.TableDefinition(s.Table)); err != nil {
		return nil, fmt.Errorf("create registry table: %w", err)
	}
	s.store = registry.New(db, s.Table)

	// AWS allows UpdateUsagePlan once per 20 s; the emulator enforces that
	// unless told otherwise, and the re-association paces itself to match.
	// Locally both use UpdateUsagePlanEvery so a cycle takes seconds.
	s.opts.UpdateUsagePlanEvery = orDefault(opts.UpdateUsagePlanEvery, time.Second)
	s.emu = apigw.New(apigw.WithQuota("UpdateUsagePlan", s.opts.UpdateUsagePlanEvery, 1))
	if s.emuURL, err = s.serve("127.0.0.1:0", s.emu); err != nil {
		return nil, err
	}
	s.gw = apigateway.New(apigateway.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.emuURL),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	s.svc = service.New(s.store, service.NewAPIGatewayUsageKeys(s.gw))
	s.bus = eventbus.New()
	if s.busURL, err = s.serve("127.0.0.1:0", s.bus); err != nil {
		return nil, err
	}
	if err := s.wireReassociation(db); err != nil {
		return nil, err
	}

	// The portal's address first: the provider needs its redirect URL.
	portalLn, err := net.Listen("tcp", orDefault(opts.PortalAddr, "127.0.0.1:0"))
	if err != nil {
		return nil, fmt.Errorf("listen for the portal: %w", err)
	}
	s.PortalURL = "http://" + portalLn.Addr().String()
	if err := s.startIssuer(); err != nil {
		portalLn.Close()
		return nil, err
	}
	if err := s.startDataPlane(); err != nil {
		portalLn.Close()
		return nil, err
	}
	if err := s.seed(ctx); err != nil {
		portalLn.Close()
		return nil, err
	}
	if err := s.startPortal(ctx, portalLn); err != nil {
		return nil, err
	}
	if _, err := s.Deploy(ctx, io.Discard); err != nil {
		return nil, fmt.Errorf("first deploy: %w", err)
	}
	if opts.ControlAddr != "" {
		if s.ControlURL, err = s.serve(opts.ControlAddr, s.control()); err != nil {
			return nil, err
		}
	}
	if opts.Traffic {
		s.bg.Add(1)
		go s.sendTraffic()
	}
	return s, nil
}

func orDefault[T comparable](v, d T) T {
	var zero T
	if v == zero {
		return d
	}
	return v
}

func (s *Stack) serve(addr string, h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	s.serveOn(ln, h)
	return "http://" + ln.Addr().String(), nil
}

func (s *Stack) serveOn(ln net.Listener, h http.Handler) {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.servers = append(s.servers, srv)
	go func() { _ = srv.Serve(ln) }()
}

// wireReassociation routes deploy and retire events to the real handler,
// with continuations delivered in process after their delay (as the SQS
// delay queue does in AWS).
func (s *Stack) wireReassociation(db *dynamodb.Client) error {
	store := registry.New(db, s.Table)
	var handler *reconcile.Handler
	cont := continuer(func(c reconcile.Continuation, delay time.Duration) error {
		c.Kind = reconcile.ContinuationKind
		body, err := json.Marshal(c)
		if err != nil {
			return err
		}
		s.cont.Add(1)
		time.AfterFunc(delay, func() {
			defer s.cont.Done()
			raw, _ := json.Marshal(events.SQSEvent{Records: []events.SQSMessage{{MessageId: "m-" + strconv.Itoa(c.Invocation), Body: string(body)}}})
			if err := handler.Handle(s.ctx, raw); err != nil {
				s.log.Error("re-association continuation", slog.String("error", err.Error()))
			}
		})
		return nil
	})
	runner, err := reconcile.NewRunner(Env, store, s.gw, reconcile.WithLogger(s.log), reconcile.WithContinuer(cont),
		reconcile.WithPacerOptions(pacer.WithInterval(s.opts.UpdateUsagePlanEvery)),
		reconcile.WithPublisher(reconcile.EventBridgePublisher{Client: eventbus.Client(s.busURL), Bus: "default"}))
	if err != nil {
		return fmt.Errorf("re-association runner: %w", err)
	}
	handler = reconcile.NewHandler(runner, store, reconcile.WithHandlerLogger(s.log),
		reconcile.WithDeadlineFunc(func(context.Context) (time.Time, bool) { return time.Time{}, false }))
	s.bus.AddRule(eventbus.Rule{Name: "deployment", Source: deployevent.DefaultSource,
		DetailTypes: []string{deployevent.DeploymentCompleted, deployevent.StackRetiring}, MaxAttempts: 3,
		Target: handler.HandleEvent})
	return nil
}

type continuer func(reconcile.Continuation, time.Duration) error

func (c continuer) Continue(_ context.Context, cn reconcile.Continuation, delay time.Duration) error {
	return c(cn, delay)
}

func (s *Stack) startIssuer() error {
	var users []oidcissuer.User
	for i, l := range Logins {
		u := oidcissuer.User{ID: Subject(i), Username: l.User, Password: l.Password, Name: l.User}
		if l.Role == "operator" {
			u.Groups = []string{OperatorGroup}
		}
		users = append(users, u)
	}
	iss, err := oidcissuer.Start(orDefault(s.opts.IssuerAddr, "127.0.0.1:0"), users,
		[]oidcissuer.Client{{ID: "stagehand-web", Secret: "dev-client-secret", RedirectURIs: []string{s.PortalURL + "/auth/callback"}}})
	if err != nil {
		return err
	}
	s.issuer, s.IssuerURL = iss, iss.URL
	return nil
}

// startDataPlane serves the custom domain: the real authorizer in front of
// a sample backend, with API Gateway's key and usage-plan checks.
func (s *Stack) startDataPlane() error {
	if _, err := s.gw.CreateDomainName(s.ctx, &apigateway.CreateDomainNameInput{DomainName: aws.String(Domain),
		RegionalCertificateArn: aws.String("arn:aws:acm:us-east-1:123456789012:certificate/dev"),
		EndpointConfiguration:  &types.EndpointConfiguration{Types: []types.EndpointType{types.EndpointTypeRegional}}}); err != nil {
		return fmt.Errorf("create domain: %w", err)
	}
	settings := map[string]any{
		"mode": "strict", "cacheTtlSeconds": 2, "maxTokenLifetimeSeconds": 3600,
		"issuers": []map[string]any{{"issuer": s.IssuerURL, "jwksUrl": s.IssuerURL + "/keys", "audiences": []string{"stagehand-web"}}},
		"routes": []map[string]any{
			{"method": "GET", "path": "/orders", "scopes": []string{}},
			{"method": "GET", "path": "/orders/*", "scopes": []string{}},
			{"method": "POST", "path": "/orders", "scopes": []string{}},
		},
	}
	raw, _ := json.Marshal(settings)
	vars := map[string]string{"STAGEHAND_ENV": Env, "STAGEHAND_TABLE": s.Table, "AUTHORIZER_CONFIG": string(raw)}
	cfg, err := auth.LoadConfig(func(k string) string { return vars[k] })
	if err != nil {
		return fmt.Errorf("authorizer config: %w", err)
	}
	v, err := jwtverify.New(s.ctx, cfg.Settings.VerifierIssuers(), cfg.Settings.VerifierOptions(s.log)...)
	if err != nil {
		return fmt.Errorf("authorizer JWT verifier: %w", err)
	}
	authz, err := auth.New(cfg, s.store, auth.WithVerifier(v), auth.WithLogger(s.log))
	if err != nil {
		return fmt.Errorf("authorizer: %w", err)
	}
	backendURL, err := s.serve("127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"path": r.URL.Path, "customer": r.Header.Get(gateway.HeaderCustomerID),
			"servedBy": r.Header.Get(gateway.HeaderStage)})
	}))
	if err != nil {
		return err
	}
	bu, _ := url.Parse(backendURL)
	s.APIURL, err = s.serve(orDefault(s.opts.APIAddr, "127.0.0.1:0"), gateway.New(s.emu, Domain, authz.Handle, bu, clock.System{}))
	return err
}

// seed: the environment's plans in the registry (the registry owns the
// usage plans: reconcile creates them in API Gateway), demo customers with
// keys, and portal logins bound to them.
func (s *Stack) seed(ctx context.Context) error {
	for _, plan := range [][]string{
		{"basic", "--rate", "20", "--burst", "40", "--quota", "5000", "--quota-period", "DAY"},
		{"pro", "--rate", "200", "--burst", "400", "--quota", "100000", "--quota-period", "DAY"},
	} {
		if _, err := s.stagehand(ctx, append([]string{"plans", "put"}, plan...)...); err != nil {
			return err
		}
	}
	if _, err := s.stagehand(ctx, "reconcile"); err != nil {
		return err
	}
	for i, l := range Logins {
		if l.Customer == "" {
			continue
		}
		name := strings.ToUpper(l.Customer[:1]) + l.Customer[1:] + " Inc."
		if _, err := s.svc.CreateCustomer(ctx, l.Customer, name, "devstack"); err != nil {
			return err
		}
		if _, err := s.svc.Subscribe(ctx, l.Customer, Env, "basic", nil, "devstack"); err != nil {
			return err
		}
		_, secret, err := s.svc.CreateKey(ctx, service.CreateKeyInput{CustomerID: l.Customer, Env: Env, Name: "demo"}, "devstack")
		if err != nil {
			return err
		}
		s.DemoKeys[l.Customer] = secret.Plaintext
		if _, err := s.svc.PutBinding(ctx, registry.ClientBinding{Env: Env, Issuer: s.IssuerURL, Subject: Subject(i), CustomerID: l.Customer}, "devstack"); err != nil {
			return err
		}
	}
	return nil
}

func (s *Stack) startPortal(ctx context.Context, ln net.Listener) error {
	authn, err := web.NewOIDC(ctx, s.IssuerURL, "stagehand-web", "dev-client-secret", s.PortalURL+"/auth/callback", oidcissuer.GroupsClaim)
	if err != nil {
		ln.Close()
		return err
	}
	secrets, err := web.ParseSecrets(web.NewSecretsJSON("unused"))
	if err != nil {
		ln.Close()
		return err
	}
	srv, err := web.New(web.Config{Env: Env, OperatorGroup: OperatorGroup, HashKey: secrets.HashKey, BlockKey: secrets.BlockKey,
		InsecureCookies: true, OpenAPI: openAPI, APIBaseURL: s.APIURL},
		s.svc, service.NewUsageReader(s.store, s.gw), service.EventBridgePlanEvents{Client: eventbus.Client(s.busURL), Bus: "default", Source: "stagehand.portal"},
		authn, web.WithLogger(s.log))
	if err != nil {
		ln.Close()
		return err
	}
	s.serveOn(ln, srv.Handler())
	return nil
}

// stagehand runs the operator CLI in process against this stack.
func (s *Stack) stagehand(ctx context.Context, args ...string) (string, error) {
	var out, errb bytes.Buffer
	full := append([]string{"--env", Env, "--table", s.Table, "--endpoint", s.ddbURL, "--apigateway-endpoint", s.emuURL,
		"--events-endpoint", s.busURL, "--region", "us-east-1", "--actor", "devstack"}, args...)
	if code := cli.Execute(ctx, full, &out, &errb); code != 0 {
		return out.String(), fmt.Errorf("stagehand %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// settle waits for event deliveries and continuations to finish.
func (s *Stack) settle() {
	for range 3 {
		s.bus.Wait()
		s.cont.Wait()
	}
}

// Deploy runs one blue/green cycle: the inactive colour's REST API is
// created, its deploy event re-associates every key, verify reads API
// Gateway back, the domain cuts over, and the old colour retires. Progress
// goes to out. It returns the colour now live.
func (s *Stack) Deploy(ctx context.Context, out io.Writer) (string, error) {
	s.deployMu.Lock()
	defer s.deployMu.Unlock()
	colour := "blue"
	if s.live == "blue" {
		colour = "green"
	}
	s.seq++
	seq := strconv.FormatInt(s.seq, 10)
	stack := "Api-" + Env + "-" + colour
	began := time.Now()
	step := func(format string, args ...any) {
		fmt.Fprintf(out, "%6.2fs "+format+"\n", append([]any{time.Since(began).Seconds()}, args...)...)
	}
	api := s.emu.SeedRestAPI(stack, Env)
	step("deploy %s: REST API %s stage %s created (sequence %s)", colour, api, Env, seq)
	if _, err := s.stagehand(ctx, "deploy", "publish", "--api-id", api, "--stage", Env, "--colour", colour,
		"--stack-name", stack, "--sequence", seq, "--git-sha", fmt.Sprintf("%07x", s.seq)); err != nil {
		return "", err
	}
	step("deploy %s: \"API Deployment Completed\" published; re-associating keys", colour)
	s.settle()
	if _, err := s.stagehand(ctx, "deploy", "verify", "--api-id", api, "--stage", Env, "--wait", "30s", "--interval", "200ms"); err != nil {
		return "", err
	}
	step("deploy %s: verified: every active key's plan includes %s/%s", colour, api, Env)
	if _, err := s.stagehand(ctx, "cutover", "--domain", Domain, "--api-id", api, "--stage", Env); err != nil {
		return "", err
	}
	step("deploy %s: cut over: %s now serves %s/%s", colour, Domain, api, Env)
	if s.liveAPI != "" {
		old := "Api-" + Env + "-" + s.live
		if _, err := s.stagehand(ctx, "deploy", "retire", "--api-id", s.liveAPI, "--stage", Env, "--colour", s.live,
			"--stack-name", old, "--sequence", seq, "--git-sha", fmt.Sprintf("%07x", s.seq)); err != nil {
			return "", err
		}
		s.settle()
		step("deploy %s: %s retired (its stage left every usage plan)", colour, s.live)
	}
	s.live, s.liveAPI = colour, api
	return colour, nil
}

// control serves POST /deploy for `make dev-deploy`.
func (s *Stack) control() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /deploy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fl := flushWriter{w}
		if _, err := s.Deploy(r.Context(), fl); err != nil {
			fmt.Fprintf(fl, "deploy failed: %v\n", err)
			return
		}
		fmt.Fprintf(fl, "traffic so far: %s\n", s.TrafficSummary())
	})
	return mux
}

type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// sendTraffic calls the API with every demo key, 20 times a second.
func (s *Stack) sendTraffic() {
	defer s.bg.Done()
	c := &http.Client{Timeout: 5 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	report := time.NewTicker(5 * time.Second)
	defer report.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-report.C:
			s.log.Info("traffic", slog.String("summary", s.TrafficSummary()))
		case <-tick.C:
			for _, key := range s.DemoKeys {
				req, _ := http.NewRequestWithContext(s.ctx, http.MethodGet, s.APIURL+"/orders/42", nil)
				req.Header.Set("x-api-key", key)
				res, err := c.Do(req)
				if err != nil {
					if errors.Is(s.ctx.Err(), context.Canceled) {
						return
					}
					s.traffic.rejected.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					s.traffic.rejected.Add(1)
					continue
				}
				s.traffic.ok.Add(1)
				s.traffic.mu.Lock()
				if s.traffic.byStage == nil {
					s.traffic.byStage = map[string]int64{}
				}
				s.traffic.byStage[res.Header.Get(gateway.HeaderStage)]++
				s.traffic.mu.Unlock()
			}
		}
	}
}

// TrafficSummary is how many demo requests passed and were rejected, and
// which stages served them.
func (s *Stack) TrafficSummary() string {
	s.traffic.mu.Lock()
	defer s.traffic.mu.Unlock()
	return fmt.Sprintf("%d ok, %d rejected, served by %v", s.traffic.ok.Load(), s.traffic.rejected.Load(), s.traffic.byStage)
}

// Close stops everything Start started.
func (s *Stack) Close() {
	s.cancel()
	s.bg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, srv := range s.servers {
		_ = srv.Shutdown(ctx)
	}
	if s.issuer != nil {
		_ = s.issuer.Close()
	}
	if s.ddb != nil {
		s.ddb.Stop()
	}
}
