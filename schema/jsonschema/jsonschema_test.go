package jsonschema

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	js "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/schema/example"
)

func compile(t *testing.T) map[string]*js.Schema {
	t.Helper()
	all, err := All()
	require.NoError(t, err)
	c := js.NewCompiler()
	out := map[string]*js.Schema{}
	for _, s := range all {
		doc, err := js.UnmarshalJSON(bytes.NewReader(s.JSON))
		require.NoError(t, err, s.Kind)
		require.NoError(t, c.AddResource(s.FileName, doc))
		out[s.Kind], err = c.Compile(s.FileName)
		require.NoError(t, err, s.Kind)
	}
	return out
}

func instance(t *testing.T, yamlDoc string) (string, any) {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte(yamlDoc))
	require.NoError(t, err)
	var kind struct{ Kind string }
	require.NoError(t, json.Unmarshal(data, &kind))
	v, err := js.UnmarshalJSON(bytes.NewReader(data))
	require.NoError(t, err)
	return kind.Kind, v
}

func TestExampleManifestsValidate(t *testing.T) {
	schemas := compile(t)
	assert.Len(t, schemas, 9, "eight CRD kinds and TrustPolicy")
	for path, data := range example.Files() {
		if !strings.Contains(path, "/operations/") && !strings.HasSuffix(path, "profile.yaml") {
			continue
		}
		kind, v := instance(t, string(data))
		require.Contains(t, schemas, kind, path)
		assert.NoError(t, schemas[kind].Validate(v), path)
	}
}

func TestSchemasRefuseWhatLintRefuses(t *testing.T) {
	schemas := compile(t)
	for _, bad := range []string{
		"apiVersion: nodewright.io/v1alpha1\nkind: BondModeFlipPlan\nmetadata: {name: x}\nspec: {bond: bond0, fromMode: active-backup, toMode: 8023ad, nodes: [a]}\n",
		"apiVersion: nodewright.io/v1alpha1\nkind: BondModeFlipPlan\nmetadata: {name: x}\nspec: {bond: bond0, fromMode: active-backup, toMode: 802.3ad, nodes: [a], surprise: 1}\n",
		"apiVersion: nodewright.io/v1alpha1\nkind: ReplicationUpgrade\nmetadata: {name: x}\nspec: {resourceGroup: g, fromPlaceCount: 2, toPlaceCount: 17}\n",
		"apiVersion: nodewright.io/v1alpha1\nkind: VMVolumeMigration\nmetadata: {name: x}\nspec: {vm: {namespace: apps, name: db}, targetStorageClass: r3, mode: Warm}\n",
		"apiVersion: nodewright.io/v1alpha1\nkind: TrustPolicy\nversion: 0\nprincipals: []\nroles: {}\n",
	} {
		kind, v := instance(t, bad)
		assert.Error(t, schemas[kind].Validate(v), bad)
	}
}
