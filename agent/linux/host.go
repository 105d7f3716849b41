package linux

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/nodewright/nodewright/agent/action"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// DefaultLACPTimeout is how long a change to 802.3ad waits for LACP to
// negotiate before it counts as failed (at the fast rate it takes about
// 3 s, at the slow rate up to 90 s).
const DefaultLACPTimeout = 15 * time.Second

// pollInterval is how often the kernel's state is read while waiting.
const pollInterval = 100 * time.Millisecond

// Options configure a Host.
type Options struct {
	// Namespace is the network namespace of the node's interfaces (zero:
	// the agent's own, as with hostNetwork).
	Namespace netns.NsHandle
	// LACPTimeout bounds the wait for LACP after a change to 802.3ad
	// (default DefaultLACPTimeout).
	LACPTimeout time.Duration
}

// Host is the agent's Host over rtnetlink. It serialises its changes.
type Host struct {
	h    *netlink.Handle
	ns   netns.NsHandle
	lacp time.Duration
	mu   sync.Mutex
}

// New opens a rtnetlink handle in the namespace. NETLINK_ROUTE is asked
// for explicitly: with no families netlink also opens XFRM and NETFILTER
// sockets, which kernels without them refuse.
func New(o Options) (*Host, error) {
	var h *netlink.Handle
	var err error
	// The zero NsHandle (fd 0) counts as open to netns.IsOpen, but it
	// is Options' "the agent's own namespace".
	if o.Namespace > 0 {
		h, err = netlink.NewHandleAt(o.Namespace, unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("linux host: open rtnetlink: %w", err)
	}
	if o.LACPTimeout <= 0 {
		o.LACPTimeout = DefaultLACPTimeout
	}
	return &Host{h: h, ns: o.Namespace, lacp: o.LACPTimeout}, nil
}

// Close closes the rtnetlink handle.
func (x *Host) Close() { x.h.Close() }

// Capture returns the bond's state now.
func (x *Host) Capture(name string) (*State, error) { return capture(x.h, name) }

// Bonds returns every bond of the node with its mode, slaves and options.
func (x *Host) Bonds(_ context.Context) ([]v1.Bond, error) {
	links, err := x.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	var out []v1.Bond
	for _, l := range links {
		if _, ok := l.(*netlink.Bond); !ok {
			continue
		}
		st, err := capture(x.h, l.Attrs().Name)
		if err != nil {
			return nil, err
		}
		opts := map[string]string{}
		for k, v := range st.Options {
			if v != "" {
				opts[k] = v
			}
		}
		out = append(out, v1.Bond{Name: st.Name, Mode: st.Mode, Slaves: st.Slaves, Options: opts})
	}
	return out, nil
}

// BondMode returns the mode the bond runs now.
func (x *Host) BondMode(_ context.Context, name string) (v1.BondMode, error) {
	st, err := capture(x.h, name)
	if err != nil {
		return "", err
	}
	return st.Mode, nil
}

// SetBondMode changes the bond's mode, keeping its other options.
func (x *Host) SetBondMode(ctx context.Context, name string, mode v1.BondMode) error {
	return x.Change(ctx, name, Change{Mode: mode})
}

// Change plans the change before touching anything (a refused plan
// changes nothing), captures the bond, applies the plan with the fewest
// requests its needs allow, waits for LACP when the target is 802.3ad, and
// on any failure restores the captured state and says so.
func (x *Host) Change(ctx context.Context, name string, c Change) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	pre, err := capture(x.h, name)
	if err != nil {
		return err
	}
	plan, err := PlanChange(pre, c)
	if err != nil {
		return err
	}
	if plan.Empty() {
		return nil
	}
	err = x.apply(pre, plan)
	if err == nil && c.Mode == v1.Bond8023AD {
		err = x.waitLACP(ctx, name)
	}
	if err == nil {
		return nil
	}
	if rerr := x.restore(context.WithoutCancel(ctx), pre); rerr != nil {
		return fmt.Errorf("%w; restoring bond %s failed too: %w", err, name, rerr)
	}
	return fmt.Errorf("%w; bond %s restored to its state before the change", err, name)
}

// RestoreState puts the bond back to st exactly and checks it.
func (x *Host) RestoreState(ctx context.Context, st *State) error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.restore(ctx, st)
}

