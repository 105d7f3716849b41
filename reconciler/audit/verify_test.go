package audit_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestVerify(t *testing.T) {
	tests := []struct {
		name     string
		records  func() []v1.AuditRecord
		wantLine int // 0: the chain verifies
		wantSeq  int64
		reason   string
	}{
		{"empty", func() []v1.AuditRecord { return nil }, 0, 0, ""},
		{"whole chain", func() []v1.AuditRecord { return chain(5) }, 0, 0, ""},
		{"suffix of a chain", func() []v1.AuditRecord { return chain(5)[2:] }, 0, 0, ""},
		{"tampered hash", func() []v1.AuditRecord {
			c := chain(5)
			c[2].Hash = audit.Hash(c[0])
			return c
		}, 3, 3, "does not match the record's content"},
		{"changed field", func() []v1.AuditRecord {
			c := chain(5)
			c[3].To = "Succeeded"
			return c
		}, 4, 4, "does not match the record's content"},
		{"changed field with recomputed hash", func() []v1.AuditRecord {
			c := chain(5)
			c[1].Actor = "mallory"
			c[1].Hash = audit.Hash(c[1])
			return c
		}, 3, 3, "prev"},
		{"reordered records", func() []v1.AuditRecord {
			c := chain(5)
			c[1], c[2] = c[2], c[1]
			return c
		}, 2, 3, "seq 3 does not follow seq 1"},
		{"gap", func() []v1.AuditRecord {
			c := chain(5)
			return append(c[:2:2], c[3:]...)
		}, 3, 4, "seq 4 does not follow seq 2"},
		{"duplicate record", func() []v1.AuditRecord {
			c := chain(3)
			return append(c, c[2])
		}, 4, 3, "seq 3 does not follow seq 3"},
		{"renumbered record", func() []v1.AuditRecord {
			c := chain(3)
			c[2].Seq = 7
			return c
		}, 3, 7, "seq 7 does not follow seq 2"},
		{"missing hash", func() []v1.AuditRecord {
			c := chain(2)
			c[1].Hash = ""
			return c
		}, 2, 2, "hash is missing"},
		{"seq 1 with a prev", func() []v1.AuditRecord {
			c := chain(1)
			c[0].Prev = vectorHash
			c[0].Hash = audit.Hash(c[0])
			return c
		}, 1, 1, "starts the chain"},
		{"seq 0", func() []v1.AuditRecord {
			c := chain(1)
			c[0].Seq = 0
			c[0].Hash = audit.Hash(c[0])
			return c
		}, 1, 0, "at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := audit.Verify(tt.records())
			if tt.wantLine == 0 {
				require.NoError(t, err)
				return
			}
			var broken *audit.BrokenLinkError
			require.ErrorAs(t, err, &broken)
			assert.Equal(t, tt.wantLine, broken.Line)
			assert.Equal(t, tt.wantSeq, broken.Seq)
			assert.Contains(t, broken.Reason, tt.reason)
			assert.Contains(t, err.Error(), "line")
		})
	}
}

func TestVerifyFrom(t *testing.T) {
	c := chain(5)
	tests := []struct {
		name     string
		anchor   v1.AuditLog
		records  []v1.AuditRecord
		wantLine int
		reason   string
	}{
		{"genesis anchor, whole chain", v1.AuditLog{}, c, 0, ""},
		{"genesis anchor, suffix", v1.AuditLog{}, c[2:], 1, "seq 3 does not follow seq 0"},
		{"anchor at seq 2", v1.AuditLog{Seq: 2, Hash: c[1].Hash}, c[2:], 0, ""},
		{"anchor with the wrong hash", v1.AuditLog{Seq: 2, Hash: c[0].Hash}, c[2:], 1, "prev"},
		{"anchor at the wrong seq", v1.AuditLog{Seq: 3, Hash: c[1].Hash}, c[2:], 1, "seq 3 does not follow seq 3"},
		{"nothing after the anchor", v1.AuditLog{Seq: 5, Hash: c[4].Hash}, nil, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := audit.VerifyFrom(tt.anchor, tt.records)
			if tt.wantLine == 0 {
				require.NoError(t, err)
				return
			}
			var broken *audit.BrokenLinkError
			require.ErrorAs(t, err, &broken)
			assert.Equal(t, tt.wantLine, broken.Line)
			assert.Contains(t, broken.Reason, tt.reason)
		})
	}
}
