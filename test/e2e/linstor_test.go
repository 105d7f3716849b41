package e2e_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/backend/linstor"
	"github.com/nodewright/nodewright/reconciler/replication"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/linstoremu"
	"github.com/nodewright/nodewright/test/stack"
)

// The example ReplicationUpgrade (fleet.Replication) raises vm-disks from
// two replicas to three, ten resources a batch.
const (
	upgradeName  = "vm-disks-to-3"
	upgradeGroup = "vm-disks"
	upgradeTo    = 3
	// upgradeResources are the group's resources: two batches, the
	// second of two.
	upgradeResources = 12
)

// emulatedLINSTOR is a LINSTOR emulator seeded from a fleet's profile,
// and the LINSTOR backend over it.
type emulatedLINSTOR struct {
	emu     *linstoremu.Emulator
	storage *linstor.Storage
	// resources are each group's resources; before their replica nodes
	// at the start.
	resources map[string][]string
	before    map[string][]string
}

// linstorFromProfile starts an emulator seeded from f's profile: its
// nodes with their storage pools (1 TiB free each), each resource group
// with its storage pool and place count, the group the upgrade names
// with upgradeResources resources of 10 GiB and every other group with
// two, replicas spread over the nodes of the group's pool. A new replica
// resyncs at 20 % a virtual second and every resource view moves the
// clock two seconds: a batch takes three polls.
func linstorFromProfile(t *testing.T, f *fleet.Fleet) *emulatedLINSTOR {
	t.Helper()
	p, err := f.Profile()
	require.NoError(t, err)
	e := &emulatedLINSTOR{
		emu:       linstoremu.New(t, linstoremu.WithSyncRate(20), linstoremu.WithPollStep(2*time.Second)),
		resources: map[string][]string{}, before: map[string][]string{},
	}
	for _, n := range p.Spec.Nodes {
		require.NoError(t, e.emu.AddNode(n.Name))
		for _, pool := range n.StoragePools {
			require.NoError(t, e.emu.AddStoragePool(n.Name, pool, 1<<30, 1<<30))
		}
	}
	require.NotEmpty(t, p.Spec.ResourceGroups)
	for _, rg := range p.Spec.ResourceGroups {
		require.NoError(t, e.emu.AddResourceGroup(rg.Name, rg.StoragePool, int(rg.PlaceCount)))
		var nodes []string
		for _, n := range p.Spec.Nodes {
			if slices.Contains(n.StoragePools, rg.StoragePool) {
				nodes = append(nodes, n.Name)
			}
		}
		count := 2
		if rg.Name == upgradeGroup {
			count = upgradeResources
		}
		for i := range count {
			name := fmt.Sprintf("%s-%03d", rg.Name, i+1)
			var on []string
			for k := range min(int(rg.PlaceCount), len(nodes)) {
				on = append(on, nodes[(i+k)%len(nodes)])
			}
			require.NoError(t, e.emu.AddResource(rg.Name, name, 10<<20, on...))
			e.resources[rg.Name] = append(e.resources[rg.Name], name)
			e.before[name] = e.emu.ReplicaNodes(name)
		}
	}
	require.Len(t, e.resources[upgradeGroup], upgradeResources, "the profile has the group the upgrade names")
	e.storage, err = linstor.New(linstor.Config{Controllers: []string{e.emu.URL()}, Timeout: 2 * time.Second})
	require.NoError(t, err)
	return e
}

// assertUpgraded checks what the emulator saw and holds after the
// upgrade: each resource of the group autoplaced at most once (and every
// one that lacked a replica once), the group's place count PUT exactly
// once and placing nothing (every resource had its replicas by then),
// no other mutation; every resource of the group with upgradeTo
// replicas, every other group's as it was, the place count upgradeTo.
func (e *emulatedLINSTOR) assertUpgraded(t *testing.T) {
	t.Helper()
	autoplaced := map[string]int{}
	puts := 0
	for _, c := range e.emu.Mutations() {
		switch {
		case c.Method == "POST" && strings.HasPrefix(c.Path, "/v1/resource-definitions/") && strings.HasSuffix(c.Path, "/autoplace"):
			autoplaced[c.Path]++
			assert.Equal(t, 1, autoplaced[c.Path], "%s ran once", c.Path)
		case c.Method == "PUT" && c.Path == "/v1/resource-groups/"+upgradeGroup:
			puts++
			assert.Empty(t, c.Placed, "the place count placed nothing: every resource had its replicas")
		default:
			t.Errorf("unexpected mutation %s %s", c.Method, c.Path)
		}
	}
	assert.Equal(t, 1, puts, "the place count set once")
	for _, name := range e.resources[upgradeGroup] {
		assert.Equal(t, 1, autoplaced["/v1/resource-definitions/"+name+"/autoplace"], "%s autoplaced once", name)
		assert.Len(t, e.emu.ReplicaNodes(name), upgradeTo, "%s has %d replicas", name, upgradeTo)
	}
	for g, names := range e.resources {
		if g == upgradeGroup {
			continue
		}
		for _, name := range names {
			assert.Equal(t, e.before[name], e.emu.ReplicaNodes(name), "%s of group %s untouched", name, g)
		}
	}
	n, ok := e.emu.PlaceCount(upgradeGroup)
	require.True(t, ok)
	assert.Equal(t, upgradeTo, n, "the group's place count")
}

