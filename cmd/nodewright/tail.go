package main

import (
	"fmt"
	"io"

	"github.com/nodewright/nodewright/source/reason"
)

// refusal is one reason a command refused, printed on stderr as
// "REJECTED <Code>: <Message>".
type refusal struct {
	Code    reason.Code
	Message string
}

// ending is how a command that reports a verdict ends: its output on
// stdout, its refusals and warnings on stderr, and its exit code.
type ending struct {
	// Output is the --output flag: "json" encodes JSON on stdout; any
	// other value (text, table) has Text write the text form.
	Output string
	// JSON is the document encoded, indented, for -o json.
	JSON any
	// Text writes the text form; nil writes nothing.
	Text func(io.Writer) error
	// Refusals are printed one REJECTED line each and make the exit code 1.
	Refusals []refusal
	// Warnings are printed as "WARNING <warning>" lines after the refusals.
	Warnings []string
	// Failed makes the exit code 1 without a REJECTED line: the output
	// itself lists the errors (lint problems, a plan's manifest errors).
	Failed bool
}

// finish ends a command with e: it prints the REJECTED and WARNING lines
// on stderr, writes the JSON document or the text form on stdout, and
// returns the silent exit error of code 1 when anything was refused or
// failed, nil otherwise (or the error of writing stdout).
func finish(stdout, stderr io.Writer, e ending) error {
	printRefusals(stderr, e.Refusals)
	for _, w := range e.Warnings {
		fmt.Fprintf(stderr, "WARNING %s\n", oneLine(w))
	}
	var err error
	if e.Output == "json" {
		err = writeJSON(stdout, e.JSON)
	} else if e.Text != nil {
		err = e.Text(stdout)
	}
	if err != nil {
		return err
	}
	if len(e.Refusals) > 0 || e.Failed {
		return &exitError{code: exitRefused, silent: true}
	}
	return nil
}

// printRefusals prints one "REJECTED <Code>: <message>" line per refusal,
// the control characters of a message (its newlines) escaped by oneLine
// so that each refusal stays on one line.
func printRefusals(stderr io.Writer, refusals []refusal) {
	for _, r := range refusals {
		fmt.Fprintf(stderr, "REJECTED %s: %s\n", r.Code, oneLine(r.Message))
	}
}
