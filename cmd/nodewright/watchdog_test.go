package main

import (
	"bufio"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAgentJournalFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"agent", "--node", "node-a", "--host", "linux"}, "--journal is required with --host linux"},
		{[]string{"agent", "watchdog"}, `--host is required: "linux"`},
		{[]string{"agent", "watchdog", "--host", "simulated", "--journal", t.TempDir()}, "a simulated host lives in its agent's process"},
		{[]string{"agent", "watchdog", "--host", "bsd", "--journal", t.TempDir()}, `--host "bsd": want "linux"`},
		{[]string{"agent", "watchdog", "--host", "linux"}, "--journal is required"},
		{[]string{"agent", "watchdog", "--host", "linux", "--journal", t.TempDir(), "--grace", "0s"}, "--grace 0s must be positive"},
		{[]string{"agent", "watchdog", "--host", "linux", "--journal", "/dev/null/journal"}, "--journal: journal:"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, stderr, code := nodewright(t, tc.args...)
			assert.Equal(t, exitUsage, code, stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

// TestWatchdogStopsOnSIGTERM runs the real watchdog on an empty journal
// and stops it as the kubelet would.
func TestWatchdogStopsOnSIGTERM(t *testing.T) {
	cmd := exec.Command(binary, "agent", "watchdog", "--host", "linux", "--journal", t.TempDir())
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines := bufio.NewScanner(stderr)
	require.True(t, lines.Scan(), "the watchdog logs that it started")
	require.Contains(t, lines.Text(), "watching the journal")
	go func() {
		for lines.Scan() {
		}
	}()
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		assert.NoError(t, err, "the watchdog exits 0 on SIGTERM")
	case <-time.After(30 * time.Second):
		t.Fatal("the watchdog did not stop on SIGTERM")
	}
}
