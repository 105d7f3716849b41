package vmmigration_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/phase"
	vm "github.com/nodewright/nodewright/reconciler/vmmigration"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var (
	pending   = phase.Pending
	awaiting  = phase.AwaitingApproval
	halted    = phase.Halted
	succeeded = phase.Succeeded
	aborted   = phase.Aborted
)

// The full paths of a Hot and a Cold move.
var (
	hotPath  = []phase.Phase{pending, awaiting, vm.Validating, vm.SnapshotBefore, vm.Migrating, vm.Verifying, vm.SnapshotAfter, succeeded}
	coldPath = []phase.Phase{pending, awaiting, vm.Validating, vm.SnapshotBefore, vm.Stopping, vm.Copying, vm.Swapping, vm.Starting, vm.Verifying, vm.SnapshotAfter, succeeded}
)

func off() *bool { f := false; return &f }

// snapshots returns the expected "Snapshot <name>" mutations.
func snapshot(h *harness, which string) string {
	return "Snapshot " + vm.SnapshotName(h.Get(), which)
}

type scenario struct {
	name string
	// live says whether db-0 can move live (Auto then picks Hot).
	live bool
	// profile edits the site profile before the harness starts.
	profile func(*v1.EdgeProfile)
	run     func(t *testing.T, h *harness)
}

// assertMoved checks db-0 runs on linstor-r3 with its source volumes
// kept.
func assertMoved(t *testing.T, h *harness) {
	t.Helper()
	got, ok := h.vms.VM(db)
	require.True(t, ok)
	assert.Equal(t, "linstor-r3", got.StorageClass)
	assert.Equal(t, "linstor-r2", got.SourceClass, "the source volumes are kept")
	assert.True(t, got.Running)
}

// assertRolledBack checks db-0 runs on its source volumes, the copies
// dropped.
func assertRolledBack(t *testing.T, h *harness, op *v1.VMVolumeMigration) {
	t.Helper()
	require.Equal(t, string(vm.RolledBack), op.Status.Phase, "%+v", op.Status.Conditions)
	got, _ := h.vms.VM(db)
	assert.Equal(t, "linstor-r2", got.StorageClass)
	assert.Empty(t, got.SourceClass)
	assert.Empty(t, got.Copies)
	assert.True(t, got.Running, "the VM runs again")
	assert.Equal(t, vm.StepDone, progress(op)[vm.TargetRollback])
	stalled := optest.Condition(op, operation.Stalled)
	require.NotNil(t, stalled, "RolledBack ends the operation without success")
	assert.Equal(t, vm.ReasonRolledBack, stalled.Reason)
}

// failIn makes method fail (times calls; 0: until cleared) from the
// moment the operation enters p.
func failIn(h *harness, p phase.Phase, method string, times int) {
	armed := false
	h.OnTransition = func(_, to phase.Phase) {
		if to == p && !armed {
			armed = true
			h.vms.Fail(method, errors.New("kubevirt: internal error"), times)
		}
	}
}

