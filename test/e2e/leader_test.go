package e2e_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

func TestOnlyTheLeaderActsAndHandsOverWithoutRepeating(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)

	var mu sync.Mutex
	var actors []string
	firstFlip := make(chan struct{})
	var once sync.Once
	files := map[string]string{}
	replica := func(name string) *stack.Manager {
		// Each replica is its own pod with its own audit file.
		files[name] = filepath.Join(t.TempDir(), "audit-"+name+".jsonl")
		s.AuditFile = files[name]
		m, err := s.StartReconciler(func(o *reconciler.Options) {
			o.LeaderElection, o.HoldLeaseOnStop = true, true
			o.LeaseDuration, o.RenewDeadline, o.RetryPeriod = 2*time.Second, 1500*time.Millisecond, 200*time.Millisecond
			o.Hooks = operation.Hooks{AfterTransition: func(_, _ string, from, to phase.Phase) error {
				mu.Lock()
				actors = append(actors, name)
				mu.Unlock()
				if to == "NodeDone" {
					once.Do(func() { close(firstFlip) })
				}
				return nil
			}}
		})
		require.NoError(t, err)
		return m
	}
	a := replica("a")
	b := replica("b")

	select {
	case <-firstFlip:
	case <-time.After(time.Minute):
		t.Fatal("no node was flipped within a minute")
	}
	mu.Lock()
	leader := actors[0]
	for _, who := range actors {
		require.Equal(t, leader, who, "only the leader acts")
	}
	mu.Unlock()
	// Kill the leader: it stops without releasing its Lease.
	killed, survivor := a, "b"
	if leader == "b" {
		killed, survivor = b, "a"
	}
	killed.Cancel()
	_ = killed.Wait()
	mu.Lock()
	before := len(actors)
	mu.Unlock()

	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", time.Minute, "Succeeded", "Halted"))
	require.Equal(t, "Succeeded", plan.Status.Phase)
	mu.Lock()
	for _, who := range actors[before:] {
		assert.Equal(t, survivor, who, "after the handover only the new leader acts")
	}
	assert.Greater(t, len(actors), before, "the new leader took over")
	mu.Unlock()
	for _, n := range fleet.Nodes {
		assert.Len(t, s.Hosts[n].Journal(), 1, "node %s flipped exactly once across the handover", n)
	}
	assert.Len(t, plan.Status.Audit, 16, "no transition repeated")
	s.AuditFile = files[survivor]
	assertChain(t, s)
}
