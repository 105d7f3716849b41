package phase

import (
	"fmt"
	"slices"
	"sort"
)

// Phase is a state of an operation's state machine.
type Phase string

// Phases every kind shares. Each kind adds its own between them.
const (
	// Pending: applied from git, not yet looked at. May be followed by
	// AwaitingApproval.
	Pending Phase = "Pending"
	// AwaitingApproval: waits for the admission gates (approvals,
	// freshness). May be followed by the kind's first working phase or
	// Aborted.
	AwaitingApproval Phase = "AwaitingApproval"
	// Halted: a step failed or ran out of retries; a person must act with
	// spec.action Resume (back to the phase it halted in) or Abort.
	Halted Phase = "Halted"
	// Succeeded: done and verified. Terminal.
	Succeeded Phase = "Succeeded"
	// Aborted: a person aborted it; steps already done stay done. Terminal.
	Aborted Phase = "Aborted"
)

// Table is one kind's state machine: the allowed transitions and the
// terminal phases.
type Table struct {
	// Kind names the operation kind the table belongs to.
	Kind string
	// Initial is the phase a new operation starts in.
	Initial Phase
	// Terminal phases end the operation.
	Terminal []Phase
	// Next lists, for each non-terminal phase, the phases that may follow.
	Next map[Phase][]Phase
	// Idle phases change nothing on the site while the operation is in
	// them (not yet started, waiting for approval, halted for a person):
	// there it is not in flight for other operations, and it may be
	// cleaned up when removed from git or deleted. Every other
	// non-terminal phase is in flight and runs on to an idle or terminal
	// one first.
	Idle []Phase
}

// IsIdle reports whether an operation in p changes nothing now: p is one
// of the table's Idle phases, or "" (applied, never reconciled).
func (t *Table) IsIdle(p Phase) bool { return p == "" || slices.Contains(t.Idle, p) }

// InFlight reports whether an operation in p may be changing the site:
// neither idle nor ended.
func (t *Table) InFlight(p Phase) bool { return !t.IsIdle(p) && !t.IsTerminal(p) }

// SafeToLeave reports whether an operation in p may be cleaned up now:
// it is idle or has ended.
func (t *Table) SafeToLeave(p Phase) bool { return !t.InFlight(p) }

// IsTerminal reports whether p ends the operation.
func (t *Table) IsTerminal(p Phase) bool { return slices.Contains(t.Terminal, p) }

// Allowed reports whether the table permits from → to.
func (t *Table) Allowed(from, to Phase) bool {
	return slices.Contains(t.Next[from], to)
}

// Known reports whether p is a phase of the table.
func (t *Table) Known(p Phase) bool {
	_, ok := t.Next[p]
	return ok || t.IsTerminal(p)
}

// Phases returns every phase of the table, sorted.
func (t *Table) Phases() []Phase {
	var out []Phase
	for p := range t.Next {
		out = append(out, p)
	}
	out = append(out, t.Terminal...)
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return slices.Compact(out)
}

// Transitions returns every allowed (from, to) pair, sorted.
func (t *Table) Transitions() [][2]Phase {
	var out [][2]Phase
	for from, tos := range t.Next {
		for _, to := range tos {
			out = append(out, [2]Phase{from, to})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i][0] != out[j][0] {
			return out[i][0] < out[j][0]
		}
		return out[i][1] < out[j][1]
	})
	return out
}

// Validate checks the table's invariants: the initial phase is known,
// idle phases are non-terminal phases of the table, no terminal phase
// has successors, every successor is a phase of the table,
// and every non-terminal phase can reach a terminal one.
func (t *Table) Validate() error {
	if !t.Known(t.Initial) {
		return fmt.Errorf("%s: initial phase %s is not in the table", t.Kind, t.Initial)
	}
	for _, p := range t.Idle {
		if _, ok := t.Next[p]; !ok {
			return fmt.Errorf("%s: idle phase %s is not a non-terminal phase of the table", t.Kind, p)
		}
	}
	for _, p := range t.Terminal {
		if len(t.Next[p]) > 0 {
			return fmt.Errorf("%s: terminal phase %s has successors %v", t.Kind, p, t.Next[p])
		}
	}
	for from, tos := range t.Next {
		for _, to := range tos {
			if !t.Known(to) {
				return fmt.Errorf("%s: %s → %s: %s is not in the table", t.Kind, from, to, to)
			}
			if to == from {
				return fmt.Errorf("%s: %s → %s loops on itself; staying in a phase is not a transition", t.Kind, from, to)
			}
		}
	}
	for _, p := range t.Phases() {
		if !t.reachesTerminal(p) {
			return fmt.Errorf("%s: phase %s can never reach a terminal phase", t.Kind, p)
		}
	}
	return nil
}

func (t *Table) reachesTerminal(start Phase) bool {
	seen := map[Phase]bool{start: true}
	queue := []Phase{start}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		if t.IsTerminal(p) {
			return true
		}
		for _, n := range t.Next[p] {
			if !seen[n] {
				seen[n] = true
				queue = append(queue, n)
			}
		}
	}
	return false
}
