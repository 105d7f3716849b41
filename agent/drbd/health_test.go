package drbd_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nodewright/nodewright/agent/drbd"
)

func pct(p float64) *float64 { return &p }

// healthy is a resource with two volumes and two peers, all in sync.
func healthy() drbd.Resource {
	peer := func(id int, name string) drbd.Connection {
		c := drbd.Connection{PeerNodeID: id, Name: name, ConnectionState: drbd.ConnConnected, PeerRole: drbd.RoleSecondary}
		for v := range 2 {
			c.PeerDevices = append(c.PeerDevices, drbd.PeerDevice{
				Volume: v, ReplicationState: drbd.ReplEstablished, PeerDiskState: drbd.DiskUpToDate,
				ResyncSuspended: "no", PercentInSync: pct(100),
			})
		}
		return c
	}
	return drbd.Resource{
		Name: "r0", Role: drbd.RolePrimary,
		Devices: []drbd.Device{
			{Volume: 0, DiskState: drbd.DiskUpToDate, Quorum: true},
			{Volume: 1, DiskState: drbd.DiskUpToDate, Quorum: true},
		},
		Connections: []drbd.Connection{peer(1, "node-b"), peer(2, "node-c")},
	}
}

func TestHealthy(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(r *drbd.Resource)
		ok     bool
		want   string
	}{
		{"all in sync", func(*drbd.Resource) {}, true, "UpToDate, Established to 2 peers"},
		{"one peer", func(r *drbd.Resource) { r.Connections = r.Connections[:1] }, true, "UpToDate, Established to 1 peer"},
		{"no peers", func(r *drbd.Resource) { r.Connections = nil }, true, "UpToDate, no peers"},
		{"no volumes", func(r *drbd.Resource) { r.Devices, r.Connections = nil, nil }, true, "no volumes, no peers"},
		{"diskless client", func(r *drbd.Resource) {
			for i := range r.Devices {
				r.Devices[i].DiskState, r.Devices[i].Client = drbd.DiskDiskless, true
			}
		}, true, "diskless client, Established to 2 peers"},
		{"client peer", func(r *drbd.Resource) {
			pd := &r.Connections[1].PeerDevices[0]
			pd.PeerDiskState, pd.PeerClient = drbd.DiskDiskless, true
		}, true, "UpToDate, Established to 2 peers"},
		{"resync paused on an established volume is no problem", func(r *drbd.Resource) {
			r.Connections[0].PeerDevices[0].ResyncSuspended = "user"
		}, true, "UpToDate, Established to 2 peers"},

		{"suspended", func(r *drbd.Resource) { r.Suspended = true }, false, "I/O suspended"},
		{"suspended for quorum and by the user", func(r *drbd.Resource) {
			r.Suspended, r.SuspendedQuorum, r.SuspendedUser = true, true, true
		}, false, "I/O suspended (user, quorum)"},
		{"local disk inconsistent", func(r *drbd.Resource) { r.Devices[0].DiskState = drbd.DiskInconsistent }, false, "volume 0 disk Inconsistent"},
		{"local disk detached", func(r *drbd.Resource) { r.Devices[1].DiskState = drbd.DiskDiskless }, false, "volume 1 disk Diskless"},
		{"client not diskless", func(r *drbd.Resource) { r.Devices[0].Client = true }, false, "volume 0 disk UpToDate"},
		{"unknown state name", func(r *drbd.Resource) { r.Devices[0].DiskState = "?" }, false, "volume 0 disk ?"},
		{"no quorum", func(r *drbd.Resource) { r.Devices[1].Quorum = false }, false, "volume 1 no quorum"},
		{"standalone", func(r *drbd.Resource) { r.Connections[0].ConnectionState = drbd.ConnStandAlone }, false, "peer node-b StandAlone"},
		{"unnamed peer connecting", func(r *drbd.Resource) {
			r.Connections[1].Name, r.Connections[1].ConnectionState = "", drbd.ConnConnecting
		}, false, "peer node-id 2 Connecting"},
		{"sync target", func(r *drbd.Resource) {
			pd := &r.Connections[0].PeerDevices[0]
			pd.ReplicationState, pd.PercentInSync = drbd.ReplSyncTarget, pct(42.13)
		}, false, "peer node-b volume 0 SyncTarget 42.1% in sync"},
		{"sync source nearly done", func(r *drbd.Resource) {
			pd := &r.Connections[1].PeerDevices[1]
			pd.ReplicationState, pd.PeerDiskState, pd.PercentInSync = drbd.ReplSyncSource, drbd.DiskInconsistent, pct(99.999)
		}, false, "peer node-c volume 1 SyncSource 99.9% in sync"},
		{"sync without percent (drbd-utils before 9.4)", func(r *drbd.Resource) {
			pd := &r.Connections[0].PeerDevices[0]
			pd.ReplicationState, pd.PercentInSync = drbd.ReplSyncTarget, nil
		}, false, "peer node-b volume 0 SyncTarget"},
		{"paused sync says why", func(r *drbd.Resource) {
			pd := &r.Connections[0].PeerDevices[1]
			pd.ReplicationState, pd.PercentInSync, pd.ResyncSuspended = drbd.ReplPausedSyncT, pct(10), "user,peer"
		}, false, "peer node-b volume 1 PausedSyncT 10.0% in sync (resync suspended: user,peer)"},
		{"ahead", func(r *drbd.Resource) {
			pd := &r.Connections[0].PeerDevices[0]
			pd.ReplicationState, pd.PercentInSync = drbd.ReplAhead, pct(97.5)
		}, false, "peer node-b volume 0 Ahead 97.5% in sync"},
		{"waiting for the bitmap shows no percent", func(r *drbd.Resource) {
			r.Connections[0].PeerDevices[0].ReplicationState = drbd.ReplWFBitMapT
		}, false, "peer node-b volume 0 WFBitMapT"},
		{"peer disk outdated", func(r *drbd.Resource) {
			r.Connections[1].PeerDevices[0].PeerDiskState = drbd.DiskOutdated
		}, false, "peer node-c volume 0 peer disk Outdated"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := healthy()
			tc.mutate(&r)
			ok, msg := r.Healthy()
			assert.Equal(t, tc.ok, ok)
			assert.Equal(t, tc.want, msg)
			if tc.ok {
				assert.Nil(t, r.Problems())
			} else {
				assert.Equal(t, tc.want, r.Problems()[0])
			}
		})
	}
}

