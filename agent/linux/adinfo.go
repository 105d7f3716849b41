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

// parseADInfo decodes IFLA_LINKINFO → IFLA_INFO_DATA → IFLA_BOND_AD_INFO
// of one RTM_NEWLINK message (an ifinfomsg and its attributes). A message
// too short, an attribute of the wrong length or a nesting that does not
// parse is an error; a message without the attribute is errNoADInfo.
func parseADInfo(msg []byte) (*netlink.BondAdInfo, error) {
	if len(msg) < unix.SizeofIfInfomsg {
		return nil, fmt.Errorf("link message of %d bytes, shorter than its header", len(msg))
	}
	attrs, err := nl.ParseRouteAttr(msg[unix.SizeofIfInfomsg:])
	if err != nil {
		return nil, fmt.Errorf("link attributes: %w", err)
	}
	nested := func(attrs []syscall.NetlinkRouteAttr, typ uint16, what string) ([]syscall.NetlinkRouteAttr, error) {
		for _, a := range attrs {
			if a.Attr.Type&nl.NLA_TYPE_MASK == typ {
				inner, err := nl.ParseRouteAttr(a.Value)
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
