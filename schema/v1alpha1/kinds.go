package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// OperationList is a list of operations of one kind: a controller-runtime
// client.ObjectList whose items read as Operations.
//
// +kubebuilder:object:generate=false
type OperationList interface {
	metav1.ListInterface
	runtime.Object
	// Operations returns the list's items.
	Operations() []Operation
}

// OperationKind is one entry of the registry of operation kinds.
//
// +kubebuilder:object:generate=false
type OperationKind struct {
	// Kind is the kind's name, as manifests spell it.
	Kind string
	// Short is the kind's short name in NodeTask names.
	Short string
	// New returns an empty object of the kind.
	New func() Operation
	// NewList returns an empty list of the kind, to list into.
	NewList func() OperationList
}

// Registry is every operation kind, in the order they are shown: the one
// list that manifests, the trust policy's operation rules, the reconciler
// and the agent's task names read. A kind added here must get a
// controller (reconciler.Kinds), which a test checks.
var Registry = []OperationKind{
	{Kind: KindBondModeFlipPlan, Short: "bf",
		New: func() Operation { return &BondModeFlipPlan{} }, NewList: func() OperationList { return &BondModeFlipPlanList{} }},
	{Kind: KindReplicationUpgrade, Short: "ru",
		New: func() Operation { return &ReplicationUpgrade{} }, NewList: func() OperationList { return &ReplicationUpgradeList{} }},
	{Kind: KindVMVolumeMigration, Short: "vm",
		New: func() Operation { return &VMVolumeMigration{} }, NewList: func() OperationList { return &VMVolumeMigrationList{} }},
}

// OperationKinds are the names of the Registry's kinds: the kinds an
// operation manifest may have.
var OperationKinds = func() []string {
	out := make([]string, len(Registry))
	for i, k := range Registry {
		out[i] = k.Kind
	}
	return out
}()

// LookupOperationKind returns the registry entry of kind.
func LookupOperationKind(kind string) (OperationKind, bool) {
	for _, k := range Registry {
		if k.Kind == kind {
			return k, true
		}
	}
	return OperationKind{}, false
}

// Operations returns the list's items.
func (l *BondModeFlipPlanList) Operations() []Operation { return items(l.Items) }

// Operations returns the list's items.
func (l *ReplicationUpgradeList) Operations() []Operation { return items(l.Items) }

// Operations returns the list's items.
func (l *VMVolumeMigrationList) Operations() []Operation { return items(l.Items) }

// items returns pointers to the elements of a list's Items.
func items[T any, P interface {
	*T
	Operation
}](list []T) []Operation {
	out := make([]Operation, len(list))
	for i := range list {
		out[i] = P(&list[i])
	}
	return out
}
