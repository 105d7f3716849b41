// Package provenance is the reconciler's own record of what it applied
// from verified commits, and the check that an operation in the API
// server is one of those records.
//
// The FleetSource controller records, before it applies an operation, the
// commit, path and blob of its manifest, a digest of its canonical spec
// and the admission verdict the gates reached over the verified source.
// The operation controllers take an operation's origin and verdict from
// here, never from its labels or annotations (those stay as a display):
// an operation whose spec matches no record was not applied from a
// verified commit (a `kubectl apply`, a forged verdict, an edit in the
// cluster) and stops with NotFromSource before it changes anything.
//
// The record lives in memory and in each FleetSource's state directory
// (applied.json, written atomically), which only the reconciler writes.
// The state directory is a cache: after a restart with an empty one, the
// FleetSource controller verifies its source again and records every
// operation it finds there; until a FleetSource of the namespace has done
// so, the operations wait instead of being refused.
package provenance
