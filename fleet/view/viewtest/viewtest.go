// Package viewtest builds fleet repositories with a status branch for the
// tests of the fleet view, the dashboard and the audit and fleet commands:
// real git repositories whose status commits are signed by cluster keys
// with the real git commit -S, so that a test reads as its scenario.
//
// It writes status files the way the status writer does (status.yaml with
// fleet/statusbranch.EncodeStatus, audit.jsonl as encoding/json writes
// hash-chained AuditRecords) and offers raw edits of the status work
// tree for the tampering scenarios. It is for tests only.
package viewtest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

// StatusBranch is the status branch the builder writes.
const StatusBranch = "nodewright/status"

// Spec names a cluster of the fleet, its site and its signing key.
type Spec struct {
	Name string
	Site string
	Key  harness.Signer
}

// Cluster is a cluster of the fleet with the head of its audit chain.
type Cluster struct {
	Spec
	// Log is the head of the cluster's audit chain as written so far.
	Log v1.AuditLog
}

// Fleet is a fleet repository: a bare hub holding branch main (with
// .nodewright/trust.yaml and .nodewright/clusters.yaml) and the status
// branch, plus the work trees that write them.
type Fleet struct {
	t harness.TB
	// Dir is the bare hub repository that commands read.
	Dir string
	// Main is the work tree of branch main.
	Main *harness.Repo
	// StatusTree is the work tree of the status branch.
	StatusTree *harness.Repo
	// Admin signs the commits of main; the trust policy names it committer
	// and trust admin.
	Admin *harness.SSHKey
	// Policy is main's trust policy, usable as a trust root.
	Policy harness.Policy
	// Clusters are the fleet's clusters by name.
	Clusters map[string]*Cluster
	// Now is the clock reports are made relative to.
	Now time.Time
	// FleetCommit is main's first commit, the one reports apply.
	FleetCommit string

	root string
}

// New makes the fleet: main with the trust policy and the cluster keys of
// specs, signed by an admin key, pushed to a bare hub. The status branch
// starts with the first report.
func New(t harness.TB, specs ...Spec) *Fleet {
	t.Helper()
	root := t.TempDir()
	f := &Fleet{t: t, root: root, Dir: filepath.Join(root, "fleet.git"), Clusters: map[string]*Cluster{},
		Now: time.Now().UTC().Truncate(time.Second)}
	f.Admin = harness.NewSSHKey(t, "admin")
	f.Policy = harness.Policy{
		Version:    1,
		Principals: []harness.Principal{harness.Person("admin", f.Admin)},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"admin"}, Threshold: 1},
			"trust-admins": {Principals: []string{"admin"}, Threshold: 1},
		},
	}
	f.Main = harness.InitRepo(t, filepath.Join(root, "main"))
	f.Main.Write(".nodewright/trust.yaml", f.Policy.YAML())
	f.Main.Write(".nodewright/clusters.yaml", KeysYAML(specs...))
	f.Main.Write("sites/README", "sites go here\n")
	f.Main.SetClock(f.Now.Add(-48 * time.Hour))
	f.FleetCommit = f.Main.Commit("Fleet with its cluster keys", f.Admin)
	f.Main.Publish(f.Dir)
	for _, s := range specs {
		f.Clusters[s.Name] = &Cluster{Spec: s}
	}
	f.StatusTree = harness.InitRepo(t, filepath.Join(root, "status"))
	f.StatusTree.Git("symbolic-ref", "HEAD", "refs/heads/"+StatusBranch)
	return f
}

// Fork copies the fleet (hub, work trees, audit chain heads) for a
// scenario that changes it, so that scenarios share one setup. The copy
// keeps the keys and the clock.
func (f *Fleet) Fork(t harness.TB) *Fleet {
	t.Helper()
	root := t.TempDir()
	if out, err := exec.Command("cp", "-a", f.root+"/.", root).CombinedOutput(); err != nil {
		t.Fatalf("viewtest: copy fleet: %v\n%s", err, out)
	}
	g := *f
	g.t, g.root, g.Dir = t, root, filepath.Join(root, "fleet.git")
	g.Main = harness.InitRepo(t, filepath.Join(root, "main"))
	g.StatusTree = harness.InitRepo(t, filepath.Join(root, "status"))
	g.Clusters = make(map[string]*Cluster, len(f.Clusters))
	for name, c := range f.Clusters {
		cc := *c
		cc.Log.Recent = append([]v1.AuditRecord(nil), c.Log.Recent...)
		g.Clusters[name] = &cc
	}
	return &g
}

// KeysYAML renders a ClusterKeys document for specs.
func KeysYAML(specs ...Spec) string {
	var b strings.Builder
	b.WriteString("apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\nclusters:\n")
	if len(specs) == 0 {
		return strings.TrimSuffix(b.String(), "\n") + " []\n"
	}
	for _, s := range specs {
		fmt.Fprintf(&b, "  - name: %s\n    site: %s\n    keys:\n", s.Name, s.Site)
		if s.Key.Format() == "ssh" {
			fmt.Fprintf(&b, "      - ssh: %q\n", s.Key.PublicKey())
			continue
		}
		b.WriteString("      - openpgp: |\n")
		for _, line := range strings.Split(strings.TrimRight(s.Key.PublicKey(), "\n"), "\n") {
			fmt.Fprintf(&b, "          %s\n", line)
		}
	}
	return b.String()
}

