package gather

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
)

func TestParseHealth(t *testing.T) {
	h, err := ParseHealth("h.yaml", []byte("nodes: [{name: a, ready: true}, {name: b, ready: false}]\ndrbd: [{name: pvc, replicas: 3, upToDate: 2}]\ninFlight: [{kind: BondModeFlipPlan, name: f, nodes: [a], disruptive: true}]\n"))
	require.NoError(t, err)
	assert.True(t, h.Reported)
	assert.Equal(t, map[string]bool{"a": true, "b": false}, h.Nodes)
	assert.Equal(t, 2, h.DRBD[0].UpToDate)
	assert.True(t, h.InFlight[0].Disruptive)

	for doc, want := range map[string]string{
		"nodes: [{name: a, redy: true}]\n":     "h.yaml:1: field redy not found",
		"nodes: [{name: a}, {name: a}]\n":      `h.yaml: nodes[1]: node "a" is listed twice`,
		"nodes: [{ready: true}]\n":             "h.yaml: nodes[0].name is required",
		"drbd: [{name: x, replicas: three}]\n": "h.yaml:1: cannot unmarshal",
		"inFlight: [{name: x}]\n":              "h.yaml: inFlight[0] needs kind and name",
		"nodes: {a: true}\n":                   "h.yaml:1: cannot unmarshal",
	} {
		_, err := ParseHealth("h.yaml", []byte(doc))
		require.Error(t, err, doc)
		assert.Contains(t, err.Error(), want)
	}
}

func FuzzParseHealth(f *testing.F) {
	f.Add([]byte("nodes: [{name: a, ready: true}]\ndrbd: [{name: pvc, replicas: 3, upToDate: 2}]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := ParseHealth("fuzz.yaml", data)
		if err != nil && !strings.HasPrefix(err.Error(), "fuzz.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

func TestIndexLatestAuthorWins(t *testing.T) {
	ix := NewIndex([]source.IndexEntry{
		{Commit: strings.Repeat("1", 40), Principal: "bob", Changes: []source.FileVersion{{Path: "p", Blob: "b1"}}},
		{Commit: strings.Repeat("2", 40), Principal: "carol", Approves: []source.FileVersion{{Path: "p", Blob: "b1"}}},
		{Commit: strings.Repeat("3", 40), Principal: "alice", Changes: []source.FileVersion{{Path: "p", Blob: "b1"}}},
		{Commit: strings.Repeat("4", 40), Principal: "dave", Invalid: []string{"p@xyz"}},
	})
	assert.Equal(t, "alice", ix.Author("p", "b1"), "a revert to an old version makes its committer the author")
	require.Len(t, ix.Approvals("p"), 1)
	assert.True(t, ix.Approvals("p")[0].Superseded, "carol approved b1 before alice set the file to b1 again")
	assert.Equal(t, []string{"p@xyz in commit 444444444444"}, ix.invalid)
}

// BenchmarkCountApprovals loads the approvals index of a 20,000-commit
// history from a state directory and counts approvals for 1,000
// operations. Target: under 1 s.
func BenchmarkCountApprovals(b *testing.B) {
	const commits, ops = 20000, 1000
	entries := make([]source.IndexEntry, 0, commits)
	for i := 0; i < commits; i++ {
		e := source.IndexEntry{Commit: fmt.Sprintf("%040d", i), Principal: fmt.Sprintf("p%d", i%7), Key: "k"}
		path := fmt.Sprintf("sites/edge-%03d/operations/op-%d.yaml", i%ops/10, i%ops)
		if i%2 == 0 {
			e.Changes = []source.FileVersion{{Path: path, Blob: fmt.Sprintf("%040d", i)}}
		} else {
			e.Approves = []source.FileVersion{{Path: path, Blob: fmt.Sprintf("%040d", i-1)}}
		}
		entries = append(entries, e)
	}
	dir := b.TempDir()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range entries {
		require.NoError(b, enc.Encode(e))
	}
	require.NoError(b, os.WriteFile(filepath.Join(dir, "approvals.jsonl"), buf.Bytes(), 0o600))
	b.ResetTimer()
	start := time.Now()
	for n := 0; n < b.N; n++ {
		loaded, err := source.LoadIndex(dir)
		require.NoError(b, err)
		ix := NewIndex(loaded)
		counted := 0
		for i := 0; i < ops; i++ {
			path := fmt.Sprintf("sites/edge-%03d/operations/op-%d.yaml", i/10, i)
			counted += len(ix.Approvals(path))
			_ = ix.Author(path, "x")
		}
		if counted != commits/2 {
			b.Fatalf("counted %d approvals, want %d", counted, commits/2)
		}
	}
	per := time.Since(start) / time.Duration(b.N)
	b.ReportMetric(float64(per.Microseconds())/1000, "ms/1000-ops")
	b.Logf("approvals for %d operations over %d indexed commits: %s (target < 1s)", ops, commits, per)
}

// TestDescribeCountsAutoMigrationsAsDisruptiveUntilHotIsChosen: Auto may
// stop the VM (Cold), which a plan cannot know before the VM is looked at,
// so it is disruptive until its status records Hot.
func TestDescribeCountsAutoMigrationsAsDisruptiveUntilHotIsChosen(t *testing.T) {
	m := func(mode v1.MigrationMode, chosen string) *v1.VMVolumeMigration {
		o := &v1.VMVolumeMigration{Spec: v1.VMVolumeMigrationSpec{Mode: mode}}
		o.Name = "db-to-r3"
		if chosen != "" {
			o.Status.Progress = []v1.StepProgress{{Target: v1.MigrationModeTarget, Phase: chosen}}
		}
		return o
	}
	profile := &v1.EdgeProfile{}
	for _, tc := range []struct {
		op         *v1.VMVolumeMigration
		disruptive bool
	}{
		{m(v1.MigrationAuto, ""), true},
		{m("", ""), true},
		{m(v1.MigrationAuto, "Hot"), false},
		{m(v1.MigrationAuto, "Cold"), true},
		{m(v1.MigrationAuto, "Sideways"), true},
		{m(v1.MigrationHot, ""), false},
		{m(v1.MigrationHot, "Cold"), false},
		{m(v1.MigrationCold, "Hot"), true},
	} {
		got := Describe(tc.op, profile)
		if got.Disruptive != tc.disruptive {
			t.Errorf("mode %q, status %+v: disruptive %v, want %v", tc.op.Spec.Mode, tc.op.Status.Progress, got.Disruptive, tc.disruptive)
		}
	}
}
