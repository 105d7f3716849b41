package agent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/journal"
	"github.com/nodewright/nodewright/agent/simhost"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func openJournal(t *testing.T) *journal.Journal {
	t.Helper()
	j, err := journal.Open(t.TempDir(), nil)
	require.NoError(t, err)
	return j
}

// entryOf returns the journal's only entry.
func entryOf(t *testing.T, j *journal.Journal) *journal.Entry {
	t.Helper()
	entries, errs := j.List()
	require.Empty(t, errs)
	require.Len(t, entries, 1)
	return entries[0]
}

// waitEntry polls the journal's only entry until it is in state (the
// agent commits just after it reports Succeeded).
func waitEntry(t *testing.T, j *journal.Journal, state journal.State) *journal.Entry {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		e := entryOf(t, j)
		if e.State == state {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal entry: want state %s within %s, have %s", state, waitTimeout, e.State)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestJournalledFlipIsCommitted(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	j := openJournal(t)
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Journal: j})

	task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
	got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
	require.Equal(t, string(v1.TaskSucceeded), got.Status.Phase, got.Status.Message)
	e := waitEntry(t, j, journal.StateCommitted)
	assert.Equal(t, string(got.UID), e.Task.UID)
	assert.JSONEq(t, `{"bond":"bond0","mode":"active-backup"}`, string(e.Pre))
	assert.JSONEq(t, `{"bond":"bond0","mode":"802.3ad"}`, string(e.Post))
	assert.True(t, got.Status.StartedAt.Add(time.Minute).Equal(e.Deadline), "the entry's deadline %s is the dead-man deadline", e.Deadline)
}

func TestJournalledFailedProbeIsReverted(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	host.FailProbe(agent.ProbeGateway, "", errors.New("no ARP reply from 10.0.0.1"))
	j := openJournal(t)
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Journal: j})

	task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
	got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
	require.Equal(t, string(v1.TaskReverted), got.Status.Phase, got.Status.Message)
	e := entryOf(t, j)
	assert.Equal(t, journal.StateReverted, e.State)
	assert.Equal(t, journal.ByAgent, e.ClosedBy)
	assert.Contains(t, e.Reason, "no ARP reply")
	mode, _ := host.Mode("bond0")
	assert.Equal(t, v1.BondActiveBackup, mode)
}

func TestJournalledRestartNeverFlipsTwice(t *testing.T) {
	tests := []struct {
		name  string
		hold  func(*simhost.Host) *simhost.Hold
		state journal.State // the entry when the first agent stopped
		phase v1.TaskPhase  // what the restarted agent reports
		sets  int           // mode changes across both agents
	}{
		// The change was under way: whatever it did is undone (here it had
		// done nothing, so nothing is sent), never finished by the new agent.
		{name: "stopped while the flip was under way", hold: (*simhost.Host).HoldSets, state: journal.StateOpen, phase: v1.TaskReverted, sets: 0},
		// The change was made: it is probed again, not made again.
		{name: "stopped after the flip, during the probes", hold: (*simhost.Host).HoldProbes, state: journal.StateApplied, phase: v1.TaskSucceeded, sets: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns, node := newNamespace(t), nodeName()
			host := simhost.New(bond0(v1.BondActiveBackup))
			hold := tt.hold(host)
			j := openJournal(t)
			stop := runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Journal: j})
			task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
			wait(t, hold.Entered(), "the agent reaching the host")
			stop()
			assert.Equal(t, tt.state, entryOf(t, j).State)

			hold.Release()
			runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Journal: j})
			got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
			assert.Equal(t, string(tt.phase), got.Status.Phase, got.Status.Message)
			assert.Len(t, host.Journal(), tt.sets)
			mode, _ := host.Mode("bond0")
			if tt.phase == v1.TaskSucceeded {
				assert.Equal(t, v1.Bond8023AD, mode)
				waitEntry(t, j, journal.StateCommitted)
			} else {
				assert.Equal(t, v1.BondActiveBackup, mode)
				assert.Contains(t, got.Status.Message, "stopped while it was changing the bond")
			}
		})
	}
}

// TestWatchdogRevertsForAStoppedAgent stops the agent after the flip and
// before its probes pass: the watchdog (as in its own container: the
// journal and the host, no API server) reverts the bond once the deadline
// and its grace passed, and the restarted agent reports what it did.
func TestWatchdogRevertsForAStoppedAgent(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.BondActiveBackup))
	hold := host.HoldProbes()
	j := openJournal(t)
	stop := runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Journal: j})
	task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(func(p map[string]string) {
		p[v1.ParamRevertAfter] = "2s"
	}), hour())
	wait(t, hold.Entered(), "the agent probing after the flip")
	stop()
	hold.Release()
	require.Equal(t, journal.StateApplied, entryOf(t, j).State)

	reverted := make(chan journal.Outcome, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wd := &journal.Watchdog{Journal: j, Host: host, OnRevert: func(_ *journal.Entry, o journal.Outcome, _ time.Duration) { reverted <- o }}
	go func() { _ = wd.Run(ctx) }()
	select {
	case o := <-reverted:
		assert.Equal(t, journal.Reverted, o)
	case <-time.After(waitTimeout):
		t.Fatal("the watchdog did not revert within the wait")
	}
	cancel()
	mode, _ := host.Mode("bond0")
	assert.Equal(t, v1.BondActiveBackup, mode)
	e := entryOf(t, j)
	assert.Equal(t, journal.ByWatchdog, e.ClosedBy)
	assert.False(t, e.Closed.Before(e.Deadline.Add(journal.DefaultGrace)), "not before the deadline and its grace")

	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Journal: j})
	got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
	assert.Equal(t, string(v1.TaskReverted), got.Status.Phase, got.Status.Message)
	assert.Contains(t, got.Status.Message, "reverted to active-backup by the watchdog")
	assert.Len(t, host.Journal(), 2, "flipped once by the agent, back once by the watchdog")
}

func TestJournalledAgentLeavesABondItNeverChanged(t *testing.T) {
	ns, node := newNamespace(t), nodeName()
	host := simhost.New(bond0(v1.Bond8023AD))
	j := openJournal(t)
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host, Journal: j})
	task := newTask(t, ns, "flip", node, v1.ActionFlipBond, flipParams(), hour())
	got := waitPhase(t, task, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
	assert.Equal(t, string(v1.TaskFailed), got.Status.Phase)
	assert.Contains(t, got.Status.Message, "the node's journal has no record of this task changing it; not touched")
	assert.Empty(t, host.Journal())
}

func TestJournalNeedsAHostThatSnapshots(t *testing.T) {
	e, _ := env(t)
	err := agent.Run(context.Background(), e.Config, nil, agent.Options{Node: "node-a", Host: modeOnlyHost{}, Journal: openJournal(t)})
	assert.ErrorContains(t, err, "cannot snapshot and restore bonds")
}

// modeOnlyHost is a Host without snapshots.
type modeOnlyHost struct{ agent.Host }
