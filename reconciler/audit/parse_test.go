package audit_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// jsonl renders records as audit.jsonl does.
func jsonl(t testing.TB, records []v1.AuditRecord) string {
	t.Helper()
	var b strings.Builder
	for _, r := range records {
		line, err := json.Marshal(r)
		require.NoError(t, err)
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.String()
}

func TestParseJSONL(t *testing.T) {
	c := chain(3)
	good := jsonl(t, c)
	lines := strings.SplitAfter(good, "\n")
	line1 := strings.TrimSuffix(lines[0], "\n")
	tests := []struct {
		name     string
		input    string
		wantSeqs []int64
		wantLine int // 0: no error
		wantErr  string
	}{
		{"empty file", "", nil, 0, ""},
		{"three records", good, seqRange(1, 3), 0, ""},
		{"no final newline", strings.TrimSuffix(good, "\n"), seqRange(1, 3), 0, ""},
		{"CRLF line ends", strings.ReplaceAll(good, "\n", "\r\n"), seqRange(1, 3), 0, ""},
		{"trailing empty lines", good + "\n\n", seqRange(1, 3), 0, ""},
		{"empty line in the middle", lines[0] + "\n" + lines[1], nil, 2, "empty line"},
		{"whitespace line in the middle", lines[0] + "  \t\n" + lines[1], nil, 2, "empty line"},
		{"bad JSON", lines[0] + "{\"seq\":2,\n", nil, 2, "invalid"},
		{"truncated last line", lines[0] + lines[1][:30], nil, 2, "invalid"},
		{"unknown field", lines[0] + strings.Replace(lines[1], `"seq"`, `"extra":1,"seq"`, 1), nil, 2, `unknown field "extra"`},
		{"differently cased field", strings.Replace(lines[0], `"seq"`, `"SEQ"`, 1), nil, 1, `unknown field "SEQ"`},
		{"duplicate field", strings.Replace(lines[0], `"to":`, `"to":"X","to":`, 1), nil, 1, `duplicate field "to"`},
		{"null string", strings.Replace(lines[0], `"actor":"nodewright-reconciler"`, `"actor":null`, 1), nil, 1, "null"},
		{"null time is allowed", strings.Replace(lines[0], `"time":"2025-03-01T12:01:00Z"`, `"time":null`, 1), []int64{1}, 0, ""},
		{"seq as string", strings.Replace(lines[0], `"seq":1`, `"seq":"1"`, 1), nil, 1, "invalid audit record"},
		{"seq as float", strings.Replace(lines[0], `"seq":1`, `"seq":1.5`, 1), nil, 1, "invalid audit record"},
		{"bad time", strings.Replace(lines[0], `2025-03-01T12:01:00Z`, `yesterday`, 1), nil, 1, "invalid audit record"},
		{"array instead of object", "[1,2]\n", nil, 1, "not a JSON object"},
		{"two objects on one line", line1 + line1 + "\n", nil, 1, "data after the JSON object"},
		{"line too long", strings.Repeat(" ", audit.MaxLineBytes+1) + "\n", nil, 1, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := audit.ParseJSONL("clusters/edge-042/audit.jsonl", strings.NewReader(tt.input))
			if tt.wantLine == 0 {
				require.NoError(t, err)
				assert.Equal(t, tt.wantSeqs, nilIfEmpty(seqs(got)))
				return
			}
			var perr *audit.ParseError
			require.ErrorAs(t, err, &perr)
			assert.Equal(t, "clusters/edge-042/audit.jsonl", perr.File)
			assert.Equal(t, tt.wantLine, perr.Line)
			assert.Contains(t, err.Error(), tt.wantErr)
			assert.True(t, strings.HasPrefix(err.Error(), "clusters/edge-042/audit.jsonl:"), err.Error())
			assert.Nil(t, got)
		})
	}
}

func TestParseJSONLRoundTrip(t *testing.T) {
	c := chain(20)
	got, err := audit.ParseJSONL("a.jsonl", strings.NewReader(jsonl(t, c)))
	require.NoError(t, err)
	require.NoError(t, audit.Verify(got))
	require.Len(t, got, len(c))
	for i := range c {
		assert.Equal(t, c[i].Hash, got[i].Hash)
		assert.True(t, c[i].Time.Equal(&got[i].Time))
	}
}

// FuzzParseJSONL checks that no input makes ParseJSONL panic, that whatever
// it accepts survives a round trip, and that Verify copes with it.
func FuzzParseJSONL(f *testing.F) {
	good := jsonl(f, chain(3))
	f.Add([]byte(good))
	f.Add([]byte(""))
	f.Add([]byte("\n\n"))
	f.Add([]byte(`{"seq":1,"time":null}` + "\n"))
	f.Add([]byte(`{"seq":1,"seq":2}`))
	f.Add([]byte(`{"Seq":1}`))
	f.Add([]byte(`{"time":"2025-03-01T12:00:00.5+01:00","message":"\u2028\ud800"}`))
	f.Add([]byte(`{"seq":-9223372036854775808,"hash":"x"}`))
	f.Add([]byte("{\"message\":\"\xff\"}\n\n{}"))
	f.Add([]byte(good[:len(good)/2]))
	f.Fuzz(func(t *testing.T, data []byte) {
		records, err := audit.ParseJSONL("fuzz.jsonl", bytes.NewReader(data))
		if err != nil {
			var perr *audit.ParseError
			require.ErrorAs(t, err, &perr)
			require.Positive(t, perr.Line)
			return
		}
		_ = audit.Verify(records)
		for _, r := range records {
			_ = audit.Hash(r)
		}
		again, err := audit.ParseJSONL("again.jsonl", strings.NewReader(jsonl(t, records)))
		if err != nil {
			// Only a time that metav1.Time writes but cannot read back
			// (a year beyond 9999) may fail the round trip.
			require.Contains(t, err.Error(), "time")
			return
		}
		require.Len(t, again, len(records))
		for i := range records {
			require.Equal(t, audit.Hash(records[i]), audit.Hash(again[i]))
		}
	})
}
