package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/test/harness"
)

func TestInitExampleLintsClean(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	stdout, stderr, code := nodewright(t, "init", dir, "--example")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "initialised fleet repository")
	assert.DirExists(t, filepath.Join(dir, ".git"))
	assert.FileExists(t, filepath.Join(dir, ".nodewright", "trust.yaml"))

	stdout, stderr, code = nodewright(t, "lint", "--repo", dir)
	require.Equal(t, 0, code, "%s%s", stdout, stderr)
	assert.Contains(t, stdout, "0 errors, 3 notices in 2 sites (4 operation files)")

	_, stderr, code = nodewright(t, "init", dir)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "is not empty")
}

func TestInitWithKeyMakesAValidPolicy(t *testing.T) {
	key := harness.NewSSHKey(t, "alice")
	dir := filepath.Join(t.TempDir(), "fleet")
	_, stderr, code := nodewright(t, "init", dir, "--principal", "alice", "--key", key.PrivatePath+".pub")
	require.Equal(t, 0, code, stderr)

	// The policy init wrote is a trust root that verifies the first signed commit.
	r := harness.InitRepo(t, dir) // reopens the repository init made
	r.Commit("Start the fleet", key)
	stdout, stderr, code := nodewright(t, "verify", "--repo", dir, "--trust-root", filepath.Join(dir, ".nodewright", "trust.yaml"))
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "signed by alice")

	_, stderr, code = nodewright(t, "init", filepath.Join(t.TempDir(), "x"), "--principal", "alice")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--principal and --key go together")
}

func TestLintReportsEveryProblemWithLocations(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	_, stderr, code := nodewright(t, "init", dir, "--example")
	require.Equal(t, 0, code, stderr)
	op := filepath.Join(dir, "sites", "edge-001", "operations", "bond-flip.yaml")
	data, err := os.ReadFile(op)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(op, []byte(strings.Replace(string(data), "toMode: 802.3ad", "toMode: 8023ad", 1)), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sites", "edge-002", "operations", "notes.txt"), []byte("x"), 0o644))

	stdout, _, code := nodewright(t, "lint", "--repo", dir)
	assert.Equal(t, 1, code)
	assert.Contains(t, stdout, `sites/edge-001/operations/bond-flip.yaml:10:3: spec.toMode: "8023ad" is not a bond mode; one of balance-rr, active-backup, balance-xor, broadcast, 802.3ad, balance-tlb, balance-alb`)
	assert.Contains(t, stdout, "sites/edge-002/operations/notes.txt: is not a .yaml file")
	assert.Contains(t, stdout, "2 errors")

	stdout, _, code = nodewright(t, "lint", "--repo", dir, "--site", "edge-002", "-o", "json")
	assert.Equal(t, 1, code)
	var rep lintReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.Equal(t, 1, rep.Errors)
	require.Len(t, rep.Sites, 1)
	assert.Equal(t, "edge-002", rep.Sites[0].Name)

	_, _, code = nodewright(t, "lint", "--repo", dir, "--site", "edge-999")
	assert.Equal(t, 1, code)
}

func TestLintRevisionAndURL(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	_, stderr, code := nodewright(t, "init", dir, "--example")
	require.Equal(t, 0, code, stderr)
	r := harness.InitRepo(t, dir)
	r.Commit("example", nil)
	op := filepath.Join(dir, "sites", "edge-001", "operations", "replication.yaml")
	require.NoError(t, os.WriteFile(op, []byte("kind: Nonsense\n"), 0o644))

	_, _, code = nodewright(t, "lint", "--repo", dir)
	assert.Equal(t, 1, code, "the working tree has the broken file")
	stdout, stderr, code := nodewright(t, "lint", "--repo", dir, "--rev", "HEAD")
	assert.Equal(t, 0, code, "%s%s", stdout, stderr)
	stdout, stderr, code = nodewright(t, "lint", "--repo", "file://"+dir)
	assert.Equal(t, 0, code, "a URL lints the fetched branch: %s%s", stdout, stderr)
}

func TestSchemaExport(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, code := nodewright(t, "schema", "export", "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 9, strings.Count(stdout, "wrote "))
	data, err := os.ReadFile(filepath.Join(out, "bondmodeflipplan.schema.json"))
	require.NoError(t, err)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(data, &doc))
	assert.Equal(t, "BondModeFlipPlan", doc["title"])
	_, _, code = nodewright(t, "schema", "export")
	assert.Equal(t, 2, code)
}
