package kernelvm

import (
	"net"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Site is a node wired to a switch: a node namespace whose bond0
// (active-backup, miimon 100, 10.0.0.1/24 and fd00::1/64, a default route
// via the switch) runs over eth0 and eth1, and a switch namespace whose
// partner bond sw (10.0.0.2/24, fd00::2/64) runs over sw0 and sw1, the
// other ends of the two veth pairs.
type Site struct {
	// Node and Switch are the namespaces; NodeHandle and SwitchHandle are
	// routing netlink handles in them.
	Node, Switch             netns.NsHandle
	NodeHandle, SwitchHandle *netlink.Handle
	// Gateway is the switch's address, the node's default gateway.
	Gateway net.IP
	// NodeV6 is bond0's static IPv6 address (which the kernel drops when
	// the bond goes down).
	NodeV6 string
}

// NewSite builds a Site whose partner bond runs partner (at the fast LACP
// rate when it is 802.3ad). It goes away when the test ends.
func NewSite(t testing.TB, partner netlink.BondMode) *Site {
	t.Helper()
	Require(t)
	s := &Site{Gateway: net.ParseIP("10.0.0.2"), NodeV6: "fd00::1/64"}
	s.Node, s.NodeHandle = NewNetns(t)
	s.Switch, s.SwitchHandle = NewNetns(t)
	VethPair(t, s.Node, s.Switch, "eth0", "sw0")
	VethPair(t, s.Node, s.Switch, "eth1", "sw1")
	Bond(t, s.SwitchHandle, "sw", partner, partner == netlink.BOND_MODE_802_3AD, []string{"sw0", "sw1"}, "10.0.0.2/24", "fd00::2/64")
	Bond(t, s.NodeHandle, "bond0", netlink.BOND_MODE_ACTIVE_BACKUP, false, []string{"eth0", "eth1"}, "10.0.0.1/24", s.NodeV6)
	l, err := s.NodeHandle.LinkByName("bond0")
	if err != nil {
		t.Fatalf("bond0: %v", err)
	}
	if err := s.NodeHandle.RouteAdd(&netlink.Route{LinkIndex: l.Attrs().Index, Gw: s.Gateway}); err != nil {
		t.Fatalf("default route: %v", err)
	}
	return s
}

// Bond creates a bond in h with miimon 100 (and the fast LACP rate when
// lacpFast) over slaves, enslaved in order, and sets it up with addrs.
func Bond(t testing.TB, h *netlink.Handle, name string, mode netlink.BondMode, lacpFast bool, slaves []string, addrs ...string) {
	t.Helper()
	must := func(err error, what string) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	b := netlink.NewLinkBond(attrs)
	b.Mode = mode
	b.Miimon = 100
	if lacpFast {
		b.LacpRate = netlink.BOND_LACP_RATE_FAST
	}
	must(h.LinkAdd(b), "add "+name)
	for _, s := range slaves {
		l, err := h.LinkByName(s)
		must(err, s)
		must(h.LinkSetDown(l), "down "+s)
		must(h.LinkSetMasterByIndex(l, b.Attrs().Index), "enslave "+s)
	}
	l, err := h.LinkByName(name)
	must(err, name)
	for _, a := range addrs {
		addr, err := netlink.ParseAddr(a)
		must(err, a)
		must(h.AddrAdd(l, addr), "address "+a)
	}
	must(h.LinkSetUp(l), "up "+name)
}
