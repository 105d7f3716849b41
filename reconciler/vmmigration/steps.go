package vmmigration

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Targets of status.progress: one entry per step of the migration.
const (
	// TargetMode records the chosen mode: its phase is Hot or Cold, its
	// message why.
	TargetMode = v1.MigrationModeTarget
	// TargetSnapshotBefore is the snapshot of the source volumes.
	TargetSnapshotBefore = "snapshot-before"
	// TargetMigrate is the live move (Hot).
	TargetMigrate = "migrate"
	// TargetStop is the stop of the VM (Cold).
	TargetStop = "stop"
	// TargetCopy is the copy of the stopped VM's volumes (Cold).
	TargetCopy = "copy"
	// TargetSwap is the swap to the copies (Cold).
	TargetSwap = "swap"
	// TargetStart is the start on the new volumes (Cold).
	TargetStart = "start"
	// TargetChecksums is the checksum comparison.
	TargetChecksums = "checksums"
	// TargetSnapshotAfter is the snapshot of the target volumes.
	TargetSnapshotAfter = "snapshot-after"
	// TargetRollback is the roll back; its phase is its stage.
	TargetRollback = "rollback"
)

// Step phases, as shown in status.progress.
const (
	// StepRunning is a step whose backend job runs.
	StepRunning = "Running"
	// StepDone is a finished step.
	StepDone = "Done"
	// StepSkipped is a step the spec turned off.
	StepSkipped = "Skipped"
	// StepFailed is a failed step; the message says how.
	StepFailed = "Failed"
	// StageStopping is the first roll back stage (TargetRollback's phase)
	// of a Cold move whose VM may run on the copies: it stops the VM. The
	// stages run in the order StageStopping, StageRestoring,
	// StageStarting, then StepDone.
	StageStopping = "Stopping"
	// StageRestoring is the roll back stage that points the VM back at
	// its source volumes and drops the copies.
	StageRestoring = "Restoring"
	// StageStarting is the roll back stage that starts the VM on its
	// source volumes again (Cold).
	StageStarting = "Starting"
)

// Reasons this kind sets, on its transitions and halts. While a backend
// job runs, the Reconciling condition's reason is the phase.
const (
	// ReasonNoVMBackend halts the operation when the reconciler runs
	// without a KubeVirt backend.
	ReasonNoVMBackend = "NoVMBackend"
	// ReasonValidationFailed halts the operation at Validating when the
	// mode cannot be honoured; nothing was changed.
	ReasonValidationFailed = "ValidationFailed"
	// ReasonModeUnknown halts the operation when its status records no
	// mode (it was edited); Resume runs the halted step again.
	ReasonModeUnknown = "ModeUnknown"
	// ReasonValidated moves the operation from Validating on; its message
	// names the chosen mode and why.
	ReasonValidated = "Validated"
	// ReasonSnapshotTaken follows a finished snapshot.
	ReasonSnapshotTaken = "SnapshotTaken"
	// ReasonMoved follows a finished live move, stop, copy, swap or start.
	ReasonMoved = "Moved"
	// ReasonVerified follows matching checksums (or none asked for).
	ReasonVerified = "Verified"
	// ReasonChecksumMismatch starts a roll back when the target's
	// checksum differs from the source's.
	ReasonChecksumMismatch = "ChecksumMismatch"
	// ReasonStepFailed starts a roll back when a step after the VM was
	// touched failed more often than the kind retries.
	ReasonStepFailed = "StepFailed"
	// ReasonRolledBack ends the operation in RolledBack.
	ReasonRolledBack = "RolledBack"
)

// jobPoll is how soon a running backend job is looked at again.
const jobPoll = 5 * time.Second

// Kind is the VMVolumeMigration kind for the reconcile skeleton.
var Kind = &operation.Kind{
	Name:       v1.KindVMVolumeMigration,
	Table:      Table,
	New:        func() v1.Operation { return &v1.VMVolumeMigration{} },
	First:      Validating,
	MaxRetries: 5,
	OnHalt:     rollBackInstead,
	Steps: map[phase.Phase]operation.Step{
		phase.Pending:          operation.Begin,
		phase.AwaitingApproval: operation.AwaitApproval,
		Validating:             validating,
		SnapshotBefore:         snapshotBefore,
		Migrating:              migrating,
		Stopping:               stopping,
		Copying:                copying,
		Swapping:               swapping,
		Starting:               starting,
		Verifying:              verifying,
		SnapshotAfter:          snapshotAfter,
		RollingBack:            rollingBack,
	},
}

