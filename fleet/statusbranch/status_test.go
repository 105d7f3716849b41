package statusbranch_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	sigyaml "sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestEncodeStatusBudget(t *testing.T) {
	cases := []struct {
		name      string
		ops       int
		budget    int
		truncated bool
	}{
		{"fits", 10, 0, false},
		{"exactly the default budget is enough", 300, 0, false},
		{"over the default budget", 2000, 0, true},
		{"small budget", 50, 1024, true},
		{"budget below the bare summary", 50, 10, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := report("edge-042", 0, c.ops)
			data, truncated, err := statusbranch.EncodeStatus(st, c.budget)
			require.NoError(t, err)
			assert.Equal(t, c.truncated, truncated)
			budget := c.budget
			if budget == 0 {
				budget = statusbranch.DefaultBudget
			}
			back, err := statusbranch.ParseStatus("status.yaml", data)
			require.NoError(t, err)
			assert.Equal(t, truncated, back.Truncated)
			if !truncated {
				assert.LessOrEqual(t, len(data), budget)
				assert.Equal(t, st, back.ClusterStatus)
				return
			}
			assert.Equal(t, c.ops, back.TotalOperations)
			assert.Equal(t, map[string]int{"Flip": c.ops}, back.Phases)
			if len(back.Operations) > 0 {
				assert.Equal(t, st.Operations[:len(back.Operations)], back.Operations)
			}
			kept := back.ClusterStatus
			kept.Operations = nil
			want := st
			want.Operations = nil
			assert.Equal(t, want, kept, "the summary keeps everything but the operations")
			if len(back.Operations) == 0 {
				return
			}
			assert.LessOrEqual(t, len(data), budget)
			// Greedy: one more operation would not fit.
			one := *back
			one.Operations = st.Operations[:len(back.Operations)+1]
			bigger, err := sigyaml.Marshal(one)
			require.NoError(t, err)
			assert.Greater(t, len(bigger), budget)
		})
	}
}

func TestParseStatusIsStrict(t *testing.T) {
	valid := "cluster: edge-042\nsite: edge\nappliedCommit: \"0123\"\npolicyVersion: 4\n" +
		"operations:\n- kind: BondModeFlipPlan\n  name: bondflip\n  phase: Flip\n  progress: 1/3 nodes\n" +
		"nodes:\n  total: 3\n  ready: 2\ntime: \"2025-03-01T12:00:00Z\"\n"
	st, err := statusbranch.ParseStatus("status.yaml", []byte(valid))
	require.NoError(t, err)
	assert.Equal(t, v1.ClusterStatus{
		Cluster: "edge-042", Site: "edge", AppliedCommit: "0123", PolicyVersion: 4,
		Operations: []v1.OperationSummary{{Kind: "BondModeFlipPlan", Name: "bondflip", Phase: "Flip", Progress: "1/3 nodes"}},
		Nodes:      v1.NodeHealthSummary{Total: 3, Ready: 2},
		Time:       metav1.NewTime(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)),
	}, st.ClusterStatus)

	cases := []struct {
		name, data, want string
	}{
		{"empty", "", "status.yaml: file is empty"},
		{"not a mapping", "- a\n", "status.yaml:1:1: expected a mapping"},
		{"syntax", "cluster: a\n  site: [\n", "status.yaml:2: "},
		{"unknown field", "cluster: a\nsite: b\nowner: c\n", "status.yaml:3:1: owner: unknown field"},
		{"wrong case", "cluster: a\nSite: b\n", "status.yaml:2:1: Site: unknown field"},
		{"duplicate", "cluster: a\ncluster: b\n", "status.yaml:2:1: cluster: field appears more than once"},
		{"number as string", "cluster: a\nsite: 42\n", "status.yaml:2:7: site: expected a string, got the integer 42"},
		{"string as number", "cluster: a\npolicyVersion: \"4\"\n", "status.yaml:2:16: policyVersion: expected an integer"},
		{"negative", "cluster: a\nnodes: {total: -1, ready: 0}\n", "nodes.total: -1 is out of range"},
		{"ready above total", "cluster: a\nnodes: {total: 1, ready: 2}\n", "nodes.ready: is 2, more than the 1 nodes in total"},
		{"node count missing", "cluster: a\nnodes: {total: 1}\n", "nodes.ready: is missing"},
		{"operation field missing", "cluster: a\noperations:\n- {kind: K, name: n}\n", "status.yaml:3:3: operations[0].phase: is missing"},
		{"operation unknown field", "cluster: a\noperations:\n- {kind: K, name: n, phase: P, owner: x}\n", "operations[0].owner: unknown field"},
		{"operations not a list", "cluster: a\noperations: {a: b}\n", "operations: expected a list"},
		{"alias", "cluster: &c a\nsite: *c\n", "status.yaml:2:7: site: aliases are not allowed"},
		{"bad time", "cluster: a\ntime: yesterday\n", "status.yaml:2:7: time: expected an RFC 3339 time"},
		{"no cluster", "site: a\n", "cluster: is missing or empty"},
		{"two documents", "cluster: a\n---\ncluster: b\n", "status.yaml:2:1: more than one YAML document"},
		{"total without truncated", "cluster: a\ntotalOperations: 3\n", "totalOperations: is set but truncated is not true"},
		{"phases without truncated", "cluster: a\nphases: {Flip: 1}\n", "phases: is set but truncated is not true"},
		{"total below listed", "cluster: a\ntruncated: true\ntotalOperations: 0\noperations:\n- {kind: K, name: n, phase: P}\n", "totalOperations: is 0 but 1 operations are listed"},
		{"truncated not bool", "cluster: a\ntruncated: yes\n", "truncated: expected true or false"},
		{"non-string key", "cluster: a\n1: b\n", "status.yaml:2:1: mapping key must be a string"},
		{"too large", "cluster: a\nsite: " + strings.Repeat("x", statusbranch.MaxStatusBytes) + "\n", "more than the"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := statusbranch.ParseStatus("status.yaml", []byte(c.data))
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
			var pe *statusbranch.ParseError
			assert.True(t, errors.As(err, &pe))
		})
	}
}

