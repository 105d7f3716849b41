package journal_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/journal"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// bondHost is a Host over one in-memory bond mode; the journal's own logic
// is what these tests check (the Linux Host's snapshots are checked on a
// real kernel in agent/linux).
type bondHost struct {
	mu       sync.Mutex
	mode     v1.BondMode
	restores int
	failNext error
}

type snap struct {
	Mode v1.BondMode `json:"mode"`
}

func (h *bondHost) Snapshot(context.Context, string) (json.RawMessage, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return json.Marshal(snap{h.mode})
}

func (h *bondHost) Restore(_ context.Context, pre, post json.RawMessage) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.restores++
	if err := h.failNext; err != nil {
		h.failNext = nil
		return false, err
	}
	var p, q snap
	if err := json.Unmarshal(pre, &p); err != nil {
		return false, err
	}
	if h.mode == p.Mode {
		return false, nil
	}
	if post != nil {
		if err := json.Unmarshal(post, &q); err != nil {
			return false, err
		}
		if h.mode != q.Mode {
			return false, fmt.Errorf("bond runs %s: %w", h.mode, journal.ErrChangedSince)
		}
	}
	h.mode = p.Mode
	return true, nil
}

func (h *bondHost) set(m v1.BondMode) {
	h.mu.Lock()
	h.mode = m
	h.mu.Unlock()
}

func (h *bondHost) get() v1.BondMode {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.mode
}

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)

func change(uid string) journal.Change {
	return journal.Change{
		Task: journal.Task{Namespace: "nodewright-system", Name: "flip-node-a", UID: uid},
		Bond: "bond0", FromMode: v1.BondActiveBackup, ToMode: v1.Bond8023AD,
		Deadline: t0.Add(time.Minute),
	}
}

func open(t *testing.T) (*journal.Journal, *clock) {
	t.Helper()
	c := &clock{t: t0}
	j, err := journal.Open(t.TempDir(), c.now)
	require.NoError(t, err)
	return j, c
}

func flip(h *bondHost) func(context.Context) error {
	return func(context.Context) error { h.set(v1.Bond8023AD); return nil }
}

func TestApplyWritesTheEntryBeforeTheChange(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a01"
	err := j.Apply(context.Background(), h, change(uid), func(ctx context.Context) error {
		// Read from disk, as a process that starts now would.
		data, err := os.ReadFile(filepath.Join(j.Dir(), uid+".json"))
		require.NoError(t, err)
		e, err := journal.Decode(strings.NewReader(string(data)))
		require.NoError(t, err)
		assert.Equal(t, journal.StateOpen, e.State)
		assert.JSONEq(t, `{"mode":"active-backup"}`, string(e.Pre))
		h.set(v1.Bond8023AD)
		return nil
	})
	require.NoError(t, err)
	e, err := j.Get(uid)
	require.NoError(t, err)
	assert.Equal(t, journal.StateApplied, e.State)
	assert.JSONEq(t, `{"mode":"802.3ad"}`, string(e.Post))
	assert.Equal(t, t0.Add(time.Minute), e.Deadline)
}

func TestApplyRunsOncePerTask(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a02"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	ran := false
	err := j.Apply(context.Background(), h, change(uid), func(context.Context) error { ran = true; return nil })
	require.ErrorIs(t, err, journal.ErrExists)
	assert.False(t, ran, "a task with an entry must not change the bond again")
}

func TestAFailedChangeStaysOpenAndReverts(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a03"
	boom := errors.New("EBUSY")
	err := j.Apply(context.Background(), h, change(uid), func(context.Context) error {
		h.set(v1.BondBalanceRR) // half-way somewhere
		return boom
	})
	require.ErrorIs(t, err, boom)
	e, err := j.Get(uid)
	require.NoError(t, err)
	assert.Equal(t, journal.StateOpen, e.State)

	outcome, e, err := j.Revert(context.Background(), h, uid, journal.ByAgent, "setting failed")
	require.NoError(t, err)
	assert.Equal(t, journal.Reverted, outcome, "an open entry is restored whatever state the bond is in")
	assert.Equal(t, v1.BondActiveBackup, h.get())
	assert.Equal(t, journal.StateReverted, e.State)
	assert.Equal(t, journal.ByAgent, e.ClosedBy)
}

