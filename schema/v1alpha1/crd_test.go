package v1alpha1_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/config/crd"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// schemaAt walks a CRD's OpenAPI schema along a dotted path.
func schemaAt(t *testing.T, kind, path string) apiextensionsv1.JSONSchemaProps {
	t.Helper()
	names, docs := crd.Files()
	for i, data := range docs {
		var c apiextensionsv1.CustomResourceDefinition
		require.NoError(t, yaml.Unmarshal(data, &c), names[i])
		if c.Spec.Names.Kind != kind {
			continue
		}
		s := *c.Spec.Versions[0].Schema.OpenAPIV3Schema
		for _, part := range strings.Split(path, ".") {
			if part == "[]" {
				s = *s.Items.Schema
				continue
			}
			next, ok := s.Properties[part]
			require.True(t, ok, "%s has no %s in %s", kind, part, path)
			s = next
		}
		return s
	}
	t.Fatalf("no CRD for %s", kind)
	return apiextensionsv1.JSONSchemaProps{}
}

func enumOf(s apiextensionsv1.JSONSchemaProps) []string {
	var out []string
	for _, e := range s.Enum {
		out = append(out, strings.Trim(string(e.Raw), `"`))
	}
	return out
}

func strs[T ~string](xs []T) []string {
	out := []string{}
	for _, x := range xs {
		out = append(out, string(x))
	}
	return out
}

// The CRD markers repeat the Go enums and bounds; these tests keep them one.
func TestCRDEnumsMatchGo(t *testing.T) {
	assert.Equal(t, strs(v1.BondModes), enumOf(schemaAt(t, v1.KindBondModeFlipPlan, "spec.toMode")))
	assert.Equal(t, strs(v1.BondModes), enumOf(schemaAt(t, v1.KindEdgeProfile, "spec.nodes.[].bonds.[].mode")))
	assert.Equal(t, strs(v1.VMProtections), enumOf(schemaAt(t, v1.KindBondModeFlipPlan, "spec.vmProtection")))
	assert.Equal(t, strs(v1.MigrationModes), enumOf(schemaAt(t, v1.KindVMVolumeMigration, "spec.mode")))
	assert.Equal(t, strs(v1.Weekdays), enumOf(schemaAt(t, v1.KindEdgeProfile, "spec.maintenanceWindows.[].days.[]")))
	assert.Equal(t, v1.OperationKinds, enumOf(schemaAt(t, v1.KindNodeTask, "spec.operation.kind")))
	assert.Equal(t, strs(v1.LinkStates), enumOf(schemaAt(t, v1.KindNodewrightAgentStatus, "status.bonds.[].miiStatus")))
	assert.Equal(t, strs(v1.LinkStates), enumOf(schemaAt(t, v1.KindNodewrightAgentStatus, "status.bonds.[].slaves.[].miiStatus")))
	assert.Equal(t, strs(v1.DRBDStates), enumOf(schemaAt(t, v1.KindNodewrightAgentStatus, "status.drbd.state")))
	assert.Equal(t, strs(v1.DRBDStates), enumOf(schemaAt(t, v1.KindNodewrightCluster, "status.nodeDetails.[].drbd.state")))
	assert.Equal(t, strs(v1.AgentReportStates), enumOf(schemaAt(t, v1.KindNodewrightCluster, "status.nodeDetails.[].agent")))
}

// The observed status's lists are bounded, and the Go constants the agent
// and the reconciler cut to are the CRD's bounds.
func TestObservedStatusBoundsMatchGo(t *testing.T) {
	for _, c := range []struct {
		kind, path string
		max        int
	}{
		{v1.KindNodewrightAgentStatus, "status.bonds", v1.MaxObservedBonds},
		{v1.KindNodewrightAgentStatus, "status.bonds.[].slaves", v1.MaxObservedSlaves},
		{v1.KindNodewrightAgentStatus, "status.drbd.resources", v1.MaxDRBDResources},
		{v1.KindNodewrightAgentStatus, "status.drbd.resources.[].volumes", v1.MaxDRBDVolumes},
		{v1.KindNodewrightAgentStatus, "status.drbd.resources.[].connections", v1.MaxDRBDConnections},
		{v1.KindNodewrightAgentStatus, "status.drbd.resources.[].connections.[].peerDevices", v1.MaxDRBDVolumes},
		{v1.KindNodewrightCluster, "status.nodeDetails", v1.MaxNodeRollups},
		{v1.KindNodewrightCluster, "status.nodeDetails.[].bonds", v1.MaxObservedBonds},
	} {
		s := schemaAt(t, c.kind, c.path)
		require.NotNil(t, s.MaxItems, c.path)
		assert.Equal(t, int64(c.max), *s.MaxItems, c.path)
	}
	pct := schemaAt(t, v1.KindNodewrightAgentStatus, "status.drbd.resources.[].connections.[].peerDevices.[].percentInSyncMilli")
	assert.Equal(t, "integer", pct.Type, "no floating point in a CRD")
	assert.Equal(t, float64(100000), *pct.Maximum)
}

