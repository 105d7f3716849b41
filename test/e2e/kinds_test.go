package e2e_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/replication"
	"github.com/nodewright/nodewright/reconciler/vmmigration"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/stack"
)

// backends returns the in-memory LINSTOR and KubeVirt stand-ins seeded
// from the fleet's profile, with the VM the example migration names.
func backends(t *testing.T, f *fleet.Fleet) (*memory.Storage, *memory.VMs) {
	t.Helper()
	p, err := f.Profile()
	require.NoError(t, err)
	storage := memory.StorageFromProfile(p, 12)
	storage.SetSyncAfter(2)
	vms := memory.VMsFromProfile(p, "apps", 1)
	require.NoError(t, vms.AddVM(memory.VM{Ref: v1.VMReference{Namespace: "apps", Name: "db-0"}, Node: "node-a", Running: true, Live: true, StorageClass: "linstor-r2"}))
	return storage, vms
}

func TestEveryKindReachesSucceeded(t *testing.T) {
	ctx := context.Background()
	f := fleet.New(t, fleet.Options{Operations: []string{fleet.BondFlip, fleet.Replication, fleet.VMMigration}, AnyTime: true})
	storage, vms := backends(t, f)
	s := newStackFor(t, f, func(o *stack.Options) { o.Storage, o.VMs = storage, vms })
	f.Approve(fleet.BondFlip, f.Alice, f.Carol)
	f.Approve(fleet.Replication, f.Carol)
	f.Approve(fleet.VMMigration, f.Alice)
	pub := &recordingPublisher{}
	_, err := s.StartReconciler(func(o *reconciler.Options) { o.Publisher = pub })
	require.NoError(t, err)

	flip := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, flip, "bond0-to-lacp", 2*time.Minute, "Succeeded", "Halted"))
	assert.Equal(t, "Succeeded", flip.Status.Phase, "%+v", flip.Status.Conditions)

	up := &v1.ReplicationUpgrade{}
	require.NoError(t, s.WaitPhase(ctx, up, "vm-disks-to-3", 2*time.Minute, "Succeeded", "Halted"))
	require.Equal(t, "Succeeded", up.Status.Phase, "%+v", up.Status.Conditions)
	g, ok := storage.Group("vm-disks")
	require.True(t, ok)
	assert.Equal(t, 3, g.PlaceCount)
	for _, r := range g.Resources {
		assert.Equal(t, 3, r.InSync(), "resource %s has three replicas in sync", r.Name)
	}
	assertTransitionsRecorded(t, replication.Table, up.Status.Audit)

	mig := &v1.VMVolumeMigration{}
	require.NoError(t, s.WaitPhase(ctx, mig, "db-to-r3", 2*time.Minute, "Succeeded", "Halted", "RolledBack"))
	require.Equal(t, "Succeeded", mig.Status.Phase, "%+v", mig.Status.Conditions)
	vm, ok := vms.VM(v1.VMReference{Namespace: "apps", Name: "db-0"})
	require.True(t, ok)
	assert.Equal(t, "linstor-r3", vm.StorageClass)
	assertTransitionsRecorded(t, vmmigration.Table, mig.Status.Audit)
	assertChain(t, s)

	// The rollup in the NodewrightCluster and what was published.
	nc := &v1.NodewrightCluster{}
	require.Eventually(t, func() bool {
		if s.Client.Get(ctx, keyOf("", s.Name), nc) != nil || len(nc.Status.Operations) != 3 {
			return false
		}
		for _, op := range nc.Status.Operations {
			if op.Phase != "Succeeded" {
				return false
			}
		}
		return true
	}, 30*time.Second, 50*time.Millisecond, "the NodewrightCluster rollup shows every operation done")
	assert.Equal(t, f.Work.Head(), nc.Status.AppliedCommit)
	assert.Equal(t, fleet.Site, nc.Status.Site)
	assert.Equal(t, 1, nc.Status.PolicyVersion)
	assert.Equal(t, v1.OperationSummary{Kind: "BondModeFlipPlan", Name: "bond0-to-lacp", Phase: "Succeeded", Progress: "3/3"}, nc.Status.Operations[0])
	require.Eventually(t, func() bool {
		st, recs := pub.last()
		return len(st.Operations) == 3 && len(recs) > 0 && recs[len(recs)-1].Seq == nc.Audit.Seq
	}, 30*time.Second, 50*time.Millisecond, "the publisher got the status and the newest audit records")
}

// recordingPublisher keeps what the reconciler published last.
type recordingPublisher struct {
	mu      sync.Mutex
	status  v1.ClusterStatus
	records []v1.AuditRecord
}

func (p *recordingPublisher) Write(_ context.Context, st v1.ClusterStatus, recs []v1.AuditRecord) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.status, p.records = st, recs
	return nil
}

func (p *recordingPublisher) last() (v1.ClusterStatus, []v1.AuditRecord) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.status, p.records
}

func TestCrashAfterEveryTransitionOfReplicationAndMigration(t *testing.T) {
	for _, tc := range []struct {
		name, file, op string
		obj            v1.Operation
	}{
		{"ReplicationUpgrade", fleet.Replication, "vm-disks-to-3", &v1.ReplicationUpgrade{}},
		{"VMVolumeMigration", fleet.VMMigration, "db-to-r3", &v1.VMVolumeMigration{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fleet.New(t, fleet.Options{Operations: []string{tc.file}, AnyTime: true})
			storage, vms := backends(t, f)
			s := newStackFor(t, f, func(o *stack.Options) { o.Storage, o.VMs = storage, vms })
			f.Approve(tc.file, f.Carol)

			points := runWithCrashes(t, s, tc.obj, tc.op, "Succeeded", "Halted", "Aborted", "RolledBack")
			require.Equal(t, "Succeeded", tc.obj.OperationStatus().Phase)
			// A crash after every transition, except that the write of one
			// may land while the manager is already stopping for the crash
			// before it: its answer is then lost ("context canceled") and
			// its hook never runs, a crash at that point all the same.
			audit := tc.obj.OperationStatus().Audit
			assert.GreaterOrEqual(t, len(points), len(audit)-1, "a crash after every transition")
			assert.LessOrEqual(t, len(points), len(audit))
			var table = replication.Table
			if tc.name == "VMVolumeMigration" {
				table = vmmigration.Table
			}
			assertTransitionsRecorded(t, table, tc.obj.OperationStatus().Audit)
			var mutations []memory.Call
			if tc.name == "ReplicationUpgrade" {
				mutations = storage.Mutations()
			} else {
				mutations = vms.Mutations()
			}
			seen := map[string]bool{}
			for _, m := range mutations {
				assert.False(t, seen[m.String()], "mutation %s ran once", m)
				seen[m.String()] = true
			}
			assertChain(t, s)
		})
	}
}

// newStackFor builds a stack following f.
func newStackFor(t *testing.T, f *fleet.Fleet, change func(*stack.Options)) *stack.Stack {
	t.Helper()
	n := seq.Add(1)
	o := stack.Options{Options: cluster.Options{Namespace: nsName(n), Name: clusterName(n), Logger: testr.NewWithOptions(t, testr.Options{Verbosity: 0})}, Fleet: f}
	if change != nil {
		change(&o)
	}
	s, err := stack.New(t, apiServer(t).Config, o)
	require.NoError(t, err)
	return s
}
