package linux

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"

	"github.com/nodewright/nodewright/agent/journal"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// stateJSON is State as the journal keeps it: addresses and routes by the
// fields a restore sends back, in text.
type stateJSON struct {
	Name    string            `json:"name"`
	Index   int               `json:"index"`
	Mode    v1.BondMode       `json:"mode"`
	Options map[string]string `json:"options"`
	Slaves  []string          `json:"slaves"`
	MTU     int               `json:"mtu"`
	MAC     string            `json:"mac"`
	Up      bool              `json:"up"`
	Addrs   []addrJSON        `json:"addrs"`
	Routes  []routeJSON       `json:"routes"`
}

type addrJSON struct {
	CIDR        string `json:"cidr"`
	Peer        string `json:"peer,omitempty"`
	Broadcast   string `json:"broadcast,omitempty"`
	Label       string `json:"label,omitempty"`
	Flags       int    `json:"flags,omitempty"`
	Scope       int    `json:"scope,omitempty"`
	PreferedLft int    `json:"preferedLft,omitempty"`
	ValidLft    int    `json:"validLft,omitempty"`
}

type routeJSON struct {
	Dst      string `json:"dst,omitempty"`
	Src      string `json:"src,omitempty"`
	Gw       string `json:"gw,omitempty"`
	Priority int    `json:"priority,omitempty"`
	Table    int    `json:"table,omitempty"`
	Protocol int    `json:"protocol,omitempty"`
	Scope    int    `json:"scope,omitempty"`
	Type     int    `json:"type,omitempty"`
	Flags    int    `json:"flags,omitempty"`
	Family   int    `json:"family,omitempty"`
	MTU      int    `json:"mtu,omitempty"`
}