var scenarios = []scenario{
	{name: "Auto picks Hot for a live VM: happy path", live: true, run: func(t *testing.T, h *harness) {
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
		assert.Equal(t, hotPath, h.Phases())
		assertMoved(t, h)
		assert.Equal(t, []string{snapshot(h, "before"), "MigrateLive linstor-r3", snapshot(h, "after")}, h.mutations(), "each step once")
		assert.Equal(t, string(v1.MigrationHot), progress(op)[vm.TargetMode])
		assert.Contains(t, op.Status.Progress[0].Message, "Auto chose Hot")
		i := slices.IndexFunc(op.Status.Audit, func(r v1.AuditRecord) bool { return r.From == string(vm.Validating) })
		require.GreaterOrEqual(t, i, 0)
		assert.Equal(t, vm.ReasonValidated, op.Status.Audit[i].Reason)
		assert.Contains(t, op.Status.Audit[i].Message, "Auto chose Hot", "the choice is in the audit record")
		got, _ := h.vms.VM(db)
		assert.Len(t, got.Snapshots, 2)
		assert.Equal(t, vm.ReasonSnapshotTaken, optest.Condition(op, operation.Ready).Reason)
	}},

	{name: "Auto picks Cold for a VM that cannot move live: Stopping, Copying, Swapping, Starting in order", run: func(t *testing.T, h *harness) {
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
		assert.Equal(t, coldPath, h.Phases())
		assertMoved(t, h)
		assert.Equal(t, []string{snapshot(h, "before"), "SetRunning false", "Copy linstor-r3", "Swap linstor-r3", "SetRunning true", snapshot(h, "after")}, h.mutations())
		assert.Equal(t, string(v1.MigrationCold), progress(op)[vm.TargetMode])
		assert.Contains(t, op.Status.Progress[0].Message, "Auto chose Cold")
		for _, target := range []string{vm.TargetSnapshotBefore, vm.TargetStop, vm.TargetCopy, vm.TargetSwap, vm.TargetStart, vm.TargetChecksums, vm.TargetSnapshotAfter} {
			assert.Equal(t, vm.StepDone, progress(op)[target], target)
		}
	}},

	{name: "spec.mode Cold moves a live VM cold", live: true, run: func(t *testing.T, h *harness) {
		s := spec()
		s.Mode = v1.MigrationCold
		h.apply(s)
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, coldPath, h.Phases())
	}},

	{name: "no snapshots, no checksums: Hot", live: true, run: func(t *testing.T, h *harness) {
		s := spec()
		s.Snapshots = v1.SnapshotBookends{Before: off(), After: off()}
		s.VerifyChecksums = off()
		h.apply(s)
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, vm.Validating, vm.Migrating, vm.Verifying, succeeded}, h.Phases())
		assert.Equal(t, []string{"MigrateLive linstor-r3"}, h.mutations())
		for _, target := range []string{vm.TargetSnapshotBefore, vm.TargetChecksums, vm.TargetSnapshotAfter} {
			assert.Equal(t, vm.StepSkipped, progress(op)[target], target)
		}
		for _, c := range h.vms.Calls() {
			assert.NotEqual(t, memory.MethodChecksums, c.Method, "no checksums asked for")
		}
	}},

	{name: "no snapshot before: Cold", run: func(t *testing.T, h *harness) {
		s := spec()
		s.Snapshots = v1.SnapshotBookends{Before: off()}
		h.apply(s)
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, vm.Validating, vm.Stopping}, h.Phases()[:4])
	}},

	{name: "checksum mismatch after a Cold move rolls back", run: func(t *testing.T, h *harness) {
		h.vms.CorruptChecksums(db, true)
		h.apply(spec())
		op := h.Run()
		assertRolledBack(t, h, op)
		assert.Equal(t, append(slices.Clone(coldPath[:9]), vm.RollingBack, vm.RolledBack), h.Phases())
		assert.Equal(t, vm.StepFailed, progress(op)[vm.TargetChecksums])
		assert.Equal(t, []string{snapshot(h, "before"), "SetRunning false", "Copy linstor-r3", "Swap linstor-r3", "SetRunning true",
			"SetRunning false", "RollBack linstor-r3", "SetRunning true"}, h.mutations(), "stopped, pointed back, started: each once")
		var reasons []string
		for _, r := range op.Status.Audit {
			reasons = append(reasons, r.Reason)
		}
		assert.Contains(t, reasons, vm.ReasonChecksumMismatch)
	}},

	{name: "checksum mismatch after a Hot move rolls back live", live: true, run: func(t *testing.T, h *harness) {
		h.vms.CorruptChecksums(db, true)
		h.apply(spec())
		op := h.Run()
		assertRolledBack(t, h, op)
		assert.Equal(t, []phase.Phase{pending, awaiting, vm.Validating, vm.SnapshotBefore, vm.Migrating, vm.Verifying, vm.RollingBack, vm.RolledBack}, h.Phases())
		assert.Equal(t, []string{snapshot(h, "before"), "MigrateLive linstor-r3", "RollBack linstor-r3"}, h.mutations(), "the VM kept running")
	}},

	{name: "spec.mode Hot for a VM that cannot move live halts with nothing changed; Resume", run: func(t *testing.T, h *harness) {
		s := spec()
		s.Mode = v1.MigrationHot
		h.apply(s)
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, vm.ReasonValidationFailed, optest.Condition(op, operation.Stalled).Reason)
		assert.Contains(t, optest.Condition(op, operation.Stalled).Message, "cannot move live")
		assert.Empty(t, h.mutations())

		require.NoError(t, h.vms.AddVM(memory.VM{Ref: db, Node: "node-a", Running: true, Live: true, StorageClass: "linstor-r2"}))
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{vm.Validating, halted, vm.Validating, vm.SnapshotBefore, vm.Migrating}, h.Phases()[2:7])
	}},

	{name: "an unknown target storage class halts after the retries; Abort", live: true, run: func(t *testing.T, h *harness) {
		s := spec()
		s.TargetStorageClass = "gold"
		h.apply(s)
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, operation.ReasonRetriesExhausted, optest.Condition(op, operation.Stalled).Reason)
		assert.Contains(t, optest.Condition(op, operation.Stalled).Message, `storage class "gold"`)
		h.Act(v1.ActionAbort)
		op = h.Run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Empty(t, h.mutations())
	}},

	{name: "no KubeVirt backend halts at Validating", run: func(t *testing.T, h *harness) {
		h.Env.VMs = nil
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, vm.ReasonNoVMBackend, optest.Condition(op, operation.Stalled).Reason)
		assert.Contains(t, optest.Condition(op, operation.Stalled).Message, "KubeVirt backend")
	}},

	{name: "step gates hold the first change", live: true, profile: func(p *v1.EdgeProfile) { p.Spec.Paused = true }, run: func(t *testing.T, h *harness) {
		h.apply(spec())
		op := h.RunUntil(func(op *v1.VMVolumeMigration) bool {
			c := optest.Condition(op, operation.Reconciling)
			return op.Status.Phase == string(vm.Validating) && c != nil && c.Reason == "Paused"
		})
		assert.Equal(t, string(v1.MigrationHot), progress(op)[vm.TargetMode], "the choice is shown while waiting")
		assert.Empty(t, h.mutations())
		h.UpdateProfile(func(p *v1.EdgeProfile) { p.Spec.Paused = false })
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, hotPath, h.Phases())
	}},

	{name: "a failing snapshot before halts with nothing changed; Resume", live: true, run: func(t *testing.T, h *harness) {
		h.vms.Fail(memory.MethodSnapshot, errors.New("kubevirt: snapshot controller down"), 0)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, string(vm.SnapshotBefore), op.Status.HaltedPhase)
		assert.Empty(t, h.mutations())
		h.vms.Fail(memory.MethodSnapshot, nil, 0)
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assertMoved(t, h)
	}},

	{name: "a failing snapshot after halts and does not roll back; Resume", live: true, run: func(t *testing.T, h *harness) {
		failIn(h, vm.SnapshotAfter, memory.MethodSnapshot, 0)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, string(vm.SnapshotAfter), op.Status.HaltedPhase)
		assertMoved(t, h)
		h.vms.Fail(memory.MethodSnapshot, nil, 0)
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
	}},

	{name: "transient errors are retried", run: func(t *testing.T, h *harness) {
		failIn(h, vm.Copying, memory.MethodCopy, 3)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, coldPath, h.Phases())
	}},

	{name: "a failing roll back halts; Resume finishes it", live: true, run: func(t *testing.T, h *harness) {
		h.vms.CorruptChecksums(db, true)
		failIn(h, vm.RollingBack, memory.MethodRollBack, 0)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, string(vm.RollingBack), op.Status.HaltedPhase)
		h.vms.Fail(memory.MethodRollBack, nil, 0)
		h.Act(v1.ActionResume)
		op = h.Run()
		assertRolledBack(t, h, op)
	}},

	{name: "spec.action Abort before the start", run: func(t *testing.T, h *harness) {
		s := spec()
		s.Action = v1.ActionAbort
		h.apply(s)
		op := h.Run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, aborted}, h.Phases())
	}},
}

