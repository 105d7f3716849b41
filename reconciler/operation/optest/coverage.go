package optest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Coverage checks a kind's scenarios against its transition table: each
// transition a scenario took must be in the table, and when every
// scenario ran, the scenarios must have taken every transition of it.
type Coverage struct {
	table *phase.Table
	seen  map[[2]phase.Phase]bool
	ran   int
}

// NewCoverage returns the check of scenarios against table.
func NewCoverage(table *phase.Table) *Coverage {
	return &Coverage{table: table, seen: map[[2]phase.Phase]bool{}}
}

// Took checks one scenario, at its end: each transition of path is in the
// table (the first, from "", enters the table's initial phase) and audit
// records no transition the skeleton refused. It counts the scenario as
// run; a scenario that stopped early is not counted.
func (c *Coverage) Took(t *testing.T, path [][2]phase.Phase, audit []v1.AuditRecord) {
	t.Helper()
	for _, tr := range path {
		if tr[0] == "" {
			assert.Equal(t, c.table.Initial, tr[1])
			continue
		}
		assert.True(t, c.table.Allowed(tr[0], tr[1]), "%s → %s is not in the table", tr[0], tr[1])
		c.seen[tr] = true
	}
	for _, r := range audit {
		assert.NotEqual(t, operation.ReasonTransitionNotAllowed, r.Reason, "%s → %s: %s", r.From, r.To, r.Message)
	}
	c.ran++
}

// Complete checks, when all of the scenarios (n of them) ran, that they
// took every transition of the table. When fewer ran (filtered with -run,
// or a scenario failed) coverage is not known and it checks nothing.
func (c *Coverage) Complete(t *testing.T, n int) {
	t.Helper()
	if c.ran < n {
		return
	}
	for _, tr := range c.table.Transitions() {
		assert.True(t, c.seen[tr], "no scenario takes %s → %s", tr[0], tr[1])
	}
}

// CheckKind checks that a kind's table is valid and agrees with its steps:
// every step is for a known phase that is not terminal, every working
// phase (neither terminal nor Halted) has a step, and the first phase
// follows AwaitingApproval.
func CheckKind(t *testing.T, k *operation.Kind) {
	t.Helper()
	require.NoError(t, k.Table.Validate())
	for p := range k.Steps {
		assert.True(t, k.Table.Known(p), "step for unknown phase %s", p)
		assert.False(t, k.Table.IsTerminal(p), "terminal phase %s has a step", p)
	}
	for _, p := range k.Table.Phases() {
		if !k.Table.IsTerminal(p) && p != phase.Halted {
			assert.Contains(t, k.Steps, p, "phase %s has no step", p)
		}
	}
	assert.True(t, k.Table.Allowed(phase.AwaitingApproval, k.First))
	// The shared phases before the first step and Halted change nothing;
	// every phase a step of the kind works in is in flight.
	for _, p := range []phase.Phase{phase.Pending, phase.AwaitingApproval, phase.Halted} {
		assert.True(t, k.Table.IsIdle(p), "%s is not idle in the %s table", p, k.Name)
	}
	assert.True(t, k.Table.InFlight(k.First), "the first working phase %s is not in flight", k.First)
}
