//go:build kerneltest

package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/agent/journal"
	"github.com/nodewright/nodewright/agent/linux"
	"github.com/nodewright/nodewright/internal/kernelvm"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// These tests run the agent's FlipBond executor on a real kernel (see
// internal/kernelvm) in a child process of the test binary, kill it with
// SIGKILL at a chosen moment, and check what the watchdog or a restarted
// executor makes of the bond from the journal the child left behind.

// childEnv carries a childConfig to the helper process; the network
// namespace of the node is its file descriptor 3.
const childEnv = "NODEWRIGHT_TEST_FLIP_CHILD"

// childReported is the line the helper prints when its executor reports
// an outcome; the report then blocks, as an API server that never answers.
const childReported = "NODEWRIGHT-TEST-REPORTED "

// kernelLACPTimeout bounds the wait for LACP: over veth it negotiates in
// about 3 s at the fast rate.
const kernelLACPTimeout = 10 * time.Second

// childConfig is the task the helper carries out.
type childConfig struct {
	Journal  string
	Task     journal.Task
	Started  time.Time
	Deadline time.Time
	Gateway  string
}

// flipFor is the FlipBond of these tests: bond0 from active-backup to
// 802.3ad, probing the gateway.
func flipFor(gateway string, revertAfter time.Duration) action.FlipBond {
	return action.FlipBond{
		Bond: "bond0", FromMode: v1.BondActiveBackup, ToMode: v1.Bond8023AD,
		RevertAfter: revertAfter, Gateway: gateway, ProbeTimeout: 5 * time.Second,
	}
}

// TestKernelFlipChild is the helper process: it does nothing unless
// childEnv is set.
func TestKernelFlipChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		t.Skip("the helper process of the kernel flip tests")
	}
	var c childConfig
	require.NoError(t, json.Unmarshal([]byte(raw), &c))
	host, err := linux.New(linux.Options{Namespace: netns.NsHandle(3), LACPTimeout: kernelLACPTimeout})
	require.NoError(t, err)
	j, err := journal.Open(c.Journal, time.Now)
	require.NoError(t, err)
	r := &flipRun{
		host: host, now: time.Now, f: flipFor(c.Gateway, c.Deadline.Sub(c.Started)),
		journal: j, task: c.Task,
		report: func(ctx context.Context, phase v1.TaskPhase, msg string) error {
			fmt.Printf("%s%s %s\n", childReported, phase, msg)
			<-ctx.Done()
			return ctx.Err()
		},
	}
	r.setDeadman(c.Started, c.Deadline)
	_ = r.run(context.Background())
}

// flipSite is a kernelvm.Site with the Host of its node namespace, a
// journal directory and a watch on the node's links.
type flipSite struct {
	*kernelvm.Site
	host    *linux.Host
	dir     string
	journal *journal.Journal
	links   chan netlink.LinkUpdate
}

func newFlipSite(t testing.TB, partner netlink.BondMode) *flipSite {
	t.Helper()
	s := &flipSite{Site: kernelvm.NewSite(t, partner), dir: t.TempDir(), links: make(chan netlink.LinkUpdate, 256)}
	var err error
	s.host, err = linux.New(linux.Options{Namespace: s.Node, LACPTimeout: kernelLACPTimeout})
	require.NoError(t, err)
	t.Cleanup(s.host.Close)
	s.journal, err = journal.Open(s.dir, time.Now)
	require.NoError(t, err)
	done := make(chan struct{})
	var ended atomic.Bool
	t.Cleanup(func() {
		ended.Store(true)
		close(done)
	})
	require.NoError(t, netlink.LinkSubscribeWithOptions(s.links, done, netlink.LinkSubscribeOptions{
		Namespace: &s.Node,
		// The subscription fails as the namespace goes at the test's
		// end; before that, a failure means updates were lost.
		ErrorCallback: func(err error) {
			if !ended.Load() {
				t.Errorf("link updates: %v", err)
			}
		},
	}))
	return s
}

// bondDown reports whether u says bond0 is down (IFF_UP cleared).
func bondDown(u netlink.LinkUpdate) bool {
	return u.Attrs().Name == "bond0" && u.Attrs().Flags&net.FlagUp == 0
}

// settle returns the updates of the node's links that arrived so far: it
// changes lo's alias and reads until that change arrives, so every earlier
// change has arrived before it.
func (s *flipSite) settle(t testing.TB) []netlink.LinkUpdate {
	t.Helper()
	lo, err := s.NodeHandle.LinkByName("lo")
	require.NoError(t, err)
	marker := fmt.Sprintf("settle-%d", time.Now().UnixNano())
	require.NoError(t, s.NodeHandle.LinkSetAlias(lo, marker))
	var got []netlink.LinkUpdate
	timeout := time.After(10 * time.Second)
	for {
		select {
		case u := <-s.links:
			if u.Attrs().Name == "lo" && u.Attrs().Alias == marker {
				return got
			}
			got = append(got, u)
		case <-timeout:
			t.Fatal("the change of lo's alias did not arrive within 10s")
		}
	}
}

