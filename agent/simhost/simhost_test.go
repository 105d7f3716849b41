package simhost_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/simhost"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestSetBondModeJournals(t *testing.T) {
	ctx := context.Background()
	h := simhost.New(v1.Bond{Name: "bond0", Mode: v1.BondActiveBackup, Slaves: []string{"eth0", "eth1"}})
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h.SetClock(func() time.Time { return at })

	require.NoError(t, h.SetBondMode(ctx, "bond0", v1.Bond8023AD))
	mode, err := h.BondMode(ctx, "bond0")
	require.NoError(t, err)
	assert.Equal(t, v1.Bond8023AD, mode)
	assert.Equal(t, []simhost.Entry{{Time: at, Bond: "bond0", From: v1.BondActiveBackup, To: v1.Bond8023AD}}, h.Journal())

	assert.ErrorContains(t, h.SetBondMode(ctx, "bond9", v1.Bond8023AD), `no bond "bond9"`)
	assert.ErrorContains(t, h.SetBondMode(ctx, "bond0", "mode4"), "not a bond mode")
	_, err = h.BondMode(ctx, "bond9")
	assert.Error(t, err)
	assert.Len(t, h.Journal(), 1, "failed calls are not journaled")
}

func TestFaults(t *testing.T) {
	ctx := context.Background()
	h := simhost.New(v1.Bond{Name: "bond0", Mode: v1.BondActiveBackup})
	boom := errors.New("boom")

	h.FailSet(boom)
	assert.ErrorIs(t, h.SetBondMode(ctx, "bond0", v1.Bond8023AD), boom)
	mode, _ := h.Mode("bond0")
	assert.Equal(t, v1.BondActiveBackup, mode, "a failed set changes nothing")
	h.FailSet(nil)
	assert.NoError(t, h.SetBondMode(ctx, "bond0", v1.Bond8023AD))

	gw := agent.Probe{Kind: agent.ProbeGateway, Target: "10.0.0.1"}
	peer := agent.Probe{Kind: agent.ProbePeer, Target: "node-b"}
	assert.NoError(t, h.Probe(ctx, gw))
	h.FailProbe(agent.ProbeGateway, "10.0.0.1", boom)
	assert.ErrorIs(t, h.Probe(ctx, gw), boom)
	assert.NoError(t, h.Probe(ctx, agent.Probe{Kind: agent.ProbeGateway, Target: "10.0.0.2"}))
	h.FailProbe(agent.ProbePeer, "", boom)
	assert.ErrorIs(t, h.Probe(ctx, peer), boom, "an empty target fails every probe of the kind")
	h.FailProbe(agent.ProbeGateway, "10.0.0.1", nil)
	assert.NoError(t, h.Probe(ctx, gw))
	h.FailSet(boom)
	h.ClearFaults()
	assert.NoError(t, h.Probe(ctx, peer))
	assert.NoError(t, h.SetBondMode(ctx, "bond0", v1.BondActiveBackup))
}

func TestHoldSets(t *testing.T) {
	h := simhost.New(v1.Bond{Name: "bond0", Mode: v1.BondActiveBackup})
	hold := h.HoldSets()

	// A held call whose context ends changes nothing.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.SetBondMode(ctx, "bond0", v1.Bond8023AD) }()
	<-hold.Entered()
	cancel()
	assert.ErrorIs(t, <-done, context.Canceled)
	assert.Empty(t, h.Journal())

	// A released hold lets calls through.
	go func() { done <- h.SetBondMode(context.Background(), "bond0", v1.Bond8023AD) }()
	hold.Release()
	assert.NoError(t, <-done)
	assert.Len(t, h.Journal(), 1)
	hold.Release()
}

func TestFromProfile(t *testing.T) {
	p := &v1.EdgeProfile{Spec: v1.EdgeProfileSpec{Site: "edge-1", Nodes: []v1.Node{
		{Name: "n1", Bonds: []v1.Bond{{Name: "bond0", Mode: v1.BondActiveBackup, Slaves: []string{"eno1", "eno2"}}}},
		{Name: "n2"},
	}}}
	h, err := simhost.FromProfile(p, "n1")
	require.NoError(t, err)
	bonds, err := h.Bonds(context.Background())
	require.NoError(t, err)
	assert.Equal(t, p.Spec.Nodes[0].Bonds, bonds)
	bonds[0].Slaves[0] = "changed"
	assert.Equal(t, "eno1", p.Spec.Nodes[0].Bonds[0].Slaves[0], "the host keeps its own copy")

	_, err = simhost.FromProfile(p, "n3")
	assert.ErrorContains(t, err, "no node n3")
}

func TestConcurrentUse(t *testing.T) {
	h := simhost.New(v1.Bond{Name: "bond0", Mode: v1.BondActiveBackup})
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			mode := v1.BondModes[i%len(v1.BondModes)]
			for range 50 {
				_ = h.SetBondMode(ctx, "bond0", mode)
				_, _ = h.Bonds(ctx)
				_ = h.Probe(ctx, agent.Probe{Kind: agent.ProbePeer, Target: "x"})
			}
		})
	}
	wg.Wait()
	assert.Len(t, h.Journal(), 400)
}
