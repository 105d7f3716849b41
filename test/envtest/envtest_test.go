package envtest_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/test/envtest"
)

// shared is the control plane the tests of this package share.
var shared *envtest.Env

func TestMain(m *testing.M) {
	began := time.Now()
	env, stop, err := envtest.StartForMain()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "envtest: control plane ready in %s\n", time.Since(began).Round(time.Millisecond))
	shared = env
	code := m.Run()
	stop()
	os.Exit(code)
}

func TestClientCreatesAndReadsBack(t *testing.T) {
	ctx := t.Context()
	c := shared.Client

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "envtest-roundtrip"}}
	require.NoError(t, c.Create(ctx, ns))

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "settings"},
		Data:       map[string]string{"site": "edge-042", "bondMode": "802.3ad"},
	}
	require.NoError(t, c.Create(ctx, cm))

	var gotNS corev1.Namespace
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: ns.Name}, &gotNS))
	assert.Equal(t, corev1.NamespaceActive, gotNS.Status.Phase)
	assert.NotEmpty(t, gotNS.UID, "the API server assigns a UID")

	var got corev1.ConfigMap
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(cm), &got))
	assert.Equal(t, cm.Data, got.Data)
	assert.Equal(t, cm.UID, got.UID)
	assert.NotEmpty(t, got.ResourceVersion, "the object was stored")

	var missing corev1.ConfigMap
	err := c.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "absent"}, &missing)
	assert.True(t, apierrors.IsNotFound(err), "reading an absent object: %v", err)
}

// widgetCRD is a namespaced custom resource whose spec.mode only takes the
// values of its enum.
const widgetCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.envtest.nodewright.io
spec:
  group: envtest.nodewright.io
  scope: Namespaced
  names:
    kind: Widget
    listKind: WidgetList
    plural: widgets
    singular: widget
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              required: [mode]
              properties:
                mode:
                  type: string
                  enum: [active-backup, 802.3ad]
`

func widget(name, mode string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(schema.GroupVersionKind{Group: "envtest.nodewright.io", Version: "v1", Kind: "Widget"})
	u.SetNamespace(metav1.NamespaceDefault)
	u.SetName(name)
	u.Object["spec"] = map[string]any{"mode": mode}
	return u
}

func TestStartInstallsCRDsAndTheAPIServerValidatesThem(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "widgets.yaml"), []byte(widgetCRD), 0o644))

	began := time.Now()
	env := envtest.Start(t, dir)
	t.Logf("control plane with one CRD ready in %s", time.Since(began).Round(time.Millisecond))

	require.Len(t, env.CRDs, 1)
	assert.Equal(t, "widgets.envtest.nodewright.io", env.CRDs[0].Name)

	ctx := context.Background()
	err := env.Client.Create(ctx, widget("bad", "round-robin"))
	require.Error(t, err, "a mode outside the enum must be refused")
	assert.True(t, apierrors.IsInvalid(err), "want Invalid, got: %v", err)
	assert.Contains(t, err.Error(), "spec.mode")

	require.NoError(t, env.Client.Create(ctx, widget("good", "802.3ad")))
	got := widget("good", "")
	require.NoError(t, env.Client.Get(ctx, client.ObjectKeyFromObject(got), got))
	mode, _, _ := unstructured.NestedString(got.Object, "spec", "mode")
	assert.Equal(t, "802.3ad", mode)
}

func TestStartRefusesAMissingCRDDirectory(t *testing.T) {
	_, _, err := envtest.StartForMain(filepath.Join(t.TempDir(), "absent"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "absent")
}

func TestModuleRootHoldsTheMainGoMod(t *testing.T) {
	root := envtest.ModuleRoot()
	require.NotEmpty(t, root)
	_, err := os.Stat(filepath.Join(root, "test", "envtest", "doc.go"))
	assert.NoError(t, err, "the module root is the one above this package")
}
