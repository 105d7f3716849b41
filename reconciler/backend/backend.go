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
	// Outdated, Diskless, ...
	State string
}

// UpToDate is the DRBD disk state of a replica in sync.
const UpToDate = "UpToDate"

// Resource is a DRBD resource of a resource group.
type Resource struct {
	// Name of the resource.
	Name string
	// Replicas are its copies.
	Replicas []Replica
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
	// replica states; an unknown group is an error.
	ResourceGroup(ctx context.Context, name string) (*ResourceGroup, error)
	// Place asks for replicas of the named resources of group until each
	// has count of them (LINSTOR autoplace). Idempotent: resources
	// already at count are left alone.
	Place(ctx context.Context, group string, resources []string, count int) error
	// SetPlaceCount sets the group's place count, so new resources get it.
	SetPlaceCount(ctx context.Context, group string, count int) error
}

// VMs is what the reconciler asks of KubeVirt.
type VMs interface {
	// Evacuate moves the virtual machines off node as protection says
	// (live migration or shutdown) and keeps new ones off it.
	Evacuate(ctx context.Context, node string, protection v1.VMProtection) (Progress, error)
	// Release lets virtual machines onto node again.
	Release(ctx context.Context, node string) error
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
