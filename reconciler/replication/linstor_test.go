package replication_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/backend/linstor"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/phase"
	"github.com/nodewright/nodewright/reconciler/replication"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/linstoremu"
)

// The scenarios below run a ReplicationUpgrade through the real reconcile
// skeleton on a real API server, with the LINSTOR backend driving the
// real golinstor client against the LINSTOR REST emulator: no fakes
// between the steps and the HTTP requests.

// emuHarness is the harness over the emulator.
type emuHarness struct {
	*optest.Harness[*v1.ReplicationUpgrade]
	emu *linstoremu.Emulator
}

// newEmuHarness seeds the emulator from the profile (three nodes with the
// nvme pool, 16 TiB free each; group vm-disks at place count 2) with n
// resources of 10 GiB, replicas spread over the nodes, resyncing at 10 %
// a virtual second, each view request two virtual seconds on.
func newEmuHarness(t testing.TB, n int, opts ...linstoremu.Option) *emuHarness {
	t.Helper()
	h := &emuHarness{Harness: optest.New[*v1.ReplicationUpgrade](t, controlPlane.Client(t), optest.Options{
		Kind: replication.Kind, Name: opName, Site: "ru",
		Profile: func(p *v1.EdgeProfile) {
			p.Spec.ResourceGroups = []v1.ResourceGroup{{Name: "vm-disks", StoragePool: "nvme", PlaceCount: 2}}
			p.Spec.StorageClasses = []v1.StorageClass{{Name: "linstor-r2", ResourceGroup: "vm-disks"}}
		},
	})}
	h.emu = linstoremu.New(t, append([]linstoremu.Option{linstoremu.WithSyncRate(10), linstoremu.WithPollStep(2 * time.Second)}, opts...)...)
	var nodes []string
	for _, node := range h.Profile.Spec.Nodes {
		nodes = append(nodes, node.Name)
		require.NoError(t, h.emu.AddNode(node.Name))
		require.NoError(t, h.emu.AddStoragePool(node.Name, "nvme", 1<<34, 1<<34))
	}
	require.NoError(t, h.emu.AddResourceGroup("vm-disks", "nvme", 2))
	for i := range n {
		require.NoError(t, h.emu.AddResource("vm-disks", resName(i+1), 10<<20, nodes[i%len(nodes)], nodes[(i+1)%len(nodes)]))
	}
	st, err := linstor.New(linstor.Config{Controllers: []string{h.emu.URL()}, Timeout: 2 * time.Second})
	require.NoError(t, err)
	h.Env.Storage = st
	return h
}

func resName(i int) string { return fmt.Sprintf("pvc-%03d", i) }

// autoplaces returns the resources the emulator autoplaced, in order,
// and the place counts the group was modified to.
func (h *emuHarness) mutations() (placed []string, modified int) {
	for _, c := range h.emu.Mutations() {
		switch {
		case c.Method == "POST" && strings.HasSuffix(c.Path, "/autoplace"):
			placed = append(placed, strings.TrimSuffix(strings.TrimPrefix(c.Path, "/v1/resource-definitions/"), "/autoplace"))
		case c.Method == "PUT" && c.Path == "/v1/resource-groups/vm-disks":
			modified++
			assert.Empty(h.T, c.Placed, "the group's place count placed nothing: every resource had its replicas")
		default:
			h.T.Errorf("unexpected mutation %s %s", c.Method, c.Path)
		}
	}
	return placed, modified
}

