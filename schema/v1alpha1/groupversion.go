package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the API group of every Nodewright kind.
const Group = "nodewright.io"

// Version is this package's API version.
const Version = "v1alpha1"

// APIVersion is the apiVersion manifests carry.
const APIVersion = Group + "/" + Version

var (
	// GroupVersion is the group and version of this package's kinds.
	GroupVersion = schema.GroupVersion{Group: Group, Version: Version}

	// SchemeBuilder registers the kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&EdgeProfile{}, &EdgeProfileList{},
		&BondModeFlipPlan{}, &BondModeFlipPlanList{},
		&ReplicationUpgrade{}, &ReplicationUpgradeList{},
		&VMVolumeMigration{}, &VMVolumeMigrationList{},
		&FleetSource{}, &FleetSourceList{},
		&NodeTask{}, &NodeTaskList{},
		&NodewrightAgentStatus{}, &NodewrightAgentStatusList{},
		&NodewrightCluster{}, &NodewrightClusterList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// Kind names, as manifests spell them.
const (
	KindEdgeProfile           = "EdgeProfile"
	KindBondModeFlipPlan      = "BondModeFlipPlan"
	KindReplicationUpgrade    = "ReplicationUpgrade"
	KindVMVolumeMigration     = "VMVolumeMigration"
	KindFleetSource           = "FleetSource"
	KindNodeTask              = "NodeTask"
	KindNodewrightAgentStatus = "NodewrightAgentStatus"
	KindNodewrightCluster     = "NodewrightCluster"
)

// Object is any of this package's root kinds.
//
// +kubebuilder:object:generate=false
type Object interface {
	runtime.Object
	GetName() string
}
