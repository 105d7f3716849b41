package manifest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

const flip = `apiVersion: nodewright.io/v1alpha1
kind: BondModeFlipPlan
metadata:
  name: flip
  labels: {team: net}
spec:
  bond: bond0
  fromMode: active-backup
  toMode: 802.3ad
  nodes: [node-a, node-b]
  maxUnavailable: 1
  revertAfter: 90s
  probes: {apiServer: false}
`

func TestDecodeGood(t *testing.T) {
	doc, problems := Decode("f.yaml", []byte(flip), v1.OperationKinds...)
	require.Empty(t, problems)
	o := doc.Object.(*v1.BondModeFlipPlan)
	assert.Equal(t, "flip", o.Name)
	assert.Equal(t, "net", o.Labels["team"])
	assert.Equal(t, v1.Bond8023AD, o.Spec.ToMode)
	assert.Equal(t, []string{"node-a", "node-b"}, o.Spec.Nodes)
	assert.Equal(t, "1m30s", o.Spec.RevertAfter.Duration.String())
	require.NotNil(t, o.Spec.Probes.APIServer)
	assert.False(t, *o.Spec.Probes.APIServer)
	assert.True(t, doc.Has("spec.nodes[1]"))
	assert.False(t, doc.Has("spec.vmProtection"))
	p := doc.Problem(Error, "spec.vmProtection", "x")
	assert.Equal(t, 6, p.Line, "a field the manifest lacks is located at its nearest parent")
}

func TestDecodeProblems(t *testing.T) {
	cases := []struct {
		name, doc, want string
	}{
		{"unknown field with suggestion", strings.Replace(flip, "  bond: bond0", "  bnod: bond0", 1), `f.yaml:7:3: spec.bnod: unknown field; did you mean "bond"?`},
		{"unknown top-level field", flip + "extra: 1\n", "f.yaml:14:1: extra: unknown field"},
		{"duplicate key", strings.Replace(flip, "  bond: bond0\n", "  bond: bond0\n  bond: bond1\n", 1), `f.yaml:8:3: spec.bond: duplicate key "bond" (first at line 7)`},
		{"string expected", strings.Replace(flip, "bond: bond0", "bond: 0", 1), `f.yaml:7:9: spec.bond: expected a string, got a number "0"; quote it to make it a string`},
		{"list expected", strings.Replace(flip, "nodes: [node-a, node-b]", "nodes: node-a", 1), `f.yaml:10:10: spec.nodes: expected a list, got a string "node-a"`},
		{"number expected", strings.Replace(flip, "maxUnavailable: 1", "maxUnavailable: one", 1), `f.yaml:11:19: spec.maxUnavailable: expected a whole number, got a string "one"`},
		{"int32 overflow", strings.Replace(flip, "maxUnavailable: 1", "maxUnavailable: 99999999999", 1), "f.yaml:11:19: spec.maxUnavailable: 99999999999 is out of range"},
		{"bool expected", strings.Replace(flip, "apiServer: false", "apiServer: nope", 1), `f.yaml:13:23: spec.probes.apiServer: expected true or false, got a string "nope"`},
		{"bad duration", strings.Replace(flip, "revertAfter: 90s", "revertAfter: 90 seconds", 1), `f.yaml:12:16: spec.revertAfter: a string "90 seconds" is not a duration such as 90s, 5m or 1h30m`},
		{"mapping expected", strings.Replace(flip, "probes: {apiServer: false}", "probes: [x]", 1), `f.yaml:13:11: spec.probes: expected a mapping, got a list`},
		{"two documents", flip + "---\n" + flip, "f.yaml:14:1: more than one YAML document; a manifest file holds exactly one"},
		{"wrong kind", strings.Replace(flip, "kind: BondModeFlipPlan", "kind: EdgeProfile", 1), `f.yaml:2:7: kind: "EdgeProfile" is not expected here; expected BondModeFlipPlan or ReplicationUpgrade or VMVolumeMigration`},
		{"wrong apiVersion", strings.Replace(flip, "nodewright.io/v1alpha1", "nodewright.io/v1", 1), `f.yaml:1:13: apiVersion: "nodewright.io/v1" is not supported; expected nodewright.io/v1alpha1`},
		{"no kind", strings.Replace(flip, "kind: BondModeFlipPlan\n", "", 1), "f.yaml:1:1: kind is missing; expected BondModeFlipPlan or ReplicationUpgrade or VMVolumeMigration"},
		{"not a mapping", "- a\n- b\n", "f.yaml:1:1: expected a mapping with apiVersion and kind, got a list"},
		{"empty", "", "f.yaml: file is empty; expected one BondModeFlipPlan or ReplicationUpgrade or VMVolumeMigration manifest"},
		{"syntax", "kind: [\n", "f.yaml:1: did not find expected node content"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, problems := Decode("f.yaml", []byte(c.doc), v1.OperationKinds...)
			require.NotEmpty(t, problems)
			assert.Equal(t, c.want, problems[0].String())
		})
	}
}

func TestDecodeReportsEveryProblem(t *testing.T) {
	doc := strings.Replace(strings.Replace(flip, "bond: bond0", "bond: 0", 1), "maxUnavailable: 1", "maxUnavailable: x", 1) + "extra: 1\n"
	_, problems := Decode("f.yaml", []byte(doc), v1.OperationKinds...)
	assert.Len(t, problems, 3, "%v", problems)
}

func TestDecodeAliasBomb(t *testing.T) {
	var b strings.Builder
	b.WriteString("apiVersion: nodewright.io/v1alpha1\nkind: BondModeFlipPlan\nmetadata: {name: x}\n")
	b.WriteString("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 8; i++ {
		b.WriteString(strings.Replace("aN: &aN [*aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP, *aP]\n", "N", string(rune('0'+i)), 2))
		s := b.String()
		b.Reset()
		b.WriteString(strings.ReplaceAll(s, "*aP", "*a"+string(rune('0'+i-1))))
	}
	b.WriteString("spec: {nodes: *a7}\n")
	_, problems := Decode("f.yaml", []byte(b.String()), v1.OperationKinds...)
	require.NotEmpty(t, problems, "an alias bomb is refused, not expanded")
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(flip))
	f.Add([]byte("apiVersion: nodewright.io/v1alpha1\nkind: EdgeProfile\nspec: {nodes: [{name: a, bonds: [{name: b, mode: x, slaves: [c]}]}]}\n"))
	f.Add([]byte("apiVersion: nodewright.io/v1alpha1\nkind: VMVolumeMigration\nspec: {vm: &v {name: a}, x: *v}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, problems := Decode("fuzz.yaml", data, append([]string{v1.KindEdgeProfile}, v1.OperationKinds...)...)
		for _, p := range problems {
			if p.File != "fuzz.yaml" || p.Message == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
		}
		if doc == nil && len(problems) == 0 {
			t.Fatal("no document and no problem")
		}
		if doc != nil {
			v1.Default(doc.Object)
		}
	})
}
