package samplefleet_test

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/internal/sandbox/samplefleet"
)

// The sample fleet is served, renders the example site with its nodes and
// an always-open window, takes approvals and stops serving on Close.
func TestSampleFleet(t *testing.T) {
	f, err := samplefleet.New(t.TempDir(), samplefleet.Options{AnyTime: true, Operations: []string{samplefleet.BondFlip}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })

	log, err := f.Work.Git("log", "--format=%s", "main")
	require.NoError(t, err)
	assert.Equal(t, []string{"Plan operations", "Start the fleet"}, strings.Split(log, "\n"))
	for rev, sig := range map[string]string{"main": "-----BEGIN SSH SIGNATURE-----", "main~1": "-----BEGIN PGP SIGNATURE-----"} {
		raw, err := f.Work.Git("cat-file", "commit", rev)
		require.NoError(t, err)
		assert.Contains(t, raw, "gpgsig "+sig, "bob signs with SSH, alice with OpenPGP")
	}
	p, err := f.Profile()
	require.NoError(t, err)
	var nodes []string
	for _, n := range p.Spec.Nodes {
		nodes = append(nodes, n.Name)
	}
	assert.Equal(t, samplefleet.Nodes, nodes)
	require.Len(t, p.Spec.MaintenanceWindows, 1)
	assert.Len(t, p.Spec.MaintenanceWindows[0].Days, 7, "AnyTime opens the window every day")
	assert.Contains(t, string(f.RootYAML()), "BondModeFlipPlan: {role: approvers, threshold: 2}")

	require.NoError(t, f.Approve(samplefleet.BondFlip, f.Alice, f.Carol))
	require.NoError(t, f.Change(samplefleet.BondFlip, func(s string) string { return s + "\n# edited" }, "Edit"))
	served, err := exec.Command("git", "ls-remote", f.URL, "refs/heads/main").Output()
	require.NoError(t, err)
	head, err := f.Work.Head()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(served), head), "the served main is the working copy's HEAD after a push")

	require.NoError(t, f.Close())
	assert.Error(t, exec.Command("git", "ls-remote", f.URL).Run(), "nothing is served after Close")
}

// Options naming an operation the examples do not have are refused, and
// nothing is left running.
func TestSampleFleetUnknownOperation(t *testing.T) {
	_, err := samplefleet.New(t.TempDir(), samplefleet.Options{Operations: []string{filepath.Join("sites", "nowhere.yaml")}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no example operation sites/nowhere.yaml")
}
