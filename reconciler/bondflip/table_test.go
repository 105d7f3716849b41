package bondflip

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/phase"
)

func TestTableIsValid(t *testing.T) {
	require.NoError(t, Table.Validate())
	for _, p := range Table.Phases() {
		if Table.IsTerminal(p) || p == phase.Halted {
			continue
		}
		_, ok := Kind.Steps[p]
		assert.True(t, ok, "phase %s has a step", p)
		assert.True(t, Table.Allowed(p, phase.Halted) || p == phase.Pending || p == phase.AwaitingApproval, "phase %s can halt", p)
	}
	for p := range Kind.Steps {
		assert.True(t, Table.Known(p), "step for unknown phase %s", p)
	}
}

func TestWaves(t *testing.T) {
	for _, tc := range []struct {
		nodes []string
		max   int
		want  [][]string
	}{
		{[]string{"a", "b", "c"}, 1, [][]string{{"a"}, {"b"}, {"c"}}},
		{[]string{"a", "b", "c"}, 2, [][]string{{"a", "b"}, {"c"}}},
		{[]string{"a", "b", "c"}, 5, [][]string{{"a", "b", "c"}}},
		{[]string{"a", "b"}, 0, [][]string{{"a"}, {"b"}}},
		{nil, 1, nil},
	} {
		assert.Equal(t, tc.want, Waves(tc.nodes, tc.max), "%v by %d", tc.nodes, tc.max)
	}
}
