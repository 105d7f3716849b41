package provenance_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/reconciler/provenance"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func flip(mode v1.BondMode) *v1.BondModeFlipPlan {
	return &v1.BondModeFlipPlan{
		ObjectMeta: metav1.ObjectMeta{Name: "flip", Namespace: "ns"},
		Spec:       v1.BondModeFlipPlanSpec{Bond: "bond0", ToMode: mode, Nodes: []string{"node-a"}},
	}
}

func version(t *testing.T, obj v1.Operation, commit string) provenance.Version {
	t.Helper()
	d, err := provenance.SpecDigest(obj)
	require.NoError(t, err)
	return provenance.Version{Commit: commit, Path: "ops/flip.yaml", Blob: "b" + commit, Digest: d, Admission: v1.Admission{Allowed: true, Blob: "b" + commit}, Recorded: time.Unix(0, 0).UTC()}
}

// The digest ignores what defaulting fills in and sees every other change.
func TestSpecDigest(t *testing.T) {
	a, err := provenance.SpecDigest(flip(v1.Bond8023AD))
	require.NoError(t, err)
	defaulted := flip(v1.Bond8023AD)
	v1.Default(defaulted)
	b, err := provenance.SpecDigest(defaulted)
	require.NoError(t, err)
	assert.Equal(t, a, b, "defaults are part of the canonical spec")
	labelled := flip(v1.Bond8023AD)
	labelled.Labels = map[string]string{v1.LabelSourceCommit: "forged"}
	c, err := provenance.SpecDigest(labelled)
	require.NoError(t, err)
	assert.Equal(t, a, c, "metadata is not the spec")
	d, err := provenance.SpecDigest(flip(v1.BondBalanceRR))
	require.NoError(t, err)
	assert.NotEqual(t, a, d)
}

