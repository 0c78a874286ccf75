package web

// flashMessages are the only confirmations a page shows after a form's
// redirect (?done=<code>): the code comes from the URL, which anyone can
// craft and send to a signed-in user, so free text is never rendered.
var flashMessages = map[string]string{
	"created":               "customer created",
	"status active":         "customer activated",
	"status suspended":      "customer suspended",
	"plan changed":          "plan changed",
	"key active":            "key activated",
	"key suspended":         "key suspended",
	"key revoked":           "key revoked",
	"key expired":           "key expired",
	"binding added":         "binding added",
	"binding removed":       "binding removed",
	"request approved":      "plan-change request approved",
	"request declined":      "plan-change request declined",
	"plan change requested": "plan change requested",
}

// flash is the message for a ?done= code, or "" for an unknown one.
func flash(code string) string { return flashMessages[code] }
