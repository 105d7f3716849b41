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

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/gates/gather"
	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/test/harness"
)

// approveAs runs the real "nodewright approve" in r with s as the user's
// git signing setup.
func approveAs(t *testing.T, r *harness.Repo, s harness.Signer, args ...string) (string, int) {
	t.Helper()
	r.ConfigureSigner(s)
	cmd := exec.Command(binary, append([]string{"approve"}, args...)...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Env = append(cmd.Env, s.Env()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	}
	return out.String(), code
}

type planFixture struct {
	r                        *harness.Repo
	root, state, health      string
	alice, dave              *harness.GPGKey
	bob, carol, carol2, erin *harness.SSHKey
}

const flipPath = "sites/edge-001/operations/bond-flip.yaml"

// inWindow is a Tuesday 02:30 in Berlin, inside the example's window.
const inWindow = "2026-12-01T02:30:00+01:00"

func newPlanFixture(t *testing.T) *planFixture {
	f := &planFixture{
		alice: harness.NewGPGKey(t, "alice"), dave: harness.NewGPGKey(t, "dave"),
		bob: harness.NewSSHKey(t, "bob"), carol: harness.NewSSHKey(t, "carol"), carol2: harness.NewSSHKey(t, "carol-laptop"), erin: harness.NewSSHKey(t, "erin"),
	}
	pol := harness.Policy{
		Version: 1,
		Principals: []harness.Principal{
			harness.Person("alice", f.alice), harness.Person("bob", f.bob), harness.Person("carol", f.carol, f.carol2),
			harness.Person("dave", f.dave), harness.Person("erin", f.erin),
		},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"alice", "bob"}, Threshold: 1},
			"approvers":    {Principals: []string{"alice", "bob", "carol", "dave"}, Threshold: 2},
			"trust-admins": {Principals: []string{"alice", "bob"}, Threshold: 2},
		},
		Operations: map[string]harness.OperationRule{
			"BondModeFlipPlan": {Role: "approvers", Threshold: 2}, "ReplicationUpgrade": {Role: "approvers", Threshold: 1}, "VMVolumeMigration": {Role: "approvers", Threshold: 1},
		},
	}
	f.r = harness.NewRepo(t)
	for p, data := range example.Files() {
		if !strings.Contains(p, "/operations/") {
			f.r.Write(p, string(data))
		}
	}
	f.r.Write(".nodewright/trust.yaml", pol.YAML())
	f.r.Commit("Start the fleet", f.alice)
	for p, data := range example.Files() {
		if strings.Contains(p, "/operations/") {
			f.r.Write(p, string(data))
		}
	}
	f.r.Commit("Plan operations", f.bob)
	dir := t.TempDir()
	f.root, f.state, f.health = filepath.Join(dir, "root.yaml"), filepath.Join(dir, "state"), filepath.Join(dir, "health.yaml")
	require.NoError(t, os.WriteFile(f.root, []byte(pol.YAML()), 0o600))
	require.NoError(t, os.WriteFile(f.health, []byte("nodes: [{name: node-a, ready: true}, {name: node-b, ready: true}, {name: node-c, ready: true}]\ndrbd: [{name: pvc-1, replicas: 2, upToDate: 2}]\n"), 0o600))
	return f
}

func (f *planFixture) plan(t *testing.T) (*gather.Plan, string) {
	t.Helper()
	stdout, stderr, code := nodewright(t, "plan", "--repo", f.r.Dir, "--site", "edge-001", "--trust-root", f.root,
		"--state-dir", f.state, "--health", f.health, "--at", inWindow, "-o", "json")
	require.Equal(t, 0, code, stderr)
	var p gather.Plan
	require.NoError(t, json.Unmarshal([]byte(stdout), &p))
	return &p, stderr
}

func flipVerdict(t *testing.T, p *gather.Plan) gates.Verdict {
	for _, op := range p.Operations {
		if op.Path == flipPath {
			for _, v := range op.Decision.Verdicts {
				if v.Gate == "approvals" {
					return v
				}
			}
		}
	}
	t.Fatal("no bond flip in the plan")
	return gates.Verdict{}
}

