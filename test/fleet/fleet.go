package fleet

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/render"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

// Site is the example site the fleet's cluster serves.
const Site = "edge-001"

// The example operations of Site, by kind.
const (
	BondFlip    = "sites/edge-001/operations/bond-flip.yaml"
	Replication = "sites/edge-001/operations/replication.yaml"
	VMMigration = "sites/edge-001/operations/vm-migration.yaml"
)

// Nodes are the example profile's nodes.
var Nodes = []string{"node-a", "node-b", "node-c"}

// Fleet is a served, signed fleet repository.
type Fleet struct {
	tb harness.TB
	// Alice (OpenPGP) and Bob (SSH) are committers; Carol (SSH) approves.
	Alice *harness.GPGKey
	Bob   *harness.SSHKey
	Carol *harness.SSHKey
	// Policy is the trust policy, also the trust root.
	Policy harness.Policy
	// Work is the working copy people commit in.
	Work *harness.Repo
	// URL is where git http-backend serves the repository.
	URL  string
	bare string
}

// Options shape the fleet.
type Options struct {
	// Operations are the operation files to include (default none); see
	// BondFlip, Replication, VMMigration.
	Operations []string
	// AnyTime opens the maintenance window all week, so the gates do not
	// depend on when the test runs.
	AnyTime bool
	// Edit, when set, changes a file's content before it is committed.
	Edit func(path, content string) string
	// Files are more operation files (path → content), committed with
	// Operations.
	Files map[string]string
}

// New builds and serves the fleet: a first commit by alice with the
// trust policy and sites, then one by bob adding the operations.
func New(tb harness.TB, o Options) *Fleet {
	tb.Helper()
	f := &Fleet{tb: tb, Alice: harness.NewGPGKey(tb, "alice"), Bob: harness.NewSSHKey(tb, "bob"), Carol: harness.NewSSHKey(tb, "carol")}
	f.Policy = harness.Policy{
		Version: 1,
		Principals: []harness.Principal{
			harness.Person("alice", f.Alice), harness.Person("bob", f.Bob), harness.Person("carol", f.Carol),
		},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"alice", "bob"}, Threshold: 1},
			"approvers":    {Principals: []string{"alice", "bob", "carol"}, Threshold: 2},
			"trust-admins": {Principals: []string{"alice", "bob", "carol"}, Threshold: 2},
		},
		Operations: map[string]harness.OperationRule{
			"BondModeFlipPlan":   {Role: "approvers", Threshold: 2},
			"ReplicationUpgrade": {Role: "approvers", Threshold: 1},
			"VMVolumeMigration":  {Role: "approvers", Threshold: 1},
		},
	}
	root := tb.TempDir()
	f.bare = filepath.Join(root, "fleet.git")
	srv := harness.ServeGit(tb, root)
	f.URL = srv.URL + "/fleet.git"
	f.Work = harness.InitRepo(tb, filepath.Join(tb.TempDir(), "work"))
	files := example.Files()
	for p, data := range files {
		if strings.Contains(p, "/operations/") {
			continue
		}
		content := string(data)
		if o.AnyTime && strings.HasSuffix(p, "profile.yaml") {
			content = alwaysOpen(content)
		}
		if o.Edit != nil {
			content = o.Edit(p, content)
		}
		f.Work.Write(p, content)
	}
	f.Work.Write(".nodewright/trust.yaml", f.Policy.YAML())
	f.Work.Commit("Start the fleet", f.Alice)
	if len(o.Operations)+len(o.Files) > 0 {
		for p, content := range o.Files {
			f.Work.Write(p, content)
		}
		for _, p := range o.Operations {
			content := string(files[p])
			if o.Edit != nil {
				content = o.Edit(p, content)
			}
			f.Work.Write(p, content)
		}
		f.Work.Commit("Plan operations", f.Bob)
	}
	f.Push()
	return f
}

// alwaysOpen replaces the profile's maintenance windows with one that
// never closes: every day, all day.
func alwaysOpen(profile string) string {
	var out []string
	skip := false
	for _, line := range strings.Split(profile, "\n") {
		if strings.HasPrefix(line, "  maintenanceWindows:") {
			skip = true
			out = append(out, line, `    - {days: [Mon, Tue, Wed, Thu, Fri, Sat, Sun], start: "00:00", duration: 24h, timeZone: UTC}`)
			continue
		}
		if skip && strings.HasPrefix(line, "    ") {
			continue
		}
		skip = false
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

// RootYAML is the trust root file's content.
func (f *Fleet) RootYAML() []byte { return []byte(f.Policy.YAML()) }

// Push publishes the working copy to the served repository.
func (f *Fleet) Push() { f.Work.Publish(f.bare) }

// Approve makes one signed approval commit per signer for path, then
// pushes.
func (f *Fleet) Approve(path string, signers ...harness.Signer) {
	for _, s := range signers {
		f.Work.Approve(s, path)
	}
	f.Push()
}

// Change rewrites path with edit, commits it signed by bob and pushes.
func (f *Fleet) Change(path string, edit func(string) string, msg string) {
	data := f.Work.Git("show", "HEAD:"+path)
	f.Work.Write(path, edit(data)+"\n")
	f.Work.Commit(msg, f.Bob)
	f.Push()
}

// ReadyNodes creates Node objects with a Ready condition, as kubelets
// would, so the health gate sees a healthy site.
func ReadyNodes(ctx context.Context, c client.Client, names ...string) error {
	for _, name := range names {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if err := c.Status().Update(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// Profile renders the site's EdgeProfile at HEAD, as the reconciler will.
func (f *Fleet) Profile() (*v1.EdgeProfile, error) {
	files := map[string][]byte{}
	for _, p := range strings.Fields(f.Work.Git("ls-files")) {
		files[p] = []byte(f.Work.Git("show", "HEAD:"+p) + "\n")
	}
	doc, problems := render.NewTree(files).Profile(Site)
	if doc == nil {
		return nil, fmt.Errorf("render %s: %w", Site, problems)
	}
	p := doc.Object.(*v1.EdgeProfile)
	v1.Default(p)
	return p, nil
}
