// Package phase holds the explicit transition tables of the operation
// state machines: which phases exist, which may follow which, and which
// are terminal. Tables are data; the step function of each phase lives
// with its kind (reconciler/bondflip and its siblings).
//
// The package is pure: it does no I/O and knows no Kubernetes types, so
// its invariants (every non-terminal phase can reach a terminal one, no
// transition outside the table) are checked by table tests alone.
package phase
