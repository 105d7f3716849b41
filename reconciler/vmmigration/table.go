package vmmigration

import (
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The working phases of a VMVolumeMigration, besides the shared ones.
const (
	// Validating asks KubeVirt whether the VM and the target class exist
	// and whether the VM can move live, chooses the mode, and checks the
	// step gates. Nothing is changed yet. Followed by SnapshotBefore,
	// Migrating (Hot, no snapshot), Stopping (Cold, no snapshot) or
	// Halted.
	Validating phase.Phase = "Validating"
	// SnapshotBefore snapshots the source volumes. Followed by Migrating
	// (Hot), Stopping (Cold) or Halted.
	SnapshotBefore phase.Phase = "SnapshotBefore"
	// Migrating moves the volumes while the VM runs (Hot). Followed by
	// Verifying or RollingBack.
	Migrating phase.Phase = "Migrating"
	// Stopping stops the VM (Cold). Followed by Copying or RollingBack.
	Stopping phase.Phase = "Stopping"
	// Copying copies the stopped VM's volumes to the target class
	// (Cold). Followed by Swapping or RollingBack.
	Copying phase.Phase = "Copying"
	// Swapping points the VM at the copies, keeping the source volumes
	// (Cold). Followed by Starting or RollingBack.
	Swapping phase.Phase = "Swapping"
	// Starting starts the VM on its new volumes (Cold). Followed by
	// Verifying or RollingBack.
	Starting phase.Phase = "Starting"
	// Verifying compares the source and target checksums (unless
	// spec.verifyChecksums is false). Followed by SnapshotAfter,
	// Succeeded (no snapshot after) or RollingBack.
	Verifying phase.Phase = "Verifying"
	// SnapshotAfter snapshots the target volumes of the verified move.
	// Followed by Succeeded or Halted.
	SnapshotAfter phase.Phase = "SnapshotAfter"
	// RollingBack points the VM back at its kept source volumes and
	// drops the copies (a Cold move stops the VM first when it may run on
	// the copies, and starts it after). Followed by RolledBack or Halted.
	RollingBack phase.Phase = "RollingBack"
	// RolledBack: the move failed after the VM was touched, and the VM
	// runs on its source volumes again. Terminal.
	RolledBack phase.Phase = "RolledBack"
)

// Table is the VMVolumeMigration state machine. Every working phase may
// halt: a step that finds no KubeVirt backend cannot even roll back.
var Table = &phase.Table{
	Kind:     v1.KindVMVolumeMigration,
	Initial:  phase.Pending,
	Terminal: []phase.Phase{phase.Succeeded, RolledBack, phase.Aborted},
	Idle:     []phase.Phase{phase.Pending, phase.AwaitingApproval, phase.Halted},
	Next: map[phase.Phase][]phase.Phase{
		phase.Pending:          {phase.AwaitingApproval},
		phase.AwaitingApproval: {Validating, phase.Aborted},
		Validating:             {SnapshotBefore, Migrating, Stopping, phase.Halted},
		SnapshotBefore:         {Migrating, Stopping, phase.Halted},
		Migrating:              {Verifying, RollingBack, phase.Halted},
		Stopping:               {Copying, RollingBack, phase.Halted},
		Copying:                {Swapping, RollingBack, phase.Halted},
		Swapping:               {Starting, RollingBack, phase.Halted},
		Starting:               {Verifying, RollingBack, phase.Halted},
		Verifying:              {SnapshotAfter, phase.Succeeded, RollingBack, phase.Halted},
		SnapshotAfter:          {phase.Succeeded, phase.Halted},
		RollingBack:            {RolledBack, phase.Halted},
		phase.Halted: {Validating, SnapshotBefore, Migrating, Stopping, Copying, Swapping, Starting,
			Verifying, SnapshotAfter, RollingBack, phase.Aborted},
	},
}
