// Package vmmigration drives a VMVolumeMigration through its state
// machine: validate the VM and the target storage class with KubeVirt and
// choose how to move (Hot when the VM can move live, else Cold, unless
// spec.mode says which), check the step gates, snapshot the source, move
// the volumes (Hot: one live migration; Cold: stop, copy, swap, start),
// compare checksums and snapshot the target.
//
// The source volumes are kept until the move is verified, so a failure
// after the VM was touched rolls back by pointing the VM at them again
// (RollingBack, then the terminal RolledBack); a failure before anything
// changed halts the operation for a person.
//
// The package holds the transition table and one step per phase; it asks
// KubeVirt through backend.VMs only. The reconcile skeleton, audit records
// and status writes are reconciler/operation's. It must not touch
// NodeTasks, the node agent, LINSTOR resource groups or the fleet
// repository.
package vmmigration
