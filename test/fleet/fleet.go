package fleet

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/internal/sandbox/samplefleet"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

// Site is the example site the fleet's cluster serves.
const Site = samplefleet.Site

// The example operations of Site, by kind.
const (
	BondFlip    = samplefleet.BondFlip
	Replication = samplefleet.Replication
	VMMigration = samplefleet.VMMigration
)

// Nodes are the example profile's nodes.
var Nodes = samplefleet.Nodes

// Options shape the fleet.
type Options = samplefleet.Options

// Fleet is a served, signed fleet repository.
type Fleet struct {
	tb    harness.TB
	inner *samplefleet.Fleet
	// Alice (OpenPGP) and Bob (SSH) are committers; Carol (SSH) approves.
	Alice *harness.GPGKey
	Bob   *harness.SSHKey
	Carol *harness.SSHKey
	// Policy is the trust policy, also the trust root.
	Policy harness.Policy
	// Work is the working copy people commit in.
	Work *harness.Repo
	// URL is where git http-backend serves the repository.
	URL string
}

// New builds and serves the fleet (samplefleet.New): a first commit by
// alice with the trust policy and sites, then one by bob adding the
// operations. Its server and gpg-agent stop when the test ends.
func New(tb harness.TB, o Options) *Fleet {
	tb.Helper()
	f, err := samplefleet.New(tb.TempDir(), o)
	if err != nil {
		tb.Fatalf("%v", err)
	}
	tb.Cleanup(func() { _ = f.Close() })
	return &Fleet{tb: tb, inner: f, Alice: &harness.GPGKey{GPGKey: f.Alice}, Bob: &harness.SSHKey{SSHKey: f.Bob}, Carol: &harness.SSHKey{SSHKey: f.Carol},
		Policy: f.Policy, Work: harness.WrapRepo(tb, f.Work), URL: f.URL}
}

// Sandbox is the fleet as the sandbox built it, for the cluster package.
func (f *Fleet) Sandbox() *samplefleet.Fleet { return f.inner }

// RootYAML is the trust root file's content.
func (f *Fleet) RootYAML() []byte { return f.inner.RootYAML() }

// Push publishes the working copy to the served repository.
func (f *Fleet) Push() {
	f.tb.Helper()
	f.check(f.inner.Push())
}

// Approve makes one signed approval commit per signer for path, then
// pushes.
func (f *Fleet) Approve(path string, signers ...harness.Signer) {
	f.tb.Helper()
	f.check(f.inner.Approve(path, signers...))
}

// Change rewrites path with edit, commits it signed by bob and pushes.
func (f *Fleet) Change(path string, edit func(string) string, msg string) {
	f.tb.Helper()
	f.check(f.inner.Change(path, edit, msg))
}

// Profile renders the site's EdgeProfile at HEAD, as the reconciler will.
func (f *Fleet) Profile() (*v1.EdgeProfile, error) { return f.inner.Profile() }

func (f *Fleet) check(err error) {
	f.tb.Helper()
	if err != nil {
		f.tb.Fatalf("%v", err)
	}
}

// ReadyNodes creates Node objects with a Ready condition, as kubelets
// would, so the health gate sees a healthy site.
func ReadyNodes(ctx context.Context, c client.Client, names ...string) error {
	return cluster.ReadyNodes(ctx, c, names...)
}