func (x *Host) restore(_ context.Context, st *State) error {
	cur, err := capture(x.h, st.Name)
	if err != nil {
		return err
	}
	plan, err := PlanChange(cur, Change{Mode: st.Mode, Options: restorable(st)})
	if err != nil {
		return err
	}
	// Slaves the bond lost or gained since are part of the state too.
	if !slices.Equal(cur.Slaves, st.Slaves) {
		plan.Need = NoSlaves
	}
	if err := x.applyTo(cur, st, plan); err != nil {
		return err
	}
	after, err := capture(x.h, st.Name)
	if err != nil {
		return err
	}
	if d := st.Differences(after); len(d) > 0 {
		return fmt.Errorf("bond %s after the restore: %s", st.Name, strings.Join(d, "; "))
	}
	return nil
}

// restorable are st's options that its mode takes.
func restorable(st *State) map[string]string {
	out := map[string]string{}
	for k, v := range st.Options {
		r, ok := optionRules[k]
		if !ok || (r.modes != nil && !slices.Contains(r.modes, st.Mode)) || (k == "primary" && v == "") {
			continue
		}
		out[k] = v
	}
	return out
}

// apply carries out plan on the bond in state pre, ending with its
// addresses and routes as they were.
func (x *Host) apply(pre *State, plan Plan) error {
	target := *pre
	return x.applyTo(pre, &target, plan)
}

// applyTo carries out plan on the bond (now in state cur) and brings back
// want's slaves, link state, addresses and routes.
func (x *Host) applyTo(cur, want *State, plan Plan) error {
	name := cur.Name
	bondOnly := func() *netlink.Bond { return netlink.NewLinkBond(netlink.LinkAttrs{Name: name}) }
	var live, down []Step
	for _, s := range plan.Steps {
		if s.Need == Live {
			live = append(live, s)
		} else {
			down = append(down, s)
		}
	}
	if plan.Need >= Down {
		if err := x.h.LinkSetDown(bondOnly()); err != nil {
			return fmt.Errorf("bond %s: set down: %w", name, err)
		}
	}
	if plan.Need == NoSlaves {
		for _, s := range cur.Slaves {
			if err := x.h.LinkSetNoMaster(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: s}}); err != nil {
				return fmt.Errorf("bond %s: release slave %s: %w", name, s, err)
			}
		}
	}
	// Mode first: the other options are checked against it.
	slices.SortStableFunc(down, func(a, b Step) int { return boolInt(b.Option == "mode") - boolInt(a.Option == "mode") })
	for _, group := range [][]Step{down, live} {
		for _, s := range group {
			if s.Option == "primary" {
				continue // needs the slaves: set after they are back
			}
			b := bondOnly()
			if err := setOption(b, s); err != nil {
				return fmt.Errorf("bond %s: %w", name, err)
			}
			if err := x.h.LinkModify(b); err != nil {
				return fmt.Errorf("bond %s: set %s %s (%s): %w", name, s.Option, s.Value, s.Need, err)
			}
		}
	}
	if plan.Need == NoSlaves {
		master := bondOnly()
		for _, s := range want.Slaves {
			slave := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: s}}
			if err := x.h.LinkSetDown(slave); err != nil {
				return fmt.Errorf("bond %s: set slave %s down: %w", name, s, err)
			}
			l, err := x.h.LinkByName(name)
			if err != nil {
				return fmt.Errorf("bond %s: %w", name, err)
			}
			master.Index = l.Attrs().Index
			if err := x.h.LinkSetMasterByIndex(slave, master.Index); err != nil {
				return fmt.Errorf("bond %s: enslave %s: %w", name, s, err)
			}
		}
	}
	for _, s := range plan.Steps {
		if s.Option != "primary" {
			continue
		}
		b := bondOnly()
		if err := setOption(b, s); err != nil {
			return fmt.Errorf("bond %s: %w", name, err)
		}
		if err := x.h.LinkModify(b); err != nil {
			return fmt.Errorf("bond %s: set primary %s: %w", name, s.Value, err)
		}
	}
	l, err := x.h.LinkByName(name)
	if err != nil {
		return fmt.Errorf("bond %s: %w", name, err)
	}
	if want.MTU != 0 && l.Attrs().MTU != want.MTU {
		if err := x.h.LinkSetMTU(l, want.MTU); err != nil {
			return fmt.Errorf("bond %s: set mtu %d: %w", name, want.MTU, err)
		}
	}
	if len(want.MAC) > 0 && l.Attrs().HardwareAddr.String() != want.MAC.String() {
		if err := x.h.LinkSetHardwareAddr(l, want.MAC); err != nil {
			return fmt.Errorf("bond %s: set mac %s: %w", name, want.MAC, err)
		}
	}
	if want.Up && l.Attrs().Flags&net.FlagUp == 0 {
		if err := x.h.LinkSetUp(bondOnly()); err != nil {
			return fmt.Errorf("bond %s: set up: %w", name, err)
		}
	}
	// A bond that went down lost its static IPv6 addresses and the
	// routes through it; put back what is missing.
	for _, a := range want.Addrs {
		a := a
		a.LinkIndex = l.Attrs().Index
		if err := x.h.AddrReplace(l, &a); err != nil {
			return fmt.Errorf("bond %s: restore address %s: %w", name, a.IPNet, err)
		}
	}
	for _, r := range want.Routes {
		r := r
		r.LinkIndex = l.Attrs().Index
		if err := x.h.RouteReplace(&r); err != nil {
			return fmt.Errorf("bond %s: restore route %s: %w", name, routeSet([]netlink.Route{r})[0], err)
		}
	}
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// setOption sets one option on a modify request.
func setOption(b *netlink.Bond, s Step) error {
	num := func() (int, error) {
		n, err := strconv.Atoi(s.Value)
		if err != nil {
			return 0, fmt.Errorf("option %s: %q is not a number", s.Option, s.Value)
		}
		return n, nil
	}
	var err error
	switch s.Option {
	case "mode":
		b.Mode = netlink.StringToBondMode(s.Value)
	case "miimon":
		b.Miimon, err = num()
	case "updelay":
		b.UpDelay, err = num()
	case "downdelay":
		b.DownDelay, err = num()
	case "min_links":
		b.MinLinks, err = num()
	case "xmit_hash_policy":
		b.XmitHashPolicy = netlink.StringToBondXmitHashPolicy(s.Value)
	case "lacp_rate":
		b.LacpRate = netlink.StringToBondLacpRate(s.Value)
	case "ad_select":
		b.AdSelect = netlink.BondAdSelect(netlink.StringToBondAdSelectMap[s.Value])
	case "fail_over_mac":
		b.FailOverMac = netlink.StringToBondFailOverMacMap[s.Value]
	case "primary":
		return errors.New("primary is set by interface index after the slaves are back")
	default:
		return fmt.Errorf("option %s is not one the agent sets", s.Option)
	}
	return err
}