func init() {
	// A step that fails past its retries after the VM was touched rolls
	// back: one scenario per phase.
	for _, f := range []struct {
		phase  phase.Phase
		live   bool
		method string
		times  int // 0: until cleared; else enough for the step, not for the roll back
	}{
		{vm.Migrating, true, memory.MethodMigrateLive, 0},
		{vm.Stopping, false, memory.MethodSetRunning, 6},
		{vm.Copying, false, memory.MethodCopy, 0},
		{vm.Swapping, false, memory.MethodSwap, 0},
		{vm.Starting, false, memory.MethodSetRunning, 6},
		{vm.Verifying, false, memory.MethodChecksums, 0},
	} {
		scenarios = append(scenarios, scenario{name: "a failure in " + string(f.phase) + " rolls back", live: f.live, run: func(t *testing.T, h *harness) {
			failIn(h, f.phase, f.method, f.times)
			h.apply(spec())
			op := h.Run()
			assertRolledBack(t, h, op)
			assert.Equal(t, []phase.Phase{f.phase, vm.RollingBack, vm.RolledBack}, h.Phases()[len(h.Path)-3:])
			stepFailed := false
			for _, r := range op.Status.Audit {
				stepFailed = stepFailed || (r.To == string(vm.RollingBack) && r.Reason == vm.ReasonStepFailed)
			}
			assert.True(t, stepFailed, "the roll back names the failed step")
		}})
	}
	// A backend lost mid-move halts (nothing could roll back); with it
	// back, Resume finishes the move: one scenario per phase.
	for _, f := range []struct {
		phase phase.Phase
		live  bool
	}{
		{vm.Migrating, true}, {vm.Stopping, false}, {vm.Copying, false}, {vm.Swapping, false}, {vm.Starting, false}, {vm.Verifying, false},
	} {
		scenarios = append(scenarios, scenario{name: "KubeVirt lost in " + string(f.phase) + " halts; Resume", live: f.live, run: func(t *testing.T, h *harness) {
			kv := h.Env.VMs
			lost := false
			h.OnTransition = func(_, to phase.Phase) {
				if to == f.phase && !lost {
					lost = true
					h.Env.VMs = nil
				}
			}
			h.apply(spec())
			op := h.Run()
			require.Equal(t, string(halted), op.Status.Phase)
			assert.Equal(t, string(f.phase), op.Status.HaltedPhase)
			assert.Equal(t, vm.ReasonNoVMBackend, optest.Condition(op, operation.Stalled).Reason)
			h.Env.VMs = kv
			h.Act(v1.ActionResume)
			op = h.Run()
			require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
			assertMoved(t, h)
		}})
	}
}

// TestScenarios runs every scenario through the real skeleton and checks
// that each transition a step took is in the table and, when every
// scenario ran, that the scenarios took every transition of the table.
func TestScenarios(t *testing.T) {
	cov := optest.NewCoverage(vm.Table)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t, sc.live, sc.profile)
			sc.run(t, h)
			cov.Took(t, h.Path, h.Get().Status.Audit)
		})
	}
	cov.Complete(t, len(scenarios))
}
