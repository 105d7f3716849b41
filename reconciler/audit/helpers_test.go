package audit_test

import (
	"fmt"
	"time"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// t0 is the time of the first test record.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// transition returns the i-th test transition of a bond flip.
func transition(i int) audit.Transition {
	return audit.Transition{
		Cluster:      "edge-042",
		Site:         "edge-042",
		Kind:         "BondModeFlipPlan",
		Name:         "bondflip",
		From:         fmt.Sprintf("Phase%d", i),
		To:           fmt.Sprintf("Phase%d", i+1),
		Reason:       "StepDone",
		Message:      fmt.Sprintf("step %d done", i),
		Actor:        "nodewright-reconciler",
		SourceCommit: "0123456789abcdef0123456789abcdef01234567",
		Time:         t0.Add(time.Duration(i) * time.Minute),
	}
}

// chain returns records 1..n of one chain.
func chain(n int) []v1.AuditRecord {
	var log v1.AuditLog
	out := make([]v1.AuditRecord, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, audit.Next(log, transition(i).Record()))
		log.Seq, log.Hash = out[i-1].Seq, out[i-1].Hash
	}
	return out
}

// seqs returns the seqs of records.
func seqs(records []v1.AuditRecord) []int64 {
	out := make([]int64, len(records))
	for i, r := range records {
		out[i] = r.Seq
	}
	return out
}

// seqRange returns from..to.
func seqRange(from, to int64) []int64 {
	var out []int64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}
