package operation

import (
	"errors"
	"fmt"
	"time"
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

// Classify is the one place a step's error is classified.
func Classify(err error) Class {
	var stall *StallError
	var wait *WaitError
	switch {
	case errors.As(err, &stall):
		return Stalling
	case errors.As(err, &wait):
		return Waiting
	}
	return Transient
}