// LACP port state bits: synchronisation, collecting and distributing.
const lacpInSync = 0x38

// LACPState describes the negotiation of an 802.3ad bond.
type LACPState struct {
	// Aggregators are the aggregator ids of the slaves, by slave name.
	Aggregators map[string]uint16
	// PartnerStates are the partner's port states, by slave name.
	PartnerStates map[string]uint16
}

// Negotiated reports whether every slave is in one aggregator with a
// partner in sync, collecting and distributing, and says why not.
func (s LACPState) Negotiated() (bool, string) {
	if len(s.Aggregators) == 0 {
		return false, "no slaves"
	}
	for _, name := range slices.Sorted(maps.Keys(s.Aggregators)) {
		if st := s.PartnerStates[name]; st&lacpInSync != lacpInSync {
			return false, fmt.Sprintf("slave %s: partner port state 0x%02x is not in sync, collecting and distributing (a partner that does not speak LACP shows 0x00)", name, st)
		}
	}
	if n := s.aggregators(); n != 1 {
		return false, fmt.Sprintf("slaves are in %d aggregators %v, not one", n, s.Aggregators)
	}
	return true, ""
}

// OneAggregator reports whether the bond has slaves and all of them are in
// the same aggregator.
func (s LACPState) OneAggregator() bool { return s.aggregators() == 1 }

// aggregators counts the distinct aggregators of the slaves.
func (s LACPState) aggregators() int {
	agg := map[uint16]bool{}
	for _, id := range s.Aggregators {
		agg[id] = true
	}
	return len(agg)
}

