// Package gather is the one place that does I/O for the gates: it reads
// the site's profile and operations at the accepted commit, the approvals
// index the source built while verifying, and a health report, and turns
// them into gates.Input for each operation.
//
// "nodewright plan" and the FleetSource controller call Build, then a gate
// chain; the operation controllers read the step gates' live inputs (the
// profile, node readiness, DRBD replica states, the operations in flight)
// and the node gates' (each step node's agent report: heartbeat and DRBD)
// through Cluster. So what a person sees is what the cluster does, and no
// gate input is gathered anywhere else. It decides nothing.
package gather
