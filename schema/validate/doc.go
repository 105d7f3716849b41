// Package validate checks decoded manifests for what their shape alone
// cannot say: references between fields, bounds, and each operation
// against its site's rendered EdgeProfile (the bond exists on the named
// nodes, the from-mode matches, a place count fits the nodes that hold the
// storage pool, the target storage class is declared).
//
// Checks are pure functions of the decoded documents: no I/O. Every
// problem names its file, line and field through the manifest.Document it
// came from. Defaults are applied by the caller (v1alpha1.Default) before
// validation, so bounds are checked on the values that will be used.
package validate