// targets maps the phases that act on the VM to their progress entry.
var targets = map[phase.Phase]string{
	SnapshotBefore: TargetSnapshotBefore, Migrating: TargetMigrate, Stopping: TargetStop, Copying: TargetCopy,
	Swapping: TargetSwap, Starting: TargetStart, Verifying: TargetChecksums, SnapshotAfter: TargetSnapshotAfter,
}

func migration(run *operation.Run) *v1.VMVolumeMigration {
	m := run.Op.(*v1.VMVolumeMigration).DeepCopy()
	v1.Default(m)
	return m
}

func vmName(ref v1.VMReference) string { return ref.Namespace + "/" + ref.Name }

// vms returns the KubeVirt backend, or a stall when there is none.
func vms(run *operation.Run, changed string) (backend.VMs, error) {
	if run.Env.VMs == nil {
		return nil, operation.Stall(ReasonNoVMBackend, "a VMVolumeMigration needs the KubeVirt backend, which this reconciler has not got; %s", changed)
	}
	return run.Env.VMs, nil
}

// ChooseMode decides how the volumes move, from spec.mode and whether
// KubeVirt says the VM can move live; it returns the mode (Hot or Cold)
// and why, or a StallError when spec.mode is Hot and the VM cannot move
// live.
func ChooseMode(requested v1.MigrationMode, live bool) (v1.MigrationMode, string, error) {
	switch requested {
	case v1.MigrationHot:
		if !live {
			return "", "", operation.Stall(ReasonValidationFailed, "spec.mode is Hot, but the VM cannot move live (it is stopped or not live-migratable); use mode Cold or Auto; nothing was changed")
		}
		return v1.MigrationHot, "spec.mode Hot: the VM runs and can move live", nil
	case v1.MigrationCold:
		return v1.MigrationCold, "spec.mode Cold: the VM is stopped, its volumes copied and swapped, and it is started", nil
	case v1.MigrationAuto, "":
		if live {
			return v1.MigrationHot, "spec.mode Auto chose Hot: the VM runs and can move live", nil
		}
		return v1.MigrationCold, "spec.mode Auto chose Cold: the VM is stopped or cannot move live", nil
	}
	return "", "", operation.Stall(ReasonValidationFailed, "unknown spec.mode %q; nothing was changed", requested)
}

// mode returns the mode Validating chose.
func mode(run *operation.Run) (v1.MigrationMode, error) {
	if p := run.Progress(TargetMode); p != nil {
		switch m := v1.MigrationMode(p.Phase); m {
		case v1.MigrationHot, v1.MigrationCold:
			return m, nil
		}
	}
	return "", operation.Stall(ReasonModeUnknown, "status.progress records no migration mode (target %q); it was lost or edited", TargetMode)
}

// moveStart is the first phase of the move itself.
func moveStart(m v1.MigrationMode) phase.Phase {
	if m == v1.MigrationHot {
		return Migrating
	}
	return Stopping
}

// SnapshotName names the operation's snapshot "before" or "after": the
// same operation always gets the same name, a new operation of the same
// name (another UID) a new one, so a repeat observes its own snapshot.
func SnapshotName(m *v1.VMVolumeMigration, which string) string {
	name := m.Name + "-" + which
	if uid := string(m.UID); uid != "" {
		name += "-" + uid[:min(8, len(uid))]
	}
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:50] + "-" + hex.EncodeToString(sum[:])[:12]
}

// await records a backend job's progress under target and returns a
// WaitError until it is done.
func await(run *operation.Run, target string, p backend.Progress) error {
	if p.Done {
		run.SetProgress(target, StepDone, "%s", p.Message)
		return nil
	}
	run.SetProgress(target, StepRunning, "%s", p.Message)
	return operation.Wait(jobPoll, run.Status().Phase, "%s", p.Message)
}

