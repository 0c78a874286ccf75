// Command apigw serves the API Gateway control-plane emulator of test/apigw
// on a loopback address, for trying the stagehand CLI fully locally:
//
//	go run ./test/apigw/cmd/apigw -addr 127.0.0.1:4567 &
//	export STAGEHAND_APIGATEWAY_ENDPOINT=http://127.0.0.1:4567
//
// State lives in memory and goes with the process. Quotas are off: the
// emulator answers as fast as it is called.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/stagehand-dev/stagehand/test/apigw"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "apigw: "+err.Error())
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("apigw", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:4567", "loopback address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", *addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("-addr %q: the emulator listens on loopback addresses only", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "apigw: API Gateway emulator on http://%s (Ctrl-C stops it)\n", ln.Addr())
	srv := &http.Server{Handler: apigw.New(apigw.WithoutQuotas()), ReadHeaderTimeout: 10 * time.Second}
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
