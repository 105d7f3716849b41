package v1alpha1

import (
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BondModeFlipPlan changes the mode of one bond on the named nodes, one
// node (or maxUnavailable nodes) at a time, behind a dead-man switch that
// reverts a node that loses contact.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Bond",type=string,JSONPath=`.spec.bond`
// +kubebuilder:printcolumn:name="To",type=string,JSONPath=`.spec.toMode`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.startedAt) || (has(self.status) && has(self.status.startedAt) && self.status.startedAt == oldSelf.status.startedAt)",message="status.startedAt cannot change or be cleared once set: the operation has started",fieldPath=".status.startedAt"
type BondModeFlipPlan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   BondModeFlipPlanSpec `json:"spec"`
	Status OperationStatus      `json:"status,omitempty"`
}

// BondModeFlipPlanSpec is the intent of a bond mode flip.
//
// +kubebuilder:validation:XValidation:rule="self.toMode != self.fromMode",message="toMode must differ from fromMode: there is nothing to flip",fieldPath=".toMode"
// +kubebuilder:validation:XValidation:rule="!has(self.maxUnavailable) || self.maxUnavailable <= size(self.nodes)",message="maxUnavailable must not exceed the number of nodes listed",fieldPath=".maxUnavailable"
type BondModeFlipPlanSpec struct {
	// Bond is the bond's interface name on every listed node.
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9_.-]{1,15}$`
	Bond string `json:"bond"`
	// FromMode is the mode the bond runs now; it must match the profile.
	FromMode BondMode `json:"fromMode"`
	// ToMode is the mode to run after the flip.
	ToMode BondMode `json:"toMode"`
	// Nodes are the nodes to flip, in order.
	// +kubebuilder:validation:MinItems=1
	// +listType=set
	Nodes []string `json:"nodes"`
	// MaxUnavailable is how many nodes may flip at once (default 1).
	// +optional
	// +kubebuilder:validation:Minimum=1
	MaxUnavailable int32 `json:"maxUnavailable,omitempty"`
	// RevertAfter is the dead-man deadline: a node that cannot confirm the
	// flip within it reverts on its own (10s to 30m, default 2m).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('30m')",message="must be between 10s and 30m"
	RevertAfter metav1.Duration `json:"revertAfter,omitempty"`
	// Probes are the checks that confirm a flipped node.
	// +optional
	Probes Probes `json:"probes,omitempty"`
	// VMProtection says what happens to the node's VMs first (default LiveMigrate).
	// +optional
	VMProtection VMProtection `json:"vmProtection,omitempty"`
	// Action resumes or aborts the operation once it has halted; a change
	// of Action is a new generation that passes the gates again.
	// +optional
	Action OperationAction `json:"action,omitempty"`
}

// Probes confirm that a node works after its bond flipped.
type Probes struct {
	// Gateway is an address to ping through the bond; empty skips the check.
	// +optional
	Gateway string `json:"gateway,omitempty"`
	// APIServer checks that the node reaches the Kubernetes API (default true).
	// +optional
	APIServer *bool `json:"apiServer,omitempty"`
	// Peers are nodes the flipped node must reach.
	// +optional
	// +listType=set
	Peers []string `json:"peers,omitempty"`
	// Timeout bounds each probe (1s to 5m, default 10s).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('5m')",message="must be between 1s and 5m"
	Timeout metav1.Duration `json:"timeout,omitempty"`
}

// ReplicationUpgrade raises the place count of a LINSTOR resource group,
// placing new replicas in batches and waiting for them to sync.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Group",type=string,JSONPath=`.spec.resourceGroup`
// +kubebuilder:printcolumn:name="To",type=integer,JSONPath=`.spec.toPlaceCount`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.startedAt) || (has(self.status) && has(self.status.startedAt) && self.status.startedAt == oldSelf.status.startedAt)",message="status.startedAt cannot change or be cleared once set: the operation has started",fieldPath=".status.startedAt"
type ReplicationUpgrade struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ReplicationUpgradeSpec `json:"spec"`
	Status OperationStatus        `json:"status,omitempty"`
}

// ReplicationUpgradeSpec is the intent of a replication upgrade.
//
// +kubebuilder:validation:XValidation:rule="self.toPlaceCount > self.fromPlaceCount",message="toPlaceCount must be more than fromPlaceCount: lowering replication is not an upgrade",fieldPath=".toPlaceCount"
type ReplicationUpgradeSpec struct {
	// ResourceGroup is the LINSTOR resource group to upgrade.
	// +kubebuilder:validation:MinLength=1
	ResourceGroup string `json:"resourceGroup"`
	// FromPlaceCount is the place count now; it must match the profile.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	FromPlaceCount int32 `json:"fromPlaceCount"`
	// ToPlaceCount is the place count to reach; more than FromPlaceCount.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=16
	ToPlaceCount int32 `json:"toPlaceCount"`
	// BatchSize is how many resources get a new replica at once (default 10).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	BatchSize int32 `json:"batchSize,omitempty"`
	// SyncTimeout bounds the wait for a batch to become UpToDate (1m to 48h, default 1h).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('48h')",message="must be between 1m and 48h"
	SyncTimeout metav1.Duration `json:"syncTimeout,omitempty"`
	// StallTimeout bounds how long a new replica may make no progress: a
	// resync whose percentage does not grow, a peer volume left in
	// WFBitMapT, a connection that stays Connecting or StandAlone (1m to
	// 24h, default 10m). Past it the batch halts, naming the resource and
	// node. It applies where the backend reports those states.
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="must be between 1m and 24h"
	StallTimeout *metav1.Duration `json:"stallTimeout,omitempty"`
	// Action resumes or aborts the operation once it has halted; a change
	// of Action is a new generation that passes the gates again.
	// +optional
	Action OperationAction `json:"action,omitempty"`
}

// VMVolumeMigration moves a VM's volumes to another storage class, with
// snapshots before and after and a checksum comparison.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="VM",type=string,JSONPath=`.spec.vm.name`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.targetStorageClass`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.startedAt) || (has(self.status) && has(self.status.startedAt) && self.status.startedAt == oldSelf.status.startedAt)",message="status.startedAt cannot change or be cleared once set: the operation has started",fieldPath=".status.startedAt"
type VMVolumeMigration struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   VMVolumeMigrationSpec `json:"spec"`
	Status OperationStatus       `json:"status,omitempty"`
}

