package yamlfile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Error is one problem of a file, located as precisely as known.
type Error struct {
	// File names the input, as the caller named it.
	File string `json:"file"`
	// Line is the 1-based line, 0 when the problem concerns the whole file.
	Line int `json:"line,omitempty"`
	// Column is the 1-based column, 0 when unknown.
	Column int `json:"column,omitempty"`
	// Field is the path of the field, such as clusters[2].keys[0].ssh, or "".
	Field string `json:"field,omitempty"`
	// Message says what is wrong.
	Message string `json:"message"`
}

// Error formats the problem as "file:line:column: field: message",
// without the line, column or field when they are not known.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Position())
	b.WriteString(": ")
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Position formats where the problem is: "file:line:column", "file:line"
// or "file".
func (e *Error) Position() string {
	s := e.File
	if e.Line > 0 {
		s += fmt.Sprintf(":%d", e.Line)
		if e.Column > 0 {
			s += fmt.Sprintf(":%d", e.Column)
		}
	}
	return s
}

// At returns the problem of field located at node n of file; a nil n
// locates it at the whole file.
func At(file string, n *yaml.Node, field, format string, args ...any) *Error {
	e := &Error{File: file, Field: field, Message: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	return e
}

// Errors is every problem found in one or more files.
type Errors []*Error

// Error joins the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the problems, so that errors.As finds an *Error in a
// list.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns the list as an error, or nil when it is empty.
func (es Errors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// Sort orders the problems by file, line, column and message, so output
// is stable whatever order checks ran in.
func (es Errors) Sort() {
	slices.SortStableFunc(es, func(a, b *Error) int { return Compare(*a, *b) })
}

// Compare orders two problems by file, line, column and message: the one
// order every list of located problems is shown in.
func Compare(a, b Error) int {
	return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column), cmp.Compare(a.Message, b.Message))
}