func TestApproveAndPlan(t *testing.T) {
	f := newPlanFixture(t)
	p, _ := f.plan(t)
	require.Len(t, p.Operations, 3)
	v := flipVerdict(t, p)
	assert.Equal(t, gates.ApprovalMissing, v.Reason)
	assert.Contains(t, v.Message, "needs 2 more approvals from role approvers: any of alice, carol, dave")

	out, code := approveAs(t, f.r, f.bob, flipPath)
	require.Equal(t, 0, code, out)
	v = flipVerdict(t, mustPlan(t, f))
	assert.Equal(t, gates.SelfApproval, v.Reason, "bob wrote the plan: %s", v.Message)

	_, code = approveAs(t, f.r, f.carol, flipPath)
	require.Equal(t, 0, code)
	_, code = approveAs(t, f.r, f.carol2, flipPath)
	require.Equal(t, 0, code)
	_, code = approveAs(t, f.r, f.erin, flipPath)
	require.Equal(t, 0, code)
	v = flipVerdict(t, mustPlan(t, f))
	assert.False(t, v.Allowed, "carol counts once with two keys, erin is no approver: %s", v.Message)
	assert.Contains(t, v.Message, "(counted: carol)")
	assert.Contains(t, v.Message, "not in role approvers: erin")

	f.r.Commit("Approve a file that does not exist\n\nNodewright-Approve: sites/edge-001/operations/nope.yaml@"+f.r.BlobID("HEAD", flipPath)+"\nNodewright-Approve: "+flipPath+"@12345\n", f.dave)
	p = mustPlan(t, f)
	assert.False(t, flipVerdict(t, p).Allowed)
	assert.Len(t, p.IgnoredApprovals, 1, "the malformed blob id is reported")
	assert.Contains(t, p.IgnoredApprovals[0], flipPath+"@12345")

	f.r.Commit("Unsigned approval\n\nNodewright-Approve: "+flipPath+"@"+f.r.BlobID("HEAD", flipPath)+"\n", nil)
	p, stderr := f.plan(t)
	assert.Contains(t, stderr, "REJECTED Unsigned")
	assert.False(t, flipVerdict(t, p).Allowed, "an approval in a refused range does not count")
	f.r.Git("reset", "-q", "--hard", "HEAD~1")

	out, code = approveAs(t, f.r, f.dave, flipPath)
	require.Equal(t, 0, code, out)
	p = mustPlan(t, f)
	v = flipVerdict(t, p)
	require.True(t, v.Allowed, v.Message)
	assert.Equal(t, "2 of 2 approvals from role approvers: carol, dave", v.Message)
	for _, op := range p.Operations {
		if op.Path == flipPath {
			assert.True(t, op.Decision.Allowed, "%+v", op.Decision)
		}
	}

	f.r.Write(flipPath, strings.Replace(string(example.Files()[flipPath]), "revertAfter: 2m", "revertAfter: 3m", 1))
	f.r.Commit("Slower revert", f.alice)
	v = flipVerdict(t, mustPlan(t, f))
	assert.Equal(t, gates.ApprovalStale, v.Reason, "an edit voids approvals: %s", v.Message)
	_, code = approveAs(t, f.r, f.alice, flipPath)
	require.Equal(t, 0, code)
	assert.Equal(t, gates.SelfApproval, flipVerdict(t, mustPlan(t, f)).Reason, "alice wrote the new version")
}

func mustPlan(t *testing.T, f *planFixture) *gather.Plan {
	t.Helper()
	p, _ := f.plan(t)
	return p
}

func TestApproveRefusesDirtyAndStaged(t *testing.T) {
	f := newPlanFixture(t)
	f.r.Write(flipPath, "changed\n")
	out, code := approveAs(t, f.r, f.carol, flipPath)
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "has uncommitted changes")
	f.r.Git("checkout", "--", flipPath)
	f.r.Write("notes.txt", "x")
	f.r.Git("add", "notes.txt")
	out, code = approveAs(t, f.r, f.carol, flipPath)
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "changes are staged (notes.txt)")
	f.r.Git("reset", "-q")
	out, code = approveAs(t, f.r, f.carol, "sites/nope.yaml")
	assert.Equal(t, 2, code)
	assert.Contains(t, out, "not a committed file")
}
