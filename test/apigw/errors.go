package apigw

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// Error codes as API Gateway sends them in the x-amzn-ErrorType header. The
// SDK maps the first six to typed errors (types.BadRequestException, ...).
const (
	codeBadRequest         = "BadRequestException"
	codeNotFound           = "NotFoundException"
	codeConflict           = "ConflictException"
	codeLimitExceeded      = "LimitExceededException"
	codeTooManyRequests    = "TooManyRequestsException"
	codeServiceUnavailable = "ServiceUnavailableException"
	codeMissingAuth        = "MissingAuthenticationTokenException"
)

// apiError is an error response: HTTP status, x-amzn-ErrorType and
// {"message": ...}, plus Retry-After in seconds when retryAfter > 0.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter int
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badRequest(format string, a ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: codeBadRequest, message: fmt.Sprintf(format, a...)}
}

func notFound(format string, a ...any) *apiError {
	return &apiError{status: http.StatusNotFound, code: codeNotFound, message: fmt.Sprintf(format, a...)}
}

func conflict(format string, a ...any) *apiError {
	return &apiError{status: http.StatusConflict, code: codeConflict, message: fmt.Sprintf(format, a...)}
}

// limitExceeded is the account-limit error. The API reference documents
// LimitExceededException with HTTP status 429.
func limitExceeded(format string, a ...any) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: codeLimitExceeded, message: fmt.Sprintf(format, a...)}
}

func tooManyRequests(retryAfter int) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: codeTooManyRequests, message: "Too Many Requests", retryAfter: retryAfter}
}

// injectedError is the response FailNext and FailAfterApply send for status.
func injectedError(status int) *apiError {
	e := &apiError{status: status, message: http.StatusText(status)}
	switch status {
	case http.StatusBadRequest:
		e.code = codeBadRequest
	case http.StatusNotFound:
		e.code = codeNotFound
	case http.StatusConflict:
		e.code = codeConflict
	case http.StatusTooManyRequests:
		e.code, e.retryAfter = codeTooManyRequests, 1
	case http.StatusServiceUnavailable:
		e.code, e.retryAfter = codeServiceUnavailable, 1
	case http.StatusBadGateway:
		e.code = "BadGatewayException"
	case http.StatusGatewayTimeout:
		e.code = "GatewayTimeoutException"
	default:
		e.code = "InternalFailure"
		if status < 400 || status > 599 {
			e.status = http.StatusInternalServerError
			e.message = http.StatusText(http.StatusInternalServerError)
		}
	}
	return e
}

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", e.code)
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	w.WriteHeader(e.status)
	body, _ := json.Marshal(map[string]string{"message": e.message})
	_, _ = w.Write(body)
}
