// Package simhost is a SIMULATED node host for the agent: bonds held in
// memory, for demos and tests. It implements agent.Host without touching
// any real interface, and adds what tests need: fault injection (FailProbe,
// FailSet), a journal of every bond mode change (Journal) so a test can
// prove a node step ran exactly once, and holds (HoldSets, HoldProbes) that
// block the agent inside the host so a test can observe a task Running or
// stop the agent mid-task. It reports its bonds' link state as a healthy
// node's (ObservedBonds), and simulates the node's DRBD (SetDRBD,
// FailDRBD; by default the node has none, as one without drbdsetup).
//
// It owns only its in-memory state. It must never open a netlink socket,
// write sysfs, run a command or reach the network: probes succeed unless a
// fault says otherwise. The real Linux backend is a separate, later package.
package simhost
