package memory_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var db = v1.VMReference{Namespace: "apps", Name: "db-0"}

// newVMs returns a simulated KubeVirt with one VM, apps/db-0, on node-a.
func newVMs(t *testing.T, running, live bool) *memory.VMs {
	t.Helper()
	v := memory.NewVMs([]string{"node-a", "node-b", "node-c"}, []string{"linstor-r2", "linstor-r3"})
	require.NoError(t, v.AddVM(memory.VM{Ref: db, Node: "node-a", Running: running, Live: live, StorageClass: "linstor-r2"}))
	return v
}

// until calls job until it reports done, and returns how many calls it took.
func until(t *testing.T, job func() (backend.Progress, error)) int {
	t.Helper()
	for n := 1; n <= 20; n++ {
		p, err := job()
		require.NoError(t, err)
		require.NotEmpty(t, p.Message)
		if p.Done {
			return n
		}
	}
	t.Fatal("the job never finished")
	return 0
}

func changed(v *memory.VMs, method string) int {
	n := 0
	for _, c := range v.Mutations() {
		if c.Method == method {
			n++
		}
	}
	return n
}

func TestVMsFromProfile(t *testing.T) {
	v := memory.VMsFromProfile(profile(), "apps", 2)
	assert.Equal(t, []v1.VMReference{{Namespace: "apps", Name: "node-b-vm-1"}, {Namespace: "apps", Name: "node-b-vm-2"}}, v.OnNode("node-b"))
	vm, ok := v.VM(v1.VMReference{Namespace: "apps", Name: "node-a-vm-1"})
	require.True(t, ok)
	assert.Equal(t, memory.VM{Ref: vm.Ref, Node: "node-a", Running: true, Live: true, StorageClass: "linstor-r2"}, vm)
	assert.Error(t, v.AddVM(memory.VM{Ref: db, Node: "node-z", StorageClass: "linstor-r2"}))
	assert.Error(t, v.AddVM(memory.VM{Ref: db, Node: "node-a", StorageClass: "nope"}))
}

func TestCheck(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name          string
		running, live bool
		vm            v1.VMReference
		class         string
		wantLive      bool
		wantErr       string
		notFound      bool
	}{
		{name: "running and live", running: true, live: true, vm: db, class: "linstor-r3", wantLive: true},
		{name: "running, not live-migratable", running: true, vm: db, class: "linstor-r3"},
		{name: "stopped", live: true, vm: db, class: "linstor-r3"},
		{name: "unknown VM", vm: v1.VMReference{Namespace: "apps", Name: "ghost"}, class: "linstor-r3", notFound: true},
		{name: "unknown storage class", vm: db, class: "gold", notFound: true},
		{name: "already on the class", vm: db, class: "linstor-r2", wantErr: "already"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVMs(t, tt.running, tt.live)
			live, err := v.Check(ctx, tt.vm, tt.class)
			switch {
			case tt.notFound:
				assert.ErrorIs(t, err, memory.ErrNotFound)
			case tt.wantErr != "":
				assert.ErrorContains(t, err, tt.wantErr)
			default:
				require.NoError(t, err)
				assert.Equal(t, tt.wantLive, live)
			}
			assert.Empty(t, v.Mutations(), "Check changes nothing")
		})
	}
}

func TestJobsFinishAfterConfiguredSteps(t *testing.T) {
	ctx := context.Background()
	for _, steps := range []int{0, 1, 3} {
		v := newVMs(t, true, true)
		v.SetJobSteps(steps)
		n := until(t, func() (backend.Progress, error) { return v.Snapshot(ctx, db, "before") })
		assert.Equal(t, steps+1, n, "one starting call and %d observing calls", steps)
		assert.Equal(t, 1, until(t, func() (backend.Progress, error) { return v.Snapshot(ctx, db, "before") }), "a taken snapshot is done at once")
		assert.Equal(t, 1, changed(v, memory.MethodSnapshot), "the snapshot was started once")
		vm, _ := v.VM(db)
		assert.Equal(t, []string{"before"}, vm.Snapshots)
	}
}

