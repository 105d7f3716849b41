package drbd

// The JSON tags below are drbdsetup's own key names, so that json.Marshal of
// a parsed Resource is again input Parse accepts (the fuzz test relies on
// it). Fields drbdsetup prints only in some versions or states are
// omitempty; the fields Parse requires are not.

// Resource is one DRBD resource as `drbdsetup status --json` reports it on
// this node.
type Resource struct {
	// Name is the resource name (required).
	Name string `json:"name"`
	// NodeID is this node's id in the resource; drbdsetup prints -1 when the
	// kernel did not report one.
	NodeID int `json:"node-id"`
	// Role is this node's role in the resource.
	Role Role `json:"role"`
	// Suspended is true while I/O on the resource is frozen for any reason;
	// the Suspended* fields below give the reasons (drbd-utils 9.21 and
	// later only).
	Suspended bool `json:"suspended"`
	// SuspendedUser is set by `drbdadm suspend-io`.
	SuspendedUser bool `json:"suspended-user,omitempty"`
	// SuspendedNoData is set when no node has UpToDate data and the
	// resource is configured to suspend I/O then.
	SuspendedNoData bool `json:"suspended-no-data,omitempty"`
	// SuspendedFencing is set while a fence-peer handler runs.
	SuspendedFencing bool `json:"suspended-fencing,omitempty"`
	// SuspendedQuorum is set when quorum is lost and the resource is
	// configured to suspend I/O then.
	SuspendedQuorum bool `json:"suspended-quorum,omitempty"`
	// ForceIOFailures is set while DRBD fails all I/O on purpose
	// (drbd-utils 9.21 and later).
	ForceIOFailures bool `json:"force-io-failures,omitempty"`
	// WriteOrdering is the write-ordering method: none, drain, flush or
	// barrier.
	WriteOrdering string `json:"write-ordering,omitempty"`
	// Devices are the resource's volumes on this node.
	Devices []Device `json:"devices"`
	// Connections are this node's connections to the resource's peers.
	Connections []Connection `json:"connections"`
}

// Device is one volume of a resource on this node.
type Device struct {
	// Volume is the volume number within the resource (required).
	Volume int `json:"volume"`
	// Minor is the minor number of /dev/drbdN.
	Minor int `json:"minor"`
	// DiskState is the local disk's state (required).
	DiskState DiskState `json:"disk-state"`
	// Client is true for an intentionally diskless volume (a DRBD client),
	// whose DiskState is Diskless by design.
	Client bool `json:"client"`
	// Open is true while the device is held open (drbd-utils 9.29 and
	// later).
	Open bool `json:"open,omitempty"`
	// Quorum is true while the volume has quorum. drbdsetup prints true
	// when quorum is not configured.
	Quorum bool `json:"quorum"`
	// SizeKiB is the volume's size; it and the counters below are missing
	// when the kernel reports no statistics.
	SizeKiB uint64 `json:"size,omitempty"`
	// ReadKiB is the data read from the local disk.
	ReadKiB uint64 `json:"read,omitempty"`
	// WrittenKiB is the data written to the local disk.
	WrittenKiB uint64 `json:"written,omitempty"`
	// ALWrites counts activity log updates.
	ALWrites uint64 `json:"al-writes,omitempty"`
	// BMWrites counts bitmap updates.
	BMWrites uint64 `json:"bm-writes,omitempty"`
	// UpperPending counts requests from above not yet completed.
	UpperPending uint32 `json:"upper-pending,omitempty"`
	// LowerPending counts requests to the local disk not yet completed.
	LowerPending uint32 `json:"lower-pending,omitempty"`
}

// Connection is this node's connection to one peer of a resource.
type Connection struct {
	// PeerNodeID is the peer's node id (required).
	PeerNodeID int `json:"peer-node-id"`
	// Name is the connection's name, normally the peer's host name.
	Name string `json:"name"`
	// ConnectionState is the connection's state (required).
	ConnectionState ConnectionState `json:"connection-state"`
	// Congested is true while the send buffer is congested.
	Congested bool `json:"congested"`
	// PeerRole is the peer's role in the resource.
	PeerRole Role `json:"peer-role"`
	// TLS is true when the connection is configured for TLS (drbd-utils
	// 9.28 and later).
	TLS bool `json:"tls,omitempty"`
	// APInFlight is application data in flight, printed as the kernel
	// counts it (drbdsetup does not convert it to KiB as it does the
	// other counters); missing on kernels that do not report it.
	APInFlight uint64 `json:"ap-in-flight,omitempty"`
	// RSInFlight is resync data in flight; missing on kernels that do not
	// report it.
	RSInFlight uint64 `json:"rs-in-flight,omitempty"`
	// Paths are the network paths to the peer (drbd-utils 9.26 and later,
	// and only when the kernel supports listing them).
	Paths []Path `json:"paths,omitempty"`
	// PeerDevices are the peer's volumes as seen over this connection.
	PeerDevices []PeerDevice `json:"peer_devices"`
}

// Path is one network path of a connection.
type Path struct {
	// ThisHost is the local end.
	ThisHost Endpoint `json:"this_host"`
	// RemoteHost is the peer's end.
	RemoteHost Endpoint `json:"remote_host"`
	// Established is true while this path carries the connection.
	Established bool `json:"established"`
}

// Endpoint is one end of a Path. Address and Port are missing for address
// families drbdsetup does not print.
type Endpoint struct {
	// Address is the IP address.
	Address string `json:"address,omitempty"`
	// Port is the TCP port.
	Port uint16 `json:"port,omitempty"`
	// Family is the address family, e.g. ipv4 or ipv6.
	Family string `json:"family,omitempty"`
}

