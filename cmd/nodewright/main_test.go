package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/test/harness"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nodewright-cli-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "nodewright")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic(string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// nodewright runs the built binary and returns stdout, stderr and the exit code.
func nodewright(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else {
		require.NoError(t, err)
	}
	return stdout.String(), stderr.String(), code
}

type fixture struct {
	repo *harness.Repo
	root string
	key  *harness.SSHKey
}

func newFixture(t *testing.T) fixture {
	key := harness.NewSSHKey(t, "alice")
	pol := harness.Policy{
		Version:    1,
		Principals: []harness.Principal{harness.Person("alice", key)},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"alice"}, Threshold: 1},
			"trust-admins": {Principals: []string{"alice"}, Threshold: 1},
		},
	}
	r := harness.NewRepo(t)
	r.Write(".nodewright/trust.yaml", pol.YAML())
	r.Commit("start", key)
	root := filepath.Join(t.TempDir(), "root.yaml")
	require.NoError(t, os.WriteFile(root, []byte(pol.YAML()), 0o600))
	return fixture{repo: r, root: root, key: key}
}

func TestVerifyCommandAcceptsAndRefuses(t *testing.T) {
	f := newFixture(t)
	state := t.TempDir()
	stdout, stderr, code := nodewright(t, "verify", "--repo", f.repo.Dir, "--trust-root", f.root, "--state-dir", state)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "ACCEPTED "+f.repo.Head()+" (trust policy version 1)")
	assert.Contains(t, stdout, "verified 1 new commit from the start of history, signed by alice")

	f.repo.Write("x", "1")
	f.repo.Commit("unsigned", nil)
	bad := f.repo.Head()
	stdout, stderr, code = nodewright(t, "verify", "--repo", f.repo.Dir, "--trust-root", f.root, "--state-dir", state, "-o", "json")
	assert.Equal(t, 1, code)
	assert.Equal(t, "REJECTED Unsigned: commit "+bad[:12]+": commit is not signed (trust policy version 1)\n", stderr)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.False(t, rep.Accepted)
	require.Len(t, rep.Refusals, 1)
	assert.Equal(t, bad, rep.Refusals[0].Commit)
}

func TestVerifyCommandJSON(t *testing.T) {
	f := newFixture(t)
	stdout, stderr, code := nodewright(t, "verify", "--repo", f.repo.Dir, "--trust-root", f.root, "-o", "json")
	require.Equal(t, 0, code, stderr)
	var rep verifyReport
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep))
	assert.True(t, rep.Accepted)
	assert.Equal(t, f.repo.Head(), rep.Commit)
	assert.Equal(t, 1, rep.PolicyVersion)
	assert.Equal(t, 1, rep.CommitsVerified)
	assert.Equal(t, []string{"alice"}, rep.Signers)
}

func TestVerifyCommandUsageErrors(t *testing.T) {
	f := newFixture(t)
	badRoot := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(badRoot, []byte("apiVersion: nodewright.io/v1alpha1\nkind: TrustPolicy\nversoin: 1\n"), 0o600))
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no repo", []string{"verify", "--trust-root", f.root}, "--repo is required"},
		{"no trust root", []string{"verify", "--repo", f.repo.Dir}, "--trust-root is required"},
		{"unknown flag", []string{"verify", "--frobnicate"}, "unknown flag: --frobnicate"},
		{"bad output", []string{"verify", "--repo", f.repo.Dir, "--trust-root", f.root, "-o", "yaml"}, `--output "yaml" is not one of text, json`},
		{"trust root missing", []string{"verify", "--repo", f.repo.Dir, "--trust-root", "/nonexistent/root.yaml"}, "trust root: open /nonexistent/root.yaml"},
		{"trust root invalid", []string{"verify", "--repo", f.repo.Dir, "--trust-root", badRoot}, badRoot + ":3: field versoin not found"},
		{"repo missing", []string{"verify", "--repo", filepath.Join(t.TempDir(), "nothing"), "--trust-root", f.root}, "nothing"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"known hosts without key", []string{"verify", "--repo", f.repo.Dir, "--trust-root", f.root, "--ssh-known-hosts", "/x"}, "--ssh-known-hosts goes with --ssh-key"},
		{"ssh key missing", []string{"verify", "--repo", f.repo.Dir, "--trust-root", f.root, "--ssh-key", "/nonexistent/id"}, "--ssh-key: open /nonexistent/id"},
		{"ca file missing", []string{"verify", "--repo", f.repo.Dir, "--trust-root", f.root, "--ca-file", "/nonexistent/ca.pem"}, "--ca-file: open /nonexistent/ca.pem"},
		{"stray argument", []string{"verify", "extra", "--repo", f.repo.Dir, "--trust-root", f.root}, `unknown command "extra"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := nodewright(t, c.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Contains(t, stderr, c.want)
			assert.True(t, strings.HasPrefix(stderr, "error: "), stderr)
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range newRootCommand().Commands() {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			stdout, _, code := nodewright(t, c.Name(), "--help")
			assert.Equal(t, 0, code)
			assert.Contains(t, stdout, "Usage:")
			assert.Contains(t, stdout, "nodewright "+c.Name())
		})
	}
}

func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo builds keys and a repository")
	}
	stdout, stderr, code := nodewright(t, "demo")
	require.Equal(t, 0, code, "%s\n%s", stdout, stderr)
	for _, want := range []string{"ApprovalMissing: needs 2 more approvals", "BondModeFlipPlan bond0-to-lacp: ALLOWED", "ApprovalStale",
		"REJECTED NotFastForward", "REJECTED Unsigned", "REJECTED UnknownKey", `"accepted": true`,
		// The cluster act: the flip waits, is approved, runs to Succeeded
		// and the status branch, bundles and audit show it.
		"→ AwaitingApproval", "→ Succeeded        AllNodesFlipped", "audit chain: 16 records, unbroken",
		"INTACT  edge-001  16 records", "IMPORTED fleet bundle sequence 1", "REJECTED BundleReplay",
		"IMPORTED status bundle sequence 1", "wrote the dashboard of 1 cluster",
		// Writes that skip git are refused at admission.
		"refused: NotReconciler: the spec of BondModeFlipPlan", "refused: NotReconciler: NodeTask"} {
		assert.Contains(t, stdout, want)
	}
}
