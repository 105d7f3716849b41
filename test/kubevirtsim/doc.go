// Package kubevirtsim is a TEST STAND-IN for KubeVirt's virt-controller,
// for tests that drive the KubeVirt backend (reconciler/backend/kubevirt)
// over the real KubeVirt API types on the test API server. No KubeVirt can
// run where the tests run (no container runtime, no images), so the
// stand-in plays the part of it that VM protection meets:
//
//   - live migrations: each VirtualMachineInstanceMigration of its
//     namespace moves one phase per Step, Pending → Scheduling → Running
//     → Succeeded, as virt-controller reports them; at Scheduling it picks
//     a target node (a schedulable node of its own other than the VMI's,
//     the one with the fewest VMIs) and waits there while none is free;
//     at Running it fills the VMI's status.migrationState (source and
//     target node, migration UID, start time), and at Succeeded it moves
//     the VMI's status.nodeName to the target and marks the state
//     completed. FailMigrations makes the VMI's next migrations fail
//     (phase Failed, migrationState.failed and failureReason), Stall holds
//     them in their phase.
//   - run strategies: a VirtualMachine whose run strategy becomes Halted
//     (or spec.running false) loses its VMI on the next Step (the VM
//     stopped); one that should run and has no VMI gets a new one on the
//     schedulable node with the fewest VMIs, live-migratable as AddVM
//     said.
//
// It is deterministic: nothing runs in the background; a test calls Step
// between the calls of the code under test, and each Step visits objects
// in name order. It touches only its own namespace and nodes, so tests on
// one API server do not meet each other's objects.
//
// What it does not play: virt-handler, libvirt, launcher pods, volumes,
// migration policies, KubeVirt's garbage collection of old migrations.
//
// CRDDir holds the schemaless test CRDs the API server needs for these
// types; see its README.
package kubevirtsim
