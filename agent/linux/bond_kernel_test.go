//go:build kerneltest

package linux_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/agent/linux"
	"github.com/nodewright/nodewright/internal/kernelvm"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// site is a kernelvm.Site with the Host of its node namespace.
type site struct {
	*kernelvm.Site
	host *linux.Host
}

// lacpTimeout bounds the wait for LACP in these tests: at the fast rate
// over veth it negotiates in about 3 s.
const lacpTimeout = 8 * time.Second

func newSite(t *testing.T, partner netlink.BondMode) *site {
	t.Helper()
	s := &site{Site: kernelvm.NewSite(t, partner)}
	var err error
	s.host, err = linux.New(linux.Options{Namespace: s.Node, LACPTimeout: lacpTimeout})
	require.NoError(t, err)
	t.Cleanup(s.host.Close)
	return s
}

// TestFlipToLACPCommits flips bond0 from active-backup to 802.3ad against
// a partner that speaks LACP: the change commits, LACP negotiates, and the
// IPv6 address and default route the kernel dropped on the way are back.
func TestFlipToLACPCommits(t *testing.T) {
	s := newSite(t, netlink.BOND_MODE_802_3AD)
	ctx := context.Background()
	pre, err := s.host.Capture("bond0")
	require.NoError(t, err)
	require.Equal(t, v1.BondActiveBackup, pre.Mode)
	require.Equal(t, []string{"eth0", "eth1"}, pre.Slaves)
	require.NoError(t, s.host.Probe(ctx, action.Probe{Kind: action.ProbeGateway, Target: s.Gateway.String()}), "the gateway answers before")

	obs, err := s.host.ObservedBonds(ctx)
	require.NoError(t, err)
	require.Len(t, obs, 1)
	assert.Equal(t, "eth0", obs[0].ActiveSlave, "the first slave is active in active-backup")
	assert.Nil(t, obs[0].LACP, "no LACP outside 802.3ad")

	start := time.Now()
	require.NoError(t, s.host.Change(ctx, "bond0", linux.Change{Mode: v1.Bond8023AD, Options: map[string]string{"lacp_rate": "fast"}}))
	t.Logf("flip with LACP negotiated: %s", time.Since(start))

	after, err := s.host.Capture("bond0")
	require.NoError(t, err)
	assert.Equal(t, v1.Bond8023AD, after.Mode)
	assert.Equal(t, "fast", after.Options["lacp_rate"])
	assert.Equal(t, pre.Slaves, after.Slaves, "slaves back in their order")
	assert.Equal(t, pre.MAC, after.MAC, "the bond kept its MAC")
	assert.True(t, after.Up)
	diff := pre.Differences(after)
	for _, d := range diff {
		assert.NotContains(t, d, "addresses", "addresses are back")
		assert.NotContains(t, d, "routes", "routes are back")
	}
	lacp, err := s.host.LACP("bond0")
	require.NoError(t, err)
	ok, why := lacp.Negotiated()
	assert.True(t, ok, why)
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	assert.NoError(t, s.host.Probe(pctx, action.Probe{Kind: action.ProbeGateway, Target: s.Gateway.String()}), "the gateway answers after")

	bonds, err := s.host.Bonds(ctx)
	require.NoError(t, err)
	require.Len(t, bonds, 1)
	assert.Equal(t, v1.Bond{Name: "bond0", Mode: v1.Bond8023AD, Slaves: []string{"eth0", "eth1"}, Options: bonds[0].Options}, bonds[0])

	// The heartbeat's view: link up, both slaves up in one aggregator,
	// and the partner's MAC (the switch bond's) from IFLA_BOND_AD_INFO.
	sw, err := s.SwitchHandle.LinkByName("sw")
	require.NoError(t, err)
	obs, err = s.host.ObservedBonds(ctx)
	require.NoError(t, err)
	require.Len(t, obs, 1)
	o := obs[0]
	assert.Equal(t, v1.LinkUp, o.MIIStatus)
	require.Len(t, o.Slaves, 2)
	for _, sl := range o.Slaves {
		assert.Equal(t, v1.LinkUp, sl.MIIStatus, sl.Name)
		assert.Equal(t, o.Slaves[0].AggregatorID, sl.AggregatorID, "%s in the same aggregator", sl.Name)
		assert.NotZero(t, sl.PartnerPortState, sl.Name)
	}
	require.NotNil(t, o.LACP)
	assert.True(t, o.LACP.Negotiated, o.LACP.Message)
	assert.True(t, o.LACP.OneAggregator)
	assert.Equal(t, sw.Attrs().HardwareAddr.String(), o.LACP.PartnerMAC, "the partner is the switch's bond")
}

// TestFlipWithoutLACPPartnerIsRestored flips against a partner that never
// speaks LACP: the gateway still answers through one port, but LACP does
// not negotiate, so the change fails and bond0 is back exactly as it was.
func TestFlipWithoutLACPPartnerIsRestored(t *testing.T) {
	s := newSite(t, netlink.BOND_MODE_ACTIVE_BACKUP)
	ctx := context.Background()
	pre, err := s.host.Capture("bond0")
	require.NoError(t, err)
	start := time.Now()
	err = s.host.Change(ctx, "bond0", linux.Change{Mode: v1.Bond8023AD, Options: map[string]string{"lacp_rate": "fast"}})
	require.Error(t, err)
	took := time.Since(start)
	t.Logf("failed flip: LACP given up after %s, bond restored %s later: %v", lacpTimeout, took-lacpTimeout, err)
	assert.Contains(t, err.Error(), "LACP did not negotiate")
	assert.Contains(t, err.Error(), "restored to its state before the change")
	after, err := s.host.Capture("bond0")
	require.NoError(t, err)
	assert.Empty(t, pre.Differences(after), "bond0 is exactly as before")
}

// TestInvalidChangesTouchNothing asks for changes the kernel would refuse
// and a bond that does not exist: each is refused before any request.
func TestInvalidChangesTouchNothing(t *testing.T) {
	s := newSite(t, netlink.BOND_MODE_802_3AD)
	ctx := context.Background()
	pre, err := s.host.Capture("bond0")
	require.NoError(t, err)
	for _, c := range []linux.Change{
		{Mode: v1.BondBalanceRR, Options: map[string]string{"lacp_rate": "fast"}},
		{Mode: v1.Bond8023AD, Options: map[string]string{"primary": "eth1"}},
		{Mode: "lacp"},
		{Mode: v1.BondActiveBackup, Options: map[string]string{"arp_ip_target": "10.0.0.2"}},
	} {
		err := s.host.Change(ctx, "bond0", c)
		require.Error(t, err, "%+v", c)
		after, err2 := s.host.Capture("bond0")
		require.NoError(t, err2)
		assert.Empty(t, pre.Differences(after), "%+v changed bond0: %v", c, err)
	}
	err = s.host.Change(ctx, "bond9", linux.Change{Mode: v1.Bond8023AD})
	assert.True(t, errors.Is(err, linux.ErrNoBond), "%v", err)
}
