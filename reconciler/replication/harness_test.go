package replication_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	"github.com/nodewright/nodewright/reconciler/replication"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
)

// The scenario tests share one control plane, started by the first test
// that needs it (the pure tests need none) and stopped by TestMain.
var (
	envOnce sync.Once
	envStop func()
	envErr  error
	k8s     client.Client
	seq     atomic.Int32
)

func TestMain(m *testing.M) {
	code := m.Run()
	if envStop != nil {
		envStop()
	}
	os.Exit(code)
}

func apiClient(t *testing.T) client.Client {
	t.Helper()
	envOnce.Do(func() {
		var e *envtest.Env
		e, envStop, envErr = envtest.StartForMain("config/crd/bases")
		if envErr != nil {
			return
		}
		scheme := runtime.NewScheme()
		if envErr = clientgoscheme.AddToScheme(scheme); envErr != nil {
			return
		}
		if envErr = v1.AddToScheme(scheme); envErr != nil {
			return
		}
		k8s, envErr = client.New(e.Config, client.Options{Scheme: scheme})
	})
	require.NoError(t, envErr)
	return k8s
}

// opName is the name of every scenario's operation.
const opName = "vm-disks-to-3"

// start is the fake clock's first reading.
var start = time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)

// harness runs one ReplicationUpgrade through the real reconcile skeleton
// (operation.Reconciler) on a real API server, over a simulated LINSTOR,
// with a clock that moves tick per reconcile.
type harness struct {
	t       *testing.T
	c       client.Client
	ns      string
	profile *v1.EdgeProfile
	storage *memory.Storage
	env     *operation.Env
	rec     *operation.Reconciler
	now     time.Time
	tick    time.Duration
	// path is every transition, in order.
	path [][2]phase.Phase
	// onTransition, when set, runs after each transition is recorded.
	onTransition func(from, to phase.Phase)
}

// newHarness makes a namespace, a site profile (three nodes with the nvme
// pool, resource group vm-disks at place count 2; edit may change it)
// and a simulated LINSTOR seeded from it with five resources.
func newHarness(t *testing.T, edit func(*v1.EdgeProfile)) *harness {
	t.Helper()
	c := apiClient(t)
	ctx := context.Background()
	site := fmt.Sprintf("ru-%d-%d", seq.Add(1), time.Now().UnixNano()%100000)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: site}}))
	zero := int32(0)
	p := &v1.EdgeProfile{
		ObjectMeta: metav1.ObjectMeta{Name: site},
		Spec: v1.EdgeProfileSpec{
			Site: site, ClusterName: site,
			Nodes: []v1.Node{
				{Name: "node-a", StoragePools: []string{"nvme"}},
				{Name: "node-b", StoragePools: []string{"nvme"}},
				{Name: "node-c", StoragePools: []string{"nvme"}},
			},
			ResourceGroups: []v1.ResourceGroup{{Name: "vm-disks", StoragePool: "nvme", PlaceCount: 2}},
			StorageClasses: []v1.StorageClass{{Name: "linstor-r2", ResourceGroup: "vm-disks"}},
			// The API server here has no Node objects; the gates' node
			// count is not what these tests are about.
			Health: v1.HealthThresholds{MinReadyNodes: &zero},
		},
	}
	if edit != nil {
		edit(p)
	}
	require.NoError(t, c.Create(ctx, p))
	h := &harness{t: t, c: c, ns: site, profile: p, storage: memory.StorageFromProfile(p, 5), now: start, tick: 10 * time.Second}
	h.storage.SetSyncAfter(2)
	h.env = &operation.Env{
		Client: c, Chain: &operation.Chain{Client: c, Reader: c, Cluster: site},
		Storage: h.storage, Cluster: site, Site: site,
		Now: func() time.Time { return h.now },
		Hooks: operation.Hooks{AfterTransition: func(_, _ string, from, to phase.Phase) error {
			h.path = append(h.path, [2]phase.Phase{from, to})
			if h.onTransition != nil {
				h.onTransition(from, to)
			}
			return nil
		}},
	}
	h.rec = &operation.Reconciler{Kind: replication.Kind, Env: h.env}
	return h
}

