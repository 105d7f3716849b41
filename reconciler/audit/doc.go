// Package audit owns Nodewright's audit records: their canonical form and
// hash chain, the strict reader of audit.jsonl, chain verification, and the
// sinks that ship records off the cluster (a local JSONL file and an HTTP
// endpoint behind an on-disk spool).
//
// It does no Kubernetes I/O and does not touch the status branch: storing
// the chain head (NodewrightCluster's AuditLog) with optimistic concurrency,
// running the pump that feeds sinks from it, and committing audit.jsonl are
// the reconciler's and fleet's jobs. Hash, Next, Append, Undelivered and
// Verify are pure functions; the sinks touch only the files and URL they
// are given.
//
// # Canonical form and hash
//
// A record's hash is the lower-case hex SHA-256 of its canonical JSON,
// which is the record without its "hash" field encoded as follows. Any
// other implementation (such as `nodewright audit verify`) must reproduce
// these bytes exactly.
//
//   - One JSON object with exactly the thirteen keys actor, cluster, from,
//     kind, message, name, prev, reason, seq, site, sourceCommit, time, to,
//     in that order (ascending byte order). Every key is present, also when
//     its value is empty. No whitespace anywhere outside strings.
//   - seq is a JSON integer in decimal with no leading zeros, no plus sign,
//     no fraction or exponent ("-" only for a negative value, which never
//     verifies).
//   - time is null for the zero time, otherwise a string in RFC 3339 in UTC
//     with whole seconds and a "Z" suffix, "2006-01-02T15:04:05Z", as
//     metav1.Time marshals it: fractional seconds are dropped (truncated),
//     other offsets converted to UTC.
//   - Every other value is a string, escaped as RFC 8785 (JCS) does: '"'
//     and '\' as \" and \\; U+0008, U+0009, U+000A, U+000C, U+000D as \b,
//     \t, \n, \f, \r; other code points below U+0020 as \u00xx with
//     lower-case hex; everything else, including '<', '>', '&', U+007F,
//     U+2028 and U+2029, as its literal UTF-8 bytes. A byte that does not
//     start a valid UTF-8 sequence is replaced by U+FFFD (one per byte, as
//     Go's encoding/json does when reading or writing JSON).
//
// For records whose strings are valid UTF-8 this is exactly RFC 8785, and
// Python's json.dumps(obj, sort_keys=True, separators=(",", ":"),
// ensure_ascii=False) yields the same bytes. Test vector: the record
//
//	{"actor":"nodewright-reconciler","cluster":"edge-042","from":"Pending","kind":"BondModeFlipPlan","message":"needs 2 approvals <&>\n","name":"bondflip","prev":"","reason":"ApprovalRequired","seq":1,"site":"edge-042","sourceCommit":"0123456789abcdef0123456789abcdef01234567","time":"2025-03-01T12:00:00Z","to":"AwaitingApproval"}
//
// (which is also its canonical form) hashes to
// cac35a43295e10ea099e24c660eec463d920009caea1ae8d91984b5345b652d8.
//
// # Chain
//
// Records are numbered from seq 1. Record n+1 carries prev = the hash of
// record n; record 1 has prev "". Next and Append link a record onto the
// head; Verify and VerifyFrom check a run of records and name the first
// broken link. A file may hold a suffix of the chain (starting above seq 1);
// Verify then takes the first record's prev as given.
//
// # Files
//
// audit.jsonl and the sinks' files hold one record per line as
// encoding/json writes AuditRecord (field order of the struct, time as
// metav1.Time marshals it), each line ending in '\n'. ParseJSONL reads such
// files strictly. The line's own formatting is not hashed: the hash is
// recomputed from the parsed fields.
//
// # HTTP delivery
//
// The HTTP sink POSTs batches with Content-Type application/x-ndjson, one
// record per line, and headers Nodewright-Audit-First-Seq and
// Nodewright-Audit-Last-Seq. Batches arrive in seq order without gaps (the
// first may start above seq 1 when the sink joined a running chain). A
// batch may arrive twice (the process died after the endpoint's 2xx but
// before the sink saved its cursor), so receivers must deduplicate by seq.
package audit
