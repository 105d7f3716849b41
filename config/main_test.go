package config_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/test/envtest"
)

// namespace is where config/default puts everything namespaced but the
// agent's DaemonSet and ServiceAccount.
const namespace = "nodewright-system"

// agentNamespace is the node agent's namespace, whose Pod Security level
// admits host access.
const agentNamespace = "nodewright-agent"

// env is the control plane the tests of this package share.
var env *envtest.Env

func TestMain(m *testing.M) {
	e, stop, err := envtest.StartForMain("config/crd/bases")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	env = e
	code := m.Run()
	stop()
	os.Exit(code)
}

// render builds the kustomization in dir (relative to the module root, or
// absolute) with the options of the kustomize command line (files only from
// within each kustomization, no plugins, the sort order of the kustomization
// file), and returns its objects in output order.
func render(t testing.TB, dir string) []*unstructured.Unstructured {
	t.Helper()
	if !filepath.IsAbs(dir) {
		root := envtest.ModuleRoot()
		require.NotEmpty(t, root, "the module root is above the working directory")
		dir = filepath.Join(root, dir)
	}
	options := krusty.MakeDefaultOptions()
	options.Reorder = krusty.ReorderOptionUnspecified
	resources, err := krusty.MakeKustomizer(options).Run(filesys.MakeFsOnDisk(), dir)
	require.NoError(t, err, "kustomize build %s", dir)
	out, err := resources.AsYaml()
	require.NoError(t, err)
	return decodeAll(t, out)
}

// decodeAll splits a multi-document YAML stream into objects.
func decodeAll(t testing.TB, data []byte) []*unstructured.Unstructured {
	t.Helper()
	var objs []*unstructured.Unstructured
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return objs
		}
		require.NoError(t, err)
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal(doc, &u.Object))
		objs = append(objs, u)
	}
}

// find returns the one object of the kind whose name is name, or whose name
// is name plus a kustomize content hash when name ends in "-".
func find(t testing.TB, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	var found []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() != kind {
			continue
		}
		if o.GetName() == name || (strings.HasSuffix(name, "-") && strings.HasPrefix(o.GetName(), name)) {
			found = append(found, o)
		}
	}
	require.Len(t, found, 1, "exactly one %s %s", kind, name)
	return found[0]
}

// typed converts u into out, refusing fields out does not have: a misspelt
// field in a manifest fails here instead of being dropped by the API server.
func typed(t testing.TB, u *unstructured.Unstructured, out any) {
	t.Helper()
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true),
		"%s %s has only known fields", u.GetKind(), u.GetName())
}
