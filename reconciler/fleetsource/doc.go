// Package fleetsource is the FleetSource controller: it fetches and
// verifies the fleet repository (package source), renders the cluster's
// site (package schema), evaluates the admission gates (package gates)
// and server-side applies the site's EdgeProfile and each operation as a
// custom resource, stamped with the source commit, the manifest's blob id,
// the approvals counted and the gates' verdict.
//
// A refused range, or manifests that do not validate, change nothing in
// the cluster: the last good state stays. An operation that is in flight
// is never changed under it, and one removed from git is only marked; its
// own controller finishes or halts it and then cleans it up.
//
// The package never drives an operation's phases; that is
// reconciler/operation's.
package fleetsource