// validating checks the VM and the target class, chooses the mode, and
// checks the step gates before the first step that changes anything.
func validating(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "nothing was changed")
	if err != nil {
		return "", err
	}
	live, err := kv.Check(ctx, m.Spec.VM, m.Spec.TargetStorageClass)
	if err != nil {
		return "", err
	}
	chosen, why, err := ChooseMode(m.Spec.Mode, live)
	if err != nil {
		return "", err
	}
	run.SetProgress(TargetMode, string(chosen), "%s", why)
	if err := run.CheckStepGates(ctx); err != nil {
		return "", err
	}
	next := moveStart(chosen)
	if *m.Spec.Snapshots.Before {
		next = SnapshotBefore
	} else {
		run.SetProgress(TargetSnapshotBefore, StepSkipped, "spec.snapshots.before is false")
	}
	run.Reason, run.Message = ReasonValidated, fmt.Sprintf("%s moves to %s; %s", vmName(m.Spec.VM), m.Spec.TargetStorageClass, why)
	return next, nil
}

// snapshotBefore snapshots the source volumes.
func snapshotBefore(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "nothing was changed")
	if err != nil {
		return "", err
	}
	chosen, err := mode(run)
	if err != nil {
		return "", err
	}
	p, err := kv.Snapshot(ctx, m.Spec.VM, SnapshotName(m, "before"))
	if err != nil {
		return "", err
	}
	if err := await(run, TargetSnapshotBefore, p); err != nil {
		return "", err
	}
	run.Reason, run.Message = ReasonSnapshotTaken, p.Message
	return moveStart(chosen), nil
}

// migrating moves the volumes while the VM runs.
func migrating(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "the VM may be moving")
	if err != nil {
		return "", err
	}
	p, err := kv.MigrateLive(ctx, m.Spec.VM, m.Spec.TargetStorageClass)
	if err != nil {
		return "", err
	}
	if err := await(run, TargetMigrate, p); err != nil {
		return "", err
	}
	run.Reason, run.Message = ReasonMoved, p.Message
	return Verifying, nil
}

// setRunning stops or starts the VM, recording progress under target.
func setRunning(ctx context.Context, run *operation.Run, target string, running bool, next phase.Phase) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "the VM may be stopped")
	if err != nil {
		return "", err
	}
	p, err := kv.SetRunning(ctx, m.Spec.VM, running)
	if err != nil {
		return "", err
	}
	if err := await(run, target, p); err != nil {
		return "", err
	}
	run.Reason, run.Message = ReasonMoved, p.Message
	return next, nil
}

// stopping stops the VM for a Cold move.
func stopping(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	return setRunning(ctx, run, TargetStop, false, Copying)
}

// copying copies the stopped VM's volumes to the target class.
func copying(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "the VM is stopped")
	if err != nil {
		return "", err
	}
	p, err := kv.Copy(ctx, m.Spec.VM, m.Spec.TargetStorageClass)
	if err != nil {
		return "", err
	}
	if err := await(run, TargetCopy, p); err != nil {
		return "", err
	}
	run.Reason, run.Message = ReasonMoved, p.Message
	return Swapping, nil
}

// swapping points the VM at the copies; the source volumes are kept.
func swapping(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "the VM is stopped")
	if err != nil {
		return "", err
	}
	if err := kv.Swap(ctx, m.Spec.VM, m.Spec.TargetStorageClass); err != nil {
		return "", err
	}
	run.SetProgress(TargetSwap, StepDone, "%s uses its copies in %s; the source volumes are kept", vmName(m.Spec.VM), m.Spec.TargetStorageClass)
	run.Reason, run.Message = ReasonMoved, fmt.Sprintf("%s points at its volumes in %s", vmName(m.Spec.VM), m.Spec.TargetStorageClass)
	return Starting, nil
}

// starting starts the VM on its new volumes.
func starting(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	return setRunning(ctx, run, TargetStart, true, Verifying)
}

// verifying compares the source and target checksums; a mismatch rolls
// back.
func verifying(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	verified := "spec.verifyChecksums is false"
	if *m.Spec.VerifyChecksums {
		kv, err := vms(run, "the VM uses its new volumes, the source volumes are kept")
		if err != nil {
			return "", err
		}
		src, dst, err := kv.Checksums(ctx, m.Spec.VM, m.Spec.TargetStorageClass)
		if err != nil {
			return "", err
		}
		if src != dst {
			return startRollBack(run, Verifying, ReasonChecksumMismatch, fmt.Sprintf("checksums differ: source %s, target %s in %s", src, dst, m.Spec.TargetStorageClass)), nil
		}
		verified = "source and target checksums match: " + src
		run.SetProgress(TargetChecksums, StepDone, "%s", verified)
	} else {
		run.SetProgress(TargetChecksums, StepSkipped, "%s", verified)
	}
	run.Reason, run.Message = ReasonVerified, fmt.Sprintf("%s moved to %s; %s", vmName(m.Spec.VM), m.Spec.TargetStorageClass, verified)
	if *m.Spec.Snapshots.After {
		return SnapshotAfter, nil
	}
	run.SetProgress(TargetSnapshotAfter, StepSkipped, "spec.snapshots.after is false")
	return phase.Succeeded, nil
}