func TestProblemsPutCausesFirst(t *testing.T) {
	r := healthy()
	r.Devices[0].DiskState = drbd.DiskOutdated
	r.Devices[1].Quorum = false
	r.Connections[1].PeerDevices[0].PeerDiskState = drbd.DiskOutdated
	c := &r.Connections[0]
	c.ConnectionState = drbd.ConnStandAlone
	c.PeerDevices[0].ReplicationState, c.PeerDevices[0].PeerDiskState = drbd.ReplOff, drbd.DiskDUnknown
	r.Connections[1].PeerDevices[1].ReplicationState = drbd.ReplSyncSource
	r.Connections[1].PeerDevices[1].PercentInSync = pct(12)
	r.Suspended, r.SuspendedNoData = true, true

	assert.Equal(t, []string{
		"I/O suspended (no data)",
		"peer node-b StandAlone",
		"peer node-c volume 1 SyncSource 12.0% in sync",
		"volume 0 disk Outdated",
		"volume 1 no quorum",
		"peer node-c volume 0 peer disk Outdated",
	}, r.Problems(), "a StandAlone peer's Off/DUnknown volumes are not listed")
}

func TestReplicationStateResyncing(t *testing.T) {
	for _, s := range []drbd.ReplicationState{drbd.ReplSyncSource, drbd.ReplSyncTarget, drbd.ReplPausedSyncS, drbd.ReplPausedSyncT} {
		assert.True(t, s.Resyncing(), s)
	}
	for _, s := range []drbd.ReplicationState{drbd.ReplOff, drbd.ReplEstablished, drbd.ReplStartingSyncT, drbd.ReplWFBitMapT,
		drbd.ReplWFSyncUUID, drbd.ReplVerifyS, drbd.ReplAhead, drbd.ReplBehind, "?"} {
		assert.False(t, s.Resyncing(), s)
	}
}

func TestPercentRoundsDown(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0.0%", 42.1: "42.1%", 42.13: "42.1%", 42.19: "42.1%", 50: "50.0%",
		99.99: "99.9%", 100: "100.0%", -3.25: "-3.3%",
	} {
		r := healthy()
		pd := &r.Connections[0].PeerDevices[0]
		pd.ReplicationState, pd.PercentInSync = drbd.ReplSyncTarget, pct(in)
		_, msg := r.Healthy()
		assert.Equal(t, "peer node-b volume 0 SyncTarget "+want+" in sync", msg, in)
	}
}
