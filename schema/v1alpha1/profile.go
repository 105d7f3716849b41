package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// EdgeProfile describes one site: its cluster, nodes, bonds, storage and
// the rules operations there must follow. A site's kustomization renders
// exactly one.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
type EdgeProfile struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec EdgeProfileSpec `json:"spec"`
}

// EdgeProfileSpec is the desired shape of a site.
//
// +kubebuilder:validation:XValidation:rule="!has(self.health) || !has(self.health.minReadyNodes) || self.health.minReadyNodes <= size(self.nodes)",message="health.minReadyNodes must not exceed the number of nodes",fieldPath=".health.minReadyNodes"
// +kubebuilder:validation:XValidation:rule="!has(self.resourceGroups) || self.resourceGroups.all(rg, rg.placeCount <= size(self.nodes))",message="a resource group's placeCount must not exceed the number of nodes",fieldPath=".resourceGroups"
type EdgeProfileSpec struct {
	// Site is the site's name; it equals the folder sites/<site>.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Site string `json:"site"`
	// ClusterName names the site's Kubernetes cluster on the status branch.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	ClusterName string `json:"clusterName"`
	// Nodes are the cluster's nodes.
	// +kubebuilder:validation:MinItems=1
	// +listType=map
	// +listMapKey=name
	Nodes []Node `json:"nodes"`
	// ResourceGroups are the LINSTOR resource groups and their place counts.
	// +optional
	// +listType=map
	// +listMapKey=name
	ResourceGroups []ResourceGroup `json:"resourceGroups,omitempty"`
	// StorageClasses are the Kubernetes storage classes backed by resource groups.
	// +optional
	// +listType=map
	// +listMapKey=name
	StorageClasses []StorageClass `json:"storageClasses,omitempty"`
	// MaintenanceWindows are the weekly windows in which disruptive steps may start.
	// +optional
	MaintenanceWindows []MaintenanceWindow `json:"maintenanceWindows,omitempty"`
	// Health holds the thresholds below which operations do not start steps.
	// +optional
	Health HealthThresholds `json:"health,omitempty"`
	// Paused stops new steps of every operation at the site; steps in flight finish.
	// +optional
	Paused bool `json:"paused,omitempty"`
}

// Node is one cluster node.
type Node struct {
	// Name is the Kubernetes node name.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Bonds are the node's bonded interfaces.
	// +optional
	// +listType=map
	// +listMapKey=name
	Bonds []Bond `json:"bonds,omitempty"`
	// StoragePools are the LINSTOR storage pools the node provides.
	// +optional
	// +listType=set
	StoragePools []string `json:"storagePools,omitempty"`
}

// Bond is a bonded interface and its current mode.
type Bond struct {
	// Name is the interface name, e.g. bond0.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]{1,15}$`
	Name string `json:"name"`
	// Mode is the bonding mode the bond runs now.
	Mode BondMode `json:"mode"`
	// Slaves are the member interfaces.
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	Slaves []string `json:"slaves"`
	// Options are further bonding options (miimon, lacp_rate, ...), by their sysfs names.
	// +optional
	Options map[string]string `json:"options,omitempty"`
}

// ResourceGroup is a LINSTOR resource group.
type ResourceGroup struct {
	// Name is the resource group's name in LINSTOR.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// StoragePool is the storage pool its resources are placed in.
	// +kubebuilder:validation:MinLength=1
	StoragePool string `json:"storagePool"`
	// PlaceCount is how many replicas each resource has.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	PlaceCount int32 `json:"placeCount"`
}

// StorageClass is a Kubernetes storage class served by a resource group.
type StorageClass struct {
	// Name is the storage class name.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// ResourceGroup is the LINSTOR resource group behind it.
	// +kubebuilder:validation:MinLength=1
	ResourceGroup string `json:"resourceGroup"`
}

// MaintenanceWindow is a weekly window in a time zone.
type MaintenanceWindow struct {
	// Days are the days the window opens, each once.
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	Days []Weekday `json:"days"`
	// Start is the local opening time, HH:MM (24-hour clock).
	// +kubebuilder:validation:Pattern=`^([01][0-9]|2[0-3]):[0-5][0-9]$`
	Start string `json:"start"`
	// Duration is how long the window stays open (15m to 24h).
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('15m') && duration(self) <= duration('24h')",message="must be between 15m and 24h"
	Duration metav1.Duration `json:"duration"`
	// TimeZone is an IANA time zone name such as Europe/Berlin.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:XValidation:rule="self != 'Local'",message="must be an IANA time zone name such as Europe/Berlin or UTC, not Local"
	TimeZone string `json:"timeZone"`
}

// HealthThresholds are the conditions a site must meet before a step starts.
type HealthThresholds struct {
	// MinReadyNodes is how many nodes must be Ready (default: all but one).
	// +optional
	// +kubebuilder:validation:Minimum=0
	MinReadyNodes *int32 `json:"minReadyNodes,omitempty"`
	// RequireDRBDUpToDate blocks steps while any DRBD resource is not UpToDate (default true).
	// +optional
	RequireDRBDUpToDate *bool `json:"requireDRBDUpToDate,omitempty"`
}

// +kubebuilder:object:root=true

// EdgeProfileList is a list of EdgeProfiles.
type EdgeProfileList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []EdgeProfile `json:"items"`
}
