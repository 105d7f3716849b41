package phase

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestValidateCatchesBrokenTables(t *testing.T) {
	for _, tc := range []struct {
		name  string
		table Table
		want  string
	}{
		{"valid", Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Next: map[Phase][]Phase{Pending: {Succeeded}}}, ""},
		{"unknown initial", Table{Kind: "K", Initial: "Nowhere", Terminal: []Phase{Succeeded}, Next: map[Phase][]Phase{Pending: {Succeeded}}}, "initial phase Nowhere is not in the table"},
		{"terminal with successors", Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Next: map[Phase][]Phase{Pending: {Succeeded}, Succeeded: {Pending}}}, "terminal phase Succeeded has successors"},
		{"successor not in table", Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Next: map[Phase][]Phase{Pending: {"Elsewhere"}}}, "Elsewhere is not in the table"},
		{"self loop", Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Next: map[Phase][]Phase{Pending: {Pending, Succeeded}}}, "loops on itself"},
		{"idle phase not in table", Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Idle: []Phase{Halted}, Next: map[Phase][]Phase{Pending: {Succeeded}}}, "idle phase Halted is not a non-terminal phase"},
		{"terminal idle phase", Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Idle: []Phase{Succeeded}, Next: map[Phase][]Phase{Pending: {Succeeded}}}, "idle phase Succeeded"},
		{"trap", Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Next: map[Phase][]Phase{Pending: {"A", Succeeded}, "A": {"B"}, "B": {"A"}}}, "can never reach a terminal phase"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.table.Validate()
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tc.want)
		})
	}
}

func TestTableQueries(t *testing.T) {
	tb := &Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded, Aborted}, Next: map[Phase][]Phase{Pending: {Halted, Succeeded}, Halted: {Pending, Aborted}}}
	assert.True(t, tb.Allowed(Pending, Halted))
	assert.False(t, tb.Allowed(Pending, Aborted))
	assert.True(t, tb.IsTerminal(Aborted))
	assert.False(t, tb.IsTerminal(Halted))
	assert.Equal(t, []Phase{Aborted, Halted, Pending, Succeeded}, tb.Phases())
	assert.Equal(t, [][2]Phase{{Halted, Aborted}, {Halted, Pending}, {Pending, Halted}, {Pending, Succeeded}}, tb.Transitions())
}

func TestIdleAndInFlightComeFromTheTable(t *testing.T) {
	tb := &Table{Kind: "K", Initial: Pending, Terminal: []Phase{Succeeded}, Idle: []Phase{Pending, Halted},
		Next: map[Phase][]Phase{Pending: {"Work", Succeeded}, "Work": {Halted, Succeeded}, Halted: {"Work"}}}
	for p, want := range map[Phase]bool{"": false, Pending: false, "Work": true, Halted: false, Succeeded: false} {
		assert.Equal(t, want, tb.InFlight(p), p)
		assert.Equal(t, !want, tb.SafeToLeave(p), p)
	}
	assert.True(t, tb.IsIdle(""))
	assert.False(t, tb.IsIdle(Succeeded), "an ended operation is not idle, it is done")
}
