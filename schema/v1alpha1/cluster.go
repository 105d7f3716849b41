package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// FleetSource tells a cluster's reconciler which fleet repository to
// follow, for which site, under which trust root.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Site",type=string,JSONPath=`.spec.site`
// +kubebuilder:printcolumn:name="Commit",type=string,JSONPath=`.status.lastAcceptedCommit`
// +kubebuilder:printcolumn:name="Policy",type=integer,JSONPath=`.status.policyVersion`
type FleetSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   FleetSourceSpec   `json:"spec"`
	Status FleetSourceStatus `json:"status,omitempty"`
}

// FleetSourceSpec is where the fleet repository is and how to trust it.
type FleetSourceSpec struct {
	// Repo is the repository URL (https or ssh).
	// +kubebuilder:validation:MinLength=1
	Repo string `json:"repo"`
	// Branch is the branch to follow (default main).
	// +optional
	Branch string `json:"branch,omitempty"`
	// Site is the site whose profile and operations this cluster applies.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Site string `json:"site"`
	// TrustRoot names the Secret key holding the trust root TrustPolicy.
	TrustRoot SecretKeyReference `json:"trustRoot"`
	// Interval is how often to fetch (10s to 24h, default 1m).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('10s') && duration(self) <= duration('24h')",message="must be between 10s and 24h"
	Interval metav1.Duration `json:"interval,omitempty"`
}

// SecretKeyReference names one key of a Secret in the object's namespace.
type SecretKeyReference struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$`
	Name string `json:"name"`
	// Key within the Secret (default trust.yaml).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key,omitempty"`
}

// FleetSourceStatus is what the source accepted last.
type FleetSourceStatus struct {
	// LastAcceptedCommit is the newest commit whose range was accepted.
	// +optional
	LastAcceptedCommit string `json:"lastAcceptedCommit,omitempty"`
	// AppliedCommit is the commit whose site profile and operations are
	// applied; it trails LastAcceptedCommit when a newer commit's manifests
	// do not validate.
	// +optional
	AppliedCommit string `json:"appliedCommit,omitempty"`
	// PolicyVersion is the trust policy version in force at that commit.
	// +optional
	PolicyVersion int `json:"policyVersion,omitempty"`
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions carry the DESIGN reason codes on refusal.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodeTask is one node step the operator asks a node's agent to carry
// out: the operator owns the intent, the agent the mutation.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Node",type=string,JSONPath=`.spec.nodeName`
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
//
// The API server keeps the claim and the outcome: once set,
// status.claimedBy stays, and so does a finished phase (Succeeded, Failed
// or Reverted).
//
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.claimedBy) || size(oldSelf.status.claimedBy) == 0 || (has(self.status) && has(self.status.claimedBy) && self.status.claimedBy == oldSelf.status.claimedBy)",message="status.claimedBy cannot change or be cleared once set: the agent that claimed a task keeps it",fieldPath=".status.claimedBy"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.phase) || !(oldSelf.status.phase in ['Succeeded', 'Failed', 'Reverted']) || (has(self.status) && has(self.status.phase) && self.status.phase == oldSelf.status.phase)",message="a finished NodeTask (Succeeded, Failed or Reverted) cannot move to another phase",fieldPath=".status.phase"
type NodeTask struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: a NodeTask is one step, a new step is a new task"
	Spec   NodeTaskSpec   `json:"spec"`
	Status NodeTaskStatus `json:"status,omitempty"`
}

// NodeTaskSpec is the step to carry out.
type NodeTaskSpec struct {
	// NodeName is the node whose agent executes the task.
	// +kubebuilder:validation:MinLength=1
	NodeName string `json:"nodeName"`
	// Operation names the operation the task belongs to.
	Operation OperationReference `json:"operation"`
	// Action is what the agent does, e.g. FlipBond.
	// +kubebuilder:validation:MinLength=1
	Action string `json:"action"`
	// Params are the action's parameters.
	// +optional
	Params map[string]string `json:"params,omitempty"`
	// Deadline is when the agent must give up (and revert) if not done.
	Deadline metav1.Time `json:"deadline"`
}

