// Package memory holds SIMULATED in-memory stand-ins of the backend
// interfaces, for tests and the demo: Storage plays LINSTOR (resource
// groups, resources and their DRBD replicas) and VMs plays KubeVirt
// (virtual machines, their nodes, volumes and snapshots). They are not the
// real backends; the LINSTOR and KubeVirt clients are a later, separate
// package.
//
// Both keep the backend contract: every call is idempotent and
// non-blocking, and a long job (a replica's sync, a snapshot, a copy, a
// migration) is started by one call and finished only after a configurable
// number of later observing calls, never by a timer, so a test sees the
// same sequence of states on every run. Both are safe for concurrent use.
//
// What tests need besides the contract: seeding (StorageFromProfile,
// VMsFromProfile, AddGroup, SetReplicas, AddVM), fault injection (Fail for
// any method, NeverSync for a replica that never catches up,
// CorruptChecksums for a copy that does not match its source), read-only
// views that do not count as observations (Group, VM), and a call log
// (Calls, Mutations) that shows which call started each change, so a test
// can prove a mutation ran exactly once per step.
//
// The package owns only its in-memory state. It must never reach the
// network, a Kubernetes API server, LINSTOR, KubeVirt or the disk, and no
// production code path may depend on its simulated behaviour.
package memory
