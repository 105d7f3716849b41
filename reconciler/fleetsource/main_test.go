package fleetsource_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/reconciler/bondflip"
	"github.com/nodewright/nodewright/reconciler/fleetsource"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/provenance"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
)

// controlPlane is the real kube-apiserver and etcd the package's tests
// share, started by the first test that needs it.
var controlPlane optest.ControlPlane

func TestMain(m *testing.M) { controlPlane.Main(m) }

// seq numbers the namespaces of the test binary (one API server each).
var seq atomic.Int32

// unreachable is a repository URL nothing listens on: a fetch from it
// fails at once, a transient failure.
const unreachable = "http://127.0.0.1:1/fleet.git"

// step is one step a reconcile ran, with its result.
type step struct {
	name string
	res  fleetsource.Result
}

// env is one test's FleetSource controller: a namespace with the trust
// root Secret, a served and signed fleet repository, and the reconciler
// over them, whose reconciles the test drives.
type env struct {
	t     *testing.T
	ctx   context.Context
	c     client.Client
	ns    string
	fleet *fleet.Fleet
	rec   *fleetsource.Reconciler
	// steps are the steps of the last reconcile, in order.
	steps []step
	// during, when set, runs after each step (while the reconcile is
	// still working) with the step's name.
	during func(name string)
}

// newEnv makes the namespace, the fleet (opts) and its trust root Secret,
// and a reconciler with a state directory of its own; the FleetSources
// are the test's to create (create).
func newEnv(t *testing.T, opts fleet.Options) *env {
	t.Helper()
	c := controlPlane.Client(t)
	e := &env{t: t, c: c, ns: fmt.Sprintf("fleetsource-%d", seq.Add(1)), fleet: fleet.New(t, opts)}
	e.ctx = ctrl.LoggerInto(context.Background(), testr.New(t))
	require.NoError(t, c.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: e.ns}}))
	require.NoError(t, c.Create(e.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "trust-root", Namespace: e.ns},
		Data:       map[string][]byte{"trust.yaml": e.fleet.RootYAML()},
	}))
	stateDir := t.TempDir()
	ledger, err := provenance.Open(stateDir)
	require.NoError(t, err)
	e.rec = &fleetsource.Reconciler{
		Client: c, Reader: c, StateDir: stateDir, Site: fleet.Site, Provenance: ledger,
		Tables: operation.TablesOf([]*operation.Kind{bondflip.Kind}),
		OnStep: func(name string, res fleetsource.Result) {
			e.steps = append(e.steps, step{name, res})
			if e.during != nil {
				e.during(name)
			}
		},
	}
	return e
}

// create creates a FleetSource of the fleet for its site.
func (e *env) create(name string) {
	e.t.Helper()
	fs := &v1.FleetSource{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.ns},
		Spec: v1.FleetSourceSpec{Repo: e.fleet.URL, Site: fleet.Site, TrustRoot: v1.SecretKeyReference{Name: "trust-root"},
			Interval: metav1.Duration{Duration: time.Minute}},
	}
	require.NoError(e.t, e.c.Create(e.ctx, fs))
}

func (e *env) key(name string) client.ObjectKey { return client.ObjectKey{Namespace: e.ns, Name: name} }

// reconcile runs one reconcile of the FleetSource, as the controller
// would on an event, and records its steps.
func (e *env) reconcile(name string) (ctrl.Result, error) {
	e.t.Helper()
	e.steps = nil
	return e.rec.Reconcile(e.ctx, ctrl.Request{NamespacedName: e.key(name)})
}

// reconciled runs one reconcile that must not return an error.
func (e *env) reconciled(name string) ctrl.Result {
	e.t.Helper()
	res, err := e.reconcile(name)
	require.NoError(e.t, err)
	return res
}

// get reads the FleetSource from the API server.
func (e *env) get(name string) *v1.FleetSource {
	e.t.Helper()
	fs := &v1.FleetSource{}
	require.NoError(e.t, e.c.Get(e.ctx, e.key(name), fs))
	return fs
}

// patchSpec merge-patches the FleetSource's spec: a new generation, as a
// person's kubectl edit would make.
func (e *env) patchSpec(name, spec string) {
	e.t.Helper()
	require.NoError(e.t, e.c.Patch(e.ctx, e.get(name), client.RawPatch(types.MergePatchType, []byte(`{"spec":`+spec+`}`))))
}

// names returns the names of the last reconcile's steps.
func (e *env) names() []string {
	out := make([]string, len(e.steps))
	for i, s := range e.steps {
		out[i] = s.name
	}
	return out
}

// last returns the result of the last reconcile's last step.
func (e *env) last() fleetsource.Result {
	e.t.Helper()
	require.NotEmpty(e.t, e.steps, "the reconcile ran no step")
	return e.steps[len(e.steps)-1].res
}
