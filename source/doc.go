// Package source answers the first question Nodewright asks of a fleet
// repository: may this cluster act on this commit?
//
// A Source fetches the fleet repository (or imports a git bundle) into a
// bare mirror under its state directory, and a Verifier checks every commit
// the new tip adds since the last accepted commit against the trust policy
// in force at that commit's parent: signatures, the signer's role, the
// fast-forward ratchet and the thresholds for changing the policy. A range
// is accepted whole or not at all; a refusal leaves the last accepted
// commit and everything derived from it untouched.
//
// The package owns the ratchet and its state (last accepted commit,
// verification cache). Signature formats live in source/signature, the
// policy format in source/trust, transport and object storage in
// source/mirror, and the reason codes in source/reason. It never renders
// manifests or decides whether an operation may run.
package source
