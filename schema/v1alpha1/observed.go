package v1alpha1

// What a node's agent observes of its node, as NodewrightAgentStatus
// carries it: the bonds with their link state (ObservedBond) and the
// node's DRBD resources (DRBDStatus). The intent type Bond stays what
// profiles and plans name; these types are reports, never intent.
//
// Every list is bounded (MaxItems), so one node's report cannot grow the
// object without limit. Percentages are integers in thousandths of a
// percent: CRDs refuse floating-point fields, and a fixed-point integer
// compares exactly.

// LinkState is the MII status of a bond or of one of its slaves, as the
// bonding driver reports it.
// +kubebuilder:validation:Enum=up;down;going-down;going-back
type LinkState string

// The link states, as /proc/net/bonding spells them (with a dash for the
// space).
const (
	// LinkUp: the link carries traffic.
	LinkUp LinkState = "up"
	// LinkDown: the link is down (for a slave, for longer than downdelay).
	LinkDown LinkState = "down"
	// LinkGoingDown: a slave's link failed and downdelay has not passed;
	// the bond still counts it up.
	LinkGoingDown LinkState = "going-down"
	// LinkGoingBack: a slave's link came back and updelay has not passed;
	// the bond does not use it yet.
	LinkGoingBack LinkState = "going-back"
)

// LinkStates lists every LinkState.
var LinkStates = []LinkState{LinkUp, LinkDown, LinkGoingDown, LinkGoingBack}

// Bounds of the observed status lists (the MaxItems markers below repeat
// them; a test checks that they agree).
const (
	// MaxObservedBonds is how many bonds an agent reports.
	MaxObservedBonds = 32
	// MaxObservedSlaves is how many slaves of one bond are reported.
	MaxObservedSlaves = 16
	// MaxDRBDResources is how many DRBD resources an agent lists; the
	// counts in DRBDStatus cover every resource, listed or not.
	MaxDRBDResources = 256
	// MaxDRBDVolumes bounds the volumes of one resource and the peer
	// devices of one connection.
	MaxDRBDVolumes = 32
	// MaxDRBDConnections bounds the connections of one resource (DRBD 9
	// has at most 32 nodes per resource).
	MaxDRBDConnections = 32
	// MaxNodeRollups is how many nodes a NodewrightCluster's rollup
	// lists.
	MaxNodeRollups = 512
)

// ObservedBond is a bond as the node's kernel reports it now: what Bond
// names (name, mode, slaves, options) and the state of the bond and of each
// slave.
type ObservedBond struct {
	// Name is the interface name, e.g. bond0.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]{1,15}$`
	Name string `json:"name"`
	// Mode is the bonding mode the bond runs now.
	Mode BondMode `json:"mode"`
	// MIIStatus is the bond's own link state: up while it has a slave
	// that carries traffic (at least min_links of them in 802.3ad).
	// Empty when the host does not report link state.
	// +optional
	MIIStatus LinkState `json:"miiStatus,omitempty"`
	// Slaves are the member interfaces with their state, in the kernel's
	// order (first the one whose address the bond took).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	Slaves []ObservedSlave `json:"slaves,omitempty"`
	// ActiveSlave is the slave that carries the traffic of an
	// active-backup bond; empty in other modes and when none does.
	// +optional
	// +kubebuilder:validation:MaxLength=15
	ActiveSlave string `json:"activeSlave,omitempty"`
	// LACP is the 802.3ad negotiation; nil in other modes.
	// +optional
	LACP *LACPStatus `json:"lacp,omitempty"`
	// Options are further bonding options (miimon, lacp_rate, ...), by
	// their sysfs names, as the kernel reports them.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	Options map[string]string `json:"options,omitempty"`
}

// SlaveNames returns the names of the bond's slaves, in order.
func (b ObservedBond) SlaveNames() []string {
	out := make([]string, len(b.Slaves))
	for i, s := range b.Slaves {
		out[i] = s.Name
	}
	return out
}

// SlavesUp counts the slaves whose MII status is up.
func (b ObservedBond) SlavesUp() int {
	n := 0
	for _, s := range b.Slaves {
		if s.MIIStatus == LinkUp {
			n++
		}
	}
	return n
}

