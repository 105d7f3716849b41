package journal

import (
	"context"
	"errors"
	"fmt"
	"time"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Who closes an entry, for Entry.ClosedBy.
const (
	ByAgent    = "agent"
	ByWatchdog = "watchdog"
)

// Change is what Apply journals before it runs.
type Change struct {
	// Task asks for the change.
	Task Task
	// Bond, FromMode and ToMode are the change.
	Bond     string
	FromMode v1.BondMode
	ToMode   v1.BondMode
	// Deadline is when the change is undone unless committed.
	Deadline time.Time
}

// Apply journals the change and makes it: under the journal's lock it
// snapshots the bond, writes the open entry (fsynced) and only then runs
// change; when change returns nil it snapshots the bond again and records
// the entry as applied. When change fails the entry stays open, for Revert
// (the bond may be anywhere between its two states). A task that has an
// entry already gets ErrExists and nothing runs.
func (j *Journal) Apply(ctx context.Context, h Host, c Change, change func(context.Context) error) error {
	unlock, err := j.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	old, err := j.Get(c.Task.UID)
	if err != nil {
		return err
	}
	if old != nil {
		return fmt.Errorf("journal: task %s: %w (state %s)", c.Task, ErrExists, old.State)
	}
	pre, err := h.Snapshot(ctx, c.Bond)
	if err != nil {
		return fmt.Errorf("snapshot of %s before the change: %w", c.Bond, err)
	}
	e := &Entry{Version: Version, Task: c.Task, Bond: c.Bond, FromMode: c.FromMode, ToMode: c.ToMode,
		Deadline: c.Deadline.UTC(), State: StateOpen, Opened: j.clock().UTC(), Pre: pre}
	if err := j.write(e); err != nil {
		return err
	}
	if err := change(ctx); err != nil {
		return err
	}
	post, err := h.Snapshot(context.WithoutCancel(ctx), c.Bond)
	if err != nil {
		return fmt.Errorf("snapshot of %s after the change: %w", c.Bond, err)
	}
	e.Post = post
	if err := e.move(StateApplied, j.clock(), "", ""); err != nil {
		return err
	}
	return j.write(e)
}

// Outcome is what Revert found and did.
type Outcome string

// The outcomes of Revert.
const (
	// Reverted: the bond was put back to its state before the change.
	Reverted Outcome = "Reverted"
	// AlreadyAsBefore: the bond was as before the change already; nothing
	// was sent. The entry is reverted all the same.
	AlreadyAsBefore Outcome = "AlreadyAsBefore"
	// AlreadyReverted: the entry was reverted before (by the agent or the
	// watchdog); nothing was touched.
	AlreadyReverted Outcome = "AlreadyReverted"
	// ChangedSince: the bond matches neither state (someone changed it by
	// hand); it is left alone and the entry abandoned.
	ChangedSince Outcome = "ChangedSince"
	// NotReverted: the entry was committed or abandoned before; nothing
	// was touched.
	NotReverted Outcome = "NotReverted"
	// NoEntry: the task has no entry, so nothing was changed for it.
	NoEntry Outcome = "NoEntry"
)

// Revert undoes the task's change unless its entry is terminal: under the
// lock, the Host restores the bond (checking it against the entry's Post
// when the change had finished) and the entry is closed as reverted, or
// abandoned when the bond was changed by someone else since. A failed
// restore leaves the entry as it was, for the next try.
func (j *Journal) Revert(ctx context.Context, h Host, uid, by, reason string) (Outcome, *Entry, error) {
	unlock, err := j.lock(ctx)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	e, err := j.Get(uid)
	if err != nil || e == nil {
		return NoEntry, nil, err
	}
	return j.revertLocked(ctx, h, e, by, reason)
}

func (j *Journal) revertLocked(ctx context.Context, h Host, e *Entry, by, reason string) (Outcome, *Entry, error) {
	switch e.State {
	case StateReverted:
		return AlreadyReverted, e, nil
	case StateCommitted, StateAbandoned:
		return NotReverted, e, nil
	}
	var post []byte
	if e.State == StateApplied {
		post = e.Post
	}
	changed, err := h.Restore(ctx, e.Pre, post)
	outcome := Reverted
	switch {
	case errors.Is(err, ErrChangedSince):
		if merr := e.move(StateAbandoned, j.clock(), by, fmt.Sprintf("%s; not reverted: %v", reason, err)); merr != nil {
			return "", e, merr
		}
		if werr := j.write(e); werr != nil {
			return "", e, werr
		}
		return ChangedSince, e, nil
	case err != nil:
		return "", e, fmt.Errorf("restoring %s: %w", e.Bond, err)
	case !changed:
		outcome = AlreadyAsBefore
		reason += "; the bond was as before the change already"
	}
	if err := e.move(StateReverted, j.clock(), by, reason); err != nil {
		return "", e, err
	}
	return outcome, e, j.write(e)
}

// Commit records that the task's change stands: its probes passed and
// its success was reported. It returns the entry; an entry that is not
// applied (the watchdog reverted it meanwhile) is returned unchanged with
// an error saying so.
func (j *Journal) Commit(ctx context.Context, uid, reason string) (*Entry, error) {
	unlock, err := j.lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	e, err := j.Get(uid)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("journal: task %s has no entry to commit", uid)
	}
	if e.State != StateApplied {
		return e, fmt.Errorf("journal: the entry of task %s is %s, not applied: it cannot be committed", e.Task, e.State)
	}
	if err := e.move(StateCommitted, j.clock(), ByAgent, reason); err != nil {
		return e, err
	}
	return e, j.write(e)
}