func TestColdMoveAndRollBack(t *testing.T) {
	ctx := context.Background()
	v := newVMs(t, true, false)

	_, err := v.Copy(ctx, db, "linstor-r3")
	assert.ErrorContains(t, err, "running")
	assert.ErrorContains(t, v.Swap(ctx, db, "linstor-r3"), "running")

	until(t, func() (backend.Progress, error) { return v.SetRunning(ctx, db, false) })
	require.ErrorContains(t, v.Swap(ctx, db, "linstor-r3"), "no copy")
	_, _, err = v.Checksums(ctx, db, "linstor-r3")
	assert.ErrorContains(t, err, "no volumes")
	until(t, func() (backend.Progress, error) { return v.Copy(ctx, db, "linstor-r3") })
	vm, _ := v.VM(db)
	assert.Equal(t, []string{"linstor-r3"}, vm.Copies)
	src, dst, err := v.Checksums(ctx, db, "linstor-r3")
	require.NoError(t, err)
	assert.Equal(t, src, dst, "a copy matches its source")

	require.NoError(t, v.Swap(ctx, db, "linstor-r3"))
	require.NoError(t, v.Swap(ctx, db, "linstor-r3"), "a repeated swap is a no-op")
	until(t, func() (backend.Progress, error) { return v.SetRunning(ctx, db, true) })
	vm, _ = v.VM(db)
	assert.Equal(t, memory.VM{Ref: db, Node: "node-a", Running: true, StorageClass: "linstor-r3", SourceClass: "linstor-r2"}, vm)

	v.CorruptChecksums(db, true)
	src, dst, err = v.Checksums(ctx, db, "linstor-r3")
	require.NoError(t, err)
	assert.NotEqual(t, src, dst)

	_, err = v.RollBack(ctx, db, "linstor-r3")
	assert.ErrorContains(t, err, "stop it first", "a VM that cannot move live is rolled back stopped")
	until(t, func() (backend.Progress, error) { return v.SetRunning(ctx, db, false) })
	until(t, func() (backend.Progress, error) { return v.RollBack(ctx, db, "linstor-r3") })
	until(t, func() (backend.Progress, error) { return v.RollBack(ctx, db, "linstor-r3") })
	vm, _ = v.VM(db)
	assert.Equal(t, memory.VM{Ref: db, Node: "node-a", StorageClass: "linstor-r2"}, vm)

	var got []string
	for _, c := range v.Mutations() {
		got = append(got, c.Method+" "+c.Args)
	}
	assert.Equal(t, []string{"SetRunning false", "Copy linstor-r3", "Swap linstor-r3", "SetRunning true", "SetRunning false", "RollBack linstor-r3"}, got)
}

func TestLiveMoveAndRollBack(t *testing.T) {
	ctx := context.Background()
	v := newVMs(t, false, true)
	_, err := v.MigrateLive(ctx, db, "linstor-r3")
	assert.ErrorContains(t, err, "not running")
	until(t, func() (backend.Progress, error) { return v.SetRunning(ctx, db, true) })

	until(t, func() (backend.Progress, error) { return v.MigrateLive(ctx, db, "linstor-r3") })
	vm, _ := v.VM(db)
	assert.Equal(t, "linstor-r3", vm.StorageClass)
	assert.Equal(t, "linstor-r2", vm.SourceClass)
	src, dst, err := v.Checksums(ctx, db, "linstor-r3")
	require.NoError(t, err)
	assert.Equal(t, src, dst)

	until(t, func() (backend.Progress, error) { return v.RollBack(ctx, db, "linstor-r3") })
	vm, _ = v.VM(db)
	assert.Equal(t, memory.VM{Ref: db, Node: "node-a", Running: true, Live: true, StorageClass: "linstor-r2"}, vm, "rolled back live, still running")
	_, err = v.RollBack(ctx, db, "linstor-r2")
	assert.ErrorContains(t, err, "no source volumes")
}

func TestRollBackCancelsAJobInFlight(t *testing.T) {
	ctx := context.Background()
	v := newVMs(t, true, true)
	p, err := v.MigrateLive(ctx, db, "linstor-r3")
	require.NoError(t, err)
	require.False(t, p.Done)
	p, err = v.RollBack(ctx, db, "linstor-r3")
	require.NoError(t, err)
	assert.True(t, p.Done, "nothing moved yet")
	assert.Equal(t, 1, changed(v, memory.MethodRollBack), "cancelling the migration is a change")
	// A new migration starts over rather than finishing the cancelled one.
	p, err = v.MigrateLive(ctx, db, "linstor-r3")
	require.NoError(t, err)
	assert.False(t, p.Done)
	assert.Equal(t, 2, changed(v, memory.MethodMigrateLive))
}

