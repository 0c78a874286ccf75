package keyadmin

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/aws/aws-lambda-go/events"
)

// ErrForeignOrigin: an event that names neither of the REST APIs (or not
// their stage) the function is configured to serve: a misrouted
// integration, or someone invoking the function directly with a made-up
// request context. It is refused (403) before anything else is looked at.
var ErrForeignOrigin = errors.New("request from an API or stage this function does not serve")

// Origin names where requests may come from: the key-admin REST APIs (by
// id) whose methods integrate with the function, and their stage. Each
// API accepts exactly one kind of caller.
type Origin struct {
	// Stage is the stage both APIs deploy (requestContext.stage).
	Stage string
	// APIID is the IAM-authorized API (every method AWS_IAM): a request
	// from it must carry the IAM identity API Gateway verified; a bearer
	// token is never looked at.
	APIID string
	// JWTAPIID, optional, is the JWT route's API (methods without IAM
	// authorization): a request from it must carry an admin bearer token;
	// identity fields are never trusted there.
	JWTAPIID string
}

// apiIDPattern is an API Gateway REST API id; stagePattern a stage name
// (API Gateway: letters, digits, hyphens and underscores, at most 128).
var (
	apiIDPattern = regexp.MustCompile(`^[a-z0-9]{10}$`)
	stagePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)
)

func (o Origin) validate() error {
	var errs []error
	if !apiIDPattern.MatchString(o.APIID) {
		errs = append(errs, fmt.Errorf("API id %q is not a REST API id (10 characters of a-z and 0-9)", o.APIID))
	}
	if o.JWTAPIID != "" && (!apiIDPattern.MatchString(o.JWTAPIID) || o.JWTAPIID == o.APIID) {
		errs = append(errs, fmt.Errorf("JWT route API id %q must be another REST API id", o.JWTAPIID))
	}
	if !stagePattern.MatchString(o.Stage) {
		errs = append(errs, fmt.Errorf("stage %q is not a stage name", o.Stage))
	}
	return errors.Join(errs...)
}

// route is which of the configured APIs a request came through.
type route int

const (
	routeNone route = iota
	routeIAM
	routeJWT
)

// routeOf checks the event's requestContext.apiId and stage against the
// configured origin. API Gateway sets both; a direct invoke can set them to
// anything, which is why the function's resource policy lets only these
// APIs invoke it (see docs/keyadmin.md).
func (h *Handler) routeOf(ev events.APIGatewayProxyRequest) (route, *problem, error) {
	rc := ev.RequestContext
	if rc.Stage == h.origin.Stage {
		switch {
		case rc.APIID == h.origin.APIID:
			return routeIAM, nil, nil
		case h.origin.JWTAPIID != "" && rc.APIID == h.origin.JWTAPIID:
			return routeJWT, nil, nil
		}
	}
	return routeNone, newProblem(http.StatusForbidden, "This function serves only its own key-admin API."),
		fmt.Errorf("%w: apiId %q, stage %q", ErrForeignOrigin, clip(rc.APIID), clip(rc.Stage))
}

// clip shortens a caller-chosen value for a log line.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