// snapshotAfter snapshots the target volumes of the verified move. It
// halts rather than roll back when it fails: the move is done.
func snapshotAfter(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "the move is done and verified")
	if err != nil {
		return "", err
	}
	p, err := kv.Snapshot(ctx, m.Spec.VM, SnapshotName(m, "after"))
	if err != nil {
		return "", err
	}
	if err := await(run, TargetSnapshotAfter, p); err != nil {
		return "", err
	}
	run.Reason, run.Message = ReasonSnapshotTaken, fmt.Sprintf("%s moved to %s and verified; %s", vmName(m.Spec.VM), m.Spec.TargetStorageClass, p.Message)
	return phase.Succeeded, nil
}

// touched are the phases that act after the VM was touched: where one of
// them would halt, the move rolls back to the source volumes instead.
var touched = []phase.Phase{Migrating, Stopping, Copying, Swapping, Starting, Verifying}

// rollBackInstead is the kind's OnHalt hook: in a phase after the VM was
// touched, a stall or a step failing past the kind's retries starts a
// roll back. A missing backend or mode still halts: nothing could roll
// back.
func rollBackInstead(run *operation.Run, cur phase.Phase, reason, message string) phase.Phase {
	if !slices.Contains(touched, cur) || reason == ReasonNoVMBackend || reason == ReasonModeUnknown {
		return ""
	}
	if reason == operation.ReasonRetriesExhausted {
		reason = ReasonStepFailed
	}
	return startRollBack(run, cur, reason, message)
}

// startRollBack records why the move failed and plans the roll back's
// first stage: a Cold move whose VM may run on its copies (it failed
// starting or verifying) is stopped first.
func startRollBack(run *operation.Run, failed phase.Phase, reason, msg string) phase.Phase {
	if t, ok := targets[failed]; ok {
		run.SetProgress(t, StepFailed, "%s", msg)
	}
	first := StageRestoring
	if m, err := mode(run); err == nil && m == v1.MigrationCold && (failed == Starting || failed == Verifying) {
		first = StageStopping
	}
	run.SetProgress(TargetRollback, first, "%s failed: %s", failed, msg)
	run.Reason, run.Message = reason, fmt.Sprintf("%s; rolling back to the source volumes, which were kept", msg)
	return RollingBack
}

// rollingBack runs the roll back's stages in order (stop, restore,
// start), each once done; the stage is kept in status.progress, so a
// restarted reconciler goes on where it was.
func rollingBack(ctx context.Context, run *operation.Run) (phase.Phase, error) {
	m := migration(run)
	kv, err := vms(run, "the VM may still use its new volumes")
	if err != nil {
		return "", err
	}
	chosen, err := mode(run)
	if err != nil {
		return "", err
	}
	stage := StageRestoring
	if p := run.Progress(TargetRollback); p != nil && p.Phase != "" {
		stage = p.Phase
	}
	for stage != StepDone {
		var p backend.Progress
		var next string
		switch stage {
		case StageStopping:
			p, err = kv.SetRunning(ctx, m.Spec.VM, false)
			next = StageRestoring
		case StageRestoring:
			p, err = kv.RollBack(ctx, m.Spec.VM, m.Spec.TargetStorageClass)
			next = StepDone
			if chosen == v1.MigrationCold {
				next = StageStarting
			}
		case StageStarting:
			p, err = kv.SetRunning(ctx, m.Spec.VM, true)
			next = StepDone
		default:
			return "", operation.Stall(ReasonModeUnknown, "unknown roll back stage %q in status.progress", stage)
		}
		if err != nil {
			return "", err
		}
		if !p.Done {
			run.SetProgress(TargetRollback, stage, "%s", p.Message)
			return "", operation.Wait(jobPoll, string(RollingBack), "%s", p.Message)
		}
		run.SetProgress(TargetRollback, next, "%s", p.Message)
		stage = next
	}
	run.Reason, run.Message = ReasonRolledBack, fmt.Sprintf("%s uses its source volumes again; the copies in %s are dropped", vmName(m.Spec.VM), m.Spec.TargetStorageClass)
	return RolledBack, nil
}
