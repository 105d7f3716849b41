package agent

import (
	"context"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/agent/drbd"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Host is the agent's only way to look at and change its node. It is kept
// narrow so that a backend (the simulation in agent/simhost now, a Linux
// netlink backend later) implements exactly what the actions need. A Host
// must be safe for concurrent use: the heartbeat reads bonds while a task
// runs.
type Host interface {
	// Bonds returns the node's bonded interfaces as the host reports them
	// now.
	Bonds(ctx context.Context) ([]v1.Bond, error)
	// BondMode returns the mode the named bond runs now.
	BondMode(ctx context.Context, bond string) (v1.BondMode, error)
	// SetBondMode changes the named bond to mode. When it returns an error
	// the bond should be as it was; the agent reads the mode again to be
	// sure.
	SetBondMode(ctx context.Context, bond string, mode v1.BondMode) error
	// Probe checks that the node reaches the probe's target; it returns nil
	// when it does. The agent bounds each probe with ctx.
	Probe(ctx context.Context, p Probe) error
}

// BondObserver is implemented by a Host that reports the link state of
// its bonds (MII status of the bond and of each slave, the active slave,
// 802.3ad aggregators and partner): the heartbeat reports those. For a
// Host without it the heartbeat reports what Bonds gives (name, mode,
// slaves, options) and leaves the link state empty.
type BondObserver interface {
	// ObservedBonds returns the node's bonds with their link state now.
	ObservedBonds(ctx context.Context) ([]v1.ObservedBond, error)
}

// DRBDReader is implemented by a Host that reads its node's DRBD itself,
// as the simulated host does; Options.DRBD defaults to it.
type DRBDReader interface {
	// DRBD returns the node's DRBD resources, or an error wrapping
	// drbd.ErrNotInstalled when the node has no DRBD.
	DRBD(ctx context.Context) ([]drbd.Resource, error)
}

// Probe is one reachability check the agent asks of the Host (see
// package action).
type Probe = action.Probe

// ProbeKind says what a Probe checks.
type ProbeKind = action.ProbeKind

// The kinds of probes, as package action defines them.
const (
	ProbeGateway   = action.ProbeGateway
	ProbeAPIServer = action.ProbeAPIServer
	ProbePeer      = action.ProbePeer
)