// child is the helper process running one task.
type child struct {
	cmd      *exec.Cmd
	reported chan string
	exited   chan error
	config   childConfig
}

// startChild runs the helper on the site's node with a task whose
// deadline is revertAfter from now.
func (s *flipSite) startChild(t testing.TB, uid string, revertAfter time.Duration) *child {
	t.Helper()
	self, err := os.Executable()
	require.NoError(t, err)
	now := time.Now()
	c := &child{reported: make(chan string, 4), exited: make(chan error, 1), config: childConfig{
		Journal: s.dir, Task: journal.Task{Namespace: "nodewright-system", Name: "flip-" + uid, UID: uid},
		Started: now, Deadline: now.Add(revertAfter), Gateway: s.Gateway.String(),
	}}
	raw, err := json.Marshal(c.config)
	require.NoError(t, err)
	c.cmd = exec.Command(self, "-test.run=^TestKernelFlipChild$", "-test.v")
	c.cmd.Env = append(os.Environ(), childEnv+"="+string(raw))
	// A duplicate: the File closes its descriptor, and the site's
	// namespace handle must stay open.
	fd, err := unix.Dup(int(s.Node))
	require.NoError(t, err)
	nsFile := os.NewFile(uintptr(fd), "node-netns")
	defer nsFile.Close()
	c.cmd.ExtraFiles = []*os.File{nsFile}
	c.cmd.Stderr = os.Stderr
	out, err := c.cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, c.cmd.Start())
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		if err := <-c.exited; err != nil {
			t.Logf("the agent's helper process: %v", err) // killed, by the test or here
		}
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), childReported); ok {
				c.reported <- line
			}
		}
		c.exited <- c.cmd.Wait()
		close(c.exited)
	}()
	return c
}

// killWhenBondDown kills the child with SIGKILL as soon as the kernel
// reports bond0 down.
func (s *flipSite) killWhenBondDown(t testing.TB, c *child) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case u := <-s.links:
			if bondDown(u) {
				require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
				return
			}
		case err := <-c.exited:
			t.Fatalf("the agent exited (%v) before bond0 went down", err)
		case <-timeout:
			t.Fatal("bond0 did not go down within 30s")
		}
	}
}

// killWhenReported kills the child with SIGKILL once its executor reports
// an outcome, before the report is written; it returns the report.
func killWhenReported(t testing.TB, c *child) string {
	t.Helper()
	select {
	case line := <-c.reported:
		require.NoError(t, c.cmd.Process.Signal(syscall.SIGKILL))
		return line
	case err := <-c.exited:
		t.Fatalf("the agent exited (%v) before it reported", err)
	case <-time.After(60 * time.Second):
		t.Fatal("the agent did not report within 60s")
	}
	return ""
}

// waitExit waits for the killed child.
func waitExit(t testing.TB, c *child) {
	t.Helper()
	select {
	case err := <-c.exited:
		t.Logf("the killed agent exited: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the killed agent did not exit within 10s")
	}
}

// entry reads the task's journal entry.
func (s *flipSite) entry(t testing.TB, uid string) *journal.Entry {
	t.Helper()
	e, err := s.journal.Get(uid)
	require.NoError(t, err)
	require.NotNil(t, e, "the journal has an entry for %s", uid)
	return e
}

// watchdogRevert runs a watchdog over the site's journal until it closes
// an entry and returns what it did and how long after the entry's
// deadline the bond was back.
func (s *flipSite) watchdogRevert(t testing.TB) (journal.Outcome, *journal.Entry, time.Duration) {
	t.Helper()
	type revert struct {
		outcome journal.Outcome
		entry   *journal.Entry
		at      time.Time
	}
	reverts := make(chan revert, 1)
	w := &journal.Watchdog{Journal: s.journal, Host: s.host, OnRevert: func(e *journal.Entry, o journal.Outcome, _ time.Duration) {
		reverts <- revert{o, e, time.Now()}
	}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		require.NoError(t, <-done)
	}()
	select {
	case r := <-reverts:
		return r.outcome, r.entry, r.at.Sub(r.entry.Deadline)
	case <-time.After(60 * time.Second):
		t.Fatal("the watchdog closed no entry within 60s")
	}
	return "", nil, 0
}

// recorder records an executor's reports.
type recorder struct{ reports []attempt }

func (r *recorder) report(_ context.Context, phase v1.TaskPhase, msg string) error {
	r.reports = append(r.reports, attempt{phase, msg})
	return nil
}

