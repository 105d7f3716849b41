package reconciler_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/bondflip"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

// crasher stops the reconciler right after every transition (the first
// time each is seen) and right after the first NodeTask is created,
// before the operation's status records it.
type crasher struct {
	mu      sync.Mutex
	seen    map[string]int
	crashed map[string]bool
	points  chan string
	release chan struct{}
}

func newCrasher() *crasher {
	return &crasher{seen: map[string]int{}, crashed: map[string]bool{}, points: make(chan string)}
}

// hit is called at a crash point: the first time a point is reached it
// reports it to the test and blocks until the test has cancelled the
// manager, then fails the reconcile as a crash would.
func (c *crasher) hit(point string) error {
	c.mu.Lock()
	if c.crashed[point] {
		c.mu.Unlock()
		return nil
	}
	c.crashed[point] = true
	release := make(chan struct{})
	c.release = release
	c.mu.Unlock()
	c.points <- point
	<-release
	return stack.ErrStop
}

func (c *crasher) hooks() operation.Hooks {
	return operation.Hooks{
		AfterTransition: func(kind, name string, from, to phase.Phase) error {
			c.mu.Lock()
			key := fmt.Sprintf("%s/%s %s→%s", kind, name, from, to)
			c.seen[key]++
			point := fmt.Sprintf("%s #%d", key, c.seen[key])
			c.mu.Unlock()
			return c.hit(point)
		},
		AfterTaskCreated: func(kind, name, task string) error {
			return c.hit("task-created")
		},
	}
}

// releaseCrash lets the blocked reconcile return.
func (c *crasher) releaseCrash() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.release)
}

// runWithCrashes runs the stack's reconciler, restarting it at every
// crash point, until obj reaches a terminal phase; it returns the crash
// points passed.
func runWithCrashes(t *testing.T, s *stack.Stack, obj v1.Operation, name string, terminal ...string) []string {
	t.Helper()
	ctx := context.Background()
	c := newCrasher()
	var points []string
	start := func() *stack.Manager {
		m, err := s.StartReconciler(func(o *reconciler.Options) { o.Hooks = c.hooks() })
		require.NoError(t, err)
		return m
	}
	m := start()
	done := make(chan error, 1)
	go func() { done <- s.WaitPhase(ctx, obj, name, 3*time.Minute, terminal...) }()
	for {
		select {
		case p := <-c.points:
			points = append(points, p)
			m.Cancel()
			c.releaseCrash()
			_ = m.Wait()
			m = start()
		case err := <-done:
			require.NoError(t, err)
			require.NoError(t, m.Stop())
			return points
		}
	}
}

func TestBondFlipCrashAfterEveryTransition(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, nil)
	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)

	plan := &v1.BondModeFlipPlan{}
	points := runWithCrashes(t, s, plan, "bond0-to-lacp", "Succeeded", "Halted", "Aborted")
	require.Equal(t, "Succeeded", plan.Status.Phase, "the same terminal phase as an uninterrupted run")
	assert.Contains(t, points, "task-created", "one crash fell between creating a NodeTask and recording it")
	assert.GreaterOrEqual(t, len(points), 17, "a crash after each of the 16 transitions and one task creation")

	// The same transitions as the uninterrupted run, each exactly once.
	assert.Equal(t, bondFlipWalk, walk(plan.Status.Audit))
	assertTransitionsRecorded(t, bondflip.Table, plan.Status.Audit)
	for _, n := range fleet.Nodes {
		assert.Len(t, s.Hosts[n].Journal(), 1, "node %s's step executed exactly once", n)
	}
	tasks, err := s.Tasks(ctx)
	require.NoError(t, err)
	assert.Len(t, tasks, 3, "one NodeTask per node step")
	assertChain(t, s)
}
