package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Operation is what every operation kind has in common, so that one
// reconcile skeleton drives them all.
//
// +kubebuilder:object:generate=false
type Operation interface {
	// metav1.Object and runtime.Object make it a controller-runtime
	// client.Object, without this package importing controller-runtime.
	metav1.Object
	runtime.Object
	// OperationStatus returns the status to read and change in place.
	OperationStatus() *OperationStatus
	// OperationAction returns spec.action.
	OperationAction() OperationAction
	// GetConditions returns the status conditions.
	GetConditions() []metav1.Condition
	// SetConditions replaces the status conditions.
	SetConditions([]metav1.Condition)
}

// OperationStatus returns the plan's status.
func (o *BondModeFlipPlan) OperationStatus() *OperationStatus { return &o.Status }

// OperationAction returns spec.action.
func (o *BondModeFlipPlan) OperationAction() OperationAction { return o.Spec.Action }

// GetConditions returns the status conditions.
func (o *BondModeFlipPlan) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *BondModeFlipPlan) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// OperationStatus returns the upgrade's status.
func (o *ReplicationUpgrade) OperationStatus() *OperationStatus { return &o.Status }

// OperationAction returns spec.action.
func (o *ReplicationUpgrade) OperationAction() OperationAction { return o.Spec.Action }

// GetConditions returns the status conditions.
func (o *ReplicationUpgrade) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *ReplicationUpgrade) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// OperationStatus returns the migration's status.
func (o *VMVolumeMigration) OperationStatus() *OperationStatus { return &o.Status }

// OperationAction returns spec.action.
func (o *VMVolumeMigration) OperationAction() OperationAction { return o.Spec.Action }

// GetConditions returns the status conditions.
func (o *VMVolumeMigration) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *VMVolumeMigration) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }

// GetConditions returns the status conditions.
func (o *FleetSource) GetConditions() []metav1.Condition { return o.Status.Conditions }

// SetConditions replaces the status conditions.
func (o *FleetSource) SetConditions(c []metav1.Condition) { o.Status.Conditions = c }
