package backend

import (
	"context"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Progress is the state of a long job after a call that started or
// observed it.
type Progress struct {
	// Done is true once the job finished successfully.
	Done bool
	// Message says what is happening, for the operation's status.
	Message string
}

// Replica is one copy of a DRBD resource on a node.
type Replica struct {
	// Node holds the replica.
	Node string
	// State is the DRBD disk state: UpToDate, SyncTarget, Inconsistent,
	// Outdated, Diskless, ... For a resource of several volumes, the
	// worst volume's.
	State string
	// Peers is this replica's view of each peer, when the backend reports
	// it (nil when it does not), sorted by peer node.
	Peers []PeerSync
}

// PeerSync is what a replica's node reports of one peer: the DRBD
// connection and, for the volume furthest behind, the replication state
// and how far a resync has come.
type PeerSync struct {
	// Node is the peer.
	Node string
	// Connection is the DRBD connection state: Connected, Connecting,
	// StandAlone, ... (empty when not reported).
	Connection string
	// Replication is the DRBD replication state towards the peer:
	// Established, SyncTarget, WFBitMapT, ... (empty when not reported).
	Replication string
	// DonePercent is a resync's progress, 0 to 100; negative when not
	// reported.
	DonePercent float64
}

// NodePool is one node as a placement sees it: whether the storage
// controller reaches it and how much room its storage pool has.
type NodePool struct {
	// Node is the node's name.
	Node string
	// Online is true when the controller reports the node connected and
	// usable (LINSTOR: connection status ONLINE).
	Online bool
	// Status is the connection status as the controller reports it.
	Status string
	// HasPool is true when the node has the storage pool asked about.
	HasPool bool
	// FreeKiB is the pool's free capacity on the node, in KiB.
	FreeKiB int64
}

// UpToDate is the DRBD disk state of a replica in sync.
const UpToDate = "UpToDate"

// Resource is a DRBD resource of a resource group.
type Resource struct {
	// Name of the resource.
	Name string
	// Replicas are its copies.
	Replicas []Replica
	// SizeKiB is the space one more replica takes: the sum of its volumes'
	// sizes, in KiB (0 when not known).
	SizeKiB int64
}

// InSync counts the replicas that are UpToDate.
func (r Resource) InSync() int {
	n := 0
	for _, rep := range r.Replicas {
		if rep.State == UpToDate {
			n++
		}
	}
	return n
}

// ResourceGroup is a LINSTOR resource group and its resources.
type ResourceGroup struct {
	// Name of the group.
	Name string
	// PlaceCount is the group's place count.
	PlaceCount int
	// Resources are the group's resources, sorted by name.
	Resources []Resource
}

// Storage is what the reconciler asks of LINSTOR.
type Storage interface {
	// ResourceGroup returns the group with its resources and their
	// replica states; an unknown group is a *NotFoundError.
	ResourceGroup(ctx context.Context, name string) (*ResourceGroup, error)
	// Place asks for replicas of the named resources of group until each
	// has count of them (LINSTOR autoplace). Idempotent: resources
	// already at count are left alone.
	Place(ctx context.Context, group string, resources []string, count int) error
	// SetPlaceCount sets the group's place count, so new resources get it.
	SetPlaceCount(ctx context.Context, group string, count int) error
	// StoragePools reports every node the controller knows, with its
	// state and the named storage pool's free capacity, sorted by node.
	StoragePools(ctx context.Context, pool string) ([]NodePool, error)
}

// Evacuator is what a node operation's ProtectVMs step asks of KubeVirt:
// the VM protection part of VMs, which a backend may provide alone.
type Evacuator interface {
	// Evacuate moves the virtual machines off node as protection says
	// (live migration or shutdown) and keeps new ones off it.
	Evacuate(ctx context.Context, node string, protection v1.VMProtection) (Progress, error)
	// Release lets virtual machines onto node again.
	Release(ctx context.Context, node string) error
}

// VMs is what the reconciler asks of KubeVirt: VM protection and the
// volume migrations of VMVolumeMigration.
type VMs interface {
	Evacuator
	// Check reports whether the VM exists and can move to the storage
	// class, and whether it can move live.
	Check(ctx context.Context, vm v1.VMReference, storageClass string) (live bool, err error)
	// Snapshot takes (or observes) the named snapshot of the VM's volumes.
	Snapshot(ctx context.Context, vm v1.VMReference, name string) (Progress, error)
	// MigrateLive moves the running VM's volumes to the storage class.
	MigrateLive(ctx context.Context, vm v1.VMReference, storageClass string) (Progress, error)
	// SetRunning stops or starts the VM.
	SetRunning(ctx context.Context, vm v1.VMReference, running bool) (Progress, error)
	// Copy copies the stopped VM's volumes to new volumes of the class.
	Copy(ctx context.Context, vm v1.VMReference, storageClass string) (Progress, error)
	// Swap points the VM at the copies; the source volumes are kept.
	Swap(ctx context.Context, vm v1.VMReference, storageClass string) error
	// Checksums returns the checksums of the source and target volumes.
	Checksums(ctx context.Context, vm v1.VMReference, storageClass string) (source, target string, err error)
	// RollBack points the VM back at its source volumes and drops the copies.
	RollBack(ctx context.Context, vm v1.VMReference, storageClass string) (Progress, error)
}