// MarshalJSON writes the state as the journal keeps it. A route the
// journal cannot put back as it was (multipath, encapsulation, a nexthop
// via another family, MPLS) is an error, so such a bond is never changed.
func (s *State) MarshalJSON() ([]byte, error) {
	out := stateJSON{Name: s.Name, Index: s.Index, Mode: s.Mode, Options: s.Options, Slaves: s.Slaves,
		MTU: s.MTU, MAC: s.MAC.String(), Up: s.Up, Addrs: []addrJSON{}, Routes: []routeJSON{}}
	for _, a := range s.Addrs {
		j := addrJSON{CIDR: a.IPNet.String(), Label: a.Label, Flags: a.Flags, Scope: a.Scope,
			PreferedLft: a.PreferedLft, ValidLft: a.ValidLft}
		if a.Peer != nil {
			j.Peer = a.Peer.String()
		}
		if a.Broadcast != nil {
			j.Broadcast = a.Broadcast.String()
		}
		out.Addrs = append(out.Addrs, j)
	}
	for _, r := range s.Routes {
		if len(r.MultiPath) > 0 || r.Encap != nil || r.Via != nil || r.NewDst != nil || r.MPLSDst != nil {
			return nil, fmt.Errorf("bond %s: route %s uses multipath, encapsulation, via or MPLS, which the agent cannot restore exactly", s.Name, r)
		}
		j := routeJSON{Priority: r.Priority, Table: r.Table, Protocol: int(r.Protocol), Scope: int(r.Scope),
			Type: r.Type, Flags: r.Flags, Family: r.Family, MTU: r.MTU}
		if r.Dst != nil {
			j.Dst = r.Dst.String()
		}
		if r.Src != nil {
			j.Src = r.Src.String()
		}
		if r.Gw != nil {
			j.Gw = r.Gw.String()
		}
		out.Routes = append(out.Routes, j)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads a state MarshalJSON wrote, strictly.
func (s *State) UnmarshalJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var in stateJSON
	if err := dec.Decode(&in); err != nil {
		return fmt.Errorf("bond snapshot: %w", err)
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("bond snapshot: %s: %s", field, fmt.Sprintf(format, args...))
	}
	if in.Name == "" || len(in.Name) > 15 {
		return bad("name", "%q is not an interface name", in.Name)
	}
	if !slices.Contains(v1.BondModes, in.Mode) {
		return bad("mode", "%q is not a bond mode", in.Mode)
	}
	for k := range in.Options {
		if _, ok := optionRules[k]; !ok {
			return bad("options", "%q is not an option the agent knows", k)
		}
	}
	if len(in.Slaves) == 0 {
		return bad("slaves", "a bond's snapshot has no slaves")
	}
	st := State{Name: in.Name, Index: in.Index, Mode: in.Mode, Options: in.Options, Slaves: in.Slaves, MTU: in.MTU, Up: in.Up}
	if st.Options == nil {
		st.Options = map[string]string{}
	}
	if in.MAC != "" {
		mac, err := net.ParseMAC(in.MAC)
		if err != nil {
			return bad("mac", "%v", err)
		}
		st.MAC = mac
	}
	for i, a := range in.Addrs {
		ipn, err := netlink.ParseIPNet(a.CIDR)
		if err != nil {
			return bad(fmt.Sprintf("addrs[%d].cidr", i), "%v", err)
		}
		ad := netlink.Addr{IPNet: ipn, Label: a.Label, Flags: a.Flags, Scope: a.Scope, PreferedLft: a.PreferedLft, ValidLft: a.ValidLft}
		if a.Peer != "" {
			if ad.Peer, err = netlink.ParseIPNet(a.Peer); err != nil {
				return bad(fmt.Sprintf("addrs[%d].peer", i), "%v", err)
			}
		}
		if a.Broadcast != "" {
			if ad.Broadcast = net.ParseIP(a.Broadcast); ad.Broadcast == nil {
				return bad(fmt.Sprintf("addrs[%d].broadcast", i), "%q is not an IP address", a.Broadcast)
			}
		}
		st.Addrs = append(st.Addrs, ad)
	}
	for i, r := range in.Routes {
		rt := netlink.Route{Priority: r.Priority, Table: r.Table, Protocol: netlink.RouteProtocol(r.Protocol),
			Scope: netlink.Scope(r.Scope), Type: r.Type, Flags: r.Flags, Family: r.Family, MTU: r.MTU}
		var err error
		if r.Dst != "" {
			if rt.Dst, err = netlink.ParseIPNet(r.Dst); err != nil {
				return bad(fmt.Sprintf("routes[%d].dst", i), "%v", err)
			}
		}
		for _, ip := range []struct {
			field, text string
			dst         *net.IP
		}{{"src", r.Src, &rt.Src}, {"gw", r.Gw, &rt.Gw}} {
			if ip.text == "" {
				continue
			}
			if *ip.dst = net.ParseIP(ip.text); *ip.dst == nil {
				return bad(fmt.Sprintf("routes[%d].%s", i, ip.field), "%q is not an IP address", ip.text)
			}
		}
		st.Routes = append(st.Routes, rt)
	}
	*s = st
	return nil
}

// Snapshot returns the bond's whole state for the journal.
func (x *Host) Snapshot(_ context.Context, bond string) (json.RawMessage, error) {
	st, err := capture(x.h, bond)
	if err != nil {
		return nil, err
	}
	return json.Marshal(st)
}

// Restore puts the bond back to the snapshot pre and checks it. With post
// (the state a finished change left) it first compares the bond with both:
// when its mode, options, slaves or MTU match neither, someone changed it
// since, and it is left alone (an error wrapping journal.ErrChangedSince
// says how it differs). A bond that is as pre already is not touched.
func (x *Host) Restore(ctx context.Context, pre, post json.RawMessage) (bool, error) {
	var want State
	if err := json.Unmarshal(pre, &want); err != nil {
		return false, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	cur, err := capture(x.h, want.Name)
	if err != nil {
		return false, err
	}
	if len(want.Differences(cur)) == 0 {
		return false, nil
	}
	if post != nil {
		var after State
		if err := json.Unmarshal(post, &after); err != nil {
			return false, err
		}
		if after.Name != want.Name {
			return false, fmt.Errorf("bond snapshots name %s and %s", want.Name, after.Name)
		}
		if d := configDifferences(&after, cur); len(d) > 0 && len(configDifferences(&want, cur)) > 0 {
			return false, fmt.Errorf("bond %s: %s: %w", want.Name, strings.Join(d, "; "), journal.ErrChangedSince)
		}
	}
	if err := x.restore(ctx, &want); err != nil {
		return false, err
	}
	return true, nil
}

// configDifferences is Differences on what a person configures: mode,
// options, slaves and MTU (addresses and routes come and go with the link
// and with DHCP, and are put back by a restore either way).
func configDifferences(s, b *State) []string {
	x, y := *s, *b
	x.MAC, y.MAC, x.Up, y.Up = nil, nil, false, false
	x.Addrs, y.Addrs, x.Routes, y.Routes = nil, nil, nil, nil
	return x.Differences(&y)
}

var _ journal.Host = (*Host)(nil)
