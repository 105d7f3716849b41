package manifest

import (
	"slices"
	"strings"

	"github.com/nodewright/nodewright/internal/yamlfile"
)

// Severity ranks a problem. Only errors make lint fail.
type Severity string

const (
	// Error is a problem that must be fixed.
	Error Severity = "error"
	// Notice is information a reviewer should see, such as a disruptive change.
	Notice Severity = "notice"
)

// Problem is one finding about a manifest, located as precisely as known.
type Problem struct {
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Column   int      `json:"column,omitempty"`
	Field    string   `json:"field,omitempty"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

// ProblemOf makes a problem of severity sev of a located error.
func ProblemOf(e *yamlfile.Error, sev Severity) Problem {
	return Problem{File: e.File, Line: e.Line, Column: e.Column, Field: e.Field, Severity: sev, Message: e.Message}
}

// Located returns the problem without its severity, as the repository's
// located error.
func (p Problem) Located() *yamlfile.Error {
	return &yamlfile.Error{File: p.File, Line: p.Line, Column: p.Column, Field: p.Field, Message: p.Message}
}

// String formats the problem as "file:line:col: field: message" (as a
// yamlfile.Error formats), with a "notice: " prefix on notices.
func (p Problem) String() string {
	e := p.Located()
	if p.Severity != Notice {
		return e.Error()
	}
	msg := p.Message
	if p.Field != "" {
		msg = p.Field + ": " + msg
	}
	return e.Position() + ": notice: " + msg
}

// Problems is a list of findings.
type Problems []Problem

// Errors counts the problems of severity Error.
func (ps Problems) Errors() int {
	n := 0
	for _, p := range ps {
		if p.Severity == Error {
			n++
		}
	}
	return n
}

// Sort orders problems by file, line, column and message, so output is
// stable whatever order checks ran in.
func (ps Problems) Sort() {
	slices.SortStableFunc(ps, func(a, b Problem) int { return yamlfile.Compare(*a.Located(), *b.Located()) })
}

// Error joins the problems one per line, so Problems can be returned as an error.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