func TestRevertTwiceTouchesTheBondOnce(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a04"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	outcome, _, err := j.Revert(context.Background(), h, uid, journal.ByAgent, "probe failed")
	require.NoError(t, err)
	require.Equal(t, journal.Reverted, outcome)
	outcome, e, err := j.Revert(context.Background(), h, uid, journal.ByWatchdog, "deadline")
	require.NoError(t, err)
	assert.Equal(t, journal.AlreadyReverted, outcome)
	assert.Equal(t, 1, h.restores)
	assert.Equal(t, journal.ByAgent, e.ClosedBy, "the second revert must not rewrite the first")
}

func TestRevertOfABondAlreadyAsBefore(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a05"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	h.set(v1.BondActiveBackup)
	outcome, e, err := j.Revert(context.Background(), h, uid, journal.ByWatchdog, "deadline")
	require.NoError(t, err)
	assert.Equal(t, journal.AlreadyAsBefore, outcome)
	assert.Equal(t, journal.StateReverted, e.State)
	assert.Contains(t, e.Reason, "as before the change already")
}

func TestABondChangedByHandIsLeftAlone(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a06"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	h.set(v1.BondBalanceXOR) // a person's change after the flip
	outcome, e, err := j.Revert(context.Background(), h, uid, journal.ByWatchdog, "deadline")
	require.NoError(t, err)
	assert.Equal(t, journal.ChangedSince, outcome)
	assert.Equal(t, v1.BondBalanceXOR, h.get(), "the person's change stays")
	assert.Equal(t, journal.StateAbandoned, e.State)
	assert.Contains(t, e.Reason, "changed by someone else")
	outcome, _, err = j.Revert(context.Background(), h, uid, journal.ByAgent, "again")
	require.NoError(t, err)
	assert.Equal(t, journal.NotReverted, outcome)
}

func TestAFailedRestoreKeepsTheEntryForTheNextTry(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a07"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	h.failNext = errors.New("netlink: EBUSY")
	_, _, err := j.Revert(context.Background(), h, uid, journal.ByAgent, "probe failed")
	require.Error(t, err)
	e, err := j.Get(uid)
	require.NoError(t, err)
	assert.Equal(t, journal.StateApplied, e.State)
	outcome, _, err := j.Revert(context.Background(), h, uid, journal.ByAgent, "probe failed")
	require.NoError(t, err)
	assert.Equal(t, journal.Reverted, outcome)
}

func TestCommitOnlyAnAppliedEntry(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a08"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	e, err := j.Commit(context.Background(), uid, "probes passed")
	require.NoError(t, err)
	assert.Equal(t, journal.StateCommitted, e.State)
	outcome, _, err := j.Revert(context.Background(), h, uid, journal.ByWatchdog, "deadline")
	require.NoError(t, err)
	assert.Equal(t, journal.NotReverted, outcome)
	assert.Equal(t, v1.Bond8023AD, h.get())

	uid2 := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a09"
	require.NoError(t, j.Apply(context.Background(), h, change(uid2), flip(h)))
	_, _, err = j.Revert(context.Background(), h, uid2, journal.ByWatchdog, "deadline")
	require.NoError(t, err)
	e, err = j.Commit(context.Background(), uid2, "probes passed")
	require.Error(t, err, "a reverted change cannot be committed")
	assert.Equal(t, journal.StateReverted, e.State)
}

func TestWatchdogRevertsOnlyPastTheDeadlineAndGrace(t *testing.T) {
	j, c := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a10"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	var got []journal.Outcome
	w := &journal.Watchdog{Journal: j, Host: h, Grace: time.Second,
		OnRevert: func(_ *journal.Entry, o journal.Outcome, _ time.Duration) { got = append(got, o) }}

	c.add(time.Minute) // at the deadline: the agent's turn
	next := w.Pass(context.Background())
	assert.Equal(t, t0.Add(time.Minute+time.Second), next)
	assert.Equal(t, v1.Bond8023AD, h.get())

	c.add(time.Second)
	w.Pass(context.Background())
	assert.Equal(t, v1.BondActiveBackup, h.get())
	assert.Equal(t, []journal.Outcome{journal.Reverted}, got)
	e, err := j.Get(uid)
	require.NoError(t, err)
	assert.Equal(t, journal.ByWatchdog, e.ClosedBy)
	assert.Contains(t, e.Reason, "passed 1s ago")

	assert.True(t, w.Pass(context.Background()).IsZero())
	assert.Len(t, got, 1, "a closed entry is not reverted again")
}

