// Package statusbranch publishes one cluster's report to the status branch
// of a remote git repository (default nodewright/status), as DESIGN.md's
// "Status branch" describes:
//
//	clusters/<cluster>/status.yaml   the cluster's ClusterStatus (see Status)
//	clusters/<cluster>/audit.jsonl   its audit records, one per line, hash-chained
//
// A Writer fetches the branch tip, commits on top of it and pushes. Its
// commits are signed in-process with the cluster's key, OpenPGP or SSH, in
// the gpgsig header exactly as `git commit -S` writes it, so `git
// verify-commit` and source/signature accept them. The push names the tip
// it built on, so the server refuses it if another cluster pushed first;
// the writer then fetches the new tip, rebuilds its commit on it and tries
// again after an exponential backoff with full jitter, a bounded number of
// times (see Retry). After a lost race it looks at the tip once more right
// before pushing, so that under contention most losses cost a ref listing
// rather than a whole push. No cluster's update is ever overwritten: every
// commit starts from the tree the last successful push left.
//
// The writer keeps in memory only the objects of the tip it builds on (the
// root and clusters trees, its own directory and audit.jsonl); a fetch asks
// for what is new since that tip, or for the tip alone (depth 1) at first,
// so neither memory nor transfer grows with the branch's history (only
// audit.jsonl grows, and a commit that appends to it sends it whole).
//
// Every update is first stored in the Writer's queue directory (one file
// per update, written atomically and fsynced) and removed only once the
// branch holds it, so a remote that cannot be reached, a lost race and a
// process restart all leave it there for the next Write or Flush, which
// send queued updates in order. Resending is idempotent: audit records
// whose seq the branch already holds are skipped and an unchanged
// status.yaml makes no commit.
//
// # What it owns and what it must not touch
//
// The package owns the writer's side of the branch layout: the encoding of
// status.yaml (sigs.k8s.io/yaml of Status, cut to a summary past the size
// budget) and its strict reader ParseStatus, appending audit records to
// audit.jsonl, commit signing, the push protocol with its retries, and the
// on-disk queue. Each commit changes only clusters/<cluster>/ of its own
// cluster; everything else in the tree, and every line already in
// audit.jsonl, is carried over byte for byte. It never rewrites history
// (no force-push) and never verifies other clusters: reading the branch for
// the fleet view, audit verification and bundles are other packages' jobs,
// as are the audit record format and hash chain (reconciler/audit) and
// signature verification (source/signature).
package statusbranch
