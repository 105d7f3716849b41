// Package bondflip drives a BondModeFlipPlan through its state machine:
// preflight against what the agents report, then wave by wave
// (maxUnavailable nodes at a time, in the plan's node order) protect the
// nodes' VMs, flip the bond through the node agent's FlipBond task,
// verify, and go on to the next wave. A node that fails its flip is
// reverted by its agent and halts the operation; no later node is touched.
//
// The package holds the transition table and one step per phase; the
// reconcile skeleton, audit and status writes are reconciler/operation's.
package bondflip
