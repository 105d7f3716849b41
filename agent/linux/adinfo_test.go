package linux

import (
	"encoding/binary"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// linkMessage is an RTM_NEWLINK payload whose IFLA_LINKINFO holds
// IFLA_INFO_KIND bond and, when ad is not nil, IFLA_INFO_DATA with
// IFLA_BOND_AD_INFO made of ad's attributes.
func linkMessage(ad []*nl.RtAttr) []byte {
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC).Serialize()
	msg = append(msg, nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated("bond0")).Serialize()...)
	info := nl.NewRtAttr(unix.IFLA_LINKINFO|unix.NLA_F_NESTED, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("bond"))
	if ad != nil {
		data := info.AddRtAttr(nl.IFLA_INFO_DATA|unix.NLA_F_NESTED, nil)
		data.AddRtAttr(nl.IFLA_BOND_MODE, []byte{4})
		adInfo := data.AddRtAttr(nl.IFLA_BOND_AD_INFO|unix.NLA_F_NESTED, nil)
		for _, a := range ad {
			adInfo.AddChild(a)
		}
	}
	return append(msg, info.Serialize()...)
}

func u16(v uint16) []byte { return binary.NativeEndian.AppendUint16(nil, v) }

func TestParseADInfo(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0, 0x2a}
	got, err := parseADInfo(linkMessage([]*nl.RtAttr{
		nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_AGGREGATOR, u16(3)),
		nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_NUM_PORTS, u16(2)),
		nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_ACTOR_KEY, u16(9)),
		nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_PARTNER_KEY, u16(15)),
		nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_PARTNER_MAC, mac),
	}))
	require.NoError(t, err)
	assert.Equal(t, &netlink.BondAdInfo{AggregatorId: 3, NumPorts: 2, ActorKey: 9, PartnerKey: 15, PartnerMac: mac}, got)

	_, err = parseADInfo(linkMessage(nil))
	assert.True(t, errors.Is(err, errNoADInfo), "a bond outside 802.3ad has none: %v", err)

	for name, msg := range map[string][]byte{
		"short header":          make([]byte, 4),
		"short partner MAC":     linkMessage([]*nl.RtAttr{nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_PARTNER_MAC, []byte{1, 2, 3})}),
		"aggregator of 4 bytes": linkMessage([]*nl.RtAttr{nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_AGGREGATOR, []byte{1, 2, 3, 4})}),
		"truncated attributes":  linkMessage([]*nl.RtAttr{nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_AGGREGATOR, u16(1))})[:unix.SizeofIfInfomsg+6],
	} {
		_, err := parseADInfo(msg)
		assert.Error(t, err, name)
		assert.False(t, errors.Is(err, errNoADInfo), "%s is malformed, not absent: %v", name, err)
	}
}

func TestRouteAttrs(t *testing.T) {
	// The last attribute may end without its padding (nl.ParseRouteAttr
	// panics on this one); the one before it is padded.
	b := append(nl.NewRtAttr(1, []byte{7}).Serialize(), nl.NewRtAttr(2, []byte("bond0\x00")).Serialize()[:10]...)
	attrs, err := routeAttrs(b)
	require.NoError(t, err)
	require.Len(t, attrs, 2)
	assert.Equal(t, []byte{7}, attrs[0].Value)
	assert.Equal(t, []byte("bond0\x00"), attrs[1].Value)

	for name, b := range map[string][]byte{
		"length below the header": {3, 0, 1, 0},
		"length past the end":     {12, 0, 1, 0, 'a', 'b'},
		"trailing bytes":          append(nl.NewRtAttr(1, []byte{7}).Serialize(), 0, 0),
	} {
		_, err := routeAttrs(b)
		assert.Error(t, err, name)
	}
}

func FuzzParseADInfo(f *testing.F) {
	f.Add(linkMessage([]*nl.RtAttr{
		nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_AGGREGATOR, u16(1)),
		nl.NewRtAttr(nl.IFLA_BOND_AD_INFO_PARTNER_MAC, []byte{2, 0, 0, 0, 0, 1}),
	}))
	f.Add(linkMessage(nil))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		info, err := parseADInfo(msg)
		if err == nil && info.PartnerMac != nil && len(info.PartnerMac) != 6 {
			t.Fatalf("partner MAC of %d bytes accepted", len(info.PartnerMac))
		}
	})
}
