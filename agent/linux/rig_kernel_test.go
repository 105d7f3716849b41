//go:build kerneltest

package linux_test

import (
	"errors"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/nodewright/nodewright/internal/kernelvm"
)

// TestKernelRig proves the kernel-test rig (make kernel-test): a "node"
// namespace with bond0 in active-backup over eth0 and eth1, each a veth
// whose other end is in a "switch" namespace under a partner bond, reads
// back as built, picks an active slave once the links have carrier, and
// refuses a mode change while it has slaves with ENOTEMPTY, as the bonding
// driver does.
func TestKernelRig(t *testing.T) {
	kernelvm.Require(t)
	nodeNS, node := kernelvm.NewNetns(t)
	switchNS, sw := kernelvm.NewNetns(t)
	eth0, sw0 := kernelvm.VethPair(t, nodeNS, switchNS, "eth0", "sw0")
	eth1, sw1 := kernelvm.VethPair(t, nodeNS, switchNS, "eth1", "sw1")
	bond0 := addBond(t, node, "bond0", "192.0.2.1/24", eth0, eth1)
	addBond(t, sw, "swbond0", "192.0.2.2/24", sw0, sw1)

	t.Run("ReadsBack", func(t *testing.T) {
		b := readBond(t, node, "bond0")
		if b.Mode != netlink.BOND_MODE_ACTIVE_BACKUP {
			t.Errorf("bond0 mode %v, want active-backup", b.Mode)
		}
		if b.Miimon != 100 {
			t.Errorf("bond0 miimon %d, want 100", b.Miimon)
		}
		got := slaves(t, node, bond0)
		if len(got) != 2 || got[0] != "eth0" || got[1] != "eth1" {
			t.Errorf("bond0 slaves %v, want [eth0 eth1]", got)
		}
		addrs, err := node.AddrList(bond0, netlink.FAMILY_V4)
		if err != nil {
			t.Fatalf("addresses of bond0: %v", err)
		}
		if len(addrs) != 1 || addrs[0].IPNet.String() != "192.0.2.1/24" {
			t.Errorf("bond0 addresses %v, want [192.0.2.1/24]", addrs)
		}
	})

	t.Run("PicksActiveSlave", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for {
			b := readBond(t, node, "bond0")
			if b.OperState == netlink.OperUp && (b.ActiveSlave == eth0.Attrs().Index || b.ActiveSlave == eth1.Attrs().Index) {
				t.Logf("bond0 up, active slave index %d", b.ActiveSlave)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("bond0 not up with an active slave after 10s: state %v, active slave index %d", b.OperState, b.ActiveSlave)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})

	t.Run("ModeChangeWithSlavesIsENOTEMPTY", func(t *testing.T) {
		// By name only: a request that also carries the index makes 6.1
		// answer EBUSY for an up bond (see the backends research, 4.3).
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "bond0"
		change := netlink.NewLinkBond(attrs)
		change.Mode = netlink.BOND_MODE_802_3AD
		err := node.LinkModify(change)
		if !errors.Is(err, unix.ENOTEMPTY) {
			t.Fatalf("802.3ad on bond0 with slaves: got %v, want ENOTEMPTY", err)
		}
		t.Logf("refused as expected: %v", err)
		if b := readBond(t, node, "bond0"); b.Mode != netlink.BOND_MODE_ACTIVE_BACKUP {
			t.Errorf("bond0 mode %v after the refused change, want active-backup", b.Mode)
		}
	})
}

// addBond makes an active-backup bond with miimon 100 in h's namespace
// over the given (down) links with the address cidr, up, and returns it.
func addBond(t *testing.T, h *netlink.Handle, name, cidr string, slaves ...netlink.Link) netlink.Link {
	t.Helper()
	names := make([]string, len(slaves))
	for i, s := range slaves {
		names[i] = s.Attrs().Name
	}
	kernelvm.Bond(t, h, name, netlink.BOND_MODE_ACTIVE_BACKUP, false, names, cidr)
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	return l
}

// readBond reads the bond name back through h.
func readBond(t *testing.T, h *netlink.Handle, name string) *netlink.Bond {
	t.Helper()
	link, err := h.LinkByName(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	b, ok := link.(*netlink.Bond)
	if !ok {
		t.Fatalf("%s is a %s, not a bond", name, link.Type())
	}
	return b
}

// slaves lists, in index order, the names of the links in h's namespace
// whose master is bond and that read back as bond slaves.
func slaves(t *testing.T, h *netlink.Handle, bond netlink.Link) []string {
	t.Helper()
	links, err := h.LinkList()
	if err != nil {
		t.Fatalf("list links: %v", err)
	}
	var names []string
	for _, l := range links {
		if l.Attrs().MasterIndex != bond.Attrs().Index {
			continue
		}
		if _, ok := l.Attrs().Slave.(*netlink.BondSlave); !ok {
			t.Errorf("%s has master %s but no bond slave info", l.Attrs().Name, bond.Attrs().Name)
		}
		names = append(names, l.Attrs().Name)
	}
	return names
}
