package audit_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// readFile parses and verifies a sink's file.
func readFile(t *testing.T, path string) []v1.AuditRecord {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	records, err := audit.ParseJSONL(path, f)
	require.NoError(t, err)
	require.NoError(t, audit.Verify(records))
	return records
}

func TestFileSinkDeliverAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	c := chain(10)

	s, err := audit.OpenFile(path)
	require.NoError(t, err)
	assert.Nil(t, s.Repaired())
	assert.Equal(t, int64(0), s.Delivered())
	require.NoError(t, s.Deliver(ctx, c[:4]))
	assert.Equal(t, int64(4), s.Delivered())
	// Redelivery of what the sink holds is skipped, also when it overlaps.
	require.NoError(t, s.Deliver(ctx, c[:6]))
	require.NoError(t, s.Deliver(ctx, c[2:6]))
	assert.Equal(t, int64(6), s.Delivered())
	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Deliver(ctx, c[6:]), audit.ErrClosed)

	s, err = audit.OpenFile(path)
	require.NoError(t, err)
	assert.Nil(t, s.Repaired())
	assert.Equal(t, int64(6), s.Delivered(), "learned from the last line")
	require.NoError(t, s.Deliver(ctx, c))
	require.NoError(t, s.Close())

	assert.Equal(t, seqRange(1, 10), seqs(readFile(t, path)))
}

func TestFileSinkRefusesBrokenChain(t *testing.T) {
	ctx := context.Background()
	c := chain(6)
	other := chain(6)
	other[3].Prev = vectorHash // a different record 3
	other[3].Hash = audit.Hash(other[3])
	tests := []struct {
		name    string
		records []v1.AuditRecord
		line    int
	}{
		{"gap", c[4:], 1},
		{"fork: prev differs from the last hash", other[3:], 1},
		{"tampered record in the batch", func() []v1.AuditRecord {
			b := append([]v1.AuditRecord(nil), c[3:]...)
			b[1].To = "Succeeded"
			return b
		}(), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			s, err := audit.OpenFile(path)
			require.NoError(t, err)
			defer s.Close()
			require.NoError(t, s.Deliver(ctx, c[:3]))
			err = s.Deliver(ctx, tt.records)
			var broken *audit.BrokenLinkError
			require.ErrorAs(t, err, &broken)
			assert.Equal(t, tt.line, broken.Line)
			assert.Equal(t, int64(3), s.Delivered(), "nothing written")
			assert.Equal(t, seqRange(1, 3), seqs(readFile(t, path)))
		})
	}
}

func TestFileSinkStartsAnywhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	s, err := audit.OpenFile(path)
	require.NoError(t, err)
	defer s.Close()
	c := chain(8)
	require.NoError(t, s.Deliver(context.Background(), c[5:]))
	assert.Equal(t, int64(8), s.Delivered())
}

func TestFileSinkTornLine(t *testing.T) {
	c := chain(5)
	full := jsonl(t, c)
	complete := jsonl(t, c[:3])
	tests := []struct {
		name          string
		content       string
		wantDelivered int64
		wantTorn      int64 // bytes cut off
	}{
		{"record cut in the middle", complete + full[len(complete):len(complete)+40], 3, 40},
		{"record without its newline", strings.TrimSuffix(jsonl(t, c[:4]), "\n"), 3, int64(len(jsonl(t, c[:4])) - len(complete) - 1)},
		{"only a torn line", full[:17], 0, 17},
		{"garbage after a batch", complete + "\x00\x00\x00", 3, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))

			s, err := audit.OpenFile(path)
			require.NoError(t, err)
			torn := s.Repaired()
			require.NotNil(t, torn, "the repair is reported")
			assert.Equal(t, tt.wantTorn, torn.Bytes)
			assert.Equal(t, int64(len(tt.content))-tt.wantTorn, torn.Offset)
			assert.Contains(t, torn.String(), path)
			assert.Equal(t, tt.wantDelivered, s.Delivered())

			// The pump delivers the lost records again and the file verifies.
			require.NoError(t, s.Deliver(context.Background(), c))
			require.NoError(t, s.Close())
			assert.Equal(t, seqRange(1, 5), seqs(readFile(t, path)))

			s, err = audit.OpenFile(path)
			require.NoError(t, err)
			assert.Nil(t, s.Repaired(), "a clean file needs no repair")
			require.NoError(t, s.Close())
		})
	}
}

func TestFileSinkRefusesDamagedLastLine(t *testing.T) {
	tests := []struct {
		name    string
		content string
	}{
		{"not JSON", jsonl(t, chain(2)) + "garbage\n"},
		{"empty last line", jsonl(t, chain(2)) + "\n"},
		{"bad hash", strings.Replace(jsonl(t, chain(2)), "step 2 done", "step 2 undone", 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.jsonl")
			require.NoError(t, os.WriteFile(path, []byte(tt.content), 0o600))
			_, err := audit.OpenFile(path)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "refusing to append")
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, tt.content, string(data), "the file is left alone")
		})
	}
}

func TestFileSinkLongFile(t *testing.T) {
	// More than one 32 KiB read-back chunk, with the torn tail spanning it.
	c := chain(400)
	content := jsonl(t, c)
	cut := len(jsonl(t, c[:399]))
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(content[:cut+100]), 0o600))
	s, err := audit.OpenFile(path)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, int64(399), s.Delivered())
	require.NotNil(t, s.Repaired())
	assert.Equal(t, int64(100), s.Repaired().Bytes)
}

func TestMulti(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, err := audit.OpenFile(filepath.Join(dir, "a.jsonl"))
	require.NoError(t, err)
	b, err := audit.OpenFile(filepath.Join(dir, "b.jsonl"))
	require.NoError(t, err)
	c := chain(6)
	require.NoError(t, a.Deliver(ctx, c[:4]))
	require.NoError(t, b.Deliver(ctx, c[:2]))

	m := audit.Multi(a, b)
	assert.Equal(t, int64(2), m.Delivered(), "the sink furthest behind")
	require.NoError(t, m.Deliver(ctx, c[2:]))
	assert.Equal(t, int64(6), m.Delivered())
	require.NoError(t, m.Close())
	assert.Equal(t, seqRange(1, 6), seqs(readFile(t, filepath.Join(dir, "a.jsonl"))))
	assert.Equal(t, seqRange(1, 6), seqs(readFile(t, filepath.Join(dir, "b.jsonl"))))
	assert.Equal(t, int64(0), audit.Multi().Delivered())
}