// ObservedSlave is one member interface of a bond and its state.
type ObservedSlave struct {
	// Name is the interface name, e.g. eno1.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]{1,15}$`
	Name string `json:"name"`
	// MIIStatus is the slave's link state as the bonding driver's link
	// monitor sees it; empty when the host does not report it.
	// +optional
	MIIStatus LinkState `json:"miiStatus,omitempty"`
	// SpeedMbps is the link speed in Mb/s; 0 when unknown (the link is
	// down, or the agent cannot read it: see agent/linux).
	// +optional
	// +kubebuilder:validation:Minimum=0
	SpeedMbps int32 `json:"speedMbps,omitempty"`
	// LinkFailures counts the times the bonding driver saw this slave's
	// link fail.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LinkFailures int64 `json:"linkFailures,omitempty"`
	// AggregatorID is the 802.3ad aggregator the slave is in; 0 outside
	// 802.3ad.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	AggregatorID int32 `json:"aggregatorID,omitempty"`
	// ActorPortState is this side's 802.3ad port state, the bits of IEEE
	// 802.1AX: 0x01 activity, 0x02 timeout, 0x04 aggregation, 0x08
	// synchronisation, 0x10 collecting, 0x20 distributing, 0x40
	// defaulted, 0x80 expired. 0 outside 802.3ad.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=255
	ActorPortState int32 `json:"actorPortState,omitempty"`
	// PartnerPortState is the partner's 802.3ad port state, with the bits
	// of ActorPortState; 0 when no partner speaks LACP.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=65535
	PartnerPortState int32 `json:"partnerPortState,omitempty"`
}

