package agent

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/action"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// memHost is a minimal Host for the executor's unit tests (package
// simhost imports this package, so these tests cannot use it).
type memHost struct {
	mu   sync.Mutex
	mode v1.BondMode
	sets []v1.BondMode
}

func (h *memHost) Bonds(context.Context) ([]v1.Bond, error) { return nil, nil }

func (h *memHost) BondMode(context.Context, string) (v1.BondMode, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mode, nil
}

func (h *memHost) SetBondMode(_ context.Context, _ string, mode v1.BondMode) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.mode = mode
	h.sets = append(h.sets, mode)
	return nil
}

func (h *memHost) Probe(context.Context, Probe) error { return nil }

func (h *memHost) state() (v1.BondMode, []v1.BondMode) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mode, append([]v1.BondMode(nil), h.sets...)
}

type attempt struct {
	phase v1.TaskPhase
	msg   string
}

// TestUnreportableSuccessReverts proves the dead-man switch: when the API
// server cannot be reached after a flip whose probes pass, the agent puts
// the bond back on its own at the deadline and keeps trying to report
// Reverted.
func TestUnreportableSuccessReverts(t *testing.T) {
	host := &memHost{mode: v1.BondActiveBackup}
	attempts := make(chan attempt, 1000)
	unreachable := errors.New("dial tcp 10.0.0.10:6443: connect: no route to host")
	r := &flipRun{
		host: host,
		now:  time.Now,
		f: action.FlipBond{
			Bond: "bond0", FromMode: v1.BondActiveBackup, ToMode: v1.Bond8023AD,
			RevertAfter: 500 * time.Millisecond, ProbeTimeout: time.Second, Gateway: "10.0.0.1",
		},
		report: func(_ context.Context, phase v1.TaskPhase, msg string) error {
			attempts <- attempt{phase, msg}
			return unreachable
		},
	}
	started := time.Now()
	r.setDeadman(started, started.Add(time.Hour))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.run(ctx) }()

	// The first attempts report Succeeded; once the deadline passes they
	// report Reverted, and the bond is back by then.
	sawSucceeded := false
	for a := range attempts {
		if a.phase == v1.TaskSucceeded {
			sawSucceeded = true
			continue
		}
		require.Equal(t, v1.TaskReverted, a.phase, a.msg)
		assert.Contains(t, a.msg, "probes passed, but Succeeded could not be reported before the dead-man deadline")
		assert.Contains(t, a.msg, unreachable.Error())
		assert.Contains(t, a.msg, "bond0 reverted to active-backup")
		assert.False(t, time.Now().Before(started.Add(500*time.Millisecond)), "not reverted before the deadline")
		break
	}
	assert.True(t, sawSucceeded, "Succeeded was tried first")
	mode, sets := host.state()
	assert.Equal(t, v1.BondActiveBackup, mode)
	assert.Equal(t, []v1.BondMode{v1.Bond8023AD, v1.BondActiveBackup}, sets)

	// It keeps trying to report Reverted until the agent stops.
	a := <-attempts
	assert.Equal(t, v1.TaskReverted, a.phase)
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("the executor did not return after its context ended")
	}
}

// TestResumedAfterDeadManReverts: an agent that comes back after the
// dead-man deadline finds the bond flipped and puts it back without probing.
func TestResumedAfterDeadManReverts(t *testing.T) {
	host := &memHost{mode: v1.Bond8023AD}
	var got attempt
	r := &flipRun{
		host: host,
		now:  time.Now,
		f:    action.FlipBond{Bond: "bond0", FromMode: v1.BondActiveBackup, ToMode: v1.Bond8023AD, RevertAfter: time.Minute, ProbeTimeout: time.Second},
		report: func(_ context.Context, phase v1.TaskPhase, msg string) error {
			got = attempt{phase, msg}
			return nil
		},
	}
	started := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r.setDeadman(started, started.Add(time.Hour))
	require.NoError(t, r.run(context.Background()))
	assert.Equal(t, attempt{v1.TaskReverted, "the agent resumed the task after the dead-man deadline 2026-03-01T10:01:00Z (revertAfter 1m0s from the start); bond0 reverted to active-backup"}, got)
	_, sets := host.state()
	assert.Equal(t, []v1.BondMode{v1.BondActiveBackup}, sets)
}

func TestDeadmanIsBoundedByTheTaskDeadline(t *testing.T) {
	started := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	r := &flipRun{f: action.FlipBond{RevertAfter: 10 * time.Minute}}
	r.setDeadman(started, started.Add(time.Hour))
	assert.Equal(t, started.Add(10*time.Minute), r.deadman)
	r.setDeadman(started, started.Add(time.Minute))
	assert.Equal(t, started.Add(time.Minute), r.deadman)
	assert.Equal(t, "the task's deadline 2026-03-01T10:01:00Z", r.deadmanText)
}
