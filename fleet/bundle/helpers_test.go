package bundle_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/fleet/bundle"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// hub is a fleet repository at the hub with Alice as its only committer;
// her SSH key signs both commits and bundle manifests.
type hub struct {
	t      *testing.T
	repo   *harness.Repo
	alice  *harness.SSHKey
	key    *bundle.SigningKey
	policy harness.Policy
	root   *trust.Policy
	n      int
}

func newHub(t *testing.T, extra ...harness.Principal) *hub {
	t.Helper()
	alice := harness.NewSSHKey(t, "alice")
	pol := harness.Policy{
		Version:    1,
		Principals: append([]harness.Principal{harness.Person("alice", alice)}, extra...),
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"alice"}, Threshold: 1},
			"trust-admins": {Principals: []string{"alice"}, Threshold: 1},
		},
	}
	root, err := trust.Parse("root.yaml", []byte(pol.YAML()))
	require.NoError(t, err)
	h := &hub{t: t, repo: harness.NewRepo(t), alice: alice, key: signingKey(t, alice), policy: pol, root: root}
	h.repo.Write(".nodewright/trust.yaml", pol.YAML())
	h.repo.Commit("Trust policy", alice)
	return h
}

// signingKey loads an SSH key made by ssh-keygen as a bundle signing key.
func signingKey(t testing.TB, k *harness.SSHKey) *bundle.SigningKey {
	t.Helper()
	key, err := bundle.LoadSigningKey(k.PrivatePath)
	require.NoError(t, err)
	return key
}

// change commits a change to a site file signed by Alice.
func (h *hub) change() string {
	h.t.Helper()
	h.n++
	h.repo.Write(fmt.Sprintf("sites/edge-1/config-%d.yaml", h.n%3), fmt.Sprintf("change: %d\n", h.n))
	return h.repo.Commit(fmt.Sprintf("Change %d", h.n), h.alice)
}

// create writes a fleet bundle into a temporary directory.
func (h *hub) create(mods ...func(*bundle.CreateOptions)) *bundle.Created {
	h.t.Helper()
	o := bundle.CreateOptions{Repo: h.repo.Dir, Out: filepath.Join(h.t.TempDir(), "fleet.bundle"), Key: h.key}
	for _, m := range mods {
		m(&o)
	}
	c, err := bundle.Create(o)
	require.NoError(h.t, err)
	return c
}

func since(rev string) func(*bundle.CreateOptions) {
	return func(o *bundle.CreateOptions) { o.Since = rev }
}

func signedBy(k *bundle.SigningKey) func(*bundle.CreateOptions) {
	return func(o *bundle.CreateOptions) { o.Key = k }
}

func forCluster(c string) func(*bundle.CreateOptions) {
	return func(o *bundle.CreateOptions) { o.Cluster = c }
}

// importFleet imports a fleet bundle into the source state directory dir.
func (h *hub) importFleet(c *bundle.Created, dir string, mods ...func(*bundle.ImportOptions)) *bundle.Imported {
	h.t.Helper()
	o := bundle.ImportOptions{Bundle: c.Path, Into: dir, Root: h.root}
	for _, m := range mods {
		m(&o)
	}
	res, err := bundle.Import(context.Background(), o)
	require.NoError(h.t, err)
	return res
}

// codes lists the reason codes of a result's refusals.
func codes(res *bundle.Imported) []reason.Code {
	var out []reason.Code
	for _, r := range res.Refusals {
		out = append(out, r.Code)
	}
	return out
}

// gitIn runs the real git CLI in dir and returns its trimmed output.
func gitIn(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitCmd(dir, args...).CombinedOutput()
	require.NoError(t, err, "git %s:\n%s", strings.Join(args, " "), out)
	return strings.TrimSpace(string(out))
}

func gitCmd(dir string, args ...string) *exec.Cmd {
	base := []string{"-c", "user.name=Nodewright Test", "-c", "user.email=test@example.test", "-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "safe.directory=*"}
	cmd := exec.Command("git", append(base, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "LC_ALL=C")
	return cmd
}

// clusterKeysYAML renders a ClusterKeys document for SSH keys by cluster.
func clusterKeysYAML(keys map[string]*harness.SSHKey) string {
	var b strings.Builder
	b.WriteString("apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\nclusters:\n")
	for _, name := range []string{"edge-1", "edge-2", "edge-3"} {
		if k, ok := keys[name]; ok {
			fmt.Fprintf(&b, "  - name: %s\n    site: %s\n    keys:\n      - ssh: %q\n", name, name, k.AuthorizedKey)
		}
	}
	return b.String()
}

// statusRepo is a cluster's status branch: a repository whose branch
// nodewright/status holds clusters/<cluster>/ commits signed by the
// cluster's key.
type statusRepo struct {
	t       *testing.T
	repo    *harness.Repo
	cluster string
	key     *harness.SSHKey
	n       int
}

func newStatusRepo(t *testing.T, cluster string, key *harness.SSHKey) *statusRepo {
	t.Helper()
	r := harness.NewRepo(t)
	r.Git("symbolic-ref", "HEAD", "refs/heads/"+bundle.DefaultStatusBranch)
	return &statusRepo{t: t, repo: r, cluster: cluster, key: key}
}

// report commits a status.yaml naming applied and one audit line, signed
// by the cluster's key (or by s when given).
func (s *statusRepo) report(applied string, signer ...harness.Signer) string {
	s.t.Helper()
	s.n++
	dir := "clusters/" + s.cluster + "/"
	s.repo.Write(dir+"status.yaml", fmt.Sprintf("cluster: %s\nsite: %s\nappliedCommit: %s\npolicyVersion: 1\n", s.cluster, s.cluster, applied))
	s.repo.Write(dir+"audit.jsonl", strings.Repeat("{\"seq\":1}\n", s.n))
	var k harness.Signer = s.key
	if len(signer) > 0 {
		k = signer[0]
	}
	return s.repo.Commit(fmt.Sprintf("Status %s %d", s.cluster, s.n), k)
}

// publish writes a report the way a connected cluster does: fetch the
// hub's status branch, commit on top of it, push.
func (s *statusRepo) publish(hubDir, applied string) string {
	s.t.Helper()
	branch := "refs/heads/" + bundle.DefaultStatusBranch
	if gitOrEmpty(hubDir, "rev-parse", "--verify", "-q", branch) != "" {
		s.repo.Git("fetch", "-q", hubDir, branch)
		s.repo.Git("reset", "-q", "--hard", "FETCH_HEAD")
	}
	c := s.report(applied)
	s.repo.Git("push", "-q", hubDir, "HEAD:"+branch)
	return c
}

func writeFile(t testing.TB, path, content string) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
}