// spec is the scenarios' usual spec: vm-disks from 2 to 3 replicas, two
// resources per batch, an hour for each to sync.
func spec() v1.ReplicationUpgradeSpec {
	return v1.ReplicationUpgradeSpec{ResourceGroup: "vm-disks", FromPlaceCount: 2, ToPlaceCount: 3, BatchSize: 2,
		SyncTimeout: metav1.Duration{Duration: time.Hour}}
}

// apply creates the operation as the FleetSource controller would, with
// an admission verdict that lets it start.
func (h *harness) apply(s v1.ReplicationUpgradeSpec) {
	h.t.Helper()
	op := &v1.ReplicationUpgrade{
		ObjectMeta: metav1.ObjectMeta{
			Name: opName, Namespace: h.ns,
			Labels: map[string]string{v1.LabelSourceCommit: "0123456789abcdef0123456789abcdef01234567"},
			Annotations: map[string]string{
				v1.AnnotationBlob:  "b10b",
				v1.AnnotationGates: `{"allowed":true,"blob":"b10b","message":"1 of 1 approvals from role approvers: bob"}`,
			},
		},
		Spec: s,
	}
	require.NoError(h.t, h.c.Create(context.Background(), op))
}

// get reads the operation.
func (h *harness) get() *v1.ReplicationUpgrade {
	h.t.Helper()
	op := &v1.ReplicationUpgrade{}
	require.NoError(h.t, h.c.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: opName}, op))
	return op
}

// settled reports whether the operation ended or waits for a person.
func settled(op *v1.ReplicationUpgrade) bool {
	st := op.Status
	if replication.Table.IsTerminal(phase.Phase(st.Phase)) {
		return true
	}
	return st.Phase == string(phase.Halted) && (op.Generation <= st.HaltedGeneration || op.Spec.Action == "")
}

// run reconciles until the operation settles.
func (h *harness) run() *v1.ReplicationUpgrade {
	h.t.Helper()
	return h.runUntil(settled)
}

// runUntil reconciles, moving the clock tick each time, until stop holds
// (at most 200 times) and returns the operation as it then is. Transient
// step errors are logged: the skeleton counts and bounds them.
func (h *harness) runUntil(stop func(*v1.ReplicationUpgrade) bool) *v1.ReplicationUpgrade {
	h.t.Helper()
	for range 200 {
		op := h.get()
		if stop(op) {
			return op
		}
		_, err := h.rec.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKeyFromObject(op)})
		if err != nil {
			h.t.Logf("reconcile at %s: %v", op.Status.Phase, err)
		}
		h.now = h.now.Add(h.tick)
	}
	h.t.Fatalf("the operation did not settle; it is in %s", h.get().Status.Phase)
	return nil
}

// act sets spec.action (a new generation), clearing it first when it is
// set already, as a person's commits would.
func (h *harness) act(a v1.OperationAction) {
	h.t.Helper()
	ctx := context.Background()
	op := h.get()
	if op.Spec.Action != "" {
		op.Spec.Action = ""
		require.NoError(h.t, h.c.Update(ctx, op))
	}
	op.Spec.Action = a
	require.NoError(h.t, h.c.Update(ctx, op))
}

// phases returns the phases entered, in order.
func (h *harness) phases() []phase.Phase {
	out := make([]phase.Phase, len(h.path))
	for i, tr := range h.path {
		out[i] = tr[1]
	}
	return out
}

// updateProfile changes the site profile in the API server.
func (h *harness) updateProfile(edit func(*v1.EdgeProfile)) {
	h.t.Helper()
	ctx := context.Background()
	p := &v1.EdgeProfile{}
	require.NoError(h.t, h.c.Get(ctx, client.ObjectKey{Name: h.profile.Name}, p))
	edit(p)
	require.NoError(h.t, h.c.Update(ctx, p))
}

func condition(op v1.Operation, typ string) *metav1.Condition {
	for _, c := range op.GetConditions() {
		if c.Type == typ {
			return &c
		}
	}
	return nil
}

// mutations returns the storage calls that changed something, as
// "Method Args".
func (h *harness) mutations() []string {
	var out []string
	for _, c := range h.storage.Mutations() {
		out = append(out, c.Method+" "+c.Args)
	}
	return out
}

func reqOf(h *harness) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKey{Namespace: h.ns, Name: opName}}
}
