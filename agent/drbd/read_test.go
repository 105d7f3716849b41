package drbd_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/drbd"
)

func TestReadRunsDrbdsetupStatusJSON(t *testing.T) {
	var gotName string
	var gotArgs []string
	run := func(_ context.Context, name string, args ...string) ([]byte, error) {
		gotName, gotArgs = name, args
		return readFixture(t, "in-sync-two-peers"), nil
	}
	rs, err := drbd.Read(t.Context(), run)
	require.NoError(t, err)
	assert.Equal(t, "drbdsetup", gotName)
	assert.Equal(t, []string{"status", "--json"}, gotArgs)
	require.Len(t, rs, 1)
	assert.Equal(t, "data-disk-1", rs[0].Name)
}

func TestReadClassifiesRunnerErrors(t *testing.T) {
	exitErr := func(t *testing.T, code int, stderr string) error {
		t.Helper()
		if runtime.GOOS == "windows" {
			t.Skip("needs /bin/sh")
		}
		err := exec.Command("/bin/sh", "-c", "exit "+strconv.Itoa(code)).Run()
		ee, ok := errors.AsType[*exec.ExitError](err)
		require.True(t, ok, "%v", err)
		ee.Stderr = []byte(stderr)
		return ee
	}
	cases := []struct {
		name  string
		err   func(t *testing.T) error
		is    error
		isNot error
		want  string
	}{
		{"not in PATH", func(*testing.T) error { return &exec.Error{Name: "drbdsetup", Err: exec.ErrNotFound} },
			drbd.ErrNotInstalled, nil, `drbd: drbdsetup is not installed: exec: "drbdsetup": executable file not found in $PATH`},
		{"absolute path missing", func(*testing.T) error {
			return &os.PathError{Op: "fork/exec", Path: "/usr/sbin/drbdsetup", Err: os.ErrNotExist}
		}, drbd.ErrNotInstalled, nil, "drbd: drbdsetup is not installed: fork/exec /usr/sbin/drbdsetup: file does not exist"},
		{"no kernel module", func(t *testing.T) error {
			return exitErr(t, 20, "Could not connect to 'drbd' generic netlink family\n")
		}, drbd.ErrUnavailable, drbd.ErrNotInstalled,
			"drbd: DRBD 9 is not usable on this node: drbdsetup status --json: exit status 20: Could not connect to 'drbd' generic netlink family"},
		{"other failure keeps stderr", func(t *testing.T) error {
			return exitErr(t, 10, "\nall: No such resource\n\nsecond line\nthird\nfourth\n")
		}, nil, drbd.ErrUnavailable, "drbdsetup status --json: exit status 10: all: No such resource; second line; third"},
		{"other error", func(*testing.T) error { return errors.New("runner broke") }, nil, drbd.ErrNotInstalled,
			"drbdsetup status --json: runner broke"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			runErr := tc.err(t)
			rs, err := drbd.Read(t.Context(), func(context.Context, string, ...string) ([]byte, error) {
				return []byte("partial"), runErr
			})
			require.Error(t, err)
			assert.Nil(t, rs)
			assert.Equal(t, tc.want, err.Error())
			assert.ErrorIs(t, err, runErr, "the runner's error stays inspectable")
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			if tc.isNot != nil {
				assert.NotErrorIs(t, err, tc.isNot)
			}
			assert.NotErrorIs(t, err, drbd.ErrMalformed)
		})
	}
}

func TestReadReportsTheContextEnding(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := drbd.Read(ctx, func(ctx context.Context, _ string, _ ...string) ([]byte, error) { return nil, ctx.Err() })
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, "drbdsetup status --json: context canceled", err.Error())

	killed := errors.New("signal: killed")
	_, err = drbd.Read(ctx, func(context.Context, string, ...string) ([]byte, error) { return nil, killed })
	require.ErrorIs(t, err, context.Canceled)
	require.ErrorIs(t, err, killed)
	assert.Equal(t, "drbdsetup status --json: context canceled (signal: killed)", err.Error())
}

func TestReadRejectsMalformedOutput(t *testing.T) {
	_, err := drbd.Read(t.Context(), func(context.Context, string, ...string) ([]byte, error) {
		return []byte("# No currently configured DRBD found.\n"), nil
	})
	require.ErrorIs(t, err, drbd.ErrMalformed)
}

// fakeDrbdsetup puts an executable drbdsetup shell script in an empty PATH.
func fakeDrbdsetup(t *testing.T, script string) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs /bin/sh")
	}
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "drbdsetup"), []byte("#!/bin/sh\n"+script+"\n"), 0o755))
	t.Setenv("PATH", dir)
}

func TestExecWithRealProcesses(t *testing.T) {
	t.Run("not installed", func(t *testing.T) {
		t.Setenv("PATH", t.TempDir())
		_, err := drbd.Read(t.Context(), drbd.Exec)
		require.ErrorIs(t, err, drbd.ErrNotInstalled)
		assert.ErrorIs(t, err, exec.ErrNotFound)
	})
	t.Run("report", func(t *testing.T) {
		abs, err := filepath.Abs(filepath.Join("testdata", "syncing.json"))
		require.NoError(t, err)
		t.Setenv("FIXTURE", abs)
		fakeDrbdsetup(t, `[ "$1 $2" = "status --json" ] || exit 20; while IFS= read -r line; do printf '%s\n' "$line"; done < "$FIXTURE"`)
		rs, err := drbd.Read(t.Context(), drbd.Exec)
		require.NoError(t, err)
		require.Len(t, rs, 2)
		assert.Equal(t, "sync-target", rs[1].Name)
	})
	t.Run("kernel module missing", func(t *testing.T) {
		fakeDrbdsetup(t, `echo "Could not connect to 'drbd' generic netlink family" >&2; exit 20`)
		_, err := drbd.Read(t.Context(), drbd.Exec)
		require.ErrorIs(t, err, drbd.ErrUnavailable)
		assert.Contains(t, err.Error(), "exit status 20: Could not connect to 'drbd' generic netlink family")
	})
	t.Run("output over the limit", func(t *testing.T) {
		// 5 MiB of spaces in 64 KiB blocks, without external programs.
		fakeDrbdsetup(t, `b=' '; i=0; while [ $i -lt 16 ]; do b="$b$b"; i=$((i+1)); done; i=0; while [ $i -lt 80 ]; do printf '%s' "$b"; i=$((i+1)); done`)
		out, err := drbd.Exec(t.Context(), "drbdsetup")
		require.NoError(t, err)
		assert.Len(t, out, drbd.MaxInputSize+1, "Exec keeps one byte more than Parse accepts")
		_, err = drbd.Read(t.Context(), drbd.Exec)
		require.ErrorIs(t, err, drbd.ErrTooLarge)
	})
	t.Run("context deadline", func(t *testing.T) {
		fakeDrbdsetup(t, `exec /bin/sleep 30 2>/dev/null || while :; do :; done`)
		ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := drbd.Read(ctx, drbd.Exec)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Less(t, time.Since(start), 10*time.Second, "the process is killed with the context")
		assert.True(t, strings.HasPrefix(err.Error(), "drbdsetup status --json: context deadline exceeded"), err.Error())
	})
}
