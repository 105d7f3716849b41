package journal_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/journal"
)

const validEntry = `{
  "version": 1,
  "task": {"namespace": "nodewright-system", "name": "flip-node-a", "uid": "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a01"},
  "bond": "bond0",
  "fromMode": "active-backup",
  "toMode": "802.3ad",
  "deadline": "2026-12-04T10:01:00Z",
  "state": "applied",
  "opened": "2026-12-04T10:00:00Z",
  "pre": {"mode": "active-backup"},
  "post": {"mode": "802.3ad"}
}`

func TestDecodeValid(t *testing.T) {
	e, err := journal.Decode(strings.NewReader(validEntry))
	require.NoError(t, err)
	assert.Equal(t, journal.StateApplied, e.State)
	assert.Equal(t, "bond0", e.Bond)
}

func TestDecodeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, old, new, want string
	}{
		{"unknown field", `"bond": "bond0",`, `"bond": "bond0", "extra": 1,`, `unknown field "extra"`},
		{"future version", `"version": 1`, `"version": 2`, "version: 2 is not 1"},
		{"path in uid", `"uid": "0b5e1a52-6f5c-4a57-a8a4-2c1a3c1d0a01"`, `"uid": "../../etc/x"`, "task.uid"},
		{"bad bond name", `"bond": "bond0"`, `"bond": "bond0; rm -rf /"`, "bond:"},
		{"unknown mode", `"toMode": "802.3ad"`, `"toMode": "mesh"`, "toMode"},
		{"unknown state", `"state": "applied"`, `"state": "done"`, "state:"},
		{"no deadline", `"deadline": "2026-12-04T10:01:00Z",`, ``, "deadline: is not set"},
		{"pre not an object", `"pre": {"mode": "active-backup"}`, `"pre": "x"`, "pre:"},
		{"applied without post", `,
  "post": {"mode": "802.3ad"}`, ``, "post:"},
		{"terminal without closed", `"state": "applied"`, `"state": "reverted"`, "closed:"},
		{"open with post", `"state": "applied"`, `"state": "open"`, "post: is set in state open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := strings.Replace(validEntry, tc.old, tc.new, 1)
			require.NotEqual(t, validEntry, in)
			_, err := journal.Decode(strings.NewReader(in))
			require.ErrorIs(t, err, journal.ErrCorrupt)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := journal.Decode(strings.NewReader(validEntry + `{}`))
	assert.ErrorContains(t, err, "data after the entry")
	big := bytes.Repeat([]byte(" "), journal.MaxEntrySize+1)
	_, err = journal.Decode(bytes.NewReader(big))
	assert.ErrorContains(t, err, "larger than")
}

// FuzzDecode checks Decode never panics and that what it accepts passes
// its own checks again once written back.
func FuzzDecode(f *testing.F) {
	f.Add([]byte(validEntry))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"version":1,"pre":{}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := journal.Decode(bytes.NewReader(data))
		if err != nil {
			return
		}
		require.NotEmpty(t, e.Task.UID)
		require.NotZero(t, e.Deadline)
	})
}
