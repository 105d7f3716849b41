// Package kubevirt is the KubeVirt backend for VM protection: an
// Evacuator (backend.Evacuator) over controller-runtime's client and the
// real KubeVirt API types (kubevirt.io/api v1.9.0, kubevirt.io/v1). It
// owns what a node operation's ProtectVMs step asks of KubeVirt and
// nothing else: the volume migrations of VMVolumeMigration do not run
// here yet.
//
// What it writes, per call:
//
//   - Evacuate cordons the Node (spec.unschedulable: true) and annotates
//     it AnnotationCordoned, in one patch guarded by the Node's
//     resourceVersion, together with AnnotationEvacuation, the token of
//     this evacuation. A Node that was unschedulable already is left as
//     it is and not annotated as cordoned, so Release never uncordons a
//     node someone else cordoned.
//   - For each VirtualMachineInstance whose status.nodeName is the node
//     and that has not finished: when its LiveMigratable condition is
//     True, one VirtualMachineInstanceMigration named by MigrationName
//     (the VMI, its UID, the node and the token), labelled LabelManagedBy
//     and LabelEvacuation; a repeated or resumed call finds it by name and
//     only reads it. When it is not live-migratable and vmProtection is
//     Shutdown, its VirtualMachine gets spec.runStrategy Halted (or
//     spec.running false when it uses that old field), labelled
//     LabelStopped with the node and the old strategy in annotations, in
//     one patch. Under LiveMigrate such a VMI, and under Shutdown one
//     without a VirtualMachine, is a *backend.RefusedError naming it,
//     returned before anything is written; a failed migration is one too,
//     naming the migration's phase and KubeVirt's failure reason.
//   - Release uncordons a Node Nodewright cordoned, removes the token, and
//     restores the run strategy of each VirtualMachine Evacuate stopped
//     there, removing its marks in the same patch.
//
// Cordon rather than a taint: kube-scheduler honours spec.unschedulable
// for every pod, so neither a new VM's virt-launcher pod nor a migration's
// target pod lands on the node, and no VM's tolerations can let one
// through. KubeVirt's own drain taint (kubevirt.io/drain) would instead
// make virt-controller evict and migrate VMIs by their eviction strategy
// on its own, outside Nodewright's step and its per-VM decisions, and a
// taint of Nodewright's own would be passed by any VM that tolerates
// everything. A cordon is what `kubectl drain` does and what an operator
// expects to see and can undo.
//
// Every call observes once and returns (nothing waits); KubeVirt does the
// work and the next call sees how far it got. Evacuate is done when no
// VMI runs on the node. API errors are returned as they are, and the
// operation retries them.
//
// The package must not import the operation controllers (it returns the
// backend's typed errors) and writes nothing but the marks above and the
// migrations it creates.
package kubevirt
