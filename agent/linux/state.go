package linux

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// ErrNoBond says the named link does not exist or is not a bond.
var ErrNoBond = errors.New("no such bond")

// State is a bond as the kernel has it: everything a revert puts back.
type State struct {
	// Name and Index identify the bond.
	Name  string
	Index int
	// Mode is its bonding mode.
	Mode v1.BondMode
	// Options are the options of optionRules the kernel reports, by sysfs
	// name ("" when unset, e.g. no primary).
	Options map[string]string
	// Slaves are its members, first the one whose address the bond took
	// (enslaved first), then by interface index: re-enslaved in this order
	// the bond keeps its MAC.
	Slaves []string
	// MTU, MAC and Up are the bond's link settings.
	MTU int
	MAC net.HardwareAddr
	Up  bool
	// Addrs are its addresses (link-local IPv6 ones excluded: the kernel
	// makes them).
	Addrs []netlink.Addr
	// Routes are the routes through it, the default route included
	// (kernel-made ones excluded: they return with the addresses).
	Routes []netlink.Route
}

// capture reads the bond's state.
func capture(h *netlink.Handle, name string) (*State, error) {
	link, err := h.LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("bond %s: %w", name, ErrNoBond)
		}
		return nil, fmt.Errorf("bond %s: read the link: %w", name, err)
	}
	bond, ok := link.(*netlink.Bond)
	if !ok {
		return nil, fmt.Errorf("%s is a %s link: %w", name, link.Type(), ErrNoBond)
	}
	a := bond.Attrs()
	st := &State{Name: a.Name, Index: a.Index, Mode: v1.BondMode(bond.Mode.String()), MTU: a.MTU,
		MAC: slices.Clone(a.HardwareAddr), Up: a.Flags&net.FlagUp != 0, Options: map[string]string{}}
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("bond %s: list links: %w", name, err)
	}
	var slaves []netlink.Link
	names := map[int]string{}
	for _, l := range links {
		names[l.Attrs().Index] = l.Attrs().Name
		if l.Attrs().MasterIndex == a.Index {
			slaves = append(slaves, l)
		}
	}
	slices.SortFunc(slaves, func(x, y netlink.Link) int {
		if xf, yf := bytes.Equal(slaveMAC(x), a.HardwareAddr), bytes.Equal(slaveMAC(y), a.HardwareAddr); xf != yf {
			if xf {
				return -1
			}
			return 1
		}
		return x.Attrs().Index - y.Attrs().Index
	})
	for _, s := range slaves {
		st.Slaves = append(st.Slaves, s.Attrs().Name)
	}
	setInt := func(k string, v int) {
		if v >= 0 {
			st.Options[k] = strconv.Itoa(v)
		}
	}
	setInt("miimon", bond.Miimon)
	setInt("updelay", bond.UpDelay)
	setInt("downdelay", bond.DownDelay)
	setInt("min_links", bond.MinLinks)
	st.Options["xmit_hash_policy"] = bond.XmitHashPolicy.String()
	st.Options["fail_over_mac"] = failOverMac(bond.FailOverMac)
	if st.Mode == v1.Bond8023AD {
		st.Options["lacp_rate"] = bond.LacpRate.String()
		st.Options["ad_select"] = bond.AdSelect.String()
	}
	if bond.Primary > 0 {
		st.Options["primary"] = names[bond.Primary]
	}
	addrs, err := h.AddrList(bond, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("bond %s: list addresses: %w", name, err)
	}
	for _, ad := range addrs {
		if ad.IP.To4() == nil && ad.IP.IsLinkLocalUnicast() {
			continue
		}
		st.Addrs = append(st.Addrs, ad)
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{LinkIndex: a.Index, Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_OIF|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("bond %s: list routes: %w", name, err)
	}
	for _, r := range routes {
		if r.Protocol == unix.RTPROT_KERNEL || (r.Dst != nil && r.Dst.IP.IsLinkLocalUnicast()) {
			continue
		}
		st.Routes = append(st.Routes, r)
	}
	return st, nil
}

func slaveMAC(l netlink.Link) net.HardwareAddr {
	if s, ok := l.Attrs().Slave.(*netlink.BondSlave); ok && len(s.PermHardwareAddr) > 0 {
		return s.PermHardwareAddr
	}
	return l.Attrs().HardwareAddr
}

func failOverMac(f netlink.BondFailOverMac) string {
	switch f {
	case netlink.BOND_FAIL_OVER_MAC_ACTIVE:
		return "active"
	case netlink.BOND_FAIL_OVER_MAC_FOLLOW:
		return "follow"
	default:
		return "none"
	}
}

// Differences lists how b differs from s ("" entries never; nil when they
// are the same): what a revert must have put back.
func (s *State) Differences(b *State) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	if s.Mode != b.Mode {
		add("mode %s, was %s", b.Mode, s.Mode)
	}
	for _, k := range KnownOptions() {
		if s.Options[k] != b.Options[k] {
			add("%s %q, was %q", k, b.Options[k], s.Options[k])
		}
	}
	if !slices.Equal(s.Slaves, b.Slaves) {
		add("slaves %v, were %v", b.Slaves, s.Slaves)
	}
	if s.MTU != b.MTU {
		add("mtu %d, was %d", b.MTU, s.MTU)
	}
	if !bytes.Equal(s.MAC, b.MAC) {
		add("mac %s, was %s", b.MAC, s.MAC)
	}
	if s.Up != b.Up {
		add("up %t, was %t", b.Up, s.Up)
	}
	if got, want := addrSet(b.Addrs), addrSet(s.Addrs); !slices.Equal(got, want) {
		add("addresses %v, were %v", got, want)
	}
	if got, want := routeSet(b.Routes), routeSet(s.Routes); !slices.Equal(got, want) {
		add("routes %v, were %v", got, want)
	}
	return out
}

func addrSet(as []netlink.Addr) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.IPNet.String())
	}
	slices.Sort(out)
	return out
}

func routeSet(rs []netlink.Route) []string {
	out := make([]string, 0, len(rs))
	for _, r := range rs {
		dst := "default"
		if r.Dst != nil {
			dst = r.Dst.String()
		}
		out = append(out, fmt.Sprintf("%s via %s metric %d", dst, r.Gw, r.Priority))
	}
	slices.Sort(out)
	return out
}
