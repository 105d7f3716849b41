// Command nodewright is the one Nodewright binary: the fleet-source
// verifier and, as they land, the linter, planner, reconciler, agent and
// fleet tools.
//
// Exit codes: 0 success; 1 verification or validation refused (one
// "REJECTED <ReasonCode>: <message>" line on stderr per refusal); 2 bad
// usage, configuration, or a source that cannot be read.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Exit codes of DESIGN.md.
const (
	exitOK      = 0
	exitRefused = 1
	exitUsage   = 2
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

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(stdout)
	cmd.SetErr(stderr)
	err := cmd.Execute()
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
