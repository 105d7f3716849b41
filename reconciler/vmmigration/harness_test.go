package vmmigration_test

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
	"github.com/nodewright/nodewright/reconciler/vmmigration"
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
const opName = "db-to-r3"

// db is the VM every scenario moves, from linstor-r2 to linstor-r3.
var db = v1.VMReference{Namespace: "apps", Name: "db-0"}

// start is the fake clock's first reading.
var start = time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)

// harness runs one VMVolumeMigration through the real reconcile skeleton
// (operation.Reconciler) on a real API server, over a simulated KubeVirt.
type harness struct {
	t   *testing.T
	c   client.Client
	ns  string
	vms *memory.VMs
	env *operation.Env
	rec *operation.Reconciler
	now time.Time
	// path is every transition, in order.
	path [][2]phase.Phase
	// onTransition, when set, runs after each transition is recorded.
	onTransition func(from, to phase.Phase)
}

// newHarness makes a namespace, a site profile with storage classes
// linstor-r2 and linstor-r3 (edit may change it) and a simulated KubeVirt
// holding apps/db-0 on linstor-r2, running; live says whether it can
// move live.
func newHarness(t *testing.T, live bool, edit func(*v1.EdgeProfile)) *harness {
	t.Helper()
	c := apiClient(t)
	ctx := context.Background()
	site := fmt.Sprintf("vm-%d-%d", seq.Add(1), time.Now().UnixNano()%100000)
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
			ResourceGroups: []v1.ResourceGroup{
				{Name: "vm-disks", StoragePool: "nvme", PlaceCount: 2},
				{Name: "vm-disks-r3", StoragePool: "nvme", PlaceCount: 3},
			},
			StorageClasses: []v1.StorageClass{
				{Name: "linstor-r2", ResourceGroup: "vm-disks"},
				{Name: "linstor-r3", ResourceGroup: "vm-disks-r3"},
			},
			// The API server here has no Node objects; the gates' node
			// count is not what these tests are about.
			Health: v1.HealthThresholds{MinReadyNodes: &zero},
		},
	}
	if edit != nil {
		edit(p)
	}
	require.NoError(t, c.Create(ctx, p))
	kv := memory.NewVMs([]string{"node-a", "node-b", "node-c"}, []string{"linstor-r2", "linstor-r3"})
	require.NoError(t, kv.AddVM(memory.VM{Ref: db, Node: "node-a", Running: true, Live: live, StorageClass: "linstor-r2"}))
	kv.SetJobSteps(1)
	h := &harness{t: t, c: c, ns: site, vms: kv, now: start}
	h.env = &operation.Env{
		Client: c, Chain: &operation.Chain{Client: c, Reader: c, Cluster: site},
		VMs: kv, Cluster: site, Site: site,
		Now: func() time.Time { return h.now },
		Hooks: operation.Hooks{AfterTransition: func(_, _ string, from, to phase.Phase) error {
			h.path = append(h.path, [2]phase.Phase{from, to})
			if h.onTransition != nil {
				h.onTransition(from, to)
			}
			return nil
		}},
	}
	h.rec = &operation.Reconciler{Kind: vmmigration.Kind, Env: h.env}
	return h
}

// spec is the scenarios' usual spec: db-0 to linstor-r3 in mode Auto,
// with the defaults (both snapshots, checksums) left to v1.Default.
func spec() v1.VMVolumeMigrationSpec {
	return v1.VMVolumeMigrationSpec{VM: db, TargetStorageClass: "linstor-r3"}
}

// apply creates the operation as the FleetSource controller would, with
// an admission verdict that lets it start.
func (h *harness) apply(s v1.VMVolumeMigrationSpec) {
	h.t.Helper()
	op := &v1.VMVolumeMigration{
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
func (h *harness) get() *v1.VMVolumeMigration {
	h.t.Helper()
	op := &v1.VMVolumeMigration{}
	require.NoError(h.t, h.c.Get(context.Background(), client.ObjectKey{Namespace: h.ns, Name: opName}, op))
	return op
}

// settled reports whether the operation ended or waits for a person.
func settled(op *v1.VMVolumeMigration) bool {
	st := op.Status
	if vmmigration.Table.IsTerminal(phase.Phase(st.Phase)) {
		return true
	}
	return st.Phase == string(phase.Halted) && (op.Generation <= st.HaltedGeneration || op.Spec.Action == "")
}

// run reconciles until the operation settles.
func (h *harness) run() *v1.VMVolumeMigration {
	h.t.Helper()
	return h.runUntil(settled)
}

// runUntil reconciles, moving the clock ten seconds each time, until stop
// holds (at most 200 times) and returns the operation as it then is.
// Transient step errors are logged: the skeleton counts and bounds them.
func (h *harness) runUntil(stop func(*v1.VMVolumeMigration) bool) *v1.VMVolumeMigration {
	h.t.Helper()
	for range 200 {
		op := h.get()
		if stop(op) {
			return op
		}
		if _, err := h.rec.Reconcile(context.Background(), reqOf(h)); err != nil {
			h.t.Logf("reconcile at %s: %v", op.Status.Phase, err)
		}
		h.now = h.now.Add(10 * time.Second)
	}
	h.t.Fatalf("the operation did not settle; it is in %s", h.get().Status.Phase)
	return nil
}

func reqOf(h *harness) ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKey{Namespace: h.ns, Name: opName}}
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
	require.NoError(h.t, h.c.Get(ctx, client.ObjectKey{Name: h.ns}, p))
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

// mutations returns the KubeVirt calls that changed something or started
// a job, as "Method Args".
func (h *harness) mutations() []string {
	var out []string
	for _, c := range h.vms.Mutations() {
		out = append(out, c.Method+" "+c.Args)
	}
	return out
}

// progress returns the phase of each progress entry, by target.
func progress(op *v1.VMVolumeMigration) map[string]string {
	out := map[string]string{}
	for _, p := range op.Status.Progress {
		out[p.Target] = p.Phase
	}
	return out
}
