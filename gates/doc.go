// Package gates decides whether an operation may start its next step: an
// ordered chain of pure checks (approvals, source freshness, pause,
// maintenance window, health, blast radius, the storage of the nodes a
// step acts on) over inputs gathered in one place beforehand.
//
// Gates are values (ApprovalsGate, PauseGate, ...) and chains are built
// from them with NewChain, as cert-manager builds its policy chains: the
// Admission chain decides whether an operation may start at all, the Step
// chain whether its next node or batch may start now, the Node chain
// whether a step may touch the nodes it acts on (their DRBD, from their
// agents' reports: StorageNotHealthy, StorageUnknown), All is what plan
// shows (the Node chain needs live agent reports, which plan has not).
// A chain fails closed: building an empty one, or one with a gate twice
// or without a check, is an error; the zero Chain allows nothing; a gate
// run without an input it needs (a trust policy, a profile, the agents'
// reports) blocks with InputMissing.
//
// Each gate returns a Verdict with a reason code and a message a person
// can act on. The same chain serves "nodewright plan" and the reconciler,
// so what a person sees is what the cluster does. The package does no
// I/O: gathering approvals from the verified history and health from the
// cluster happens elsewhere.
package gates