// PeerDevice is one volume of a peer as seen over a connection.
type PeerDevice struct {
	// Volume is the volume number within the resource (required).
	Volume int `json:"volume"`
	// ReplicationState is the replication state towards the peer for this
	// volume (required).
	ReplicationState ReplicationState `json:"replication-state"`
	// PeerDiskState is the peer's disk state (required).
	PeerDiskState DiskState `json:"peer-disk-state"`
	// PeerClient is true when the peer's volume is intentionally diskless.
	PeerClient bool `json:"peer-client"`
	// ResyncSuspended says why a resync is paused: "no", or a
	// comma-separated list of user, peer, dependency, max-parallel.
	ResyncSuspended string `json:"resync-suspended,omitempty"`
	// ReceivedKiB is the data received from the peer.
	ReceivedKiB uint64 `json:"received,omitempty"`
	// SentKiB is the data sent to the peer.
	SentKiB uint64 `json:"sent,omitempty"`
	// OutOfSyncKiB is the data known to differ between this node and the
	// peer.
	OutOfSyncKiB uint64 `json:"out-of-sync"`
	// Pending counts requests sent to the peer and not yet answered.
	Pending uint32 `json:"pending,omitempty"`
	// Unacked counts requests received from the peer and not yet
	// acknowledged.
	Unacked uint32 `json:"unacked,omitempty"`
	// HasSyncDetails is true while a resync or online verify runs with
	// the kernel's progress counters.
	HasSyncDetails bool `json:"has-sync-details,omitempty"`
	// HasOnlineVerifyDetails is true while an online verify runs.
	HasOnlineVerifyDetails bool `json:"has-online-verify-details,omitempty"`
	// PercentInSync is 100·(1 − out-of-sync/size), 0 for a volume of size
	// 0; nil on drbd-utils older than 9.4. It can fall outside 0–100 when
	// the kernel's counters disagree.
	PercentInSync *float64 `json:"percent-in-sync,omitempty"`
	// PercentResyncDone is the progress of the running resync; nil when
	// none runs.
	PercentResyncDone *float64 `json:"percent-resync-done,omitempty"`
}

// Role is a node's role in a resource (drbd-headers drbd_strings.c).
type Role string

// Roles.
const (
	RoleUnknown   Role = "Unknown"
	RolePrimary   Role = "Primary"
	RoleSecondary Role = "Secondary"
)

// DiskState is a local or peer disk state (drbd-headers drbd_strings.c).
// drbdsetup prints "?" for a state it has no name for.
type DiskState string

// Disk states, from no disk to good data.
const (
	DiskDiskless     DiskState = "Diskless"
	DiskAttaching    DiskState = "Attaching"
	DiskDetaching    DiskState = "Detaching"
	DiskFailed       DiskState = "Failed"
	DiskNegotiating  DiskState = "Negotiating"
	DiskInconsistent DiskState = "Inconsistent"
	DiskOutdated     DiskState = "Outdated"
	DiskDUnknown     DiskState = "DUnknown"
	DiskConsistent   DiskState = "Consistent"
	DiskUpToDate     DiskState = "UpToDate"
)

// ConnectionState is the state of a connection to a peer (drbd-headers
// drbd_strings.c). Only Connected carries replication.
type ConnectionState string

// Connection states.
const (
	ConnStandAlone     ConnectionState = "StandAlone"
	ConnDisconnecting  ConnectionState = "Disconnecting"
	ConnUnconnected    ConnectionState = "Unconnected"
	ConnTimeout        ConnectionState = "Timeout"
	ConnBrokenPipe     ConnectionState = "BrokenPipe"
	ConnNetworkFailure ConnectionState = "NetworkFailure"
	ConnProtocolError  ConnectionState = "ProtocolError"
	ConnTearDown       ConnectionState = "TearDown"
	ConnConnecting     ConnectionState = "Connecting"
	ConnConnected      ConnectionState = "Connected"
)

// ReplicationState is the replication state of one volume towards one peer
// (drbd-headers drbd_strings.c). Established is normal operation; it is a
// per-volume state, not a connection state.
type ReplicationState string

// Replication states.
const (
	ReplOff           ReplicationState = "Off"
	ReplEstablished   ReplicationState = "Established"
	ReplStartingSyncS ReplicationState = "StartingSyncS"
	ReplStartingSyncT ReplicationState = "StartingSyncT"
	ReplWFBitMapS     ReplicationState = "WFBitMapS"
	ReplWFBitMapT     ReplicationState = "WFBitMapT"
	ReplWFSyncUUID    ReplicationState = "WFSyncUUID"
	ReplSyncSource    ReplicationState = "SyncSource"
	ReplSyncTarget    ReplicationState = "SyncTarget"
	ReplVerifyS       ReplicationState = "VerifyS"
	ReplVerifyT       ReplicationState = "VerifyT"
	ReplPausedSyncS   ReplicationState = "PausedSyncS"
	ReplPausedSyncT   ReplicationState = "PausedSyncT"
	ReplAhead         ReplicationState = "Ahead"
	ReplBehind        ReplicationState = "Behind"
)

// Resyncing reports whether the state is a running or paused resync, in
// which data is out of sync and percent-in-sync says how much.
func (s ReplicationState) Resyncing() bool {
	switch s {
	case ReplSyncSource, ReplSyncTarget, ReplPausedSyncS, ReplPausedSyncT:
		return true
	}
	return false
}
