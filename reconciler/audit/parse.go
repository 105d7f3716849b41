package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// MaxLineBytes is the longest audit.jsonl line accepted, newline excluded.
const MaxLineBytes = 1 << 20

// ParseError names the file and line at which audit JSONL could not be read.
type ParseError struct {
	// File is the name the caller gave the input.
	File string
	// Line is the 1-based line number.
	Line int
	// Err is what is wrong with the line.
	Err error
}

// Error formats the error as file:line: problem.
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

// Unwrap returns the underlying problem.
func (e *ParseError) Unwrap() error { return e.Err }

// errLineTooLong is returned by readLine for a line above MaxLineBytes.
var errLineTooLong = fmt.Errorf("line longer than %d bytes", MaxLineBytes)

// ParseJSONL reads audit records, one JSON object per line, as
// clusters/<cluster>/audit.jsonl holds them. It is strict: a line that is
// not exactly one JSON object of AuditRecord's fields (no unknown,
// duplicate or differently cased keys, no null except for time), an empty
// line followed by a record, or a line above MaxLineBytes is an error
// naming name and the line, as a *ParseError. Empty lines at the end and a
// missing final newline are accepted. It does not verify the chain; pass
// the result to Verify for that.
func ParseJSONL(name string, r io.Reader) ([]v1.AuditRecord, error) {
	br := bufio.NewReader(r)
	var records []v1.AuditRecord
	emptyLine := 0 // the first empty line seen, if any
	for line := 1; ; line++ {
		b, _, err := readLine(br)
		if errors.Is(err, io.EOF) && len(b) == 0 {
			return records, nil
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, &ParseError{File: name, Line: line, Err: err}
		}
		if len(bytes.TrimSpace(b)) == 0 {
			if emptyLine == 0 {
				emptyLine = line
			}
			continue
		}
		if emptyLine != 0 {
			return nil, &ParseError{File: name, Line: emptyLine, Err: errors.New("empty line between records")}
		}
		rec, derr := decodeRecord(b)
		if derr != nil {
			return nil, &ParseError{File: name, Line: line, Err: derr}
		}
		records = append(records, rec)
		if errors.Is(err, io.EOF) {
			return records, nil
		}
	}
}

// readLine returns the next line without its newline and whether it ended
// with one. At the end of input it returns the unterminated rest (possibly
// empty) with io.EOF.
func readLine(br *bufio.Reader) (line []byte, terminated bool, err error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > MaxLineBytes+1 {
			return nil, false, errLineTooLong
		}
		buf = append(buf, chunk...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		default:
			if len(buf) > MaxLineBytes {
				return nil, false, errLineTooLong
			}
			return buf, false, err
		}
	}
}

// recordKeys are the JSON keys of an AuditRecord, exactly as spelled.
var recordKeys = map[string]bool{
	"seq": true, "time": true, "cluster": true, "site": true, "kind": true,
	"name": true, "from": true, "to": true, "reason": true, "message": true,
	"actor": true, "sourceCommit": true, "prev": true, "hash": true,
}

// decodeRecord decodes one line strictly into an AuditRecord.
func decodeRecord(line []byte) (v1.AuditRecord, error) {
	var rec v1.AuditRecord
	if err := checkKeys(line); err != nil {
		return rec, err
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rec); err != nil {
		return rec, fmt.Errorf("invalid audit record: %w", err)
	}
	return rec, nil
}

// checkKeys makes sure line holds exactly one JSON object whose keys are
// AuditRecord's, each at most once and spelled exactly (encoding/json would
// otherwise match keys case-insensitively and let the last duplicate win),
// and that only time is null.
func checkKeys(line []byte) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return errors.New("not a JSON object")
	}
	seen := make(map[string]bool, len(recordKeys))
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("invalid JSON: %w", err)
		}
		key, ok := tok.(string)
		if !ok {
			return errors.New("invalid JSON: object key is not a string")
		}
		if !recordKeys[key] {
			return fmt.Errorf("unknown field %q", key)
		}
		if seen[key] {
			return fmt.Errorf("duplicate field %q", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("field %q: invalid JSON: %w", key, err)
		}
		if key != "time" && string(raw) == "null" {
			return fmt.Errorf("field %q: null is not allowed", key)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON object")
	}
	return nil
}