func celBounds(lo, hi time.Duration) string {
	f := v1.FormatDuration
	return fmt.Sprintf("duration(self) >= duration('%s') && duration(self) <= duration('%s')", f(lo), f(hi))
}

func TestCRDBoundsMatchGo(t *testing.T) {
	cases := []struct {
		kind, path string
		lo, hi     time.Duration
	}{
		{v1.KindBondModeFlipPlan, "spec.revertAfter", v1.MinRevertAfter, v1.MaxRevertAfter},
		{v1.KindBondModeFlipPlan, "spec.probes.timeout", v1.MinProbeTimeout, v1.MaxProbeTimeout},
		{v1.KindReplicationUpgrade, "spec.syncTimeout", v1.MinSyncTimeout, v1.MaxSyncTimeout},
		{v1.KindEdgeProfile, "spec.maintenanceWindows.[].duration", v1.MinWindowDuration, v1.MaxWindowDuration},
		{v1.KindFleetSource, "spec.interval", v1.MinInterval, v1.MaxInterval},
	}
	for _, c := range cases {
		s := schemaAt(t, c.kind, c.path)
		require.Len(t, s.XValidations, 1, c.path)
		assert.Equal(t, celBounds(c.lo, c.hi), s.XValidations[0].Rule, c.path)
	}
	for _, path := range []string{"spec.fromPlaceCount", "spec.toPlaceCount"} {
		s := schemaAt(t, v1.KindReplicationUpgrade, path)
		assert.Equal(t, float64(v1.MinPlaceCount), *s.Minimum)
		assert.Equal(t, float64(v1.MaxPlaceCount), *s.Maximum)
	}
	assert.Equal(t, float64(v1.MaxBatchSize), *schemaAt(t, v1.KindReplicationUpgrade, "spec.batchSize").Maximum)
	assert.True(t, slices.Contains(schemaAt(t, v1.KindEdgeProfile, "spec").Required, "nodes"))
}

func TestDefaults(t *testing.T) {
	flip := &v1.BondModeFlipPlan{}
	v1.Default(flip)
	assert.Equal(t, int32(v1.DefaultMaxUnavailable), flip.Spec.MaxUnavailable)
	assert.Equal(t, v1.DefaultRevertAfter, flip.Spec.RevertAfter.Duration)
	assert.Equal(t, v1.VMProtectionLiveMigrate, flip.Spec.VMProtection)
	assert.True(t, *flip.Spec.Probes.APIServer)

	set := &v1.BondModeFlipPlan{Spec: v1.BondModeFlipPlanSpec{MaxUnavailable: 2, VMProtection: v1.VMProtectionNone}}
	v1.Default(set)
	assert.Equal(t, int32(2), set.Spec.MaxUnavailable, "defaults never override a value")
	assert.Equal(t, v1.VMProtectionNone, set.Spec.VMProtection)

	p := &v1.EdgeProfile{Spec: v1.EdgeProfileSpec{Nodes: make([]v1.Node, 3)}}
	v1.Default(p)
	assert.Equal(t, int32(2), *p.Spec.Health.MinReadyNodes, "all nodes but one")
}

func TestSchemeKnowsEveryKind(t *testing.T) {
	s := runtime.NewScheme()
	require.NoError(t, v1.AddToScheme(s))
	for _, kind := range []string{v1.KindEdgeProfile, v1.KindBondModeFlipPlan, v1.KindReplicationUpgrade, v1.KindVMVolumeMigration,
		v1.KindFleetSource, v1.KindNodeTask, v1.KindNodewrightAgentStatus, v1.KindNodewrightCluster} {
		assert.True(t, s.Recognizes(v1.GroupVersion.WithKind(kind)), kind)
		assert.True(t, s.Recognizes(v1.GroupVersion.WithKind(kind+"List")), kind+"List")
	}
}
