package stack

import (
	"errors"

	"k8s.io/client-go/rest"

	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/harness"
)

// Stack is one simulated cluster (internal/sandbox/cluster) following a
// served fleet repository.
type Stack struct {
	*cluster.Cluster
	// Fleet is the repository the cluster follows.
	Fleet *fleet.Fleet
}

// Options shape a stack: a cluster's options, of which New sets Site,
// Repo, TrustRoot and Dir from the fleet and the test, Nodes when empty
// (to fleet.Nodes) and OnAgentError (to fail the test).
type Options struct {
	cluster.Options
	// Fleet is the repository to follow.
	Fleet *fleet.Fleet
}

// Manager is a running reconciler manager.
type Manager = cluster.Manager

// New creates the namespace, trust root Secret, Ready nodes (default
// fleet.Nodes), agents and the FleetSource of o.Fleet for site fleet.Site.
// Everything stops at tb.Cleanup, and an agent that fails fails the test.
func New(tb harness.TB, cfg *rest.Config, o Options) (*Stack, error) {
	tb.Helper()
	co := o.Options
	co.Site, co.Repo, co.TrustRoot, co.Dir = fleet.Site, o.Fleet.URL, o.Fleet.RootYAML(), tb.TempDir()
	co.OnAgentError = func(node string, err error) { tb.Errorf("agent %s: %v", node, err) }
	if len(co.Nodes) == 0 {
		co.Nodes = fleet.Nodes
	}
	c, err := cluster.New(cfg, co)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(c.Close)
	return &Stack{Cluster: c, Fleet: o.Fleet}, nil
}

// ErrStop is what crash-test hooks return to end a reconcile on the spot.
var ErrStop = errors.New("stopped by the test")