// Check waits while nothing was recorded for the namespace, refuses an
// unknown or changed operation once something was, and finds a recorded
// one, also after the ledger is read back from its files.
func TestCheckAndReload(t *testing.T) {
	dir := t.TempDir()
	l, err := provenance.Open(dir)
	require.NoError(t, err)
	op := flip(v1.Bond8023AD)
	assert.Equal(t, provenance.NotReady, l.Check(v1.KindBondModeFlipPlan, op).Problem)

	require.NoError(t, l.Begin("ns", "fleet"))
	assert.Equal(t, provenance.NotReady, l.Check(v1.KindBondModeFlipPlan, op).Problem, "a pass that began may not have recorded it yet")
	l.Verified("ns", "fleet")
	res := l.Check(v1.KindBondModeFlipPlan, op)
	assert.Equal(t, provenance.NotFromSource, res.Problem)
	assert.Contains(t, res.Message, "no verified commit")

	require.NoError(t, l.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", version(t, op, "c1")))
	res = l.Check(v1.KindBondModeFlipPlan, op)
	require.True(t, res.OK(), res.Message)
	assert.Equal(t, "c1", res.Version.Commit)
	assert.Equal(t, provenance.NotFromSource, l.Check(v1.KindBondModeFlipPlan, flip(v1.BondBalanceRR)).Problem, "an edited spec")
	other := flip(v1.Bond8023AD)
	other.Namespace = "elsewhere"
	assert.Equal(t, provenance.NotReady, l.Check(v1.KindBondModeFlipPlan, other).Problem, "another namespace's record")
	assert.Equal(t, provenance.NotFromSource, l.Check(v1.KindReplicationUpgrade, op).Problem, "another kind of the same name")

	back, err := provenance.Open(dir)
	require.NoError(t, err)
	res = back.Check(v1.KindBondModeFlipPlan, op)
	require.True(t, res.OK(), res.Message)
	assert.Equal(t, version(t, op, "c1"), res.Version)
	assert.False(t, (*provenance.Ledger)(nil).Check(v1.KindBondModeFlipPlan, op).OK(), "no ledger refuses")
}

// Two versions are kept: the newest and the one before it.
func TestVersionsKept(t *testing.T) {
	l := provenance.New()
	modes := []v1.BondMode{v1.Bond8023AD, v1.BondBalanceRR, v1.BondBalanceXOR}
	for i, m := range modes {
		require.NoError(t, l.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", version(t, flip(m), string(rune('1'+i)))))
	}
	assert.False(t, l.Check(v1.KindBondModeFlipPlan, flip(modes[0])).OK(), "the oldest is dropped")
	assert.True(t, l.Check(v1.KindBondModeFlipPlan, flip(modes[1])).OK())
	assert.True(t, l.Check(v1.KindBondModeFlipPlan, flip(modes[2])).OK())
	// New approvals of the same manifest replace its verdict.
	v := version(t, flip(modes[2]), "4")
	v.Admission.Allowed = false
	require.NoError(t, l.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", v))
	res := l.Check(v1.KindBondModeFlipPlan, flip(modes[2]))
	require.True(t, res.OK())
	assert.Equal(t, "4", res.Version.Commit)
	assert.False(t, res.Version.Admission.Allowed)
	assert.True(t, l.Check(v1.KindBondModeFlipPlan, flip(modes[1])).OK(), "replacing a version keeps the one before")
	assert.Error(t, l.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", provenance.Version{}), "an incomplete version")
}

// A record file that cannot be read is an error naming it, not an empty
// ledger that would refuse everything quietly.
func TestOpenRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ns", "fleet", provenance.FileName)
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
	for _, bad := range []string{`{"operations":`, `{"operations":{},"extra":1}`, `[]`} {
		require.NoError(t, os.WriteFile(path, []byte(bad), 0o600))
		_, err := provenance.Open(dir)
		require.Error(t, err, bad)
		assert.Contains(t, err.Error(), path)
	}
	_, err := provenance.Open("")
	assert.Error(t, err)
}

// FuzzOpen reads arbitrary record files: Open returns a ledger or an
// error naming the file, never panics, and a ledger it returns checks
// operations without panicking.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(`{"operations":{"BondModeFlipPlan/flip":[{"commit":"c","path":"p","blob":"b","digest":"d","admission":{"allowed":true},"recorded":"2026-12-03T00:00:00Z"}]}}`))
	f.Add([]byte(`{"operations":null}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "ns", "fleet", provenance.FileName)
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o700))
		require.NoError(t, os.WriteFile(path, data, 0o600))
		l, err := provenance.Open(dir)
		if err != nil {
			assert.Contains(t, err.Error(), path)
			return
		}
		res := l.Check(v1.KindBondModeFlipPlan, flip(v1.Bond8023AD))
		assert.Contains(t, []provenance.Problem{"", provenance.NotReady}, res.Problem,
			"records read from disk match, but a miss waits until this process's FleetSource verified its source")
		l.Verified("ns", "fleet")
		res = l.Check(v1.KindBondModeFlipPlan, flip(v1.Bond8023AD))
		assert.NotEqual(t, provenance.NotReady, res.Problem, "once the FleetSource began, a miss is a refusal")
	})
}

// MarkStarted marks one version, survives a reload and a re-record of the
// same manifest, and refuses a version it does not hold.
func TestMarkStarted(t *testing.T) {
	dir := t.TempDir()
	l, err := provenance.Open(dir)
	require.NoError(t, err)
	op := flip(v1.Bond8023AD)
	v := version(t, op, "c1")
	require.NoError(t, l.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", v))
	assert.True(t, l.Known("ns", v1.KindBondModeFlipPlan, "flip"))
	assert.False(t, l.Known("ns", v1.KindBondModeFlipPlan, "other"))
	assert.False(t, l.Check(v1.KindBondModeFlipPlan, op).Version.Started)
	require.NoError(t, l.MarkStarted("ns", v1.KindBondModeFlipPlan, "flip", v.Digest))
	require.NoError(t, l.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", version(t, op, "c2")))
	res := l.Check(v1.KindBondModeFlipPlan, op)
	assert.True(t, res.Version.Started, "a new record of the same manifest keeps the mark")
	assert.Equal(t, "c2", res.Version.Commit)
	back, err := provenance.Open(dir)
	require.NoError(t, err)
	assert.True(t, back.Check(v1.KindBondModeFlipPlan, op).Version.Started, "the mark is written")
	assert.Error(t, l.MarkStarted("ns", v1.KindBondModeFlipPlan, "flip", "feed"))
}

// A standby replica that shares the state directory opened the record
// after the leader began and before it recorded: when the standby leads,
// an operation it has no record of waits for its own FleetSource instead
// of being refused, and is found once that FleetSource records it.
func TestStandbyWaitsForItsOwnVerification(t *testing.T) {
	dir := t.TempDir()
	leader, err := provenance.Open(dir)
	require.NoError(t, err)
	require.NoError(t, leader.Begin("ns", "fleet"))
	standby, err := provenance.Open(dir)
	require.NoError(t, err)
	op := flip(v1.Bond8023AD)
	require.NoError(t, leader.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", version(t, op, "c1")))
	assert.True(t, leader.Check(v1.KindBondModeFlipPlan, op).OK())

	assert.Equal(t, provenance.NotReady, standby.Check(v1.KindBondModeFlipPlan, op).Problem)
	require.NoError(t, standby.Begin("ns", "fleet"))
	assert.Equal(t, provenance.NotReady, standby.Check(v1.KindBondModeFlipPlan, op).Problem, "its own pass has begun, not finished")
	require.NoError(t, standby.Record("ns", "fleet", v1.KindBondModeFlipPlan, "flip", version(t, op, "c1")))
	standby.Verified("ns", "fleet")
	assert.True(t, standby.Check(v1.KindBondModeFlipPlan, op).OK())
	assert.Equal(t, provenance.NotFromSource, standby.Check(v1.KindBondModeFlipPlan, flip(v1.BondBalanceRR)).Problem, "then a miss is a refusal")
}
