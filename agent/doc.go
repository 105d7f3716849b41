// Package agent is the Nodewright node agent: the one component that
// changes a node. It watches the NodeTasks labelled with its node
// (nodewright.io/node) in its namespace, claims each with optimistic
// concurrency, carries it out on the node through a Host, and reports a
// terminal phase with a message a person can act on. It also keeps the
// node's NodewrightAgentStatus heartbeat (bonds as the host reports them and
// a Ready condition).
//
// The reconciler owns intent and the agent owns mutation: the agent writes
// only the status of its own node's NodeTasks and its own node's
// NodewrightAgentStatus. It never creates, deletes or edits a task's spec,
// labels or any other object, never touches another node's tasks, and never
// touches the node except through the Host interface.
//
// Every change is made behind a dead-man switch: a FlipBond task that cannot
// confirm its probes, or cannot report its success, before the task's
// revertAfter (bounded by its deadline) puts the bond back, so a node that
// loses contact after a flip goes back to the mode it had. With a journal
// (Options.Journal, package agent/journal) the switch outlives the agent
// process: the bond's state, the task and the deadline are fsynced before
// the first change, the entry is committed only after Succeeded was
// reported, and the journal's Watchdog (run in the agent and, as `nodewright
// agent watchdog`, in a process of its own) restores every entry left open
// past its deadline. A restarted agent reads its journal before the bond:
// a change under way at the crash is undone, a change made is probed
// again and never made twice.
//
// Hosts: package agent/linux works on the node's bonds through rtnetlink;
// package agent/simhost is an in-memory simulation for demos and tests.
package agent
