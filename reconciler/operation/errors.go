package operation

import (
	"errors"
	"fmt"
	"time"

	"github.com/nodewright/nodewright/reconciler/backend"
)

// StallError halts the operation: a person must act (spec.action Resume
// or Abort in git). It carries the reason set on the Stalled condition
// and the audit record.
type StallError struct {
	Reason  string
	Message string
}

func (e *StallError) Error() string { return e.Reason + ": " + e.Message }

// Stall returns a StallError.
func Stall(reason, format string, args ...any) error {
	return &StallError{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// WaitError is not a failure: the step cannot go on yet (a gate blocks,
// a task runs, a sync is under way) and is looked at again after After
// or when a watched object changes.
type WaitError struct {
	After   time.Duration
	Reason  string
	Message string
}

func (e *WaitError) Error() string { return e.Reason + ": " + e.Message }

// Wait returns a WaitError.
func Wait(after time.Duration, reason, format string, args ...any) error {
	return &WaitError{After: after, Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// Class is how the skeleton treats a step's error.
type Class int

// The classes.
const (
	// Transient errors are retried with backoff, up to the kind's bound,
	// then the operation halts with RetriesExhausted.
	Transient Class = iota
	// Stalling errors halt the operation at once.
	Stalling
	// Waiting errors requeue after a delay and are not failures.
	Waiting
)

// Outcome is a step's error as the skeleton acts on it, classified once
// by Classify: the class, and for a stall or a wait its reason, message
// and delay, read from the StallError or WaitError wherever it sits in
// the error's chain.
type Outcome struct {
	Class Class
	// Reason and Message are the stall's or the wait's; for a transient
	// error Reason is empty and Message is the error's text.
	Reason  string
	Message string
	// After is how soon a waiting step looks again (0: the poll interval).
	After time.Duration
	// Err is the error classified.
	Err error
}

// Classify is the one place a step's error is classified. A StallError
// or WaitError wrapped by fmt.Errorf("...: %w") classifies exactly as the
// bare one; a stall anywhere in the chain wins over a wait. A backend's
// *backend.NotFoundError or *backend.RefusedError stalls (reasons
// backend.ReasonNotFound and backend.ReasonRefused): no retry changes
// them. Every other error, a *backend.TransientError among them, is
// transient.
func Classify(err error) Outcome {
	var stall *StallError
	var wait *WaitError
	var notFound *backend.NotFoundError
	var refused *backend.RefusedError
	switch {
	case errors.As(err, &stall):
		return Outcome{Class: Stalling, Reason: stall.Reason, Message: stall.Message, Err: err}
	case errors.As(err, &notFound):
		return Outcome{Class: Stalling, Reason: backend.ReasonNotFound, Message: err.Error() + "; nothing more was changed", Err: err}
	case errors.As(err, &refused):
		return Outcome{Class: Stalling, Reason: backend.ReasonRefused, Message: err.Error() + "; nothing more was changed", Err: err}
	case errors.As(err, &wait):
		return Outcome{Class: Waiting, Reason: wait.Reason, Message: wait.Message, After: wait.After, Err: err}
	}
	o := Outcome{Class: Transient, Err: err}
	if err != nil {
		o.Message = err.Error()
	}
	return o
}
