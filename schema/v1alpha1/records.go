package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ClusterStatus is a cluster's report on the status branch
// (clusters/<cluster>/status.yaml) and the status of its NodewrightCluster.
type ClusterStatus struct {
	// Cluster is the cluster's name.
	// +optional
	Cluster string `json:"cluster,omitempty"`
	// Site is the site the cluster serves.
	// +optional
	Site string `json:"site,omitempty"`
	// AppliedCommit is the fleet commit the cluster acts on.
	// +optional
	AppliedCommit string `json:"appliedCommit,omitempty"`
	// PolicyVersion is the trust policy version in force.
	// +optional
	PolicyVersion int `json:"policyVersion,omitempty"`
	// Operations are the operations with their phase and progress.
	// +optional
	Operations []OperationSummary `json:"operations,omitempty"`
	// Nodes summarises node health.
	// +optional
	Nodes NodeHealthSummary `json:"nodes,omitempty"`
	// Time is when the report was made.
	// +optional
	Time metav1.Time `json:"time,omitempty"`
}

// OperationSummary is one operation's line in a ClusterStatus.
type OperationSummary struct {
	// Kind of the operation.
	Kind string `json:"kind"`
	// Name of the operation.
	Name string `json:"name"`
	// Phase it is in.
	Phase string `json:"phase"`
	// Progress such as "2/3 nodes".
	// +optional
	Progress string `json:"progress,omitempty"`
}

// NodeHealthSummary counts nodes by health.
type NodeHealthSummary struct {
	// Total nodes.
	Total int `json:"total"`
	// Ready nodes.
	Ready int `json:"ready"`
}

// AuditRecord is one line of clusters/<cluster>/audit.jsonl: a phase
// transition, hash-chained to the record before it. Hash is the sha256 of
// the record's canonical JSON without Hash.
type AuditRecord struct {
	Seq          int64       `json:"seq"`
	Time         metav1.Time `json:"time"`
	Cluster      string      `json:"cluster"`
	Site         string      `json:"site"`
	Kind         string      `json:"kind"`
	Name         string      `json:"name"`
	From         string      `json:"from"`
	To           string      `json:"to"`
	Reason       string      `json:"reason"`
	Message      string      `json:"message"`
	Actor        string      `json:"actor"`
	SourceCommit string      `json:"sourceCommit"`
	Prev         string      `json:"prev"`
	Hash         string      `json:"hash,omitempty"`
}