// Status returns a healthy report of cluster name made ago before Now,
// applying the fleet's first commit, with nodes of them ready.
func (f *Fleet) Status(name string, ago time.Duration, ready, nodes int, ops ...v1.OperationSummary) v1.ClusterStatus {
	c := f.cluster(name)
	return v1.ClusterStatus{
		Cluster:       c.Name,
		Site:          c.Site,
		AppliedCommit: f.FleetCommit,
		PolicyVersion: f.Policy.Version,
		Operations:    ops,
		Nodes:         v1.NodeHealthSummary{Total: nodes, Ready: ready},
		Time:          metav1.NewTime(f.Now.Add(-ago)),
	}
}

// Transition returns an audit transition of cluster name for operation
// kind/opName from one phase to another, at ago before Now.
func (f *Fleet) Transition(name, kind, opName, from, to, reason string, ago time.Duration) audit.Transition {
	c := f.cluster(name)
	return audit.Transition{Cluster: c.Name, Site: c.Site, Kind: kind, Name: opName, From: from, To: to,
		Reason: reason, Message: fmt.Sprintf("%s %s: %s -> %s", kind, opName, from, to),
		Actor: "nodewright-reconciler", SourceCommit: f.FleetCommit, Time: f.Now.Add(-ago)}
}

func (f *Fleet) cluster(name string) *Cluster {
	f.t.Helper()
	c, ok := f.Clusters[name]
	if !ok {
		f.t.Fatalf("viewtest: no cluster %q", name)
	}
	return c
}

// Report writes cluster name's status.yaml and appends the transitions to
// its audit.jsonl (linked onto its chain), commits on the status branch
// signed by the cluster's key and pushes to the hub. It returns the commit.
func (f *Fleet) Report(name string, st v1.ClusterStatus, ts ...audit.Transition) string {
	f.t.Helper()
	c := f.cluster(name)
	data, _, err := statusbranch.EncodeStatus(st, 0)
	if err != nil {
		f.t.Fatalf("viewtest: marshal status: %v", err)
	}
	dir := "clusters/" + name + "/"
	f.StatusTree.Write(dir+"status.yaml", string(data))
	if len(ts) > 0 {
		var b strings.Builder
		for _, t := range ts {
			rec := audit.Append(&c.Log, t.Record())
			line, err := json.Marshal(rec)
			if err != nil {
				f.t.Fatalf("viewtest: marshal record: %v", err)
			}
			b.Write(line)
			b.WriteByte('\n')
		}
		f.appendFile(dir+"audit.jsonl", b.String())
	}
	return f.Commit(c.Key, fmt.Sprintf("%s: status report", name), nil)
}

// Commit runs edit on the status work tree (if not nil), commits
// everything signed by signer (unsigned when nil) with msg and pushes.
func (f *Fleet) Commit(signer harness.Signer, msg string, edit func(dir string)) string {
	f.t.Helper()
	if edit != nil {
		edit(f.StatusTree.Dir)
	}
	id := f.StatusTree.Commit(msg, signer)
	f.StatusTree.Git("push", "-q", "--force", f.Dir, "HEAD:refs/heads/"+StatusBranch)
	return id
}

// AuditLines returns the lines of cluster name's audit.jsonl in the status
// work tree.
func (f *Fleet) AuditLines(name string) []string {
	f.t.Helper()
	data, err := os.ReadFile(filepath.Join(f.StatusTree.Dir, "clusters", name, "audit.jsonl"))
	if err != nil {
		f.t.Fatalf("viewtest: %v", err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

// SetAuditLines replaces cluster name's audit.jsonl in the status work
// tree (commit it with Commit).
func (f *Fleet) SetAuditLines(name string, lines []string) {
	f.t.Helper()
	f.StatusTree.Write("clusters/"+name+"/audit.jsonl", strings.Join(lines, "\n")+"\n")
}

func (f *Fleet) appendFile(rel, content string) {
	f.t.Helper()
	p := filepath.Join(f.StatusTree.Dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		f.t.Fatalf("viewtest: %v", err)
	}
	fh, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		f.t.Fatalf("viewtest: %v", err)
	}
	defer fh.Close()
	if _, err := fh.WriteString(content); err != nil {
		f.t.Fatalf("viewtest: %v", err)
	}
}

// CommitMain commits edit on main signed by the admin and pushes it.
func (f *Fleet) CommitMain(msg string, edit func(r *harness.Repo)) string {
	f.t.Helper()
	edit(f.Main)
	id := f.Main.Commit(msg, f.Admin)
	f.Main.Publish(f.Dir)
	return id
}

// PolicyFile writes main's trust policy to a file, for a trust root.
func (f *Fleet) PolicyFile() string {
	f.t.Helper()
	p := filepath.Join(f.t.TempDir(), "root.yaml")
	if err := os.WriteFile(p, []byte(f.Policy.YAML()), 0o600); err != nil {
		f.t.Fatalf("viewtest: %v", err)
	}
	return p
}

// Clone makes a plain work-tree clone of the hub (the status branch only
// as origin's remote-tracking branch), as an operator's "git clone" would.
func (f *Fleet) Clone() string {
	f.t.Helper()
	dir := filepath.Join(f.t.TempDir(), "clone")
	cmd := exec.Command("git", "clone", "-q", f.Dir, dir)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		f.t.Fatalf("git clone: %v\n%s", err, out)
	}
	return dir
}