// FuzzParseStatus feeds arbitrary bytes to the status.yaml reader: it must
// not panic, and whatever it accepts must encode to a file it reads back to
// the same report.
func FuzzParseStatus(f *testing.F) {
	seed, _, err := statusbranch.EncodeStatus(report("edge-042", 0, 3), 0)
	if err != nil {
		f.Fatal(err)
	}
	summary, _, err := statusbranch.EncodeStatus(report("edge-042", 0, 30), 600)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add(summary)
	f.Add([]byte("cluster: a\nnodes: {total: 1, ready: 1}\ntime: null\n"))
	f.Add([]byte("cluster: &a a\nsite: *a\n"))
	f.Add([]byte("cluster: a\ntime: 2025-03-01T12:00:00.5+02:00\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := statusbranch.ParseStatus("f", data)
		if err != nil {
			var pe *statusbranch.ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("error is not a *ParseError: %v", err)
			}
			return
		}
		if st.Truncated {
			return
		}
		enc, _, err := statusbranch.EncodeStatus(st.ClusterStatus, statusbranch.MaxStatusBytes)
		if err != nil {
			t.Fatalf("accepted status does not encode: %v", err)
		}
		back, err := statusbranch.ParseStatus("f", enc)
		if err != nil {
			t.Fatalf("encoded status does not read back: %v\n%s", err, enc)
		}
		again, _, err := statusbranch.EncodeStatus(back.ClusterStatus, statusbranch.MaxStatusBytes)
		if err != nil || string(again) != string(enc) {
			t.Fatalf("encoding is not stable: %v\n%s\n---\n%s", err, enc, again)
		}
	})
}

// FuzzEncodeStatus checks that whatever text a report holds, the writer's
// status.yaml reads back strictly to the same report.
func FuzzEncodeStatus(f *testing.F) {
	f.Add("edge-042", "BondModeFlipPlan", "bondflip", "Flip", "1/3 nodes", 3)
	f.Add("yes", "true", "0x1F", "~", "null", 0)
	f.Add("a: b", "- x", "#c", "&a", "*a", 1)
	f.Add("", "<<", "'", "\"", "\t\n", 2)
	f.Add("c\u0085", "a\u0085b", "\xff\u0085", "\u0085", "x\u0085 y", 1)
	f.Fuzz(func(t *testing.T, cluster, kind, name, phase, progress string, ready int) {
		if cluster == "" || ready < 0 || ready > 1000 {
			return
		}
		st := v1.ClusterStatus{
			Cluster: cluster, Site: kind, AppliedCommit: name, PolicyVersion: ready,
			Operations: []v1.OperationSummary{{Kind: kind, Name: name, Phase: phase, Progress: progress}},
			Nodes:      v1.NodeHealthSummary{Total: ready, Ready: ready},
		}
		data, truncated, err := statusbranch.EncodeStatus(st, statusbranch.MaxStatusBytes)
		if err != nil || truncated {
			t.Fatalf("encode: %v (truncated %v)", err, truncated)
		}
		back, err := statusbranch.ParseStatus("f", data)
		if err != nil {
			t.Fatalf("the writer's own file is refused: %v\n%s", err, data)
		}
		if !equalStatus(st, back.ClusterStatus) {
			t.Fatalf("round trip changed the report:\n%+v\n%+v", st, back.ClusterStatus)
		}
	})
}

// equalStatus compares reports as JSON does: strings after the UTF-8
// repair encoding/json applies.
func equalStatus(a, b v1.ClusterStatus) bool {
	fix := func(s string) string {
		b, _ := json.Marshal(s)
		var out string
		_ = json.Unmarshal(b, &out)
		return out
	}
	if fix(a.Cluster) != b.Cluster || fix(a.Site) != b.Site || fix(a.AppliedCommit) != b.AppliedCommit ||
		a.PolicyVersion != b.PolicyVersion || a.Nodes != b.Nodes || !a.Time.Equal(&b.Time) || len(a.Operations) != len(b.Operations) {
		return false
	}
	for i := range a.Operations {
		x, y := a.Operations[i], b.Operations[i]
		if fix(x.Kind) != y.Kind || fix(x.Name) != y.Name || fix(x.Phase) != y.Phase || fix(x.Progress) != y.Progress {
			return false
		}
	}
	return true
}
