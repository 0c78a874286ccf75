package registry

// Optimistic concurrency. Every update of a customer, subscription or key
// is a conditional write on the version it read, so a concurrent change is
// never lost. A caller that read the item earlier (HTTP If-Match) may also
// name the version it expects, ifVersion: the operation then refuses with
// ErrVersionMismatch unless the item is still at that version, both when it
// reads the item and, atomically, in the conditional write, and it does not
// retry. ifVersion 0 expects no particular version; the operations without
// an ifVersion parameter (SetKeyStatus, RotateKey, ...) are their *If forms
// with 0.

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// ErrVersionMismatch: the item is no longer at the version the caller
// expected (it wraps ErrConflict, so callers that only know ErrConflict
// still see a conflict).
var ErrVersionMismatch = fmt.Errorf("version mismatch: %w", ErrConflict)

// guard is the version precondition of one update.
type guard struct {
	what string // the item, for messages: "key key_1"
	want int64  // the version the caller expects; 0: any
}

// check compares the version read with the expected one.
func (g guard) check(have int64) error {
	if g.want != 0 && have != g.want {
		return fmt.Errorf("%s is at version %d, not %d: %w", g.what, have, g.want, ErrVersionMismatch)
	}
	return nil
}

// onLost adds to reasons what the versioned write at index i reports when
// its condition fails: ErrVersionMismatch when the caller expected a
// version; otherwise nothing, so the transaction reports ErrConflict.
func (g guard) onLost(i int, reasons map[int]error) map[int]error {
	if g.want == 0 {
		return reasons
	}
	if reasons == nil {
		reasons = map[int]error{}
	}
	reasons[i] = fmt.Errorf("%s: %w", g.what, ErrVersionMismatch)
	return reasons
}

// retry reports whether an update that lost to a concurrent change should
// read the item again and retry (at most limit times). Only without an
// expected version: with one, the caller judges the new state itself.
func (g guard) retry(err error, attempt, limit int) bool {
	return g.want == 0 && errors.Is(err, ErrConflict) && attempt < limit
}

// change is an update of a versioned item, besides the version and
// updatedAt that every update sets.
type change struct {
	set    string   // SET clauses: "#status = :status"
	remove []string // attributes to remove
	cond   string   // a condition besides the version's
	names  map[string]string
	values map[string]types.AttributeValue
}

// versionedUpdate is the transaction item that applies c to the item at k
// on condition that the item is still at version from; it stamps updatedAt
// with now and moves the version to from+1.
func (s *Store) versionedUpdate(k keyAttrs, from int64, now time.Time, c change) types.TransactWriteItem {
	values := map[string]types.AttributeValue{":now": avTime(now), ":next": avN(from + 1), ":version": avN(from)}
	maps.Copy(values, c.values)
	expr := "SET "
	if c.set != "" {
		expr += c.set + ", "
	}
	expr += "updatedAt = :now, version = :next"
	if len(c.remove) > 0 {
		expr += " REMOVE " + strings.Join(c.remove, ", ")
	}
	cond := "version = :version"
	if c.cond != "" {
		cond += " AND " + c.cond
	}
	u := &types.Update{
		TableName:                 aws.String(s.table),
		Key:                       k.av(),
		UpdateExpression:          aws.String(expr),
		ConditionExpression:       aws.String(cond),
		ExpressionAttributeValues: values,
	}
	if len(c.names) > 0 {
		u.ExpressionAttributeNames = c.names
	}
	return types.TransactWriteItem{Update: u}
}
