// Package bondflip drives a BondModeFlipPlan through its state machine:
// preflight against what the agents report, then wave by wave
// (maxUnavailable nodes at a time, in the plan's node order) protect the
// nodes' VMs, flip the bond through the node agent's FlipBond task,
// verify, and go on to the next wave. Before a wave starts, and again
// before its flip tasks are created, the node gates (gates.Node) must
// pass: a node whose DRBD resyncs, is not connected to a peer, or whose
// agent is silent waits (gates.StorageNotHealthy, gates.StorageUnknown). A node that fails its flip is
// reverted by its agent and halts the operation; no later node is touched.
//
// The package holds the transition table and one step per phase; the
// reconcile skeleton, audit and status writes are reconciler/operation's.
package bondflip
