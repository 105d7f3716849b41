// Package replication drives a ReplicationUpgrade through its state
// machine: preflight against what LINSTOR and the site profile show, then
// batch by batch (spec.batchSize resources at a time, by name) place the
// missing replicas of each resource and wait, bounded by spec.syncTimeout,
// until the new replicas are UpToDate; then raise the resource group's
// place count and verify every resource has its replicas in sync. A batch
// that does not sync in time halts the operation; no later batch starts.
//
// The package holds the transition table and one step per phase; it asks
// LINSTOR through backend.Storage only. The reconcile skeleton, audit
// records and status writes are reconciler/operation's. It must not touch
// NodeTasks, the node agent, VMs or the fleet repository.
package replication
