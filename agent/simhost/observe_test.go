package simhost_test

import (
	"context"
	"errors"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/agent/drbd"
	"github.com/nodewright/nodewright/agent/simhost"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestObservedBondsFollowTheMode(t *testing.T) {
	ctx := context.Background()
	h := simhost.New(v1.Bond{Name: "bond0", Mode: v1.BondActiveBackup, Slaves: []string{"eth0", "eth1"}, Options: map[string]string{"miimon": "100"}})
	bonds, err := h.ObservedBonds(ctx)
	require.NoError(t, err)
	require.Len(t, bonds, 1)
	b := bonds[0]
	assert.Equal(t, v1.LinkUp, b.MIIStatus)
	assert.Equal(t, "eth0", b.ActiveSlave)
	assert.Nil(t, b.LACP)
	assert.Equal(t, []string{"eth0", "eth1"}, b.SlaveNames())
	assert.Equal(t, 2, b.SlavesUp())
	assert.Equal(t, map[string]string{"miimon": "100"}, b.Options)
	for _, s := range b.Slaves {
		assert.Equal(t, int32(simhost.SimulatedSpeedMbps), s.SpeedMbps)
		assert.Zero(t, s.AggregatorID, "no aggregator outside 802.3ad")
	}

	require.NoError(t, h.SetBondMode(ctx, "bond0", v1.Bond8023AD))
	bonds, err = h.ObservedBonds(ctx)
	require.NoError(t, err)
	b = bonds[0]
	assert.Empty(t, b.ActiveSlave)
	require.NotNil(t, b.LACP)
	assert.True(t, b.LACP.OneAggregator)
	assert.True(t, b.LACP.Negotiated)
	mac, err := net.ParseMAC(b.LACP.PartnerMAC)
	require.NoError(t, err)
	assert.Equal(t, byte(0x02), mac[0]&0x03, "a locally administered unicast MAC")
	assert.Equal(t, simhost.PartnerMAC("bond0"), b.LACP.PartnerMAC, "stable")
	assert.NotEqual(t, simhost.PartnerMAC("bond1"), b.LACP.PartnerMAC)
	for _, s := range b.Slaves {
		assert.Equal(t, int32(1), s.AggregatorID)
		assert.Equal(t, int32(0x3d), s.ActorPortState)
		assert.Equal(t, int32(0x3d), s.PartnerPortState)
	}

	bonds[0].Slaves[0].Name = "changed"
	again, err := h.ObservedBonds(ctx)
	require.NoError(t, err)
	assert.Equal(t, "eth0", again[0].Slaves[0].Name, "a copy")
}

func TestSimulatedDRBD(t *testing.T) {
	ctx := context.Background()
	h := simhost.New()
	_, err := h.DRBD(ctx)
	assert.ErrorIs(t, err, drbd.ErrNotInstalled, "no DRBD unless given")

	syncing := simhost.SyncTargetResource("pvc-1", 40, "node-b")
	h.SetDRBD([]drbd.Resource{syncing})
	got, err := h.DRBD(ctx)
	require.NoError(t, err)
	require.Len(t, got, 1)
	ok, why := got[0].Healthy()
	assert.False(t, ok)
	assert.Equal(t, "peer node-b volume 0 SyncTarget 40.0% in sync", why)

	*got[0].Connections[0].PeerDevices[0].PercentInSync = 99
	*syncing.Connections[0].PeerDevices[0].PercentInSync = 98
	again, err := h.DRBD(ctx)
	require.NoError(t, err)
	assert.Equal(t, 40.0, *again[0].Connections[0].PeerDevices[0].PercentInSync, "neither the caller's resource nor the returned one is the host's")

	boom := errors.New("drbdsetup: exit status 20")
	h.FailDRBD(boom)
	_, err = h.DRBD(ctx)
	assert.ErrorIs(t, err, boom)
	h.SetDRBD([]drbd.Resource{})
	got, err = h.DRBD(ctx)
	require.NoError(t, err, "SetDRBD clears the fault")
	assert.Empty(t, got, "installed, no resources")
	h.SetDRBD(nil)
	_, err = h.DRBD(ctx)
	assert.ErrorIs(t, err, drbd.ErrNotInstalled)

	healthy := simhost.UpToDateResource("pvc-2", "node-b", "node-c")
	ok, why = healthy.Healthy()
	assert.True(t, ok, why)
	assert.Equal(t, "UpToDate, Established to 2 peers", why)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = h.DRBD(cctx)
	assert.ErrorIs(t, err, context.Canceled)
}
