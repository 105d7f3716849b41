// Package reconciler assembles the in-cluster controller manager: the
// FleetSource controller, one operation controller per kind on the shared
// reconcile skeleton, and the audit pump that feeds the audit sinks from
// the cluster's hash chain. Leader election is on by default, so of
// several replicas only one acts.
//
// Sub-packages hold one concept each: phase (transition tables),
// operation (the skeleton, errors, conditions, audit chain), nodetask
// (the reconciler's side of the agent protocol), backend (LINSTOR and
// KubeVirt interfaces), audit (records and sinks), fleetsource, and one
// package per operation kind.
package reconciler
