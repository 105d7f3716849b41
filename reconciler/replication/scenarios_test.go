package replication_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/phase"
	"github.com/nodewright/nodewright/reconciler/replication"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var (
	pending   = phase.Pending
	awaiting  = phase.AwaitingApproval
	preflight = replication.Preflight
	placing   = replication.Placing
	syncing   = replication.Syncing
	adjusting = replication.Adjusting
	verifying = replication.Verifying
	halted    = phase.Halted
	succeeded = phase.Succeeded
	aborted   = phase.Aborted
)

// happyPath is the phases of an upgrade of five resources, two per batch.
var happyPath = []phase.Phase{pending, awaiting, preflight, placing, syncing, placing, syncing, placing, syncing, adjusting, verifying, succeeded}

// assertUpgraded checks every resource of vm-disks has three UpToDate
// replicas on distinct nodes and the group's place count is three.
func assertUpgraded(t *testing.T, h *harness) {
	t.Helper()
	g, ok := h.storage.Group("vm-disks")
	require.True(t, ok)
	assert.Equal(t, 3, g.PlaceCount)
	for _, r := range g.Resources {
		assert.Equal(t, 3, r.InSync(), r.Name)
		nodes := map[string]bool{}
		for _, rep := range r.Replicas {
			nodes[rep.Node] = true
		}
		assert.Len(t, nodes, 3, "%s: replicas on distinct nodes", r.Name)
	}
}

type scenario struct {
	name string
	run  func(t *testing.T, h *harness)
	// profile edits the site profile before the harness starts.
	profile func(*v1.EdgeProfile)
}

