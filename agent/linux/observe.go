package linux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// sysClassNet is where the kernel lists the interfaces of the namespace
// that mounted sysfs.
const sysClassNet = "/sys/class/net"

// ObservedBonds returns every bond of the node as Bonds does (mode,
// slaves in order, options), with the link state the kernel reports over
// rtnetlink: the bond's carrier as its MII status, each slave's MII status,
// link failure count and, in 802.3ad, aggregator and actor and partner
// port states; the active slave of an active-backup bond; and for 802.3ad
// the partner's MAC and the negotiation verdict the agent checks after a
// flip (LACPState.Negotiated).
//
// Link speed is not in rtnetlink (ethtool has it), so it is read from
// /sys/class/net/<slave>/speed, and only when the Host is in the agent's
// own namespace: sysfs lists the interfaces of the namespace that mounted
// it, which is the agent's own, not the one a Host opened with
// Options.Namespace. In another namespace, and for a link that is down
// (the kernel reports -1 or refuses the read), the speed is left 0.
func (x *Host) ObservedBonds(ctx context.Context) ([]v1.ObservedBond, error) {
	bonds, err := x.Bonds(ctx)
	if err != nil {
		return nil, err
	}
	links, err := x.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	for _, l := range links {
		// netlink leaves Bond.AdInfo nil: read the partner's MAC from
		// IFLA_BOND_AD_INFO directly.
		if b, ok := l.(*netlink.Bond); ok && b.Mode == netlink.BOND_MODE_802_3AD && b.AdInfo == nil {
			ad, err := x.adInfo(b.Index)
			switch {
			case err == nil:
				b.AdInfo = ad
			case !errors.Is(err, errNoADInfo):
				return nil, fmt.Errorf("bond %s: %w", b.Name, err)
			}
		}
	}
	speed := func(string) int32 { return 0 }
	if x.ns <= 0 {
		speed = sysfsSpeed(sysClassNet)
	}
	return observe(bonds, links, speed), nil
}

// observe adds the link state of links (every link of the namespace) to
// bonds. A bond that is no longer among links (removed between the two
// reads) is left out: the report is of the bonds there are.
func observe(bonds []v1.Bond, links []netlink.Link, speed func(slave string) int32) []v1.ObservedBond {
	byName := map[string]netlink.Link{}
	byIndex := map[int]string{}
	for _, l := range links {
		byName[l.Attrs().Name] = l
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	var out []v1.ObservedBond
	for _, b := range bonds {
		link, ok := byName[b.Name].(*netlink.Bond)
		if !ok {
			continue
		}
		ob := v1.ObservedBond{Name: b.Name, Mode: b.Mode, MIIStatus: carrier(link), Options: b.Options}
		for _, name := range b.Slaves {
			s := v1.ObservedSlave{Name: name, SpeedMbps: speed(name)}
			if l, ok := byName[name]; ok && l.Attrs().MasterIndex == link.Index {
				if info, ok := l.Attrs().Slave.(*netlink.BondSlave); ok && info != nil {
					s.MIIStatus = miiStatus(info.MiiStatus)
					s.LinkFailures = int64(info.LinkFailureCount)
					if b.Mode == v1.Bond8023AD {
						s.AggregatorID = int32(info.AggregatorId)
						s.ActorPortState = int32(info.AdActorOperPortState)
						s.PartnerPortState = int32(info.AdPartnerOperPortState)
					}
				}
			}
			if s.MIIStatus != v1.LinkUp {
				s.SpeedMbps = 0 // what sysfs said of a link the bond does not use is stale
			}
			ob.Slaves = append(ob.Slaves, s)
		}
		if b.Mode == v1.BondActiveBackup && link.ActiveSlave > 0 {
			ob.ActiveSlave = byIndex[link.ActiveSlave]
		}
		if b.Mode == v1.Bond8023AD {
			lacp := lacpOf(link, links)
			ok, why := lacp.Negotiated()
			ob.LACP = &v1.LACPStatus{OneAggregator: lacp.OneAggregator(), Negotiated: ok, Message: why}
			if ad := link.AdInfo; ad != nil && len(ad.PartnerMac) > 0 && !bytes.Equal(ad.PartnerMac, make([]byte, len(ad.PartnerMac))) {
				ob.LACP.PartnerMAC = ad.PartnerMac.String()
			}
		}
		out = append(out, ob)
	}
	return out
}

// carrier is a bond's MII status: the kernel's carrier of the bond
// (IFF_LOWER_UP), which the bonding driver sets while enough slaves are up;
// it is what /proc/net/bonding shows as the bond's "MII Status".
func carrier(l netlink.Link) v1.LinkState {
	if l.Attrs().RawFlags&unix.IFF_LOWER_UP != 0 {
		return v1.LinkUp
	}
	return v1.LinkDown
}

// miiStatus names a slave's IFLA_BOND_SLAVE_MII_STATUS; a value this
// agent does not know is reported empty (unknown), never up.
func miiStatus(s netlink.BondSlaveMiiStatus) v1.LinkState {
	switch s {
	case netlink.BondLinkUp:
		return v1.LinkUp
	case netlink.BondLinkFail:
		return v1.LinkGoingDown
	case netlink.BondLinkDown:
		return v1.LinkDown
	case netlink.BondLinkBack:
		return v1.LinkGoingBack
	}
	return ""
}

// sysfsSpeed reads <dir>/<slave>/speed: the link speed in Mb/s, 0 when it
// is unknown (the kernel reports -1 or fails the read for a link that is
// down) or unreadable.
func sysfsSpeed(dir string) func(slave string) int32 {
	return func(slave string) int32 {
		if slave == "" || strings.ContainsAny(slave, "/\x00") || slave == "." || slave == ".." {
			return 0
		}
		b, err := os.ReadFile(filepath.Join(dir, slave, "speed"))
		if err != nil {
			return 0
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
		if err != nil || n <= 0 {
			return 0
		}
		return int32(n)
	}
}
