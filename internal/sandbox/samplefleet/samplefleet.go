package samplefleet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nodewright/nodewright/internal/sandbox"
	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/render"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Site is the example site the sample fleet's cluster serves.
const Site = "edge-001"

// The example operations of Site, by kind.
const (
	BondFlip    = "sites/edge-001/operations/bond-flip.yaml"
	Replication = "sites/edge-001/operations/replication.yaml"
	VMMigration = "sites/edge-001/operations/vm-migration.yaml"
)

// Nodes are the example profile's nodes.
var Nodes = []string{"node-a", "node-b", "node-c"}

// Fleet is the sample fleet repository, signed and served: the embedded
// example sites (without their operations unless asked for), a trust
// policy over three people's keys, and a working copy to change it in.
type Fleet struct {
	// Alice (OpenPGP) and Bob (SSH) are committers; Carol (SSH) approves.
	Alice *sandbox.GPGKey
	Bob   *sandbox.SSHKey
	Carol *sandbox.SSHKey
	// Policy is the trust policy, also the trust root.
	Policy sandbox.Policy
	// Work is the working copy people commit in.
	Work *sandbox.Repo
	// URL is where git http-backend serves the repository.
	URL string

	bare    string
	closers []func() error
}

// Options shape the sample fleet.
type Options struct {
	// Operations are the operation files to include (default none); see
	// BondFlip, Replication, VMMigration.
	Operations []string
	// AnyTime opens the maintenance window all week, so the gates do not
	// depend on when the fleet is used.
	AnyTime bool
	// Edit, when set, changes a file's content before it is committed.
	Edit func(path, content string) string
	// Files are more operation files (path → content), committed with
	// Operations.
	Files map[string]string
}

// New builds the sample fleet in dir and serves it: a first commit
// by alice with the trust policy and sites, then, when o names any
// operations, one by bob adding them. Close stops the server and the
// gpg-agent; a failure stops what had started.
func New(dir string, o Options) (f *Fleet, err error) {
	f = &Fleet{}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("sample fleet: %w", err), f.Close())
			f = nil
		}
	}()
	// gpg-agent's socket path must fit in a Unix socket address: its home
	// is a short temporary directory rather than one below dir.
	home, err := os.MkdirTemp("", "nwgpg")
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, func() error { return os.RemoveAll(home) })
	if f.Alice, err = sandbox.NewGPGKey(home, "alice"); err != nil {
		return nil, err
	}
	f.closers = append(f.closers, f.Alice.Close)
	if f.Bob, err = sandbox.NewSSHKey(filepath.Join(dir, "keys", "bob"), "bob"); err != nil {
		return nil, err
	}
	if f.Carol, err = sandbox.NewSSHKey(filepath.Join(dir, "keys", "carol"), "carol"); err != nil {
		return nil, err
	}
	f.Policy = Policy(f.Alice, f.Bob, f.Carol)
	root := filepath.Join(dir, "server")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	f.bare = filepath.Join(root, "fleet.git")
	srv, err := sandbox.ServeGit(root)
	if err != nil {
		return nil, err
	}
	f.closers = append(f.closers, srv.Close)
	f.URL = srv.URL + "/fleet.git"
	if f.Work, err = sandbox.InitRepo(filepath.Join(dir, "work")); err != nil {
		return nil, err
	}
	return f, f.seed(o)
}

// Policy is the sample fleet's trust policy over the three people's keys:
// alice and bob commit, two of the three approve a bond flip (and change
// the policy), one the other kinds.
func Policy(alice, bob, carol sandbox.Signer) sandbox.Policy {
	return sandbox.Policy{
		Version: 1,
		Principals: []sandbox.Principal{
			sandbox.Person("alice", alice), sandbox.Person("bob", bob), sandbox.Person("carol", carol),
		},
		Roles: map[string]sandbox.Role{
			"committers":   {Principals: []string{"alice", "bob"}, Threshold: 1},
			"approvers":    {Principals: []string{"alice", "bob", "carol"}, Threshold: 2},
			"trust-admins": {Principals: []string{"alice", "bob", "carol"}, Threshold: 2},
		},
		Operations: map[string]sandbox.OperationRule{
			"BondModeFlipPlan":   {Role: "approvers", Threshold: 2},
			"ReplicationUpgrade": {Role: "approvers", Threshold: 1},
			"VMVolumeMigration":  {Role: "approvers", Threshold: 1},
		},
	}
}

// seed makes the fleet's first commits and publishes them.
func (f *Fleet) seed(o Options) error {
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
		if err := f.Work.Write(p, content); err != nil {
			return err
		}
	}
	if err := f.Work.Write(".nodewright/trust.yaml", f.Policy.YAML()); err != nil {
		return err
	}
	if _, err := f.Work.Commit("Start the fleet", f.Alice); err != nil {
		return err
	}
	if len(o.Operations)+len(o.Files) > 0 {
		for p, content := range o.Files {
			if err := f.Work.Write(p, content); err != nil {
				return err
			}
		}
		for _, p := range o.Operations {
			data, ok := files[p]
			if !ok {
				return fmt.Errorf("no example operation %s", p)
			}
			content := string(data)
			if o.Edit != nil {
				content = o.Edit(p, content)
			}
			if err := f.Work.Write(p, content); err != nil {
				return err
			}
		}
		if _, err := f.Work.Commit("Plan operations", f.Bob); err != nil {
			return err
		}
	}
	return f.Push()
}

// Close stops the fleet's server and gpg-agent and removes the gpg home;
// the directory given to New stays with its owner.
func (f *Fleet) Close() error {
	var err error
	for i := len(f.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, f.closers[i]())
	}
	f.closers = nil
	return err
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
func (f *Fleet) Push() error { return f.Work.Publish(f.bare) }

// Approve makes one signed approval commit per signer for path, then
// pushes.
func (f *Fleet) Approve(path string, signers ...sandbox.Signer) error {
	for _, s := range signers {
		if _, err := f.Work.Approve(s, path); err != nil {
			return err
		}
	}
	return f.Push()
}

// Change rewrites path with edit, commits it signed by bob and pushes.
func (f *Fleet) Change(path string, edit func(string) string, msg string) error {
	data, err := f.Work.Git("show", "HEAD:"+path)
	if err != nil {
		return err
	}
	if err := f.Work.Write(path, edit(data)+"\n"); err != nil {
		return err
	}
	if _, err := f.Work.Commit(msg, f.Bob); err != nil {
		return err
	}
	return f.Push()
}

// Profile renders the site's EdgeProfile at HEAD, defaulted, as the
// reconciler will.
func (f *Fleet) Profile() (*v1.EdgeProfile, error) {
	list, err := f.Work.Git("ls-files")
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, p := range strings.Fields(list) {
		data, err := f.Work.Git("show", "HEAD:"+p)
		if err != nil {
			return nil, err
		}
		files[p] = []byte(data + "\n")
	}
	doc, problems := render.NewTree(files).Profile(Site)
	if doc == nil {
		return nil, fmt.Errorf("render %s: %w", Site, problems)
	}
	p, ok := doc.Object.(*v1.EdgeProfile)
	if !ok {
		return nil, fmt.Errorf("render %s: a %T, not an EdgeProfile", Site, doc.Object)
	}
	v1.Default(p)
	return p, nil
}
