package e2echeck_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stagehand-dev/stagehand/internal/e2echeck"
)

// Echo answers as real echo backends write them (testdata/): httpbin's
// /headers, the http-https-echo image, a multi-value echo, and nginx's
// welcome page (what the default ECS image serves: not an echo).
func TestEchoedHeader(t *testing.T) {
	tests := []struct {
		file      string
		header    string
		want      string
		wantFound bool
		wantErr   bool
	}{
		{file: "echo-httpbin.json", header: "X-Customer-Id", want: "acme", wantFound: true},
		{file: "echo-httpbin.json", header: "x-customer-plan", want: "standard", wantFound: true},
		{file: "echo-http-https-echo.json", header: "X-Customer-Id", want: "acme", wantFound: true},
		{file: "echo-multivalue.json", header: "X-CUSTOMER-ID", want: "acme", wantFound: true},
		{file: "echo-without-customer.json", header: "X-Customer-Id"},
		{file: "nginx-welcome.html", header: "X-Customer-Id", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.header, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, found, err := e2echeck.EchoedHeader(body, tc.header)
			if (err != nil) != tc.wantErr || got != tc.want || found != tc.wantFound {
				t.Errorf("EchoedHeader = %q, %v, %v; want %q, %v, error %v", got, found, err, tc.want, tc.wantFound, tc.wantErr)
			}
		})
	}
	if _, _, err := e2echeck.EchoedHeader([]byte(`{"method":"GET"}`), "X-Customer-Id"); err == nil {
		t.Error("a JSON answer without headers was accepted as an echo")
	}
	if _, _, err := e2echeck.EchoedHeader([]byte(`{"headers":{"X-Customer-Id":42}}`), "X-Customer-Id"); err == nil {
		t.Error("a numeric header value was accepted")
	}
}

// FuzzEchoedHeader: any body an endpoint sends back is parsed without a
// panic, and a value is only ever reported as found without an error.
func FuzzEchoedHeader(f *testing.F) {
	for _, name := range []string{"echo-httpbin.json", "echo-http-https-echo.json", "echo-multivalue.json", "nginx-welcome.html"} {
		body, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(body, "X-Customer-Id")
	}
	f.Add([]byte(`{"headers":{"x-customer-id":["",""]}}`), "x-customer-id")
	f.Fuzz(func(t *testing.T, body []byte, header string) {
		v, found, err := e2echeck.EchoedHeader(body, header)
		if err != nil && (found || v != "") {
			t.Errorf("error %v together with a value %q / found %v", err, v, found)
		}
		if !found && v != "" {
			t.Errorf("value %q without found", v)
		}
	})
}
