package optest

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/phase"
	"github.com/nodewright/nodewright/reconciler/provenance"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Start is the fake clock's first reading.
var Start = time.Date(2026, 3, 3, 3, 0, 0, 0, time.UTC)

// DefaultTick is how far the fake clock moves per reconcile unless a
// scenario sets Harness.Tick.
const DefaultTick = 10 * time.Second

// maxReconciles bounds the reconciles of one RunUntil.
const maxReconciles = 200

// seq numbers the sites of a test binary.
var seq atomic.Int32

// Options are what a kind's harness tells New.
type Options struct {
	// Kind is the operation kind under test.
	Kind *operation.Kind
	// Name is the name of the scenario's operation.
	Name string
	// Site is the prefix of the site's name, which is also the name of
	// its namespace and of its profile.
	Site string
	// Profile, when set, edits the site profile before it is created: the
	// kind's resource groups and storage classes, then a scenario's edit.
	Profile func(*v1.EdgeProfile)
}

// Harness runs one operation of O's kind through the real reconcile
// skeleton (operation.Reconciler) on a real API server, with a clock that
// moves Tick per reconcile. The kind's harness puts its simulated backend
// into Env.
type Harness[O v1.Operation] struct {
	T    testing.TB
	C    client.Client
	Kind *operation.Kind
	// Name is the operation's name.
	Name string
	// NS is the operation's namespace, and the name of the site and of its
	// profile.
	NS string
	// Profile is the site profile as created.
	Profile *v1.EdgeProfile
	Env     *operation.Env
	Rec     *operation.Reconciler
	Now     time.Time
	Tick    time.Duration
	// Path is every transition, in order.
	Path [][2]phase.Phase
	// OnTransition, when set, runs after each transition is recorded.
	OnTransition func(from, to phase.Phase)
}

// New makes a namespace and a site profile (three nodes, node-a to
// node-c, with the nvme storage pool; opts.Profile adds to it) in the API
// server c reaches, and the reconciler of opts.Kind over them, with no
// backend yet.
func New[O v1.Operation](t testing.TB, c client.Client, opts Options) *Harness[O] {
	t.Helper()
	ctx := context.Background()
	site := fmt.Sprintf("%s-%d-%d", opts.Site, seq.Add(1), time.Now().UnixNano()%100000)
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
			// The API server here has no Node objects; the gates' node
			// count is not what these tests are about.
			Health: v1.HealthThresholds{MinReadyNodes: &zero},
		},
	}
	if opts.Profile != nil {
		opts.Profile(p)
	}
	require.NoError(t, c.Create(ctx, p))
	h := &Harness[O]{T: t, C: c, Kind: opts.Kind, Name: opts.Name, NS: site, Profile: p, Now: Start, Tick: DefaultTick}
	h.Env = &operation.Env{
		Client: c, Chain: &operation.Chain{Client: c, Reader: c, Cluster: site}, Tables: operation.TablesOf([]*operation.Kind{opts.Kind}),
		Cluster: site, Site: site, Provenance: provenance.New(),
		Now: func() time.Time { return h.Now },
		Hooks: operation.Hooks{AfterTransition: func(_, _ string, from, to phase.Phase) error {
			h.Path = append(h.Path, [2]phase.Phase{from, to})
			if h.OnTransition != nil {
				h.OnTransition(from, to)
			}
			return nil
		}},
	}
	h.Rec = &operation.Reconciler{Kind: opts.Kind, Env: h.Env}
	return h
}

// SourceCommit is the fleet commit the harness applies operations from.
const SourceCommit = "0123456789abcdef0123456789abcdef01234567"

// Apply creates op, named and placed by the harness, as the FleetSource
// controller would: recorded in the provenance record with an admission
// verdict that lets it start.
func (h *Harness[O]) Apply(op O) {
	h.T.Helper()
	op.SetName(h.Name)
	op.SetNamespace(h.NS)
	op.SetLabels(map[string]string{v1.LabelSourceCommit: SourceCommit})
	op.SetAnnotations(map[string]string{v1.AnnotationBlob: "b10b"})
	h.record(op)
	require.NoError(h.T, h.C.Create(context.Background(), op))
}

