package simhost

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net"
	"slices"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/drbd"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var (
	_ agent.BondObserver = (*Host)(nil)
	_ agent.DRBDReader   = (*Host)(nil)
)

// SimulatedSpeedMbps is the link speed every simulated slave reports.
const SimulatedSpeedMbps = 10000

// lacpUp is the port state of a simulated 802.3ad port, ours and the
// partner's: active, aggregating, in sync, collecting and distributing
// (IEEE 802.1AX bits 0x01, 0x04, 0x08, 0x10, 0x20).
const lacpUp = 0x3d

// ObservedBonds returns the bonds as New seeded them and SetBondMode left
// them, with the link state of a healthy node: the bond and every slave
// up at SimulatedSpeedMbps with no link failures; in active-backup the
// first slave active; in 802.3ad every slave in aggregator 1, negotiated
// with a partner whose MAC is derived from the bond's name (PartnerMAC).
func (h *Host) ObservedBonds(ctx context.Context) ([]v1.ObservedBond, error) {
	bonds, err := h.Bonds(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]v1.ObservedBond, len(bonds))
	for i, b := range bonds {
		ob := v1.ObservedBond{Name: b.Name, Mode: b.Mode, MIIStatus: v1.LinkUp, Options: b.Options}
		for _, s := range b.Slaves {
			slave := v1.ObservedSlave{Name: s, MIIStatus: v1.LinkUp, SpeedMbps: SimulatedSpeedMbps}
			if b.Mode == v1.Bond8023AD {
				slave.AggregatorID, slave.ActorPortState, slave.PartnerPortState = 1, lacpUp, lacpUp
			}
			ob.Slaves = append(ob.Slaves, slave)
		}
		switch {
		case b.Mode == v1.BondActiveBackup && len(b.Slaves) > 0:
			ob.ActiveSlave = b.Slaves[0]
		case b.Mode == v1.Bond8023AD:
			ob.LACP = &v1.LACPStatus{PartnerMAC: PartnerMAC(b.Name), OneAggregator: true, Negotiated: true}
		}
		out[i] = ob
	}
	return out, nil
}

// PartnerMAC is the simulated LACP partner's MAC of a bond: a locally
// administered unicast address derived from the bond's name, so that it
// is stable across runs.
func PartnerMAC(bond string) string {
	sum := sha256.Sum256([]byte("simhost lacp partner " + bond))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02 // unicast, locally administered
	return mac.String()
}

// DRBD returns the simulated DRBD resources set with SetDRBD, or the
// error set with FailDRBD. A host that was given neither has no DRBD: it
// returns an error wrapping drbd.ErrNotInstalled, as drbd.Read does on a
// node without drbdsetup.
func (h *Host) DRBD(ctx context.Context) ([]drbd.Resource, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.drbdFault != nil:
		return nil, h.drbdFault
	case h.drbd == nil:
		return nil, fmt.Errorf("simulated host: %w", drbd.ErrNotInstalled)
	}
	out := make([]drbd.Resource, len(h.drbd))
	for i, r := range h.drbd {
		out[i] = copyResource(r)
	}
	return out, nil
}

// SetDRBD makes the host run DRBD with these resources (none is DRBD
// installed with no resource); nil makes it a node without DRBD again. It
// clears a fault from FailDRBD. The resources are copied.
func (h *Host) SetDRBD(resources []drbd.Resource) {
	var rs []drbd.Resource
	if resources != nil {
		rs = make([]drbd.Resource, len(resources))
		for i, r := range resources {
			rs[i] = copyResource(r)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drbd, h.drbdFault = rs, nil
}

// FailDRBD makes DRBD reads fail with err (e.g. one wrapping
// drbd.ErrUnavailable); a nil err clears the fault.
func (h *Host) FailDRBD(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.drbdFault = err
}

// copyResource copies the slices of r and of its connections, and the
// percentages, so that a caller's later edit does not reach the host.
func copyResource(r drbd.Resource) drbd.Resource {
	r.Devices = slices.Clone(r.Devices)
	r.Connections = slices.Clone(r.Connections)
	for i := range r.Connections {
		c := &r.Connections[i]
		c.Paths = slices.Clone(c.Paths)
		c.PeerDevices = slices.Clone(c.PeerDevices)
		for j := range c.PeerDevices {
			pd := &c.PeerDevices[j]
			pd.PercentInSync = clonePercent(pd.PercentInSync)
			pd.PercentResyncDone = clonePercent(pd.PercentResyncDone)
		}
	}
	return r
}

func clonePercent(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// UpToDateResource returns a healthy DRBD resource as drbdsetup reports
// it: this node Secondary with volume 0 UpToDate, Connected to each peer
// with the peer's volume 0 Established and UpToDate, 100 % in sync.
func UpToDateResource(name string, peers ...string) drbd.Resource {
	r := drbd.Resource{Name: name, NodeID: 0, Role: drbd.RoleSecondary,
		Devices: []drbd.Device{{Volume: 0, Minor: 1000, DiskState: drbd.DiskUpToDate, Quorum: true}}}
	for i, p := range peers {
		in := 100.0
		r.Connections = append(r.Connections, drbd.Connection{PeerNodeID: i + 1, Name: p, ConnectionState: drbd.ConnConnected, PeerRole: drbd.RoleSecondary,
			PeerDevices: []drbd.PeerDevice{{Volume: 0, ReplicationState: drbd.ReplEstablished, PeerDiskState: drbd.DiskUpToDate, PercentInSync: &in}}})
	}
	return r
}

// SyncTargetResource returns a resource that this node is resyncing from
// peer: its volume 0 Inconsistent, the connection to peer Connected with
// replication state SyncTarget and percentInSync in sync (and the other
// peers, if any, Established).
func SyncTargetResource(name string, percentInSync float64, peer string, others ...string) drbd.Resource {
	r := UpToDateResource(name, append([]string{peer}, others...)...)
	r.Devices[0].DiskState = drbd.DiskInconsistent
	pd := &r.Connections[0].PeerDevices[0]
	pd.ReplicationState, pd.PercentInSync, pd.HasSyncDetails = drbd.ReplSyncTarget, &percentInSync, true
	return r
}
