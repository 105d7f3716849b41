package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	fakediscovery "k8s.io/client-go/discovery/fake"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	clienttesting "k8s.io/client-go/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/reconciler/backend"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
	"github.com/nodewright/nodewright/test/kubevirtsim"
)

func TestServesVMIsOnlyWhenKubeVirtIsInstalled(t *testing.T) {
	for _, tc := range []struct {
		name      string
		resources []*metav1.APIResourceList
		want      bool
	}{
		{"no KubeVirt", []*metav1.APIResourceList{{GroupVersion: "v1", APIResources: []metav1.APIResource{{Name: "nodes"}}}}, false},
		{"KubeVirt", []*metav1.APIResourceList{{GroupVersion: "kubevirt.io/v1", APIResources: []metav1.APIResource{
			{Name: "virtualmachines"}, {Name: "virtualmachineinstances"}, {Name: "virtualmachineinstancemigrations"}, {Name: "kubevirts"}}}}, true},
		{"VMIs without migrations", []*metav1.APIResourceList{{GroupVersion: "kubevirt.io/v1", APIResources: []metav1.APIResource{{Name: "virtualmachines"}, {Name: "virtualmachineinstances"}}}}, false},
		{"kubevirt.io without VMIs", []*metav1.APIResourceList{{GroupVersion: "kubevirt.io/v1", APIResources: []metav1.APIResource{{Name: "kubevirts"}}}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dc := &fakediscovery.FakeDiscovery{Fake: &clienttesting.Fake{Resources: tc.resources}}
			got, err := servesVMIs(dc)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

// TestKubeVirtBackendOnlyWhenTheAPIServerServesVMIs asks a real API server:
// without the KubeVirt CRDs the reconciler gets no VM protection backend;
// once virtualmachineinstances.kubevirt.io is served it gets one whose
// client speaks the KubeVirt types.
func TestKubeVirtBackendOnlyWhenTheAPIServerServesVMIs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts kube-apiserver and etcd")
	}
	env := envtest.Start(t)
	ev, err := kubevirtEvacuator(env.Config)
	require.NoError(t, err)
	assert.Nil(t, ev, "no KubeVirt, no backend")

	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	c, err := client.New(env.Config, client.Options{Scheme: scheme})
	require.NoError(t, err)
	for _, kind := range []string{"virtualmachineinstances", "virtualmachines", "virtualmachineinstancemigrations"} {
		crd, err := os.ReadFile(filepath.Join(envtest.ModuleRoot(), kubevirtsim.CRDDir, "kubevirt.io_"+kind+".yaml"))
		require.NoError(t, err)
		obj := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, yaml.Unmarshal(crd, obj))
		require.NoError(t, c.Create(t.Context(), obj))
		if kind == "virtualmachineinstances" {
			ev, err = kubevirtEvacuator(env.Config)
			require.NoError(t, err)
			assert.Nil(t, ev, "VMIs alone are not KubeVirt")
		}
	}
	require.NoError(t, wait.PollUntilContextTimeout(t.Context(), 50*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		ev, err = kubevirtEvacuator(env.Config)
		return ev != nil, err
	}))
	_, err = ev.Evacuate(t.Context(), "no-such-node", v1.VMProtectionLiveMigrate)
	var nf *backend.NotFoundError
	require.ErrorAs(t, err, &nf, "the backend reads through the real API")
	require.NoError(t, c.Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}))
	prog, err := ev.Evacuate(t.Context(), "n1", v1.VMProtectionLiveMigrate)
	require.NoError(t, err)
	assert.Equal(t, backend.Progress{Done: true, Message: "no VM runs on n1; n1 cordoned"}, prog)
	require.NoError(t, ev.Release(t.Context(), "n1"))
}
