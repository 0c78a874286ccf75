// Package httpadapter serves an http.Handler as a Lambda function behind an
// API Gateway REST API (Lambda proxy integration): it turns the proxy event
// into an *http.Request and the handler's response into the proxy
// response. Multi-value headers and query strings are kept (several
// Set-Cookie headers survive), and bodies that are not text are
// base64-encoded, as the proxy integration requires for binary media.
//
// Event and response format:
// https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format
package httpadapter

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime/debug"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// Handler adapts h to the Lambda proxy integration.
func Handler(h http.Handler) func(context.Context, events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
	return func(ctx context.Context, ev events.APIGatewayProxyRequest) (events.APIGatewayProxyResponse, error) {
		req, err := Request(ctx, ev)
		if err != nil {
			return events.APIGatewayProxyResponse{StatusCode: http.StatusBadRequest, Body: "bad request"}, nil
		}
		rec, ok := serve(h, req)
		if !ok {
			// Nothing the handler wrote (headers, cookies, a partial page)
			// goes out: a plain 500.
			return events.APIGatewayProxyResponse{StatusCode: http.StatusInternalServerError,
				MultiValueHeaders: map[string][]string{"Content-Type": {"text/plain; charset=utf-8"}, "Cache-Control": {"no-store"}},
				Body:              "internal error"}, nil
		}
		return Response(rec.Result().StatusCode, rec.Header(), rec.Body.Bytes()), nil
	}
}

// serve runs h, recovering a panic (ok false, logged with the request's
// method and path only) so that one bad request cannot crash the function
// and fail every request in flight on it.
func serve(h http.Handler, req *http.Request) (rec *httptest.ResponseRecorder, ok bool) {
	rec = httptest.NewRecorder()
	defer func() {
		if v := recover(); v != nil {
			slog.Default().Error("handler panic", slog.String("method", req.Method), slog.String("path", req.URL.Path),
				slog.String("panic", fmt.Sprint(v)), slog.String("stack", string(debug.Stack())))
			ok = false
		}
	}()
	h.ServeHTTP(rec, req)
	return rec, true
}

// Request builds the request the event describes.
func Request(ctx context.Context, ev events.APIGatewayProxyRequest) (*http.Request, error) {
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, fmt.Errorf("decode base64 body: %w", err)
		}
	}
	q := url.Values{}
	for k, vs := range ev.MultiValueQueryStringParameters {
		q[k] = append([]string(nil), vs...)
	}
	for k, v := range ev.QueryStringParameters {
		if _, ok := q[k]; !ok {
			q.Set(k, v)
		}
	}
	path := ev.Path
	if path == "" {
		path = "/"
	}
	u := &url.URL{Path: path, RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, ev.HTTPMethod, u.String(), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range ev.MultiValueHeaders {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	for k, v := range ev.Headers {
		if req.Header.Get(k) == "" {
			req.Header.Set(k, v)
		}
	}
	req.Host = req.Header.Get("Host")
	req.URL.Host, req.URL.Scheme = req.Host, "https"
	req.RemoteAddr = ev.RequestContext.Identity.SourceIP
	req.ContentLength = int64(len(body))
	return req, nil
}

// Response builds the proxy response; a body whose content type is not
// text, JSON, XML or SVG is base64-encoded.
func Response(status int, header http.Header, body []byte) events.APIGatewayProxyResponse {
	res := events.APIGatewayProxyResponse{StatusCode: status, MultiValueHeaders: map[string][]string{}}
	for k, vs := range header {
		res.MultiValueHeaders[k] = append([]string(nil), vs...)
	}
	if isText(header.Get("Content-Type")) {
		res.Body = string(body)
	} else {
		res.Body, res.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
	}
	return res
}

func isText(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") ||
		strings.Contains(ct, "xml") || strings.Contains(ct, "javascript") || strings.Contains(ct, "x-www-form-urlencoded")
}
