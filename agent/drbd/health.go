package drbd

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Healthy reports whether the resource is healthy on this node: I/O not
// suspended, every volume UpToDate (or Diskless on an intentional client)
// with quorum, and every peer Connected with each of its volumes
// Established and UpToDate (or Diskless on a client peer). When it is, the
// message summarises that, e.g. "UpToDate, Established to 2 peers"; when it
// is not, the message is the first of Problems.
func (r Resource) Healthy() (bool, string) {
	if problems := r.Problems(); len(problems) > 0 {
		return false, problems[0]
	}
	local := "UpToDate"
	switch {
	case len(r.Devices) == 0:
		local = "no volumes"
	case r.allClient():
		local = "diskless client"
	}
	peers := "no peers"
	switch n := len(r.Connections); n {
	case 0:
	case 1:
		peers = "Established to 1 peer"
	default:
		peers = fmt.Sprintf("Established to %d peers", n)
	}
	return true, local + ", " + peers
}

// Problems lists everything that keeps the resource from being healthy, in
// the order a person should look at them: causes before the effects they
// explain. That order is suspended I/O; connections that are not Connected
// ("peer node-b StandAlone"); volumes of connected peers that are not
// Established ("peer node-b volume 0 SyncTarget 42.1% in sync"); local
// disks ("volume 0 disk Inconsistent") and quorum ("volume 0 no quorum");
// then peers' disks ("peer node-b volume 0 peer disk Outdated"). A
// connection that is down hides the states of its volumes, which drbdsetup
// reports as Off and DUnknown. Nil when the resource is healthy.
func (r Resource) Problems() []string {
	var out []string
	if r.Suspended {
		out = append(out, "I/O suspended"+r.suspendReasons())
	}
	for _, c := range r.Connections {
		if c.ConnectionState != ConnConnected {
			out = append(out, fmt.Sprintf("peer %s %s", c.peer(), c.ConnectionState))
		}
	}
	for _, c := range r.Connections {
		if c.ConnectionState != ConnConnected {
			continue
		}
		for _, pd := range c.PeerDevices {
			if pd.ReplicationState != ReplEstablished {
				out = append(out, fmt.Sprintf("peer %s volume %d %s", c.peer(), pd.Volume, pd.replication()))
			}
		}
	}
	for _, d := range r.Devices {
		if !diskOK(d.DiskState, d.Client) {
			out = append(out, fmt.Sprintf("volume %d disk %s", d.Volume, d.DiskState))
		}
		if !d.Quorum {
			out = append(out, fmt.Sprintf("volume %d no quorum", d.Volume))
		}
	}
	for _, c := range r.Connections {
		if c.ConnectionState != ConnConnected {
			continue
		}
		for _, pd := range c.PeerDevices {
			if !diskOK(pd.PeerDiskState, pd.PeerClient) {
				out = append(out, fmt.Sprintf("peer %s volume %d peer disk %s", c.peer(), pd.Volume, pd.PeerDiskState))
			}
		}
	}
	return out
}

// diskOK says whether a disk state is what a healthy volume has: UpToDate,
// or Diskless for an intentional client.
func diskOK(s DiskState, client bool) bool {
	if client {
		return s == DiskDiskless
	}
	return s == DiskUpToDate
}

func (r Resource) allClient() bool {
	for _, d := range r.Devices {
		if !d.Client {
			return false
		}
	}
	return true
}

func (r Resource) suspendReasons() string {
	var why []string
	for _, s := range []struct {
		on   bool
		name string
	}{
		{r.SuspendedUser, "user"},
		{r.SuspendedNoData, "no data"},
		{r.SuspendedFencing, "fencing"},
		{r.SuspendedQuorum, "quorum"},
	} {
		if s.on {
			why = append(why, s.name)
		}
	}
	if len(why) == 0 {
		return ""
	}
	return " (" + strings.Join(why, ", ") + ")"
}

// peer names the peer of a connection: its name, or its node id when the
// connection has no name.
func (c Connection) peer() string {
	if c.Name != "" {
		return c.Name
	}
	return "node-id " + strconv.Itoa(c.PeerNodeID)
}

// replication describes a replication state that is not Established: the
// state, how much is in sync while data is out of sync, and why a paused
// resync is paused.
func (pd PeerDevice) replication() string {
	s := string(pd.ReplicationState)
	if pd.PercentInSync != nil && (pd.ReplicationState.Resyncing() ||
		pd.ReplicationState == ReplAhead || pd.ReplicationState == ReplBehind) {
		s += " " + percent(*pd.PercentInSync) + " in sync"
	}
	if pd.ResyncSuspended != "" && pd.ResyncSuspended != "no" {
		s += " (resync suspended: " + pd.ResyncSuspended + ")"
	}
	return s
}

// percent formats p with one decimal, rounded down so that 99.99 % in sync
// never reads as 100.0 %.
func percent(p float64) string {
	const eps = 1e-9 // 42.1 is 42.09999…; do not floor it to 42.0
	return strconv.FormatFloat(math.Floor(p*10+eps)/10, 'f', 1, 64) + "%"
}
