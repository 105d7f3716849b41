package gates

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The chains are pinned: a gate dropped from or added to one is a change
// this test makes someone look at.
func TestChainsArePinned(t *testing.T) {
	assert.Equal(t, []string{"approvals", "freshness"}, Admission.Gates())
	assert.Equal(t, []string{"pause", "window", "health", "blast-radius"}, Step.Gates())
	assert.Equal(t, append(Admission.Gates(), Step.Gates()...), All.Gates())
	assert.Equal(t, []string{"node-storage"}, Node.Gates())
}

func TestBadChainsAreConstructionErrors(t *testing.T) {
	for name, gs := range map[string][]Gate{
		"no gates":      nil,
		"gate twice":    {PauseGate, WindowGate, PauseGate},
		"gate no check": {{Name: "typo"}},
		"gate no name":  {{Check: checkPause}},
	} {
		_, err := NewChain("test", gs...)
		assert.Error(t, err, name)
	}
	assert.Panics(t, func() { MustChain("test") })
}

// Nothing passes where no chain was configured.
func TestZeroChainAllowsNothing(t *testing.T) {
	d := Chain{}.Evaluate(base(t))
	assert.False(t, d.Allowed)
	require.Len(t, d.Verdicts, 1)
	assert.Equal(t, InputMissing, d.Verdicts[0].Reason)
}

// A gate run without an input it needs blocks with InputMissing instead
// of passing or dereferencing nil: the approvals gate on a path that
// gathers no trust policy, the window gate without a profile.
func TestGateWithoutItsInputBlocks(t *testing.T) {
	in := base(t)
	in.Policy = nil
	c := MustChain("step with approvals", PauseGate, ApprovalsGate)
	d := c.Evaluate(in)
	assert.False(t, d.Allowed)
	v := verdict(d, "approvals")
	assert.Equal(t, InputMissing, v.Reason)
	assert.Contains(t, v.Message, "trust policy")
	assert.True(t, verdict(d, "pause").Allowed)

	in = base(t)
	in.Profile = nil
	for _, g := range []string{"pause", "window", "health"} {
		v := verdict(Step.Evaluate(in), g)
		assert.Equal(t, InputMissing, v.Reason, g)
	}
}
