package view

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/reason"
)

// Problem is one refusal found on the status branch: a broken audit
// chain, a status commit without a valid cluster signature, a commit that
// reaches outside its cluster's directory, or an unreadable file. Message
// is self-contained (it names the cluster, the commit and the file line);
// the other fields repeat those for machines.
type Problem struct {
	// Code is one of AuditBroken, StatusSignature, StatusScope,
	// StatusInvalid, or a source reason code when the fleet branch was
	// refused.
	Code reason.Code `json:"code"`
	// Cluster is the cluster whose record or directory the problem breaks
	// ("" for a problem of the branch as a whole).
	Cluster string `json:"cluster,omitempty"`
	// Commit is the offending commit, when there is one.
	Commit string `json:"commit,omitempty"`
	// File and Line locate a broken audit line (Line is 1-based).
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
	// Seq is the seq of the broken record, when it could be read.
	Seq int64 `json:"seq,omitempty"`
	// Message says what is wrong, for a person.
	Message string `json:"message"`
}

// Error formats the problem as "<Code>: <message>".
func (p *Problem) Error() string { return string(p.Code) + ": " + p.Message }

// Filter selects audit records for Log. Empty fields match everything.
type Filter struct {
	// Cluster keeps the records of one cluster.
	Cluster string
	// Site keeps the records of clusters serving one site.
	Site string
	// Kind and Name keep the records of one operation (or, with only one
	// of them set, of every operation of that kind or with that name).
	Kind string
	Name string
	// Since and Until bound the records' time, both inclusive.
	Since time.Time
	Until time.Time
	// OldestFirst lists records oldest first; by default the newest come
	// first, as git log does.
	OldestFirst bool
	// Limit keeps the first Limit records of the order; 0 keeps all.
	Limit int
}

// Match reports whether r passes the filter.
func (f Filter) Match(r v1.AuditRecord) bool {
	switch {
	case f.Cluster != "" && r.Cluster != f.Cluster,
		f.Site != "" && r.Site != f.Site,
		f.Kind != "" && r.Kind != f.Kind,
		f.Name != "" && r.Name != f.Name,
		!f.Since.IsZero() && r.Time.Time.Before(f.Since),
		!f.Until.IsZero() && r.Time.Time.After(f.Until):
		return false
	}
	return true
}

// Log returns the audit records at the status branch's tip that pass f, in
// f's order: by time, then cluster, then seq. It reads records and does not
// verify their chain (Verify does); a file that cannot be parsed is left
// out and reported as an AuditBroken problem.
func Log(r *Repo, f Filter) ([]v1.AuditRecord, []Problem, error) {
	var out []v1.AuditRecord
	problems, err := eachAuditFile(r, f.Cluster, func(cluster string, recs []v1.AuditRecord) {
		for _, rec := range recs {
			if f.Match(rec) {
				out = append(out, rec)
			}
		}
	})
	if err != nil {
		return nil, nil, err
	}
	SortRecords(out, f.OldestFirst)
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[:f.Limit]
	}
	return out, problems, nil
}

// SortRecords orders records by time, then cluster, then seq: oldest first
// when oldestFirst is set, else newest first.
func SortRecords(recs []v1.AuditRecord, oldestFirst bool) {
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := recs[i], recs[j]
		if !oldestFirst {
			a, b = b, a
		}
		if !a.Time.Equal(&b.Time) {
			return a.Time.Before(&b.Time)
		}
		if a.Cluster != b.Cluster {
			// Clusters keep ascending name order in both directions.
			if oldestFirst {
				return a.Cluster < b.Cluster
			}
			return a.Cluster > b.Cluster
		}
		return a.Seq < b.Seq
	})
}

// eachAuditFile parses the audit.jsonl of every cluster at the tip (or of
// only one when cluster is set) and hands the records to fn, in cluster
// name order.
func eachAuditFile(r *Repo, cluster string, fn func(cluster string, recs []v1.AuditRecord)) ([]Problem, error) {
	tip, err := r.commit(r.Tip)
	if err != nil {
		return nil, err
	}
	dirs, err := r.clusterDirs(tip.Tree)
	if err != nil {
		return nil, err
	}
	var problems []Problem
	for _, e := range dirs {
		if cluster != "" && e.name != cluster {
			continue
		}
		d, err := r.clusterFiles(e)
		if err != nil {
			return nil, err
		}
		if d.audit.IsZero() {
			continue
		}
		data, err := r.read(plumbing.BlobObject, d.audit)
		if err != nil {
			return nil, err
		}
		file := auditPath(e.name)
		recs, err := audit.ParseJSONL(file, bytes.NewReader(data))
		if err != nil {
			p := Problem{Code: AuditBroken, Cluster: e.name, File: file, Message: fmt.Sprintf("cluster %s: %v", e.name, err)}
			var pe *audit.ParseError
			if errors.As(err, &pe) {
				p.Line = pe.Line
			}
			problems = append(problems, p)
			continue
		}
		fn(e.name, recs)
	}
	return problems, nil
}

func auditPath(cluster string) string { return ClustersDir + "/" + cluster + "/" + AuditFile }