// restarted is the executor of an agent restarted on the site's node,
// resuming the child's task.
func (s *flipSite) restarted(c *child, rec *recorder) *flipRun {
	r := &flipRun{
		host: s.host, now: time.Now, f: flipFor(c.config.Gateway, c.config.Deadline.Sub(c.config.Started)),
		journal: s.journal, task: c.config.Task, report: rec.report,
	}
	r.setDeadman(c.config.Started, c.config.Deadline)
	return r
}

// TestKernelWatchdogRevertsAfterAgentKilled kills the agent with SIGKILL
// as soon as bond0 goes down for the flip; the watchdog, with no agent and
// no API server, puts bond0 back exactly as it was once the deadline
// passed.
func TestKernelWatchdogRevertsAfterAgentKilled(t *testing.T) {
	s := newFlipSite(t, netlink.BOND_MODE_802_3AD)
	pre, err := s.host.Capture("bond0")
	require.NoError(t, err)

	c := s.startChild(t, "killed-while-down", 3*time.Second)
	s.killWhenBondDown(t, c)
	waitExit(t, c)
	killed, err := s.host.Capture("bond0")
	require.NoError(t, err)
	t.Logf("agent killed with bond0 %v", pre.Differences(killed))
	require.Equal(t, journal.StateOpen, s.entry(t, "killed-while-down").State, "the change was under way")

	outcome, e, late := s.watchdogRevert(t)
	assert.Equal(t, journal.Reverted, outcome)
	assert.Equal(t, journal.StateReverted, e.State)
	assert.Equal(t, journal.ByWatchdog, e.ClosedBy)
	assert.Positive(t, late, "not reverted before the deadline")
	t.Logf("bond0 reverted by the watchdog %s after the deadline", late.Round(time.Millisecond))
	after, err := s.host.Capture("bond0")
	require.NoError(t, err)
	assert.Empty(t, pre.Differences(after), "bond0 is exactly as before")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	assert.NoError(t, s.host.Probe(ctx, action.Probe{Kind: action.ProbeGateway, Target: s.Gateway.String()}), "the gateway answers again")

	// A second revert (the restarted agent's) is safe and says so.
	outcome, _, err = s.journal.Revert(ctx, s.host, "killed-while-down", journal.ByAgent, "again")
	require.NoError(t, err)
	assert.Equal(t, journal.AlreadyReverted, outcome)
}

// TestKernelResumedFlipDoesNotFlipTwice kills the agent after its flip
// was made and probed but before Succeeded was written; the restarted
// agent probes again and reports Succeeded without touching bond0.
func TestKernelResumedFlipDoesNotFlipTwice(t *testing.T) {
	s := newFlipSite(t, netlink.BOND_MODE_802_3AD)
	c := s.startChild(t, "killed-before-report", 60*time.Second)
	line := killWhenReported(t, c)
	waitExit(t, c)
	require.True(t, strings.HasPrefix(line, string(v1.TaskSucceeded)), "the first agent's flip passed its probes: %s", line)
	require.Equal(t, journal.StateApplied, s.entry(t, "killed-before-report").State)
	before, err := s.host.Capture("bond0")
	require.NoError(t, err)
	s.settle(t)

	rec := &recorder{}
	require.NoError(t, s.restarted(c, rec).run(context.Background()))
	for _, u := range s.settle(t) {
		assert.False(t, bondDown(u), "the restarted agent took bond0 down")
	}
	require.Len(t, rec.reports, 1)
	assert.Equal(t, v1.TaskSucceeded, rec.reports[0].phase, rec.reports[0].msg)
	assert.Contains(t, rec.reports[0].msg, "bond0 runs 802.3ad (was active-backup); probes passed: gateway "+s.Gateway.String())
	after, err := s.host.Capture("bond0")
	require.NoError(t, err)
	assert.Empty(t, before.Differences(after), "bond0 is as the first agent left it")
	assert.Equal(t, v1.Bond8023AD, after.Mode)
	assert.Equal(t, journal.StateCommitted, s.entry(t, "killed-before-report").State)
}

