package linux

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// bondLink is a bond link as rtnetlink lists it.
func bondLink(name string, index int, mode netlink.BondMode, lowerUp bool) *netlink.Bond {
	b := netlink.NewLinkBond(netlink.LinkAttrs{Name: name, Index: index})
	b.Mode = mode
	if lowerUp {
		b.RawFlags |= unix.IFF_LOWER_UP
	}
	return b
}

// slaveLink is a bond's slave as rtnetlink lists it.
func slaveLink(name string, index, master int, info *netlink.BondSlave) netlink.Link {
	return &netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index, MasterIndex: master, Slave: info}}
}

func TestObserveActiveBackup(t *testing.T) {
	bond := bondLink("bond0", 3, netlink.BOND_MODE_ACTIVE_BACKUP, true)
	bond.ActiveSlave = 5
	links := []netlink.Link{
		slaveLink("eth0", 4, 3, &netlink.BondSlave{MiiStatus: netlink.BondLinkDown, LinkFailureCount: 2}),
		slaveLink("eth1", 5, 3, &netlink.BondSlave{MiiStatus: netlink.BondLinkUp}),
		bond,
	}
	speeds := map[string]int32{"eth0": 1000, "eth1": 25000}
	got := observe([]v1.Bond{{Name: "bond0", Mode: v1.BondActiveBackup, Slaves: []string{"eth0", "eth1"}, Options: map[string]string{"miimon": "100"}}},
		links, func(s string) int32 { return speeds[s] })
	assert.Equal(t, []v1.ObservedBond{{
		Name: "bond0", Mode: v1.BondActiveBackup, MIIStatus: v1.LinkUp, ActiveSlave: "eth1", Options: map[string]string{"miimon": "100"},
		Slaves: []v1.ObservedSlave{
			{Name: "eth0", MIIStatus: v1.LinkDown, LinkFailures: 2}, // a down link's speed is not reported
			{Name: "eth1", MIIStatus: v1.LinkUp, SpeedMbps: 25000},
		},
	}}, got)
}

func TestObserve8023AD(t *testing.T) {
	partner := net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	tests := []struct {
		name   string
		slaves []*netlink.BondSlave
		ad     *netlink.BondAdInfo
		want   v1.LACPStatus
	}{
		{name: "negotiated", slaves: []*netlink.BondSlave{
			{MiiStatus: netlink.BondLinkUp, AggregatorId: 1, AdActorOperPortState: 0x3d, AdPartnerOperPortState: 0x3d},
			{MiiStatus: netlink.BondLinkUp, AggregatorId: 1, AdActorOperPortState: 0x3d, AdPartnerOperPortState: 0x3d},
		}, ad: &netlink.BondAdInfo{AggregatorId: 1, PartnerMac: partner},
			want: v1.LACPStatus{PartnerMAC: partner.String(), OneAggregator: true, Negotiated: true}},
		{name: "no partner speaks LACP: the zero MAC is none", slaves: []*netlink.BondSlave{
			{MiiStatus: netlink.BondLinkUp, AggregatorId: 1, AdActorOperPortState: 0x45},
			{MiiStatus: netlink.BondLinkUp, AggregatorId: 2, AdActorOperPortState: 0x45},
		}, ad: &netlink.BondAdInfo{AggregatorId: 1, PartnerMac: make(net.HardwareAddr, 6)},
			want: v1.LACPStatus{Message: "slave eth0: partner port state 0x00 is not in sync, collecting and distributing (a partner that does not speak LACP shows 0x00)"}},
		{name: "partner in sync on two aggregators", slaves: []*netlink.BondSlave{
			{MiiStatus: netlink.BondLinkUp, AggregatorId: 1, AdPartnerOperPortState: 0x3d},
			{MiiStatus: netlink.BondLinkFail, AggregatorId: 2, AdPartnerOperPortState: 0x3d},
		}, want: v1.LACPStatus{Message: "slaves are in 2 aggregators map[eth0:1 eth1:2], not one"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bond := bondLink("bond0", 3, netlink.BOND_MODE_802_3AD, true)
			bond.AdInfo = tt.ad
			bond.ActiveSlave = 4 // not reported outside active-backup
			links := []netlink.Link{bond, slaveLink("eth0", 4, 3, tt.slaves[0]), slaveLink("eth1", 5, 3, tt.slaves[1]),
				slaveLink("eth9", 9, 8, &netlink.BondSlave{AggregatorId: 7})} // another bond's
			got := observe([]v1.Bond{{Name: "bond0", Mode: v1.Bond8023AD, Slaves: []string{"eth0", "eth1"}}}, links, func(string) int32 { return 10000 })
			require.Len(t, got, 1)
			require.NotNil(t, got[0].LACP)
			assert.Equal(t, tt.want, *got[0].LACP)
			assert.Empty(t, got[0].ActiveSlave)
			for i, s := range got[0].Slaves {
				assert.Equal(t, int32(tt.slaves[i].AggregatorId), s.AggregatorID)
				assert.Equal(t, int32(tt.slaves[i].AdActorOperPortState), s.ActorPortState)
				assert.Equal(t, int32(tt.slaves[i].AdPartnerOperPortState), s.PartnerPortState)
			}
		})
	}
}

// A bond gone between the two reads is left out; a slave without bond
// slave info (or gone) has no link state, and is never reported up.
func TestObserveWhatIsThere(t *testing.T) {
	bond := bondLink("bond1", 3, netlink.BOND_MODE_BALANCE_XOR, false)
	links := []netlink.Link{bond, slaveLink("eth0", 4, 3, nil)}
	got := observe([]v1.Bond{{Name: "bond0", Mode: v1.BondActiveBackup}, {Name: "bond1", Mode: v1.BondBalanceXOR, Slaves: []string{"eth0", "eth1"}}},
		links, func(string) int32 { return 1000 })
	assert.Equal(t, []v1.ObservedBond{{Name: "bond1", Mode: v1.BondBalanceXOR, MIIStatus: v1.LinkDown,
		Slaves: []v1.ObservedSlave{{Name: "eth0"}, {Name: "eth1"}}}}, got)
	assert.Equal(t, v1.LinkGoingBack, miiStatus(netlink.BondLinkBack))
	assert.Equal(t, v1.LinkState(""), miiStatus(9))
}

func TestSysfsSpeed(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"eth0": "10000\n", "eth1": "-1\n", "eth2": "fast\n"} {
		require.NoError(t, os.MkdirAll(filepath.Join(dir, name), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name, "speed"), []byte(content), 0o644))
	}
	speed := sysfsSpeed(dir)
	assert.Equal(t, int32(10000), speed("eth0"))
	assert.Zero(t, speed("eth1"), "a link that is down reports -1")
	assert.Zero(t, speed("eth2"))
	assert.Zero(t, speed("eth3"), "no such interface")
	assert.Zero(t, speed("../eth0"), "never a path")
	assert.Zero(t, speed(".."))
}
