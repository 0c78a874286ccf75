package web

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/stagehand-dev/stagehand/internal/service"
)

// graceChoice is one grace period the rotation forms offer: Value is what
// the form posts, Label what the user reads.
type graceChoice struct {
	Value, Label string
	Grace        time.Duration
}

// graceChoices are the only grace periods the console and the portal
// accept on a rotation; anything else is refused before anything is
// written. All lie within [0, keys.MaxRotationGrace] (checked by a test).
var graceChoices = []graceChoice{
	{"none", "None (stops at once)", 0},
	{"1h", "1 hour", time.Hour},
	{"24h", "24 hours", 24 * time.Hour},
	{"7d", "7 days", 7 * 24 * time.Hour},
	{"30d", "30 days", 30 * 24 * time.Hour},
}

// graceValues is the list of accepted form values, for error messages.
var graceValues = func() string {
	vs := make([]string, len(graceChoices))
	for i, c := range graceChoices {
		vs[i] = c.Value
	}
	return strings.Join(vs, ", ")
}()

// graceFor returns the choice offering grace d.
func graceFor(d time.Duration) (graceChoice, bool) {
	for _, c := range graceChoices {
		if c.Grace == d {
			return c, true
		}
	}
	return graceChoice{}, false
}

// validDefaultGrace checks that a configured default grace is one the forms
// offer, so the preselected option always exists.
func validDefaultGrace(d time.Duration) error {
	if _, ok := graceFor(d); !ok {
		return fmt.Errorf("web: RotateGrace %s is not one of the offered grace periods (%s)", d, graceValues)
	}
	return nil
}

// formGrace reads a rotation form's grace: exactly one value, and one of
// graceChoices; anything else (missing, repeated, forged) is a
// ValidationError, which fail renders as 400.
func formGrace(r *http.Request) (graceChoice, error) {
	if err := r.ParseForm(); err != nil {
		return graceChoice{}, &service.ValidationError{Field: "grace", Reason: "the form could not be read"}
	}
	vs := r.PostForm["grace"]
	if len(vs) == 1 {
		for _, c := range graceChoices {
			if vs[0] == c.Value {
				return c, nil
			}
		}
	}
	return graceChoice{}, &service.ValidationError{Field: "grace", Reason: "choose one of the offered grace periods (" + graceValues + ")"}
}

// graceView is what a rotation form needs to render its select.
type graceView struct {
	Choices []graceChoice
	Default string // the preselected Value
}

func (s *Server) graceView() graceView {
	c, _ := graceFor(s.cfg.RotateGrace) // New checked it is offered
	return graceView{Choices: graceChoices, Default: c.Value}
}