// LACP reads the bond's LACP state from its slaves.
func (x *Host) LACP(name string) (LACPState, error) {
	bond, err := x.h.LinkByName(name)
	if err != nil {
		return LACPState{}, fmt.Errorf("bond %s: %w", name, err)
	}
	links, err := x.h.LinkList()
	if err != nil {
		return LACPState{}, fmt.Errorf("list links: %w", err)
	}
	return lacpOf(bond, links), nil
}

// lacpOf is the LACP state of bond from the slave info of links (every
// link of the namespace, or just the bond's slaves).
func lacpOf(bond netlink.Link, links []netlink.Link) LACPState {
	st := LACPState{Aggregators: map[string]uint16{}, PartnerStates: map[string]uint16{}}
	for _, l := range links {
		if l.Attrs().MasterIndex != bond.Attrs().Index {
			continue
		}
		s, ok := l.Attrs().Slave.(*netlink.BondSlave)
		if !ok || s == nil {
			continue
		}
		st.Aggregators[l.Attrs().Name] = s.AggregatorId
		st.PartnerStates[l.Attrs().Name] = s.AdPartnerOperPortState
	}
	return st
}

// waitLACP waits until the bond's LACP negotiated or x.lacp passed.
func (x *Host) waitLACP(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, x.lacp)
	defer cancel()
	for {
		st, err := x.LACP(name)
		if err != nil {
			return err
		}
		ok, why := st.Negotiated()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("bond %s: LACP did not negotiate within %s: %s", name, x.lacp, why)
		case <-time.After(pollInterval):
		}
	}
}

// Probe checks reachability: a gateway or peer by its neighbour entry (the
// kernel resolves it when a datagram is sent to it), the API server by a
// TCP connection. Raw sockets (ping) are not needed.
func (x *Host) Probe(ctx context.Context, p action.Probe) error {
	switch p.Kind {
	case action.ProbeGateway, action.ProbePeer:
		ip := net.ParseIP(p.Target)
		if ip == nil {
			addrs, err := net.DefaultResolver.LookupIPAddr(ctx, p.Target)
			if err != nil {
				return fmt.Errorf("%s: resolve: %w", p, err)
			}
			if len(addrs) == 0 {
				return fmt.Errorf("%s: resolves to no address", p)
			}
			ip = addrs[0].IP
		}
		return x.neighbour(ctx, ip)
	case action.ProbeAPIServer:
		host := p.Target
		if u, err := url.Parse(p.Target); err == nil && u.Host != "" {
			host = u.Host
			if u.Port() == "" {
				host = net.JoinHostPort(u.Hostname(), "443")
			}
		}
		err := x.inNamespace(func() error {
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", host)
			if err != nil {
				return err
			}
			return c.Close()
		})
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return nil
	default:
		return fmt.Errorf("probe %s: kind unknown", p)
	}
}

// neighbour sends a datagram to ip (the discard port) so the kernel
// resolves it, and waits for a reachable neighbour entry.
func (x *Host) neighbour(ctx context.Context, ip net.IP) error {
	for {
		_ = x.inNamespace(func() error {
			c, err := net.Dial("udp", net.JoinHostPort(ip.String(), "9"))
			if err == nil {
				_, _ = c.Write([]byte{0})
				err = c.Close()
			}
			return err
		})
		neighs, err := x.h.NeighList(0, netlink.FAMILY_ALL)
		if err != nil {
			return fmt.Errorf("neighbour %s: %w", ip, err)
		}
		for _, n := range neighs {
			if n.IP.Equal(ip) && n.State&(netlink.NUD_REACHABLE|netlink.NUD_STALE|netlink.NUD_DELAY|netlink.NUD_PROBE|netlink.NUD_PERMANENT) != 0 {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("neighbour %s not reachable: %w", ip, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// inNamespace runs f with the calling thread in the Host's namespace (a
// socket belongs to the namespace it was opened in).
func (x *Host) inNamespace(f func() error) error {
	if x.ns <= 0 { // the agent's own namespace (see New)
		return f()
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(x.ns); err != nil {
		return err
	}
	defer func() { _ = netns.Set(orig) }()
	return f()
}
