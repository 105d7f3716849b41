package audit

import (
	"fmt"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// BrokenLinkError names the first record at which a chain fails to verify.
type BrokenLinkError struct {
	// Seq is the seq the broken record carries.
	Seq int64
	// Line is the record's 1-based position in the list verified, which is
	// its line in the audit.jsonl file it was parsed from.
	Line int
	// Reason says which check failed, e.g. "prev does not match the hash of
	// seq 4".
	Reason string
}

// Error describes the broken link.
func (e *BrokenLinkError) Error() string {
	return fmt.Sprintf("audit chain broken at line %d (seq %d): %s", e.Line, e.Seq, e.Reason)
}

// Verify checks that records form one unbroken hash chain: each seq is the
// previous seq plus 1, each prev is the previous record's hash and each hash
// is Hash of its record. The first record may start at any seq and its prev
// is taken as given, except that seq 1 starts the chain and so must have an
// empty prev. An empty list verifies. The first failure is returned as a
// *BrokenLinkError.
func Verify(records []v1.AuditRecord) error {
	return verify(nil, records)
}

// VerifyFrom is Verify for records that must continue the chain at anchor:
// the first record must have seq anchor.Seq+1 and prev anchor.Hash. The zero
// AuditLog anchors a chain that must start at seq 1. Only anchor.Seq and
// anchor.Hash are read.
func VerifyFrom(anchor v1.AuditLog, records []v1.AuditRecord) error {
	return verify(&anchor, records)
}

func verify(anchor *v1.AuditLog, records []v1.AuditRecord) error {
	var prevSeq int64
	var prevHash string
	if anchor != nil {
		prevSeq, prevHash = anchor.Seq, anchor.Hash
	}
	for i, r := range records {
		broken := func(format string, args ...any) error {
			return &BrokenLinkError{Seq: r.Seq, Line: i + 1, Reason: fmt.Sprintf(format, args...)}
		}
		known := i > 0 || anchor != nil
		switch {
		case r.Seq < 1:
			return broken("seq must be at least 1")
		case known && r.Seq != prevSeq+1:
			return broken("seq %d does not follow seq %d", r.Seq, prevSeq)
		case known && r.Prev != prevHash:
			return broken("prev %q does not match the hash %q of seq %d", r.Prev, prevHash, prevSeq)
		case !known && r.Seq == 1 && r.Prev != "":
			return broken("seq 1 starts the chain but has prev %q", r.Prev)
		case r.Hash == "":
			return broken("hash is missing")
		}
		if want := Hash(r); r.Hash != want {
			return broken("hash %q does not match the record's content (recomputed %q)", r.Hash, want)
		}
		prevSeq, prevHash = r.Seq, r.Hash
	}
	return nil
}