// LACPStatus is an 802.3ad bond's negotiation with its partner.
type LACPStatus struct {
	// PartnerMAC is the partner's system MAC of the active aggregator;
	// empty when no partner answered (the kernel reports all zeros then).
	// +optional
	// +kubebuilder:validation:MaxLength=64
	PartnerMAC string `json:"partnerMAC,omitempty"`
	// OneAggregator is true when every slave is in the same aggregator.
	OneAggregator bool `json:"oneAggregator"`
	// Negotiated is true when every slave is in one aggregator with its
	// partner port in sync, collecting and distributing: the check the
	// agent makes after a flip to 802.3ad.
	Negotiated bool `json:"negotiated"`
	// Message says why LACP did not negotiate; empty when it did.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// DRBDState says whether the agent could read its node's DRBD.
// +kubebuilder:validation:Enum=Installed;NotInstalled;Unavailable
type DRBDState string

// The DRBD states.
const (
	// DRBDInstalled: drbdsetup reported; Resources are what it reported
	// (none when the node has no resource).
	DRBDInstalled DRBDState = "Installed"
	// DRBDNotInstalled: drbdsetup is not on the node, so the node runs no
	// DRBD. Not an error: gates that look at DRBD pass such a node.
	DRBDNotInstalled DRBDState = "NotInstalled"
	// DRBDUnavailable: the state could not be read (drbdsetup cannot use
	// the kernel's DRBD, failed, or printed what the agent does not
	// understand); Message says why. Gates that look at DRBD refuse such
	// a node: its storage is unknown.
	DRBDUnavailable DRBDState = "Unavailable"
)

// DRBDStates lists every DRBDState.
var DRBDStates = []DRBDState{DRBDInstalled, DRBDNotInstalled, DRBDUnavailable}

// DRBDStatus is the node's DRBD as `drbdsetup status --json` reported it
// at the agent's last heartbeat.
type DRBDStatus struct {
	// State says whether DRBD could be read.
	State DRBDState `json:"state"`
	// Message says why DRBD is Unavailable; empty otherwise.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
	// Total counts the node's resources, listed or not.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Total int32 `json:"total,omitempty"`
	// Unhealthy counts the resources that are not healthy (see
	// DRBDResource.Healthy), listed or not.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Unhealthy int32 `json:"unhealthy,omitempty"`
	// Resources are the node's resources, the unhealthy ones first, then
	// by name. At most 256 are listed; when a node has more, healthy ones
	// are left out first, and Total and Unhealthy still count them.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=256
	Resources []DRBDResource `json:"resources,omitempty"`
}

// DRBDResource is one DRBD resource on the node.
type DRBDResource struct {
	// Name is the resource name.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Role is this node's role: Primary, Secondary or Unknown.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Role string `json:"role,omitempty"`
	// Healthy is true when I/O is not suspended, every volume is UpToDate
	// (or Diskless on an intentional client) with quorum, and every peer is
	// Connected with each of its volumes Established and UpToDate: the
	// verdict of agent/drbd.
	Healthy bool `json:"healthy"`
	// Problem is the first thing that keeps the resource from being
	// healthy, e.g. "peer node-b volume 0 SyncTarget 40.0% in sync"; empty
	// when it is healthy.
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Problem string `json:"problem,omitempty"`
	// Volumes are the resource's volumes on this node.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Volumes []DRBDVolume `json:"volumes,omitempty"`
	// Connections are this node's connections to the resource's peers.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Connections []DRBDConnection `json:"connections,omitempty"`
}

// DRBDVolume is one volume of a resource on this node.
type DRBDVolume struct {
	// Volume is the volume number within the resource.
	// +kubebuilder:validation:Minimum=0
	Volume int32 `json:"volume"`
	// DiskState is the local disk's state, e.g. UpToDate, Inconsistent or
	// Diskless.
	// +kubebuilder:validation:MaxLength=32
	DiskState string `json:"diskState"`
	// Client is true for an intentionally diskless volume, whose DiskState
	// is Diskless by design.
	// +optional
	Client bool `json:"client,omitempty"`
}

// DRBDConnection is this node's connection to one peer of a resource.
type DRBDConnection struct {
	// PeerName is the peer's name (normally its host name), or
	// "node-id N" when DRBD reports none.
	// +kubebuilder:validation:MaxLength=253
	PeerName string `json:"peerName"`
	// PeerNodeID is the peer's node id in the resource.
	// +optional
	PeerNodeID int32 `json:"peerNodeID,omitempty"`
	// ConnectionState is the connection's state; only Connected
	// replicates.
	// +kubebuilder:validation:MaxLength=32
	ConnectionState string `json:"connectionState"`
	// PeerDevices are the peer's volumes as seen over this connection.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	PeerDevices []DRBDPeerDevice `json:"peerDevices,omitempty"`
}

// DRBDPeerDevice is one volume of a peer as seen over a connection.
type DRBDPeerDevice struct {
	// Volume is the volume number within the resource.
	// +kubebuilder:validation:Minimum=0
	Volume int32 `json:"volume"`
	// ReplicationState is the replication state towards the peer, e.g.
	// Established, SyncSource or SyncTarget.
	// +kubebuilder:validation:MaxLength=32
	ReplicationState string `json:"replicationState"`
	// PeerDiskState is the peer's disk state.
	// +optional
	// +kubebuilder:validation:MaxLength=32
	PeerDiskState string `json:"peerDiskState,omitempty"`
	// PercentInSyncMilli is how much of the volume is in sync with the
	// peer, in thousandths of a percent (42100 is 42.1 %), rounded down
	// and clamped to 0–100000; nil when DRBD did not report it (drbd-utils
	// older than 9.4).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100000
	PercentInSyncMilli *int32 `json:"percentInSyncMilli,omitempty"`
}

// NodeRollup is one node's line in a NodewrightCluster: whether its agent
// reports, and a summary of what it reports of its bonds and DRBD.
type NodeRollup struct {
	// Name is the node's name.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Ready is the Node's Ready condition; false when there is no Node of
	// that name.
	Ready bool `json:"ready"`
	// Agent says whether the node's agent reports: Reporting, Stale (its
	// last heartbeat is too old to count) or Missing (no status).
	Agent AgentReportState `json:"agent"`
	// Bonds summarise the node's bonds.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Bonds []BondRollup `json:"bonds,omitempty"`
	// DRBD summarises the node's DRBD; nil when the agent reports none.
	// +optional
	DRBD *DRBDRollup `json:"drbd,omitempty"`
}

// AgentReportState says whether a node's agent reports.
// +kubebuilder:validation:Enum=Reporting;Stale;Missing
type AgentReportState string

// The agent report states of a NodeRollup.
const (
	// AgentReporting: the agent's last heartbeat is recent.
	AgentReporting AgentReportState = "Reporting"
	// AgentStale: the agent's last heartbeat is too old to count.
	AgentStale AgentReportState = "Stale"
	// AgentMissing: the node has no NodewrightAgentStatus.
	AgentMissing AgentReportState = "Missing"
)

// AgentReportStates lists every AgentReportState.
var AgentReportStates = []AgentReportState{AgentReporting, AgentStale, AgentMissing}

// BondRollup is one bond of a node, summarised.
type BondRollup struct {
	// Name is the bond's name.
	// +kubebuilder:validation:MaxLength=15
	Name string `json:"name"`
	// Mode is the bonding mode it runs.
	Mode BondMode `json:"mode"`
	// MIIStatus is the bond's link state.
	// +optional
	MIIStatus LinkState `json:"miiStatus,omitempty"`
	// SlavesUp counts the slaves whose MII status is up.
	// +kubebuilder:validation:Minimum=0
	SlavesUp int32 `json:"slavesUp"`
	// Slaves counts the bond's slaves.
	// +kubebuilder:validation:Minimum=0
	Slaves int32 `json:"slaves"`
}

// DRBDRollup is a node's DRBD, summarised.
type DRBDRollup struct {
	// State says whether the agent could read DRBD.
	State DRBDState `json:"state"`
	// Total counts the node's resources.
	// +kubebuilder:validation:Minimum=0
	Total int32 `json:"total"`
	// Unhealthy counts those that are not healthy.
	// +kubebuilder:validation:Minimum=0
	Unhealthy int32 `json:"unhealthy"`
	// Problem is the first unhealthy resource and its problem ("pvc-1:
	// peer node-b volume 0 SyncTarget 40.0% in sync"), or why DRBD is
	// Unavailable; empty when all is well.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Problem string `json:"problem,omitempty"`
}