var scenarios = []scenario{
	{name: "happy path through every phase", run: func(t *testing.T, h *harness) {
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
		assert.Equal(t, happyPath, h.Phases())
		assertUpgraded(t, h)

		assert.Equal(t, []string{
			"Place [vm-disks-001 vm-disks-002], 3",
			"Place [vm-disks-003 vm-disks-004], 3",
			"Place [vm-disks-005], 3",
			"SetPlaceCount 3",
		}, h.mutations(), "each batch placed exactly once, in order, then the place count raised")

		require.Len(t, op.Status.Progress, 3)
		for i, want := range []string{"vm-disks-001, vm-disks-002: ", "vm-disks-003, vm-disks-004: ", "vm-disks-005: "} {
			p := op.Status.Progress[i]
			assert.Equal(t, fmt.Sprintf("batch-%d", i+1), p.Target)
			assert.Equal(t, replication.BatchDone, p.Phase)
			assert.True(t, len(p.Message) > len(want) && p.Message[:len(want)] == want, p.Message)
		}
		ready := optest.Condition(op, operation.Ready)
		require.NotNil(t, ready)
		assert.Equal(t, metav1.ConditionTrue, ready.Status)
		assert.Equal(t, replication.ReasonVerified, ready.Reason)
	}},

	{name: "a batch that does not sync in time halts; Resume waits again", run: func(t *testing.T, h *harness) {
		h.Tick = 20 * time.Second
		h.storage.NeverSync("vm-disks-003", true)
		s := spec()
		s.SyncTimeout = metav1.Duration{Duration: time.Minute}
		h.apply(s)
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, preflight, placing, syncing, placing, syncing, halted}, h.Phases())
		stalled := optest.Condition(op, operation.Stalled)
		require.NotNil(t, stalled)
		assert.Equal(t, replication.ReasonSyncTimeout, stalled.Reason)
		assert.Contains(t, stalled.Message, "batch-2")
		assert.Contains(t, stalled.Message, "vm-disks-003 (")
		assert.Contains(t, stalled.Message, "SyncTarget")
		assert.NotContains(t, stalled.Message, "vm-disks-004", "only the resources still syncing are named")
		assert.Equal(t, string(syncing), op.Status.HaltedPhase)
		assert.Equal(t, replication.BatchTimedOut, op.Status.Progress[1].Phase)
		assert.Equal(t, replication.BatchPending, op.Status.Progress[2].Phase, "no later batch started")
		assert.Len(t, h.mutations(), 2, "two batches placed, nothing else")

		h.storage.NeverSync("vm-disks-003", false)
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
		assert.Equal(t, []phase.Phase{syncing, placing, syncing, adjusting, verifying, succeeded}, h.Phases()[8:])
		assertUpgraded(t, h)
	}},

	{name: "a timed-out batch can be aborted", run: func(t *testing.T, h *harness) {
		h.Tick = time.Minute
		h.storage.NeverSync("vm-disks-001", true)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		h.Act(v1.ActionAbort)
		op = h.Run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{halted, aborted}, h.Phases()[len(h.Path)-2:])
		g, _ := h.storage.Group("vm-disks")
		assert.Equal(t, 2, g.PlaceCount, "an aborted upgrade leaves the place count")
	}},

	{name: "nothing to do", run: func(t *testing.T, h *harness) {
		h.storage.AddGroup("vm-disks", 3, []string{"node-a", "node-b", "node-c"}, "vm-disks-001", "vm-disks-002")
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, preflight, succeeded}, h.Phases())
		assert.Empty(t, h.mutations())
		assert.Equal(t, replication.ReasonNothingToDo, optest.Condition(op, operation.Ready).Reason)
	}},

	{name: "replicas placed already, place count not raised", run: func(t *testing.T, h *harness) {
		h.storage.AddGroup("vm-disks", 2, []string{"node-a", "node-b", "node-c"})
		for _, r := range []string{"vm-disks-001", "vm-disks-002"} {
			require.NoError(t, h.storage.SetReplicas("vm-disks", r,
				backend.Replica{Node: "node-a", State: backend.UpToDate}, backend.Replica{Node: "node-b", State: backend.UpToDate}, backend.Replica{Node: "node-c", State: backend.UpToDate}))
		}
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, preflight, placing, adjusting, verifying, succeeded}, h.Phases())
		assert.Equal(t, []string{"SetPlaceCount 3"}, h.mutations())
	}},

	{name: "a resource made after the plan gets a batch of its own", run: func(t *testing.T, h *harness) {
		added := false
		h.OnTransition = func(_, to phase.Phase) {
			if to == placing && !added {
				added = true
				require.NoError(t, h.storage.SetReplicas("vm-disks", "vm-disks-006",
					backend.Replica{Node: "node-b", State: backend.UpToDate}, backend.Replica{Node: "node-c", State: backend.UpToDate}))
			}
		}
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
		require.Len(t, op.Status.Progress, 4)
		assert.Equal(t, "batch-4", op.Status.Progress[3].Target)
		assert.Contains(t, op.Status.Progress[3].Message, "vm-disks-006: ")
		assertUpgraded(t, h)
	}},

	{name: "step gates hold a new batch", profile: func(p *v1.EdgeProfile) { p.Spec.Paused = true }, run: func(t *testing.T, h *harness) {
		h.apply(spec())
		op := h.RunUntil(func(op *v1.ReplicationUpgrade) bool {
			c := optest.Condition(op, operation.Reconciling)
			return op.Status.Phase == string(placing) && c != nil && c.Reason == "Paused"
		})
		assert.Contains(t, optest.Condition(op, operation.Reconciling).Message, "paused")
		for range 3 {
			_, err := h.Rec.Reconcile(context.Background(), h.Request())
			require.NoError(t, err)
		}
		assert.Empty(t, h.mutations(), "nothing placed while paused")
		assert.Equal(t, string(placing), h.Get().Status.Phase)

		h.UpdateProfile(func(p *v1.EdgeProfile) { p.Spec.Paused = false })
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, happyPath, h.Phases())
	}},

	{name: "preflight refuses a placement without room before anything is placed", run: func(t *testing.T, h *harness) {
		for i := 1; i <= 5; i++ {
			require.NoError(t, h.storage.SetSize("vm-disks", fmt.Sprintf("vm-disks-%03d", i), 10<<20))
		}
		// Resources 1 and 4 need their third replica on node-c, 2 and 5
		// on node-a, 3 on node-b: node-c has room for one of them.
		h.storage.SetPool("node-c", "nvme", 15<<20)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, preflight, halted}, h.Phases())
		stalled := optest.Condition(op, operation.Stalled)
		require.NotNil(t, stalled)
		assert.Equal(t, replication.ReasonNotEnoughCapacity, stalled.Reason)
		assert.Contains(t, stalled.Message, "node-c short by 5.0 GiB (free 15.0 GiB, new replicas 20.0 GiB)")
		assert.Empty(t, h.mutations(), "nothing placed")

		h.storage.SetOnline("node-c", false)
		h.storage.SetPool("node-c", "nvme", 100<<20)
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Contains(t, optest.Condition(op, operation.Stalled).Message, "node-c (OFFLINE)")
		assert.Empty(t, h.mutations(), "nothing placed")
	}},

	{name: "a replica gone StandAlone halts its batch, naming it; Resume goes on without placing twice", run: func(t *testing.T, h *harness) {
		h.Tick = time.Minute
		h.storage.NeverSync("vm-disks-001", true)
		marked := false
		h.OnTransition = func(_, to phase.Phase) {
			if to == syncing && !marked {
				marked = true
				require.NoError(t, h.storage.SetPeers("vm-disks", "vm-disks-001", "node-c",
					backend.PeerSync{Node: "node-a", Connection: "StandAlone", DonePercent: -1},
					backend.PeerSync{Node: "node-b", Connection: "Connected", Replication: "SyncTarget", DonePercent: 12}))
			}
		}
		s := spec()
		s.StallTimeout = &metav1.Duration{Duration: 5 * time.Minute}
		h.apply(s)
		op := h.Run()
		stalled := haltedWith(t, op, replication.ReasonSyncStalled)
		assert.Contains(t, stalled.Message, "vm-disks-001 on node-c: StandAlone towards node-a")
		assert.Equal(t, replication.BatchStalled, op.Status.Progress[0].Phase)
		i := slices.IndexFunc(op.Status.Progress, func(p v1.StepProgress) bool { return p.Target == "replica/vm-disks-001@node-c" })
		require.GreaterOrEqual(t, i, 0, "the replica's own progress entry: %+v", op.Status.Progress)
		assert.Equal(t, replication.ReplicaStandAlone, op.Status.Progress[i].Phase)
		assert.Equal(t, []string{"Place [vm-disks-001 vm-disks-002], 3"}, h.mutations(), "nothing further placed")

		// Someone reconnects the resource; Resume watches the batch again.
		require.NoError(t, h.storage.SetPeers("vm-disks", "vm-disks-001", "node-c"))
		h.storage.NeverSync("vm-disks-001", false)
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
		assert.Equal(t, []string{
			"Place [vm-disks-001 vm-disks-002], 3",
			"Place [vm-disks-003 vm-disks-004], 3",
			"Place [vm-disks-005], 3",
			"SetPlaceCount 3",
		}, h.mutations(), "the halted batch is not placed again")
		assert.False(t, slices.ContainsFunc(op.Status.Progress, func(p v1.StepProgress) bool { return p.IsDetail() }), "replica entries go with their batch")
		assertUpgraded(t, h)
	}},

	{name: "a resync whose percentage does not grow halts after stallTimeout", run: func(t *testing.T, h *harness) {
		h.Tick = time.Minute
		h.storage.NeverSync("vm-disks-001", true)
		h.OnTransition = func(_, to phase.Phase) {
			if to == syncing {
				require.NoError(t, h.storage.SetPeers("vm-disks", "vm-disks-001", "node-c",
					backend.PeerSync{Node: "node-a", Connection: "Connected", Replication: "SyncTarget", DonePercent: 0}))
			}
		}
		s := spec()
		s.StallTimeout = &metav1.Duration{Duration: 3 * time.Minute}
		h.apply(s)
		op := h.Run()
		stalled := haltedWith(t, op, replication.ReasonSyncStalled)
		assert.Contains(t, stalled.Message, "vm-disks-001 on node-c: 0.0% SyncTarget from node-a")
		assert.Len(t, h.mutations(), 1)
	}},

	{name: "transient Place errors are retried", run: func(t *testing.T, h *harness) {
		h.storage.Fail(memory.MethodPlace, errors.New("linstor controller: 503"), 2)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, happyPath, h.Phases())
		assert.Len(t, h.mutations(), 4, "three batches and the place count, each once")
	}},

	{name: "Place failing past the retries halts in Placing; Resume retries", run: func(t *testing.T, h *harness) {
		h.storage.Fail(memory.MethodPlace, errors.New("linstor controller: 503"), 0)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, string(placing), op.Status.HaltedPhase)
		assert.Equal(t, operation.ReasonRetriesExhausted, optest.Condition(op, operation.Stalled).Reason)
		assert.Contains(t, optest.Condition(op, operation.Stalled).Message, "503")
		h.storage.Fail(memory.MethodPlace, nil, 0)
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assertUpgraded(t, h)
	}},

	{name: "SetPlaceCount failing halts in Adjusting; Resume finishes", run: func(t *testing.T, h *harness) {
		h.storage.Fail(memory.MethodSetPlaceCount, errors.New("linstor controller: 500"), 0)
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, string(adjusting), op.Status.HaltedPhase)
		h.storage.Fail(memory.MethodSetPlaceCount, nil, 0)
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{halted, adjusting, verifying, succeeded}, h.Phases()[len(h.Path)-4:])
	}},

	{name: "a replica lost before Verifying halts it; Resume verifies again", run: func(t *testing.T, h *harness) {
		lost := false
		h.OnTransition = func(_, to phase.Phase) {
			if to == verifying && !lost {
				lost = true
				require.NoError(t, h.storage.SetReplicas("vm-disks", "vm-disks-002",
					backend.Replica{Node: "node-a", State: backend.UpToDate}, backend.Replica{Node: "node-b", State: "Outdated"}, backend.Replica{Node: "node-c", State: backend.UpToDate}))
			}
		}
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		stalled := optest.Condition(op, operation.Stalled)
		assert.Equal(t, replication.ReasonVerifyFailed, stalled.Reason)
		assert.Contains(t, stalled.Message, "vm-disks-002 (node-b Outdated)")

		require.NoError(t, h.storage.SetReplicas("vm-disks", "vm-disks-002",
			backend.Replica{Node: "node-a", State: backend.UpToDate}, backend.Replica{Node: "node-b", State: backend.UpToDate}, backend.Replica{Node: "node-c", State: backend.UpToDate}))
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{verifying, halted, verifying, succeeded}, h.Phases()[len(h.Path)-4:])
	}},

	{name: "preflight refusal halts with nothing changed; Resume after the fix", run: func(t *testing.T, h *harness) {
		require.NoError(t, h.storage.SetReplicas("vm-disks", "vm-disks-004",
			backend.Replica{Node: "node-a", State: backend.UpToDate}, backend.Replica{Node: "node-b", State: "Inconsistent"}))
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, replication.ReasonPreflightFailed, optest.Condition(op, operation.Stalled).Reason)
		assert.Contains(t, optest.Condition(op, operation.Stalled).Message, "vm-disks-004 (node-b Inconsistent)")
		assert.Empty(t, h.mutations())

		require.NoError(t, h.storage.SetReplicas("vm-disks", "vm-disks-004",
			backend.Replica{Node: "node-a", State: backend.UpToDate}, backend.Replica{Node: "node-b", State: backend.UpToDate}))
		h.Act(v1.ActionResume)
		op = h.Run()
		require.Equal(t, string(succeeded), op.Status.Phase)
		assert.Equal(t, []phase.Phase{preflight, halted, preflight, placing}, h.Phases()[2:6])
		assertUpgraded(t, h)
	}},

	{name: "no LINSTOR backend halts at Preflight", run: func(t *testing.T, h *harness) {
		h.Env.Storage = nil
		h.apply(spec())
		op := h.Run()
		require.Equal(t, string(halted), op.Status.Phase)
		assert.Equal(t, replication.ReasonNoStorageBackend, optest.Condition(op, operation.Stalled).Reason)
		assert.Contains(t, optest.Condition(op, operation.Stalled).Message, "LINSTOR backend")
	}},

	{name: "spec.action Abort before the start", run: func(t *testing.T, h *harness) {
		s := spec()
		s.Action = v1.ActionAbort
		h.apply(s)
		op := h.Run()
		assert.Equal(t, string(aborted), op.Status.Phase)
		assert.Equal(t, []phase.Phase{pending, awaiting, aborted}, h.Phases())
		assert.Empty(t, h.mutations())
	}},
}

// TestScenarios runs every scenario through the real skeleton and checks
// that each transition a step took is in the table and, when every
// scenario ran, that the scenarios took every transition of the table.
func TestScenarios(t *testing.T) {
	cov := optest.NewCoverage(replication.Table)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			h := newHarness(t, sc.profile)
			sc.run(t, h)
			cov.Took(t, h.Path, h.Get().Status.Audit)
		})
	}
	cov.Complete(t, len(scenarios))
}

func TestTable(t *testing.T) {
	require.Same(t, replication.Table, replication.Kind.Table)
	optest.CheckKind(t, replication.Kind)
	assert.True(t, slices.Contains(replication.Table.Next[phase.Halted], phase.Aborted))
}
