package linux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// errNoADInfo says a link message carries no IFLA_BOND_AD_INFO: the bond
// is not in 802.3ad or has no active aggregator yet.
var errNoADInfo = errors.New("no IFLA_BOND_AD_INFO")

// adInfo reads the bond's 802.3ad aggregator information (IFLA_BOND_AD_INFO:
// the active aggregator, its ports, the actor and partner keys and the
// partner's MAC). netlink v1.3.1 does not parse that attribute (Bond.AdInfo
// is always nil), so the link is asked for with a request of its own and
// the attribute decoded by parseADInfo. It returns errNoADInfo when the
// kernel sends none.
func (x *Host) adInfo(index int) (*netlink.BondAdInfo, error) {
	var info *netlink.BondAdInfo
	err := x.inNamespace(func() error {
		req := nl.NewNetlinkRequest(unix.RTM_GETLINK, unix.NLM_F_ACK)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(index)
		req.AddData(msg)
		msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
		if err != nil {
			return fmt.Errorf("read link %d: %w", index, err)
		}
		if len(msgs) != 1 {
			return fmt.Errorf("read link %d: %d replies, want 1", index, len(msgs))
		}
		info, err = parseADInfo(msgs[0])
		return err
	})
	return info, err
}

// routeAttrs splits b into its netlink attributes (struct rtattr: length,
// type, value, padded to 4 bytes). It stands in for nl.ParseRouteAttr,
// which slices past the end of b when the last attribute's padding is
// missing: an attribute shorter than its header or longer than what is
// left is an error here, and the last one may end without padding.
func routeAttrs(b []byte) ([]syscall.NetlinkRouteAttr, error) {
	var attrs []syscall.NetlinkRouteAttr
	for len(b) > 0 {
		if len(b) < unix.SizeofRtAttr {
			return nil, fmt.Errorf("%d trailing bytes, shorter than an attribute header", len(b))
		}
		n := int(binary.NativeEndian.Uint16(b[0:2]))
		typ := binary.NativeEndian.Uint16(b[2:4])
		if n < unix.SizeofRtAttr || n > len(b) {
			return nil, fmt.Errorf("attribute %d of length %d, with %d bytes left", typ&nl.NLA_TYPE_MASK, n, len(b))
		}
		attrs = append(attrs, syscall.NetlinkRouteAttr{
			Attr:  syscall.RtAttr{Len: uint16(n), Type: typ},
			Value: b[unix.SizeofRtAttr:n],
		})
		b = b[min((n+unix.RTA_ALIGNTO-1)&^(unix.RTA_ALIGNTO-1), len(b)):]
	}
	return attrs, nil
}

// parseADInfo decodes IFLA_LINKINFO → IFLA_INFO_DATA → IFLA_BOND_AD_INFO
// of one RTM_NEWLINK message (an ifinfomsg and its attributes). A message
// too short, an attribute of the wrong length or a nesting that does not
// parse is an error; a message without the attribute is errNoADInfo.
func parseADInfo(msg []byte) (*netlink.BondAdInfo, error) {
	if len(msg) < unix.SizeofIfInfomsg {
		return nil, fmt.Errorf("link message of %d bytes, shorter than its header", len(msg))
	}
	attrs, err := routeAttrs(msg[unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, fmt.Errorf("link attributes: %w", err)
	}
	nested := func(attrs []syscall.NetlinkRouteAttr, typ uint16, what string) ([]syscall.NetlinkRouteAttr, error) {
		for _, a := range attrs {
			if a.Attr.Type&nl.NLA_TYPE_MASK == typ {
				inner, err := routeAttrs(a.Value)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", what, err)
				}
				return inner, nil
			}
		}
		return nil, errNoADInfo
	}
	info, err := nested(attrs, unix.IFLA_LINKINFO, "IFLA_LINKINFO")
	if err != nil {
		return nil, err
	}
	data, err := nested(info, nl.IFLA_INFO_DATA, "IFLA_INFO_DATA")
	if err != nil {
		return nil, err
	}
	ad, err := nested(data, nl.IFLA_BOND_AD_INFO, "IFLA_BOND_AD_INFO")
	if err != nil {
		return nil, err
	}
	out := &netlink.BondAdInfo{}
	u16 := func(v []byte, what string) (int, error) {
		if len(v) != 2 {
			return 0, fmt.Errorf("IFLA_BOND_AD_INFO %s of %d bytes, want 2", what, len(v))
		}
		return int(binary.NativeEndian.Uint16(v)), nil
	}
	for _, a := range ad {
		var err error
		switch a.Attr.Type & nl.NLA_TYPE_MASK {
		case nl.IFLA_BOND_AD_INFO_AGGREGATOR:
			out.AggregatorId, err = u16(a.Value, "aggregator")
		case nl.IFLA_BOND_AD_INFO_NUM_PORTS:
			out.NumPorts, err = u16(a.Value, "ports")
		case nl.IFLA_BOND_AD_INFO_ACTOR_KEY:
			out.ActorKey, err = u16(a.Value, "actor key")
		case nl.IFLA_BOND_AD_INFO_PARTNER_KEY:
			out.PartnerKey, err = u16(a.Value, "partner key")
		case nl.IFLA_BOND_AD_INFO_PARTNER_MAC:
			if len(a.Value) != 6 {
				err = fmt.Errorf("IFLA_BOND_AD_INFO partner MAC of %d bytes, want 6", len(a.Value))
			}
			out.PartnerMac = net.HardwareAddr(append([]byte(nil), a.Value...))
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