// record enters op's spec in the provenance record, as the FleetSource
// controller does before it applies a version.
func (h *Harness[O]) record(op O) {
	h.T.Helper()
	digest, err := provenance.SpecDigest(op)
	require.NoError(h.T, err)
	v := provenance.Version{Commit: SourceCommit, Path: "operations/" + h.Name + ".yaml", Blob: digest[:40], Digest: digest,
		Admission: v1.Admission{Allowed: true, Blob: digest[:40], Message: "1 of 1 approvals from role approvers: bob"}, Recorded: h.Now}
	require.NoError(h.T, h.Env.Provenance.Record(h.NS, "fleet", h.Kind.Name, h.Name, v))
	h.Env.Provenance.Verified(h.NS, "fleet")
}

// Get reads the operation.
func (h *Harness[O]) Get() O {
	h.T.Helper()
	op := h.Kind.New().(O)
	require.NoError(h.T, h.C.Get(context.Background(), client.ObjectKey{Namespace: h.NS, Name: h.Name}, op))
	return op
}

// Request is the reconcile request for the operation.
func (h *Harness[O]) Request() ctrl.Request {
	return ctrl.Request{NamespacedName: client.ObjectKey{Namespace: h.NS, Name: h.Name}}
}

// Settled reports whether the operation ended or waits for a person.
func (h *Harness[O]) Settled(op O) bool {
	st := op.OperationStatus()
	if h.Kind.Table.IsTerminal(phase.Phase(st.Phase)) {
		return true
	}
	return st.Phase == string(phase.Halted) && (op.GetGeneration() <= st.HaltedGeneration || op.OperationAction() == "")
}

// Run reconciles until the operation settles.
func (h *Harness[O]) Run() O {
	h.T.Helper()
	return h.RunUntil(h.Settled)
}

// RunUntil reconciles, moving the clock Tick each time, until stop holds
// (at most 200 times) and returns the operation as it then is. Transient
// step errors are logged: the skeleton counts and bounds them.
func (h *Harness[O]) RunUntil(stop func(O) bool) O {
	h.T.Helper()
	for range maxReconciles {
		op := h.Get()
		if stop(op) {
			return op
		}
		if _, err := h.Rec.Reconcile(context.Background(), h.Request()); err != nil {
			h.T.Logf("reconcile at %s: %v", op.OperationStatus().Phase, err)
		}
		h.Now = h.Now.Add(h.Tick)
	}
	h.T.Fatalf("the operation did not settle; it is in %s", h.Get().OperationStatus().Phase)
	var none O
	return none
}

// Act sets spec.action (a new generation), clearing it first when it is
// set already, as a person's commits would.
func (h *Harness[O]) Act(a v1.OperationAction) {
	h.T.Helper()
	ctx := context.Background()
	op := h.Get()
	if op.OperationAction() != "" {
		require.NoError(h.T, h.C.Patch(ctx, op, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"action":null}}`))))
	}
	set, err := json.Marshal(map[string]any{"spec": map[string]any{"action": a}})
	require.NoError(h.T, err)
	require.NoError(h.T, h.C.Patch(ctx, op, client.RawPatch(types.MergePatchType, set)))
	h.record(op)
}

// Phases returns the phases entered, in order.
func (h *Harness[O]) Phases() []phase.Phase {
	out := make([]phase.Phase, len(h.Path))
	for i, tr := range h.Path {
		out[i] = tr[1]
	}
	return out
}

// UpdateProfile changes the site profile in the API server.
func (h *Harness[O]) UpdateProfile(edit func(*v1.EdgeProfile)) {
	h.T.Helper()
	ctx := context.Background()
	p := &v1.EdgeProfile{}
	require.NoError(h.T, h.C.Get(ctx, client.ObjectKey{Name: h.Profile.Name}, p))
	edit(p)
	require.NoError(h.T, h.C.Update(ctx, p))
}

// Condition returns op's condition of type typ, nil when it has none.
func Condition(op v1.Operation, typ string) *metav1.Condition {
	for _, c := range op.GetConditions() {
		if c.Type == typ {
			return &c
		}
	}
	return nil
}

// MethodArgs returns calls of a simulated backend as "Method Args", e.g.
// its Mutations.
func MethodArgs(calls []memory.Call) []string {
	var out []string
	for _, c := range calls {
		out = append(out, c.Method+" "+c.Args)
	}
	return out
}