func TestWatchdogDoesNotActOnAnUnreadableEntry(t *testing.T) {
	j, c := open(t)
	h := &bondHost{mode: v1.Bond8023AD}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a11"
	// A valid applied entry, then cut short as a torn write would leave it
	// without the rename.
	h2 := &bondHost{mode: v1.BondActiveBackup}
	require.NoError(t, j.Apply(context.Background(), h2, change(uid), flip(h2)))
	path := filepath.Join(j.Dir(), uid+".json")
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, data[:len(data)/2], 0o600))
	c.add(time.Hour)
	(&journal.Watchdog{Journal: j, Host: h}).Pass(context.Background())
	assert.Zero(t, h.restores)
	_, errs := j.List()
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], journal.ErrCorrupt)
	assert.Contains(t, errs[0].Error(), path)
}

func TestListRefusesSymlinksAndMismatchedNames(t *testing.T) {
	j, _ := open(t)
	h := &bondHost{mode: v1.BondActiveBackup}
	uid := "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a12"
	require.NoError(t, j.Apply(context.Background(), h, change(uid), flip(h)))
	src := filepath.Join(j.Dir(), uid+".json")
	require.NoError(t, os.Symlink(src, filepath.Join(j.Dir(), "aaaa.json")))
	data, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(j.Dir(), "bbbb.json"), data, 0o600))
	entries, errs := j.List()
	assert.Len(t, entries, 1)
	require.Len(t, errs, 2)
	joined := errors.Join(errs...).Error()
	assert.Contains(t, joined, "not a regular file")
	assert.Contains(t, joined, "does not match the file name")
}

func TestOpenRemovesTornTemporaryFiles(t *testing.T) {
	dir := t.TempDir()
	tmp := filepath.Join(dir, ".tmp-abc-123")
	require.NoError(t, os.WriteFile(tmp, []byte(`{"version":`), 0o600))
	_, err := journal.Open(dir, nil)
	require.NoError(t, err)
	assert.NoFileExists(t, tmp)
}

// TestLockHolderKilled checks the cross-process lock with a real second
// process: while it holds the lock nobody else gets it, and when it is
// SIGKILLed the kernel releases it.
func TestLockHolderKilled(t *testing.T) {
	if os.Getenv("JOURNAL_LOCK_HOLDER") != "" {
		return
	}
	dir := t.TempDir()
	j, err := journal.Open(dir, nil)
	require.NoError(t, err)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockHolderProcess$")
	cmd.Env = append(os.Environ(), "JOURNAL_LOCK_HOLDER="+dir)
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 6)
	_, err = out.Read(buf)
	require.NoError(t, err)
	require.Equal(t, "locked", string(buf))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	h := &bondHost{mode: v1.BondActiveBackup}
	err = j.Apply(ctx, h, change("0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a13"), flip(h))
	require.ErrorIs(t, err, context.DeadlineExceeded, "the lock is held by the other process")

	require.NoError(t, cmd.Process.Kill())
	_ = cmd.Wait()
	require.NoError(t, j.Apply(context.Background(), h, change("0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a13"), flip(h)))
}

// TestLockHolderProcess is the second process of TestLockHolderKilled: it
// takes the journal's lock (by starting a change that never ends) and
// says so on stdout.
func TestLockHolderProcess(t *testing.T) {
	dir := os.Getenv("JOURNAL_LOCK_HOLDER")
	if dir == "" {
		t.Skip("the second process of TestLockHolderKilled")
	}
	j, err := journal.Open(dir, nil)
	require.NoError(t, err)
	h := &bondHost{mode: v1.BondActiveBackup}
	_ = j.Apply(context.Background(), h, change("0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a99"), func(context.Context) error {
		_, _ = os.Stdout.WriteString("locked")
		select {}
	})
}