// TestKernelRestartedAgentRevertsChangeUnderWay kills the agent as soon as
// bond0 goes down for the flip; the restarted agent finds the change open
// in its journal, puts bond0 back exactly and reports Reverted, long
// before the deadline.
func TestKernelRestartedAgentRevertsChangeUnderWay(t *testing.T) {
	s := newFlipSite(t, netlink.BOND_MODE_802_3AD)
	pre, err := s.host.Capture("bond0")
	require.NoError(t, err)
	c := s.startChild(t, "killed-mid-change", 60*time.Second)
	s.killWhenBondDown(t, c)
	waitExit(t, c)
	require.Equal(t, journal.StateOpen, s.entry(t, "killed-mid-change").State)

	rec := &recorder{}
	require.NoError(t, s.restarted(c, rec).run(context.Background()))
	require.Len(t, rec.reports, 1)
	assert.Equal(t, v1.TaskReverted, rec.reports[0].phase, rec.reports[0].msg)
	assert.Contains(t, rec.reports[0].msg, "the agent stopped while it was changing the bond")
	after, err := s.host.Capture("bond0")
	require.NoError(t, err)
	assert.Empty(t, pre.Differences(after), "bond0 is exactly as before")
	e := s.entry(t, "killed-mid-change")
	assert.Equal(t, journal.StateReverted, e.State)
	assert.Equal(t, journal.ByAgent, e.ClosedBy)
	assert.True(t, time.Now().Before(c.config.Deadline), "reverted at the restart, not at the deadline")
}

// BenchmarkKernelMissedDeadlineRevert measures how long after a missed
// deadline the watchdog has bond0 back: the agent is killed as bond0 goes
// down for a flip whose deadline is 3 s away. Goal: within 2 s.
func BenchmarkKernelMissedDeadlineRevert(b *testing.B) {
	var total time.Duration
	for i := 0; i < b.N; i++ {
		s := newFlipSite(b, netlink.BOND_MODE_802_3AD)
		pre, err := s.host.Capture("bond0")
		require.NoError(b, err)
		c := s.startChild(b, fmt.Sprintf("bench-%d", i), 3*time.Second)
		s.killWhenBondDown(b, c)
		waitExit(b, c)
		outcome, _, late := s.watchdogRevert(b)
		require.Equal(b, journal.Reverted, outcome)
		after, err := s.host.Capture("bond0")
		require.NoError(b, err)
		require.Empty(b, pre.Differences(after))
		total += late
	}
	b.ReportMetric((total / time.Duration(b.N)).Seconds(), "s-deadline-to-reverted")
}

// BenchmarkKernelFlipOutage measures a committed flip of bond0 from
// active-backup to 802.3ad against an 802.3ad partner, as the agent makes
// it (journalled, probed, reported): the outage from bond0 going down to
// Succeeded, and within it the LACP negotiation from bond0 coming up to
// LACP negotiated (as the agent's probe reads it, polled every 20 ms).
// Goal: outage within 2 s of the negotiation time.
func BenchmarkKernelFlipOutage(b *testing.B) {
	var outage, lacp time.Duration
	for i := 0; i < b.N; i++ {
		s := newFlipSite(b, netlink.BOND_MODE_802_3AD)
		watch, err := linux.New(linux.Options{Namespace: s.Node})
		require.NoError(b, err)
		b.Cleanup(watch.Close)

		type times struct{ down, up, negotiated time.Time }
		seen := make(chan times, 1)
		go func() {
			var t times
			for u := range s.links {
				if u.Attrs().Name != "bond0" {
					continue
				}
				if t.down.IsZero() && u.Attrs().Flags&net.FlagUp == 0 {
					t.down = time.Now()
				}
				if !t.down.IsZero() && u.Attrs().Flags&net.FlagUp != 0 {
					t.up = time.Now()
					break
				}
			}
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for range tick.C {
				st, err := watch.LACP("bond0")
				if ok, _ := st.Negotiated(); err == nil && ok {
					t.negotiated = time.Now()
					break
				}
			}
			seen <- t
		}()

		var succeeded time.Time
		r := &flipRun{
			host: s.host, now: time.Now, f: flipFor(s.Gateway.String(), time.Minute),
			journal: s.journal, task: journal.Task{Namespace: "nodewright-system", Name: "bench", UID: fmt.Sprintf("bench-%d", i)},
			report: func(_ context.Context, phase v1.TaskPhase, msg string) error {
				require.Equal(b, v1.TaskSucceeded, phase, msg)
				succeeded = time.Now()
				return nil
			},
		}
		started := time.Now()
		r.setDeadman(started, started.Add(time.Minute))
		require.NoError(b, r.run(context.Background()))
		var t times
		select {
		case t = <-seen:
		case <-time.After(30 * time.Second):
			b.Fatal("bond0's down, up and LACP were not all seen within 30s")
		}
		require.False(b, succeeded.IsZero(), "Succeeded was reported")
		outage += succeeded.Sub(t.down)
		lacp += t.negotiated.Sub(t.up)
	}
	n := time.Duration(b.N)
	b.ReportMetric((outage / n).Seconds(), "s-outage")
	b.ReportMetric((lacp / n).Seconds(), "s-lacp")
	b.ReportMetric(((outage - lacp) / n).Seconds(), "s-outage-beyond-lacp")
}