// OperationReference names an operation resource.
type OperationReference struct {
	// Kind of the operation.
	// +kubebuilder:validation:Enum=BondModeFlipPlan;ReplicationUpgrade;VMVolumeMigration
	Kind string `json:"kind"`
	// Name of the operation.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// NodeTaskStatus is reported by the agent.
type NodeTaskStatus struct {
	// Phase is Pending, Claimed, Running, Succeeded, Failed or Reverted.
	// +optional
	// +kubebuilder:validation:Enum=Pending;Claimed;Running;Succeeded;Failed;Reverted
	Phase string `json:"phase,omitempty"`
	// ClaimedBy is the agent instance that claimed the task.
	// +optional
	ClaimedBy string `json:"claimedBy,omitempty"`
	// Message says what happened.
	// +optional
	Message string `json:"message,omitempty"`
	// StartedAt is when the agent started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`
	// FinishedAt is when the agent finished.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// NodewrightAgentStatus is written by a node's agent: its heartbeat and
// what it sees of the node.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
type NodewrightAgentStatus struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Status AgentStatus `json:"status,omitempty"`
}

// AgentStatus is the agent's report.
type AgentStatus struct {
	// NodeName is the agent's node.
	// +optional
	NodeName string `json:"nodeName,omitempty"`
	// AgentVersion is the agent's build.
	// +optional
	AgentVersion string `json:"agentVersion,omitempty"`
	// LastHeartbeat is when the agent last reported.
	// +optional
	LastHeartbeat metav1.Time `json:"lastHeartbeat,omitempty"`
	// Bonds are the bonds as the kernel reports them, with the link
	// state of each bond and slave.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	Bonds []ObservedBond `json:"bonds,omitempty"`
	// DRBD is the node's DRBD as drbdsetup reported it; nil when the agent
	// did not report it (gates that look at DRBD then refuse the node).
	// +optional
	DRBD *DRBDStatus `json:"drbd,omitempty"`
	// Conditions follow Kubernetes conventions.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// NodewrightCluster is the read-only rollup of a cluster: what it applied
// and how its operations and nodes are doing.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
// +kubebuilder:subresource:status
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.audit) || !has(oldSelf.audit.seq) || (has(self.audit) && has(self.audit.seq) && self.audit.seq >= oldSelf.audit.seq)",message="audit.seq cannot go back: the audit chain only grows",fieldPath=".audit.seq"
type NodewrightCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Audit is the head of the cluster's audit hash chain and its most
	// recent records: the reconciler appends here first, with optimistic
	// concurrency, so the chain has exactly one next link.
	// +optional
	Audit AuditLog `json:"audit,omitempty"`

	Status NodewrightClusterStatus `json:"status,omitempty"`
}

// NodewrightClusterStatus is the rollup: the ClusterStatus the cluster
// publishes to its status ref, and per-node detail that stays in the
// cluster.
type NodewrightClusterStatus struct {
	// ClusterStatus is what the cluster publishes, its fields inline.
	ClusterStatus `json:",inline"`
	// NodeDetails are the cluster's nodes (those with a Node object or a
	// NodewrightAgentStatus), by name: whether each agent reports, and
	// its bonds' link state and DRBD health in brief. They are not
	// published: the status ref carries ClusterStatus only.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=512
	NodeDetails []NodeRollup `json:"nodeDetails,omitempty"`
}

// AuditLog is the head of a cluster's audit chain.
type AuditLog struct {
	// Seq is the sequence number of the newest record (0 before the first).
	// +optional
	// +kubebuilder:validation:Minimum=0
	Seq int64 `json:"seq,omitempty"`
	// Hash is the newest record's hash ("" before the first).
	// +optional
	Hash string `json:"hash,omitempty"`
	// Recent are the newest records, oldest first (at most 64), from which
	// the sinks are fed.
	// +optional
	Recent []AuditRecord `json:"recent,omitempty"`
}

// +kubebuilder:object:root=true

// FleetSourceList is a list of FleetSources.
type FleetSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []FleetSource `json:"items"`
}

// +kubebuilder:object:root=true

// NodeTaskList is a list of NodeTasks.
type NodeTaskList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodeTask `json:"items"`
}

// +kubebuilder:object:root=true

// NodewrightAgentStatusList is a list of NodewrightAgentStatuses.
type NodewrightAgentStatusList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodewrightAgentStatus `json:"items"`
}

// +kubebuilder:object:root=true

// NodewrightClusterList is a list of NodewrightClusters.
type NodewrightClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []NodewrightCluster `json:"items"`
}
