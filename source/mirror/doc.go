// Package mirror keeps the bare git repository that the fleet source fetches
// into: the local copy of the fleet repository under the state directory.
//
// The package owns transport and object storage only. It fetches one branch
// from a remote (a local path, file://, smart HTTP or SSH) with go-git,
// imports git bundle files that carry a fleet repository across an air gap,
// and pins the last accepted commit under refs/nodewright/accepted so that its
// objects survive a force-push of the branch.
//
// It must not judge what it stores. Fetch updates refs/heads/<branch> to
// whatever the remote says, even to a commit that does not descend from the
// previous tip; signatures, roles, the fast-forward ratchet and bundle replay
// are checked by the verifier, which reads the mirror afterwards and decides
// what to Pin. The mirror never writes a working tree, never pushes, and
// never deletes objects or refs.
package mirror
