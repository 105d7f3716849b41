package optest

import (
	"os"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	kubevirtv1 "kubevirt.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
	"github.com/nodewright/nodewright/test/kubevirtsim"
)

// ControlPlane is the control plane a package's tests share, with the
// CRDs of config/crd/bases and the schemaless test CRDs of the KubeVirt
// and CDI kinds (kubevirtsim.CRDDir; a few schemaless CRDs cost the start
// next to nothing). It is started by the first test that asks for
// it rather than in TestMain, because `go test -fuzz` runs TestMain in the
// coordinator and in every fuzz worker, and tests that need no API server
// should not start one; Main stops it. The zero value is ready to use:
//
//	var controlPlane optest.ControlPlane
//
//	func TestMain(m *testing.M) { controlPlane.Main(m) }
type ControlPlane struct {
	once   sync.Once
	stop   func()
	err    error
	client client.Client
}

// Client starts the control plane on first use and returns a client
// without a cache whose scheme holds client-go's types, the
// nodewright.io types and KubeVirt's (kubevirt.io/v1). A failed start fails the test, and every later one.
func (cp *ControlPlane) Client(t testing.TB) client.Client {
	t.Helper()
	cp.once.Do(func() {
		var e *envtest.Env
		e, cp.stop, cp.err = envtest.StartForMain("config/crd/bases", kubevirtsim.CRDDir)
		if cp.err != nil {
			return
		}
		scheme := runtime.NewScheme()
		if cp.err = clientgoscheme.AddToScheme(scheme); cp.err != nil {
			return
		}
		if cp.err = v1.AddToScheme(scheme); cp.err != nil {
			return
		}
		if cp.err = kubevirtv1.AddToScheme(scheme); cp.err != nil {
			return
		}
		cp.client, cp.err = client.New(e.Config, client.Options{Scheme: scheme})
	})
	require.NoError(t, cp.err)
	return cp.client
}

// Main runs the tests, stops the control plane when one was started and
// exits with the tests' code. TestMain calls it.
func (cp *ControlPlane) Main(m *testing.M) {
	code := m.Run()
	if cp.stop != nil {
		cp.stop()
	}
	os.Exit(code)
}
