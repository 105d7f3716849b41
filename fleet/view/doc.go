// Package view reads the status branch (default nodewright/status) of a
// fleet repository: the fleet view (every cluster's last report), the audit
// log (every cluster's records, filtered and ordered like git log) and
// audit verification.
//
// A repository is opened in place when it is local (a work tree or a bare
// repository, read with go-git and no git program) and fetched with go-git
// into a mirror (source/mirror) when it is remote. Reports are
// clusters/<cluster>/status.yaml, a v1alpha1.ClusterStatus under its JSON
// field names decoded strictly by ParseStatus; audit records are
// clusters/<cluster>/audit.jsonl, read by reconciler/audit.ParseJSONL.
//
// Verify checks what makes the status branch an audit trail: every commit
// that changes clusters/<c>/ is signed by a key of cluster c as listed in
// .nodewright/clusters.yaml (fleet/clusters) at the fleet branch, changes
// nothing outside that directory, and never rewrites audit lines an earlier
// commit wrote; each cluster's audit.jsonl is one hash chain from seq 1
// (reconciler/audit.VerifyFrom). It reports each cluster's first broken
// link with the reason codes AuditBroken, StatusSignature and StatusScope.
//
// The package only reads: it never writes a ref, a work tree or a status
// file (the status writer, fleet/statusbranch, does), and renders nothing
// (cmd/nodewright prints, fleet/dashboard writes HTML).
package view
