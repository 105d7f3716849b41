// Command nodewright is the one Nodewright binary: the fleet-source
// verifier and, as they land, the linter, planner, reconciler, agent and
// fleet tools.
//
// Exit codes: 0 success; 1 verification or validation refused (one
// "REJECTED <ReasonCode>: <message>" line on stderr per refusal); 2 bad
// usage, configuration, or a source that cannot be read; 130 a demo
// stopped by SIGINT or SIGTERM before it finished.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes of DESIGN.md.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
	// exitInterrupted is a command stopped by SIGINT or SIGTERM before it
	// finished (after removing what it started), as shells report 128+2.
	exitInterrupted = 130
)

// exitError carries an exit code up to main; its message, if any, has
// been printed already when silent is set.
type exitError struct {
	code   int
	err    error
	silent bool
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

// main is the one owner of SIGINT and SIGTERM in the process. The first
// signal cancels the context every command runs under (cobra's
// cmd.Context()); the command then unwinds and removes what it started
// in its deferred cleanup. Until run returns the signals stay caught, so
// a second one does not kill the process halfway through that cleanup;
// once the cleanup was attempted, the handler is dropped and the process
// exits. No command installs a signal handler of its own.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runContext(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line under a background context and returns
// the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	return runContext(context.Background(), args, stdout, stderr)
}

// runContext executes the command line under ctx, which a command treats
// as its signal to stop, and returns the exit code.
func runContext(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if !ee.silent && ee.err != nil {
			fmt.Fprintln(stderr, "error:", ee.err)
		}
		return ee.code
	}
	// Errors cobra raises itself are bad usage (unknown flag, missing argument).
	fmt.Fprintln(stderr, "error:", err)
	return exitUsage
}
