package httpadapter_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/google/go-cmp/cmp"

	"github.com/stagehand-dev/stagehand/internal/httpadapter"
)

func TestHandler(t *testing.T) {
	raw, err := os.ReadFile("testdata/post-form.json")
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayProxyRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		Method, Path, Host, Name, Remote string
		Query                            []string
		Cookies                          int
	}
	var got seen
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = seen{Method: r.Method, Path: r.URL.Path, Host: r.Host, Name: r.PostFormValue("name"), Remote: r.RemoteAddr,
			Query: r.URL.Query()["x"], Cookies: len(r.Cookies())}
		http.SetCookie(w, &http.Cookie{Name: "one", Value: "1"})
		http.SetCookie(w, &http.Cookie{Name: "two", Value: "2"})
		w.Header().Set("Content-Type", "image/png")
		_, _ = w.Write([]byte{0x89, 'P', 'N', 'G'})
	})
	res, err := httpadapter.Handler(h)(context.Background(), ev)
	if err != nil {
		t.Fatal(err)
	}
	want := seen{Method: "POST", Path: "/portal/keys", Host: "portal.example.com", Name: "ci", Remote: "203.0.113.7", Query: []string{"1", "2"}, Cookies: 2}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("request (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"one=1", "two=2"}, res.MultiValueHeaders["Set-Cookie"]); d != "" {
		t.Errorf("Set-Cookie (-want +got):\n%s", d)
	}
	body, _ := base64.StdEncoding.DecodeString(res.Body)
	if !res.IsBase64Encoded || string(body) != "\x89PNG" {
		t.Errorf("binary body: base64 %v, %q", res.IsBase64Encoded, body)
	}
}

func TestTextBodyAndBadBase64(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write(append([]byte("got "), b...))
	})
	tests := []struct {
		name       string
		ev         events.APIGatewayProxyRequest
		wantStatus int
		wantBody   string
	}{
		{"plain body", events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/x", Body: "hi"}, 200, "got hi"},
		{"bad base64 is a 400, not a panic", events.APIGatewayProxyRequest{HTTPMethod: "POST", Path: "/x", Body: "%%%", IsBase64Encoded: true}, 400, "bad request"},
		{"empty path", events.APIGatewayProxyRequest{HTTPMethod: "GET"}, 200, "got "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := httpadapter.Handler(h)(context.Background(), tc.ev)
			if err != nil || res.StatusCode != tc.wantStatus || res.Body != tc.wantBody || res.IsBase64Encoded {
				t.Errorf("= %d %q base64 %v, %v", res.StatusCode, res.Body, res.IsBase64Encoded, err)
			}
		})
	}
}

// A handler panic is a plain 500 without anything the handler wrote, and
// the function keeps serving.
func TestHandlerPanic(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/boom" {
			http.SetCookie(w, &http.Cookie{Name: "half", Value: "written"})
			_, _ = w.Write([]byte("partial page"))
			panic("index out of range")
		}
		_, _ = w.Write([]byte("fine"))
	})
	serve := httpadapter.Handler(h)
	res, err := serve(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/boom"})
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusInternalServerError || res.Body != "internal error" || res.MultiValueHeaders["Set-Cookie"] != nil {
		t.Errorf("panic response = %d %q %v, want a plain 500", res.StatusCode, res.Body, res.MultiValueHeaders)
	}
	res, err = serve(context.Background(), events.APIGatewayProxyRequest{HTTPMethod: "GET", Path: "/ok"})
	if err != nil || res.StatusCode != http.StatusOK || res.Body != "fine" {
		t.Errorf("after a panic: %d %q %v", res.StatusCode, res.Body, err)
	}
}
