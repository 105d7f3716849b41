// Package v1alpha1 holds the nodewright.io/v1alpha1 API: the site profile
// (EdgeProfile), the three operation kinds (BondModeFlipPlan,
// ReplicationUpgrade, VMVolumeMigration), the in-cluster resources
// (FleetSource, NodeTask, NodewrightAgentStatus, NodewrightCluster) and the
// status-branch records (ClusterStatus, AuditRecord).
//
// The same types back the fleet repository's manifests and the custom
// resources, so the repository, the cluster and the tools speak one schema.
// Enums are typed constants; defaults are applied in one place (Default);
// the OpenAPI markers carry the same enums and bounds as the Go validation
// in package schema/validate. The package holds data only: no I/O, no
// decoding rules beyond the JSON tags.
//
// +kubebuilder:object:generate=true
// +groupName=nodewright.io
package v1alpha1