func TestUpgradeOnLINSTOR(t *testing.T) {
	h := newEmuHarness(t, 30)
	s := spec()
	s.BatchSize = 10
	h.Apply(&v1.ReplicationUpgrade{Spec: s})

	// Watch the status while it runs: the place count stays 2 until
	// Adjusting, and a syncing batch shows each new replica's progress.
	h.OnTransition = func(_, to phase.Phase) {
		if to != replication.Adjusting && to != replication.Verifying && to != phase.Succeeded {
			n, _ := h.emu.PlaceCount("vm-disks")
			assert.Equal(t, 2, n, "place count raised before %s", to)
		}
	}
	details := func(op *v1.ReplicationUpgrade) []v1.StepProgress {
		var out []v1.StepProgress
		for _, p := range op.Status.Progress {
			if p.IsDetail() {
				out = append(out, p)
			}
		}
		return out
	}
	op := h.RunUntil(func(op *v1.ReplicationUpgrade) bool {
		d := details(op)
		return len(d) > 0 && strings.HasPrefix(d[0].Message, "40.0% ")
	})
	d := details(op)
	require.Len(t, d, 10, "each new replica of batch-1 has its entry")
	assert.Equal(t, "replica/pvc-001@node-c", d[0].Target)
	assert.Equal(t, replication.ReplicaSyncing, d[0].Phase)
	assert.Equal(t, "40.0% SyncTarget from node-a, disk Inconsistent", d[0].Message)

	op = h.Run()
	require.Equal(t, string(phase.Succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
	assert.Equal(t, []phase.Phase{pending, awaiting, preflight, placing, syncing, placing, syncing, placing, syncing, adjusting, verifying, succeeded}, h.Phases())
	assert.Empty(t, details(op), "the entries go with their batch")

	placed, modified := h.mutations()
	var want []string
	for i := range 30 {
		want = append(want, resName(i+1))
	}
	assert.Equal(t, want, placed, "one autoplace per resource, batch by batch, none twice")
	assert.Equal(t, 1, modified, "the place count set once, at the end")
	n, _ := h.emu.PlaceCount("vm-disks")
	assert.Equal(t, 3, n)
	for i := range 30 {
		assert.Len(t, h.emu.ReplicaNodes(resName(i+1)), 3)
	}
	for i, p := range op.Status.Progress {
		assert.Equal(t, fmt.Sprintf("batch-%d", i+1), p.Target)
		assert.Equal(t, replication.BatchDone, p.Phase)
	}
}

// TestLINSTORFaultsHaltAndResume injects each fault while the first batch
// syncs (or before it is placed), checks the operation halts naming the
// resource and node with nothing further placed, clears the fault and
// resumes: the rest is placed once, nothing twice.
func TestLINSTORFaultsHaltAndResume(t *testing.T) {
	for _, tc := range []struct {
		name   string
		inject func(h *emuHarness) // while batch-1 syncs
		clear  func(h *emuHarness)
		reason string
		names  []string
	}{
		{name: "node offline",
			inject: func(h *emuHarness) { require.NoError(h.T, h.emu.SetNodeOnline("node-a", false)) },
			clear:  func(h *emuHarness) { require.NoError(h.T, h.emu.SetNodeOnline("node-a", true)) },
			reason: replication.ReasonSyncStalled, names: []string{"pvc-001 on node-c"}},
		{name: "sync stalls",
			inject: func(h *emuHarness) { require.NoError(h.T, h.emu.StallSync("pvc-002", true)) },
			clear:  func(h *emuHarness) { require.NoError(h.T, h.emu.StallSync("pvc-002", false)) },
			reason: replication.ReasonSyncStalled, names: []string{"pvc-002 on node-a"}},
		{name: "StandAlone",
			inject: func(h *emuHarness) { require.NoError(h.T, h.emu.SetStandAlone("pvc-003", "node-b", true)) },
			clear:  func(h *emuHarness) { require.NoError(h.T, h.emu.SetStandAlone("pvc-003", "node-b", false)) },
			reason: replication.ReasonSyncStalled, names: []string{"pvc-003 on node-b", "StandAlone"}},
		{name: "WFBitMapT",
			inject: func(h *emuHarness) {
				require.NoError(h.T, h.emu.SetReplicationState("pvc-001", "node-c", "node-a", "WFBitMapT"))
			},
			clear: func(h *emuHarness) {
				require.NoError(h.T, h.emu.SetReplicationState("pvc-001", "node-c", "node-a", ""))
			},
			reason: replication.ReasonSyncStalled, names: []string{"pvc-001 on node-c", "WFBitMapT with node-a"}},
		{name: "no room left for the next batch",
			inject: func(h *emuHarness) {
				for _, n := range []string{"node-a", "node-b", "node-c"} {
					require.NoError(h.T, h.emu.SetPoolFree(n, "nvme", 1<<20))
				}
			},
			clear: func(h *emuHarness) {
				for _, n := range []string{"node-a", "node-b", "node-c"} {
					require.NoError(h.T, h.emu.SetPoolFree(n, "nvme", 1<<34))
				}
			},
			reason: backend.ReasonRefused, names: []string{"pvc-004", "Not enough available nodes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newEmuHarness(t, 6)
			h.Tick = time.Minute
			s := spec()
			s.BatchSize = 3
			s.StallTimeout = &metav1.Duration{Duration: 5 * time.Minute}
			h.Apply(&v1.ReplicationUpgrade{Spec: s})
			injected := false
			h.OnTransition = func(_, to phase.Phase) {
				if to == syncing && !injected {
					injected = true
					tc.inject(h)
				}
			}
			op := h.Run()
			stalled := haltedWith(t, op, tc.reason)
			for _, n := range tc.names {
				assert.Contains(t, stalled.Message, n)
			}
			placed, modified := h.mutations()
			assert.Equal(t, []string{"pvc-001", "pvc-002", "pvc-003"}, placed, "nothing placed after the halted batch")
			assert.Zero(t, modified)

			tc.clear(h)
			h.Act(v1.ActionResume)
			op = h.Run()
			require.Equal(t, string(phase.Succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
			placed, modified = h.mutations()
			assert.Equal(t, []string{"pvc-001", "pvc-002", "pvc-003", "pvc-004", "pvc-005", "pvc-006"}, placed, "nothing placed twice")
			assert.Equal(t, 1, modified)
		})
	}
}

func TestLINSTORControllerErrorsAreRetried(t *testing.T) {
	for name, inject := range map[string]func(h *emuHarness){
		"500": func(h *emuHarness) { h.emu.FailNext("POST", "/v1/resource-definitions/pvc-002/autoplace", 2) },
		"timeout": func(h *emuHarness) {
			h.emu.HangNext("POST", "/v1/resource-definitions/pvc-002/autoplace", 1, time.Minute)
		},
	} {
		t.Run(name, func(t *testing.T) {
			h := newEmuHarness(t, 4)
			inject(h)
			s := spec()
			s.BatchSize = 2
			h.Apply(&v1.ReplicationUpgrade{Spec: s})
			op := h.Run()
			require.Equal(t, string(phase.Succeeded), op.Status.Phase, "%+v", op.Status.Conditions)
			placed, _ := h.mutations()
			assert.Equal(t, []string{"pvc-001", "pvc-002", "pvc-003", "pvc-004"}, placed, "the failed request placed nothing; the retry placed it once")
			injected := 0
			for _, c := range h.emu.Calls() {
				if c.Injected {
					injected++
					assert.False(t, c.Mutation, "a failed request changed nothing")
				}
			}
			assert.Equal(t, map[string]int{"500": 2, "timeout": 1}[name], injected, "the fault was met, then retried")
		})
	}
}

func TestLINSTORPreflightRefusesWithoutCapacity(t *testing.T) {
	h := newEmuHarness(t, 6)
	require.NoError(t, h.emu.SetPoolFree("node-c", "nvme", 15<<20))
	h.Apply(&v1.ReplicationUpgrade{Spec: spec()})
	op := h.Run()
	stalled := haltedWith(t, op, replication.ReasonNotEnoughCapacity)
	assert.Contains(t, stalled.Message, "node-c short by")
	assert.Empty(t, h.emu.Mutations(), "nothing placed")
}

func TestLINSTORMissingGroupHaltsAtOnce(t *testing.T) {
	h := newEmuHarness(t, 2)
	s := spec()
	h.UpdateProfile(func(p *v1.EdgeProfile) {
		p.Spec.ResourceGroups = append(p.Spec.ResourceGroups, v1.ResourceGroup{Name: "gone", StoragePool: "nvme", PlaceCount: 2})
	})
	s.ResourceGroup = "gone"
	h.Apply(&v1.ReplicationUpgrade{Spec: s})
	op := h.Run()
	stalled := haltedWith(t, op, backend.ReasonNotFound)
	assert.Contains(t, stalled.Message, `"gone"`)
	assert.Equal(t, []phase.Phase{pending, awaiting, preflight, halted}, h.Phases(), "no retries")
}
