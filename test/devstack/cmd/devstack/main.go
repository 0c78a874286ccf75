// Command devstack is `make dev`: the whole of stagehand on this machine
// (see package devstack). `devstack deploy` (make dev-deploy) asks the
// running stack for a blue/green deploy and prints its progress. Ctrl-C
// stops everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/stagehand-dev/stagehand/test/devstack"
)

func main() {
	fs := flag.NewFlagSet("devstack", flag.ContinueOnError)
	portal := fs.String("portal", "127.0.0.1:8080", "console and portal address")
	issuer := fs.String("issuer", "127.0.0.1:8081", "local OpenID provider address")
	api := fs.String("api", "127.0.0.1:8082", "API (custom domain data plane) address")
	control := fs.String("control", "127.0.0.1:8089", "control address (make dev-deploy)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	switch fs.Arg(0) {
	case "":
		os.Exit(run(*portal, *issuer, *api, *control))
	case "deploy":
		os.Exit(deploy(*control))
	default:
		fmt.Fprintf(os.Stderr, "devstack: unknown command %q (want none or deploy)\n", fs.Arg(0))
		os.Exit(2)
	}
}

func run(portal, issuer, api, control string) int {
	// Everything is local: dummy credentials, no AWS endpoint reachable.
	for k, v := range map[string]string{"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:9"} {
		if os.Getenv(k) == "" {
			_ = os.Setenv(k, v)
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	slog.SetDefault(log) // the local OpenID provider logs every request at Info through the default logger
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	fmt.Println("starting stagehand locally (DynamoDB Local takes a few seconds)...")
	s, err := devstack.Start(ctx, devstack.Options{PortalAddr: portal, IssuerAddr: issuer, APIAddr: api, ControlAddr: control, Traffic: true, Log: log})
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack: %v\n", err)
		return 1
	}
	defer s.Close()
	fmt.Printf(`
stagehand is running (environment %q, blue is live):

  console + portal   %s          (console: /console/, portal: /portal/)
  OpenID provider    %s
  API (custom domain) %s/orders/42   (header x-api-key)

demo logins:
`, devstack.Env, s.PortalURL, s.IssuerURL, s.APIURL)
	for i, l := range devstack.Logins {
		who := "operator"
		switch {
		case l.Customer != "":
			who = "customer " + l.Customer
		case l.Role == "customer":
			who = fmt.Sprintf("not bound yet: bind issuer %s subject %s to a customer in the console", s.IssuerURL, devstack.Subject(i))
		}
		fmt.Printf("  %-22s %-14s %s\n", l.User, l.Password, who)
	}
	fmt.Println("\ndemo API keys (shown here only because this is a local demo):")
	for c, k := range s.DemoKeys {
		fmt.Printf("  %-8s curl -H 'x-api-key: %s' %s/orders/42\n", c, k, s.APIURL)
	}
	fmt.Printf("\ndemo traffic flows through the API continuously. Run a blue/green deploy with:\n  make dev-deploy\nCtrl-C stops everything.\n")
	<-ctx.Done()
	fmt.Println("\nstopping; traffic was:", s.TrafficSummary())
	return 0
}

func deploy(control string) int {
	c := &http.Client{Timeout: 5 * time.Minute}
	res, err := c.Post("http://"+control+"/deploy", "text/plain", nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "devstack: is make dev running? %v\n", err)
		return 1
	}
	defer res.Body.Close()
	_, _ = io.Copy(os.Stdout, res.Body)
	if res.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}