// VMVolumeMigrationSpec is the intent of a VM volume migration.
type VMVolumeMigrationSpec struct {
	// VM names the virtual machine.
	VM VMReference `json:"vm"`
	// TargetStorageClass is a storage class the profile declares.
	// +kubebuilder:validation:MinLength=1
	TargetStorageClass string `json:"targetStorageClass"`
	// Mode is how the volumes move (default Auto).
	// +optional
	Mode MigrationMode `json:"mode,omitempty"`
	// Snapshots says which snapshot bookends to take.
	// +optional
	Snapshots SnapshotBookends `json:"snapshots,omitempty"`
	// VerifyChecksums compares source and target checksums before the
	// source volume is released (default true).
	// +optional
	VerifyChecksums *bool `json:"verifyChecksums,omitempty"`
	// Action resumes or aborts the operation once it has halted; a change
	// of Action is a new generation that passes the gates again.
	// +optional
	Action OperationAction `json:"action,omitempty"`
}

// VMReference names a KubeVirt VirtualMachine.
type VMReference struct {
	// Namespace of the VirtualMachine.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// Name of the VirtualMachine.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// SnapshotBookends are the snapshots around a migration.
type SnapshotBookends struct {
	// Before takes a snapshot of the source volumes first (default true).
	// +optional
	Before *bool `json:"before,omitempty"`
	// After takes a snapshot of the target volumes when done (default true).
	// +optional
	After *bool `json:"after,omitempty"`
}

// OperationStatus is the observed progress of an operation.
type OperationStatus struct {
	// Phase is the current phase of the operation's state machine.
	// +optional
	Phase string `json:"phase,omitempty"`
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions follow Kubernetes conventions: Ready, Reconciling, Stalled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Progress lists each node or resource step.
	// +optional
	Progress []StepProgress `json:"progress,omitempty"`
	// StartedAt is when the operation first passed its step gates, just
	// before its first change to the site; from then on it counts as in
	// flight for the other operations' health and blast-radius gates.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// PhaseSince is when the operation entered Phase.
	// +optional
	PhaseSince *metav1.Time `json:"phaseSince,omitempty"`
	// Retries counts the failed attempts of the current step; past the
	// kind's bound the operation halts.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Retries int32 `json:"retries,omitempty"`
	// SourceCommit is the fleet commit whose spec the operation runs.
	// +optional
	SourceCommit string `json:"sourceCommit,omitempty"`
	// HaltedPhase is the phase the operation halted in; Resume returns to it.
	// +optional
	HaltedPhase string `json:"haltedPhase,omitempty"`
	// HaltedGeneration is the generation the operation halted at; a Resume
	// or Abort counts only in a later generation.
	// +optional
	HaltedGeneration int64 `json:"haltedGeneration,omitempty"`
	// Audit holds the operation's most recent audit records (the last 20),
	// oldest first; the whole chain is on the cluster's audit sinks.
	// +optional
	Audit []AuditRecord `json:"audit,omitempty"`
}

// StepProgress is the state of one step on one node or resource.
type StepProgress struct {
	// Target is the node or resource the step acts on. A target with a
	// "/" is a detail of a step (a ReplicationUpgrade's syncing replica,
	// replica/<resource>@<node>), not a step: see IsDetail.
	Target string `json:"target"`
	// Phase is the step's phase.
	Phase string `json:"phase"`
	// Message says what happens or what went wrong.
	// +optional
	Message string `json:"message,omitempty"`
	// Attempt counts the runs of the step on this target: a resumed step
	// runs as a new attempt, with a new NodeTask.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Attempt int32 `json:"attempt,omitempty"`
	// LastTransitionTime is when Phase last changed.
	// +optional
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
}

// IsDetail reports whether the entry is a detail of a step rather than a
// step (its target holds a "/"): counts of steps done skip details.
func (p StepProgress) IsDetail() bool { return strings.Contains(p.Target, "/") }

// +kubebuilder:object:root=true

// BondModeFlipPlanList is a list of BondModeFlipPlans.
type BondModeFlipPlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []BondModeFlipPlan `json:"items"`
}

// +kubebuilder:object:root=true

// ReplicationUpgradeList is a list of ReplicationUpgrades.
type ReplicationUpgradeList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ReplicationUpgrade `json:"items"`
}

// +kubebuilder:object:root=true

// VMVolumeMigrationList is a list of VMVolumeMigrations.
type VMVolumeMigrationList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []VMVolumeMigration `json:"items"`
}
