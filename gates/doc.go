// Package gates decides whether an operation may start its next step: an
// ordered chain of pure checks (approvals, source freshness, pause,
// maintenance window, health, blast radius) over inputs gathered in one
// place beforehand.
//
// Each gate returns a Verdict with a reason code and a message a person
// can act on. The same chain serves "nodewright plan" and the reconciler,
// so what a person sees is what the cluster does. The package does no
// I/O: gathering approvals from the verified history and health from the
// cluster happens elsewhere.
package gates
