package agent

import (
	"context"

	"github.com/nodewright/nodewright/schema/v1alpha1"
)

// Host is the agent's only way to look at and change its node. It is kept
// narrow so that a backend (the simulation in agent/simhost now, a Linux
// netlink backend later) implements exactly what the actions need. A Host
// must be safe for concurrent use: the heartbeat reads bonds while a task
// runs.
type Host interface {
	// Bonds returns the node's bonded interfaces as the host reports them
	// now.
	Bonds(ctx context.Context) ([]v1alpha1.Bond, error)
	// BondMode returns the mode the named bond runs now.
	BondMode(ctx context.Context, bond string) (v1alpha1.BondMode, error)
	// SetBondMode changes the named bond to mode. When it returns an error
	// the bond should be as it was; the agent reads the mode again to be
	// sure.
	SetBondMode(ctx context.Context, bond string, mode v1alpha1.BondMode) error
	// Probe checks that the node reaches the probe's target; it returns nil
	// when it does. The agent bounds each probe with ctx.
	Probe(ctx context.Context, p Probe) error
}

// ProbeKind says what a Probe checks.
type ProbeKind string

// The kinds of probes a FlipBond task runs after the flip, in this order.
const (
	// ProbeGateway checks the default gateway (Target is its address).
	ProbeGateway ProbeKind = "gateway"
	// ProbeAPIServer checks the Kubernetes API server (Target is its URL).
	ProbeAPIServer ProbeKind = "apiserver"
	// ProbePeer checks another node of the cluster (Target is its name).
	ProbePeer ProbeKind = "peer"
)

// Probe is one reachability check the agent asks of the Host.
type Probe struct {
	// Kind says what is checked.
	Kind ProbeKind
	// Target is the address, URL or node name checked.
	Target string
}

// String returns the probe as a message names it, e.g. "gateway 10.0.0.1".
func (p Probe) String() string {
	if p.Target == "" {
		return string(p.Kind)
	}
	return string(p.Kind) + " " + p.Target
}