func TestEvacuateAndRelease(t *testing.T) {
	ctx := context.Background()
	v := memory.VMsFromProfile(profile(), "apps", 1)
	require.NoError(t, v.AddVM(memory.VM{Ref: db, Node: "node-a", Running: false, Live: true, StorageClass: "linstor-r2"}))

	until(t, func() (backend.Progress, error) { return v.Evacuate(ctx, "node-a", v1.VMProtectionLiveMigrate) })
	assert.True(t, v.Cordoned("node-a"))
	assert.Equal(t, []v1.VMReference{db}, v.OnNode("node-a"), "a stopped VM stays")
	moved, _ := v.VM(v1.VMReference{Namespace: "apps", Name: "node-a-vm-1"})
	assert.Equal(t, "node-b", moved.Node, "to the least loaded node, the earlier on a tie")
	assert.True(t, moved.Running)
	assert.Equal(t, 1, until(t, func() (backend.Progress, error) { return v.Evacuate(ctx, "node-a", v1.VMProtectionLiveMigrate) }))
	assert.Equal(t, 1, changed(v, memory.MethodEvacuate))

	until(t, func() (backend.Progress, error) { return v.Evacuate(ctx, "node-c", v1.VMProtectionShutdown) })
	stopped, _ := v.VM(v1.VMReference{Namespace: "apps", Name: "node-c-vm-1"})
	assert.False(t, stopped.Running)
	assert.Equal(t, "node-c", stopped.Node)
	require.NoError(t, v.Release(ctx, "node-c"))
	started, _ := v.VM(v1.VMReference{Namespace: "apps", Name: "node-c-vm-1"})
	assert.True(t, started.Running, "Release starts what Evacuate shut down")
	assert.False(t, v.Cordoned("node-c"))

	p, err := v.Evacuate(ctx, "node-b", v1.VMProtectionNone)
	require.NoError(t, err)
	assert.True(t, p.Done)
	_, err = v.Evacuate(ctx, "node-z", v1.VMProtectionShutdown)
	assert.ErrorIs(t, err, memory.ErrNotFound)
}

func TestEvacuateRefusesAVMThatCannotMoveLive(t *testing.T) {
	v := newVMs(t, true, false)
	_, err := v.Evacuate(context.Background(), "node-a", v1.VMProtectionLiveMigrate)
	assert.ErrorContains(t, err, "cannot move live")
	assert.False(t, v.Cordoned("node-a"), "a refused evacuation changes nothing")
}

func TestVMFaults(t *testing.T) {
	ctx := context.Background()
	v := newVMs(t, true, true)
	boom := errors.New("kubevirt api unavailable")
	v.Fail(memory.MethodSnapshot, boom, 1)
	_, err := v.Snapshot(ctx, db, "s")
	assert.ErrorIs(t, err, boom)
	until(t, func() (backend.Progress, error) { return v.Snapshot(ctx, db, "s") })
	v.Fail(memory.MethodCheck, boom, 0)
	_, err = v.Check(ctx, db, "linstor-r3")
	assert.ErrorIs(t, err, boom)
	_, err = v.Check(ctx, db, "linstor-r3")
	assert.ErrorIs(t, err, boom)
	v.Fail(memory.MethodCheck, nil, 0)
	_, err = v.Check(ctx, db, "linstor-r3")
	assert.NoError(t, err)
}

func TestVMsAreSafeForConcurrentUse(t *testing.T) {
	ctx := context.Background()
	v := memory.VMsFromProfile(profile(), "apps", 5)
	var wg sync.WaitGroup
	for _, n := range []string{"node-a", "node-b", "node-c", "node-d"} {
		for _, ref := range v.OnNode(n) {
			wg.Go(func() {
				for {
					p, err := v.SetRunning(ctx, ref, false)
					if !assert.NoError(t, err) || p.Done {
						return
					}
					_ = v.Calls()
				}
			})
		}
	}
	wg.Wait()
	for _, n := range []string{"node-a", "node-b"} {
		for _, ref := range v.OnNode(n) {
			vm, _ := v.VM(ref)
			assert.False(t, vm.Running)
		}
	}
	assert.Len(t, v.Mutations(), 20)
}