// TestCrashAfterEveryTransitionOfReplicationOnLINSTOR is
// TestCrashAfterEveryTransitionOfReplicationAndMigration's upgrade with
// the LINSTOR backend driving golinstor against the emulator: the manager
// crashes after every transition, and no request that changes LINSTOR
// runs twice.
func TestCrashAfterEveryTransitionOfReplicationOnLINSTOR(t *testing.T) {
	f := fleet.New(t, fleet.Options{Operations: []string{fleet.Replication}, AnyTime: true})
	l := linstorFromProfile(t, f)
	s := newStackFor(t, f, func(o *stack.Options) { o.Storage = l.storage })
	f.Approve(fleet.Replication, f.Carol)

	up := &v1.ReplicationUpgrade{}
	points := runWithCrashes(t, s, up, upgradeName, "Succeeded", "Halted", "Aborted", "RolledBack")
	require.Equal(t, "Succeeded", up.Status.Phase, "%+v", up.Status.Conditions)
	// A crash after every transition, except that the write of one may
	// land while the manager is already stopping for the crash before
	// it: its answer is then lost and its hook never runs, a crash at
	// that point all the same.
	assert.GreaterOrEqual(t, len(points), len(up.Status.Audit)-1, "a crash after every transition")
	assert.LessOrEqual(t, len(points), len(up.Status.Audit))
	assertTransitionsRecorded(t, replication.Table, up.Status.Audit)
	assert.Equal(t, []string{"Pending", "AwaitingApproval", "Preflight", "Placing", "Syncing", "Placing", "Syncing", "Adjusting", "Verifying", "Succeeded"},
		walk(up.Status.Audit), "two batches")
	l.assertUpgraded(t)
	assertChain(t, s)
}

// TestReplicationOnLINSTORReportsBatches runs the whole manager, without
// crashes, over the emulator: the upgrade reaches Succeeded, and the
// NodewrightCluster's rollup shows each batch's progress while it syncs.
// The resyncs are held (rate 0) until the rollup has shown the batch, so
// nothing depends on how fast the reporter samples.
func TestReplicationOnLINSTORReportsBatches(t *testing.T) {
	ctx := context.Background()
	f := fleet.New(t, fleet.Options{Operations: []string{fleet.Replication}, AnyTime: true})
	l := linstorFromProfile(t, f)
	names := l.resources[upgradeGroup]
	hold := func(names []string, rate float64) {
		t.Helper()
		for _, n := range names {
			require.NoError(t, l.emu.SetSyncRate(n, rate))
		}
	}
	hold(names, 0)
	s := newStackFor(t, f, func(o *stack.Options) { o.Storage = l.storage })
	f.Approve(fleet.Replication, f.Carol)
	_, err := s.StartReconciler(func(o *reconciler.Options) { o.ReportInterval = 100 * time.Millisecond })
	require.NoError(t, err)

	// summary is the upgrade's line of the rollup.
	summary := func() v1.OperationSummary {
		nc := &v1.NodewrightCluster{}
		if s.Client.Get(ctx, keyOf("", s.Name), nc) != nil {
			return v1.OperationSummary{}
		}
		for _, op := range nc.Status.Operations {
			if op.Kind == "ReplicationUpgrade" && op.Name == upgradeName {
				return op
			}
		}
		return v1.OperationSummary{}
	}
	waitSummary := func(want v1.OperationSummary, why string) {
		t.Helper()
		var last v1.OperationSummary
		require.Eventually(t, func() bool {
			last = summary()
			return last == want
		}, 30*time.Second, 20*time.Millisecond, "%s: the rollup shows %+v (last %+v)", why, want, &last)
	}
	waitSummary(v1.OperationSummary{Kind: "ReplicationUpgrade", Name: upgradeName, Phase: "Syncing", Progress: "0/2, 10 syncing"},
		"batch-1 is placed, its ten new replicas syncing")
	up := &v1.ReplicationUpgrade{}
	require.NoError(t, s.Operation(ctx, up, upgradeName))
	var details []string
	for _, p := range up.Status.Progress {
		if p.IsDetail() {
			details = append(details, p.Target+" "+p.Phase)
		}
	}
	assert.Len(t, details, 10, "an entry per new replica of batch-1: %v", details)

	hold(names[:10], 20)
	waitSummary(v1.OperationSummary{Kind: "ReplicationUpgrade", Name: upgradeName, Phase: "Syncing", Progress: "1/2, 2 syncing"},
		"batch-1 done, batch-2's two new replicas syncing")
	hold(names[10:], 20)
	require.NoError(t, s.WaitPhase(ctx, up, upgradeName, time.Minute, "Succeeded", "Halted"))
	require.Equal(t, "Succeeded", up.Status.Phase, "%+v", up.Status.Conditions)
	waitSummary(v1.OperationSummary{Kind: "ReplicationUpgrade", Name: upgradeName, Phase: "Succeeded", Progress: "2/2"}, "both batches done")
	for i, p := range up.Status.Progress {
		assert.Equal(t, fmt.Sprintf("batch-%d", i+1), p.Target)
		assert.Equal(t, replication.BatchDone, p.Phase)
	}
	assertTransitionsRecorded(t, replication.Table, up.Status.Audit)
	l.assertUpgraded(t)
	assertChain(t, s)
}
