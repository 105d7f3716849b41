// Package fleetsource is the FleetSource controller: it fetches and
// verifies the fleet repository (package source), renders the cluster's
// site (package schema), evaluates the admission gates (package gates)
// and server-side applies the site's EdgeProfile and each operation as a
// custom resource, stamped with the source commit, the manifest's blob id,
// the approvals counted and the gates' verdict.
//
// A reconcile is a short, fixed list of named steps run in order — Site,
// Finalizer, TrustRoot, Fetch, Verify, Render, Apply — each returning a
// Result: Continue to the next step, Requeue on a transient failure, or
// Stop when retrying cannot help until something changes. The result sets
// Flux's conditions (github.com/fluxcd/pkg/apis/meta): Ready is True once
// every step continued; Reconciling is True while a new generation or a
// newly verified commit is worked on, and stays True with the reason of a
// transient failure; Stalled is True with the reason of a stop, a DESIGN
// reason code for a refused commit. status.observedGeneration moves on
// success and on a stop, never on a transient failure.
//
// A refused range, or manifests that do not validate, change nothing in
// the cluster: the last good state stays. An operation that is in flight
// is never changed under it, and one removed from git is only marked; its
// own controller finishes or halts it and then cleans it up.
//
// Each FleetSource has a state directory under the reconciler's (the
// mirror, the state and index files, the verification cache). It is a
// cache: the ratchet is the status' lastAcceptedCommit. A finalizer
// removes it when the FleetSource is deleted, then lets the FleetSource
// go.
//
// The package never drives an operation's phases; that is
// reconciler/operation's.
package fleetsource
