package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"time"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Version is the entry format this package writes and reads.
const Version = 1

// MaxEntrySize bounds an entry file: a bond's snapshot is a few KiB.
const MaxEntrySize = 1 << 20

// State is where an entry is in its life.
type State string

// The states of an entry (see the package documentation).
const (
	StateOpen      State = "open"
	StateApplied   State = "applied"
	StateCommitted State = "committed"
	StateReverted  State = "reverted"
	StateAbandoned State = "abandoned"
)

// transitions is the only way an entry's state changes.
var transitions = map[State][]State{
	StateOpen:    {StateApplied, StateReverted, StateAbandoned},
	StateApplied: {StateCommitted, StateReverted, StateAbandoned},
}

// Terminal reports whether nothing more happens to an entry in state s.
func (s State) Terminal() bool {
	_, ok := transitions[s]
	return !ok
}

func (s State) known() bool {
	switch s {
	case StateOpen, StateApplied, StateCommitted, StateReverted, StateAbandoned:
		return true
	}
	return false
}

// canMove reports whether the table allows s → to.
func (s State) canMove(to State) bool { return slices.Contains(transitions[s], to) }

// Task names the NodeTask an entry belongs to.
type Task struct {
	// Namespace and Name are the task's.
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// UID is the task's metadata.uid: it names the entry's file.
	UID string `json:"uid"`
}

// String is namespace/name.
func (t Task) String() string { return t.Namespace + "/" + t.Name }

// Entry is one journalled change of one bond.
type Entry struct {
	// Version is the format (Version).
	Version int `json:"version"`
	// Task is the NodeTask that asked for the change.
	Task Task `json:"task"`
	// Bond is the bond changed.
	Bond string `json:"bond"`
	// FromMode and ToMode are the change asked for.
	FromMode v1.BondMode `json:"fromMode"`
	ToMode   v1.BondMode `json:"toMode"`
	// Deadline is when the change is undone unless committed.
	Deadline time.Time `json:"deadline"`
	// State is where the entry is.
	State State `json:"state"`
	// Opened is when the entry was written first.
	Opened time.Time `json:"opened"`
	// Pre is the bond's state before the change, as the Host snapshot it.
	Pre json.RawMessage `json:"pre"`
	// Post is the bond's state after the change (state applied and later).
	Post json.RawMessage `json:"post,omitempty"`
	// Closed is when the entry reached a terminal state, ClosedBy who
	// closed it ("agent", "watchdog") and Reason why.
	Closed   *time.Time `json:"closed,omitempty"`
	ClosedBy string     `json:"closedBy,omitempty"`
	Reason   string     `json:"reason,omitempty"`
}

var (
	// uidPattern is what a Kubernetes UID looks like; it is also a safe
	// file name.
	uidPattern  = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$`)
	bondPattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)
	// namePattern is a DNS-1123 subdomain, loosely (length and alphabet).
	namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

// check returns the first thing wrong with e, naming its field.
func (e *Entry) check() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...))
	}
	switch {
	case e.Version != Version:
		return bad("version", "%d is not %d, the only format this agent reads", e.Version, Version)
	case !uidPattern.MatchString(e.Task.UID):
		return bad("task.uid", "%q is not a Kubernetes UID", e.Task.UID)
	case !namePattern.MatchString(e.Task.Namespace) || len(e.Task.Namespace) > 63:
		return bad("task.namespace", "%q is not a namespace name", e.Task.Namespace)
	case !namePattern.MatchString(e.Task.Name):
		return bad("task.name", "%q is not an object name", e.Task.Name)
	case !bondPattern.MatchString(e.Bond):
		return bad("bond", "%q is not an interface name", e.Bond)
	case !slices.Contains(v1.BondModes, e.FromMode):
		return bad("fromMode", "%q is not a bond mode", e.FromMode)
	case !slices.Contains(v1.BondModes, e.ToMode):
		return bad("toMode", "%q is not a bond mode", e.ToMode)
	case e.Deadline.IsZero():
		return bad("deadline", "is not set")
	case e.Opened.IsZero():
		return bad("opened", "is not set")
	case !e.State.known():
		return bad("state", "%q is not one of open, applied, committed, reverted, abandoned", e.State)
	case !isObject(e.Pre):
		return bad("pre", "is not a snapshot (a JSON object)")
	case e.State != StateOpen && e.State != StateReverted && e.State != StateAbandoned && !isObject(e.Post):
		return bad("post", "is not a snapshot (a JSON object), which state %s needs", e.State)
	case e.State == StateOpen && len(e.Post) > 0:
		return bad("post", "is set in state open")
	case e.State.Terminal() && (e.Closed == nil || e.ClosedBy == ""):
		return bad("closed", "state %s needs closed and closedBy", e.State)
	case !e.State.Terminal() && (e.Closed != nil || e.ClosedBy != "" || e.Reason != ""):
		return bad("closed", "state %s has closed, closedBy or reason set", e.State)
	}
	return nil
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) >= 2 && raw[0] == '{' && json.Valid(raw)
}

// Decode reads one entry strictly: at most MaxEntrySize bytes, one JSON
// object with known fields only, every field checked. An error says what is
// wrong and where; a bad entry is never acted on.
func Decode(r io.Reader) (*Entry, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxEntrySize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrCorrupt, MaxEntrySize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	e := &Entry{}
	if err := dec.Decode(e); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the entry", ErrCorrupt)
	}
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return e, nil
}

// encode renders e as Decode reads it.
func (e *Entry) encode() ([]byte, error) {
	if err := e.check(); err != nil {
		return nil, fmt.Errorf("journal: refusing to write a bad entry for task %s: %w", e.Task, err)
	}
	data, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return nil, err
	}
	if len(data) > MaxEntrySize {
		return nil, fmt.Errorf("journal: the entry for task %s is %d bytes, more than %d", e.Task, len(data), MaxEntrySize)
	}
	return append(data, '\n'), nil
}

// move changes e's state by the transition table; a terminal state gets
// closed, by and reason.
func (e *Entry) move(to State, now time.Time, by, reason string) error {
	if !e.State.canMove(to) {
		return fmt.Errorf("journal: entry of task %s cannot go from %s to %s", e.Task, e.State, to)
	}
	e.State = to
	if to.Terminal() {
		t := now.UTC()
		e.Closed, e.ClosedBy, e.Reason = &t, by, reason
	}
	return nil
}
