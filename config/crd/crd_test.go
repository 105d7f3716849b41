package crd_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/config/crd"
	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/test/envtest"
)

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

func object(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	require.NoError(t, yaml.Unmarshal([]byte(doc), &u.Object))
	return u
}

func exampleDoc(path string) string { return string(example.Files()[path]) }

// Each kind: one valid object the API server accepts, and invalid ones it
// refuses through the CRD's enums, bounds, patterns and CEL rules.
var kinds = []struct {
	kind      string
	namespace string
	valid     string
	invalid   map[string]func(string) string
}{
	{"EdgeProfile", "", exampleDoc("bases/edge-profile/profile.yaml"), map[string]func(string) string{
		"bond mode":       func(s string) string { return strings.Replace(s, "mode: active-backup", "mode: lacp", 1) },
		"window duration": func(s string) string { return strings.Replace(s, "duration: 3h", "duration: 5m", 1) },
		"place count":     func(s string) string { return strings.Replace(s, "placeCount: 2", "placeCount: 17", 1) },
		"no nodes":        func(s string) string { return s[:strings.Index(s, "  nodes:")] },
	}},
	{"BondModeFlipPlan", "default", exampleDoc("sites/edge-001/operations/bond-flip.yaml"), map[string]func(string) string{
		"to mode":      func(s string) string { return strings.Replace(s, "toMode: 802.3ad", "toMode: 8023ad", 1) },
		"revert after": func(s string) string { return strings.Replace(s, "revertAfter: 2m", "revertAfter: 2h", 1) },
		"vm protect":   func(s string) string { return strings.Replace(s, "vmProtection: LiveMigrate", "vmProtection: Pray", 1) },
	}},
	{"ReplicationUpgrade", "default", exampleDoc("sites/edge-001/operations/replication.yaml"), map[string]func(string) string{
		"to place count": func(s string) string { return strings.Replace(s, "toPlaceCount: 3", "toPlaceCount: 17", 1) },
		"sync timeout":   func(s string) string { return strings.Replace(s, "syncTimeout: 2h", "syncTimeout: 5s", 1) },
	}},
	{"VMVolumeMigration", "default", exampleDoc("sites/edge-001/operations/vm-migration.yaml"), map[string]func(string) string{
		"mode":    func(s string) string { return strings.Replace(s, "mode: Auto", "mode: Warm", 1) },
		"vm name": func(s string) string { return strings.Replace(s, "name: db-0", "name: DB_0", 1) },
	}},
	{"FleetSource", "default", "apiVersion: nodewright.io/v1alpha1\nkind: FleetSource\nmetadata: {name: fleet}\nspec: {repo: https://git.example.test/fleet.git, site: edge-001, trustRoot: {name: trust-root}, interval: 5m}\n", map[string]func(string) string{
		"interval": func(s string) string { return strings.Replace(s, "interval: 5m", "interval: 1s", 1) },
		"site":     func(s string) string { return strings.Replace(s, "site: edge-001", "site: Edge_1", 1) },
	}},
	{"NodeTask", "default", "apiVersion: nodewright.io/v1alpha1\nkind: NodeTask\nmetadata: {name: flip-node-a}\nspec: {nodeName: node-a, operation: {kind: BondModeFlipPlan, name: bond0-to-lacp}, action: FlipBond, deadline: \"2026-11-26T10:00:00Z\"}\n", map[string]func(string) string{
		"operation kind": func(s string) string { return strings.Replace(s, "kind: BondModeFlipPlan", "kind: Reboot", 1) },
		"no node":        func(s string) string { return strings.Replace(s, "nodeName: node-a, ", "", 1) },
	}},
	{"NodewrightAgentStatus", "", "apiVersion: nodewright.io/v1alpha1\nkind: NodewrightAgentStatus\nmetadata: {name: node-a}\n", map[string]func(string) string{
		"unknown field": func(s string) string { return s + "spec: {surprise: true}\n" },
	}},
	{"NodewrightCluster", "", "apiVersion: nodewright.io/v1alpha1\nkind: NodewrightCluster\nmetadata: {name: edge-001}\n", map[string]func(string) string{
		"unknown field": func(s string) string { return s + "spec: {surprise: true}\n" },
	}},
}

func TestEveryCRDIsInstalled(t *testing.T) {
	names, _ := crd.Files()
	assert.Len(t, env.CRDs, len(names))
	assert.Len(t, kinds, len(names), "every CRD has a case below")
}

func TestCRDsAcceptValidAndRejectInvalidObjects(t *testing.T) {
	ctx := context.Background()
	for _, k := range kinds {
		t.Run(k.kind, func(t *testing.T) {
			valid := object(t, k.valid)
			valid.SetNamespace(k.namespace)
			require.NoError(t, env.Client.Create(ctx, valid, client.FieldValidation("Strict")), "a valid %s is accepted", k.kind)
			for name, mutate := range k.invalid {
				t.Run(name, func(t *testing.T) {
					bad := object(t, mutate(k.valid))
					bad.SetNamespace(k.namespace)
					bad.SetName(bad.GetName() + "-bad")
					err := env.Client.Create(ctx, bad, client.FieldValidation("Strict"))
					require.Error(t, err, "an invalid %s is refused", k.kind)
					assert.True(t, apierrors.IsInvalid(err) || apierrors.IsBadRequest(err), "%v", err)
				})
			}
		})
	}
}

// Objects decodes every embedded CRD, each of the nodewright.io group.
func TestObjectsDecodesEveryFile(t *testing.T) {
	names, _ := crd.Files()
	objs, err := crd.Objects()
	require.NoError(t, err)
	require.Len(t, objs, len(names))
	for i, o := range objs {
		assert.Equal(t, "nodewright.io", o.Spec.Group, names[i])
		assert.Equal(t, o.Spec.Names.Plural+"."+o.Spec.Group, o.Name, names[i])
	}
}
