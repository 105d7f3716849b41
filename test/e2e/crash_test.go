package e2e_test

import (
	"context"
	"fmt"
	"slices"
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
	// passed are the crash points reached, in order.
	passed []string
	points chan string
}

func newCrasher() *crasher {
	return &crasher{seen: map[string]int{}, crashed: map[string]bool{}, points: make(chan string)}
}

// hit is called at a crash point by the manager that stopping belongs to:
// the first time a point is reached it reports it to the test and blocks
// until the test stops that manager, then fails the reconcile as a crash
// would. It never blocks past the manager's stop: a point reached while
// the test is stopping the manager (or no longer listening, as when the
// operation has ended) returns at once, as a crash there would. A hook
// that waited for an answer nobody gives would hold the reconcile, and
// with it the manager's stop, for its whole graceful shutdown timeout.
func (c *crasher) hit(stopping <-chan struct{}, point string) error {
	c.mu.Lock()
	if c.crashed[point] {
		c.mu.Unlock()
		return nil
	}
	c.crashed[point] = true
	c.passed = append(c.passed, point)
	c.mu.Unlock()
	select {
	case c.points <- point:
		<-stopping
	case <-stopping:
	}
	return stack.ErrStop
}

// hooks are the crash points of one manager, which the test stops by
// closing stopping.
func (c *crasher) hooks(stopping <-chan struct{}) operation.Hooks {
	return operation.Hooks{
		AfterTransition: func(kind, name string, from, to phase.Phase) error {
			c.mu.Lock()
			key := fmt.Sprintf("%s/%s %s→%s", kind, name, from, to)
			c.seen[key]++
			point := fmt.Sprintf("%s #%d", key, c.seen[key])
			c.mu.Unlock()
			return c.hit(stopping, point)
		},
		AfterTaskCreated: func(kind, name, task string) error {
			return c.hit(stopping, "task-created")
		},
	}
}

// crashing is a manager run with a crasher's hooks.
type crashing struct {
	m        *stack.Manager
	stopping chan struct{}
}

// stop cancels the manager, then lets its blocked hooks fail their
// reconciles, and waits for it to end.
func (r crashing) stop() error {
	r.m.Cancel()
	close(r.stopping)
	return r.m.Wait()
}

// runWithCrashes runs the stack's reconciler, restarting it at every
// crash point, until obj reaches a terminal phase; it returns the crash
// points passed.
func runWithCrashes(t *testing.T, s *stack.Stack, obj v1.Operation, name string, terminal ...string) []string {
	t.Helper()
	ctx := context.Background()
	c := newCrasher()
	start := func() crashing {
		r := crashing{stopping: make(chan struct{})}
		var err error
		r.m, err = s.StartReconciler(func(o *reconciler.Options) { o.Hooks = c.hooks(r.stopping) })
		require.NoError(t, err)
		return r
	}
	r := start()
	done := make(chan error, 1)
	go func() { done <- s.WaitPhase(ctx, obj, name, 3*time.Minute, terminal...) }()
	for {
		select {
		case <-c.points:
			// A crash: the manager stops well inside its graceful
			// shutdown timeout, with no runnable left behind.
			require.NoError(t, r.stop())
			r = start()
		case err := <-done:
			require.NoError(t, err)
			require.NoError(t, r.stop())
			c.mu.Lock()
			defer c.mu.Unlock()
			return slices.Clone(c.passed)
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
	// A crash after each of the 16 transitions and one task creation,
	// less the few a manager being stopped wrote itself: its status
	// update can land on the API server and still return the canceled
	// context, and then its hook never runs (as in kinds_test.go). The
	// walk below holds either way: each transition exactly once.
	// (bondFlipWalk's 17 phases are 16 transitions.)
	t.Logf("%d crash points of %d", len(points), len(bondFlipWalk))
	assert.GreaterOrEqual(t, len(points), len(bondFlipWalk)-2, "a crash after (nearly) every transition")

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
