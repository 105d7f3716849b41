package drbd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"
	"time"
)

// Command is the program Read runs, looked up in PATH by the runner.
const Command = "drbdsetup"

// ErrNotInstalled is returned (wrapped) by Read when drbdsetup is not on
// the node: the agent skips DRBD there.
var ErrNotInstalled = errors.New("drbd: drbdsetup is not installed")

// ErrUnavailable is returned (wrapped) by Read when drbdsetup runs but
// exits with status 20 without a report: drbdsetup's code for "cannot use
// the kernel's DRBD" (module missing and modprobe failed, no drbd generic
// netlink family, a DRBD 8.4 kernel whose drbdsetup has no --json, or an
// API mismatch between drbd-utils and the module). The message carries
// drbdsetup's own explanation.
var ErrUnavailable = errors.New("drbd: DRBD 9 is not usable on this node")

// exitUnavailable is the exit status drbdsetup uses for the cases of
// ErrUnavailable (user/v9/drbdsetup.c, drbdsetup_main).
const exitUnavailable = 20

// Runner runs a program and returns its standard output. A failed run
// returns an error that errors.As finds an *exec.ExitError in (with Stderr
// set, as exec.Cmd.Output does); a program missing from PATH returns an
// error that is exec.ErrNotFound. Exec is the real one.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// Read runs `drbdsetup status --json` through run and parses its output.
// Errors wrap ErrNotInstalled, ErrUnavailable, the context's error when it
// ended first, ErrTooLarge or ErrMalformed; any other failure of the
// command is returned with drbdsetup's standard error in the message.
func Read(ctx context.Context, run Runner) ([]Resource, error) {
	const what = Command + " status --json"
	out, err := run(ctx, Command, "status", "--json")
	if err != nil {
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %w", ErrNotInstalled, err)
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			if errors.Is(err, ctxErr) {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			return nil, fmt.Errorf("%s: %w (%w)", what, ctxErr, err)
		}
		if ee, ok := errors.AsType[*exec.ExitError](err); ok {
			stderr := firstLines(ee.Stderr)
			if ee.ExitCode() == exitUnavailable {
				return nil, fmt.Errorf("%w: %s: %w%s", ErrUnavailable, what, err, stderr)
			}
			return nil, fmt.Errorf("%s: %w%s", what, err, stderr)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return Parse(out)
}

// Exec is the Runner for a real node: it runs the program with
// exec.CommandContext, keeps at most MaxInputSize+1 bytes of standard output
// (so that Parse refuses an oversized report instead of the agent holding
// it) and the first KiB of standard error, and puts that standard error in
// the *exec.ExitError of a failed run.
func Exec(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	stdout := &capped{max: MaxInputSize + 1}
	stderr := &capped{max: 1 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A child that keeps the pipes open must not hold Read past its
	// context.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		ee.Stderr = stderr.buf.Bytes()
	}
	return stdout.buf.Bytes(), err
}

// capped keeps the first max bytes written to it and discards the rest, so
// that the writer never blocks the program.
type capped struct {
	buf bytes.Buffer
	max int
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		c.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

// firstLines formats the start of a program's standard error for an error
// message: ": " and up to three lines joined with "; ", or nothing.
func firstLines(stderr []byte) string {
	var lines []string
	for line := range strings.Lines(string(stderr)) {
		if line = strings.TrimSpace(line); line != "" {
			lines = append(lines, line)
		}
		if len(lines) == 3 {
			break
		}
	}
	if len(lines) == 0 {
		return ""
	}
	return ": " + strings.Join(lines, "; ")
}
