package operation

import (
	"github.com/fluxcd/pkg/runtime/conditions"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"

	"github.com/nodewright/nodewright/reconciler/phase"
)

// Condition types of an operation.
const (
	// Ready is True once the operation Succeeded.
	Ready = "Ready"
	// Reconciling is True while the operation works or waits; its reason
	// says on what.
	Reconciling = "Reconciling"
	// Stalled is True while the operation is Halted (reason: why) or ended
	// without success.
	Stalled = "Stalled"
)

// Observation is what a reconcile saw, from which the conditions follow.
type Observation struct {
	// Phase is the operation's phase after the reconcile.
	Phase phase.Phase
	// Terminal says whether Phase ends the operation.
	Terminal bool
	// Reason and Message explain the last transition, halt or wait.
	Reason, Message string
}

// SetConditions computes the Ready, Reconciling and Stalled conditions
// from an observation. It is pure over obj's conditions and table-tested.
func SetConditions(obj v1.Operation, o Observation) {
	reason, msg := o.Reason, o.Message
	if reason == "" {
		reason = string(o.Phase)
	}
	if msg == "" {
		msg = "phase " + string(o.Phase)
	}
	switch {
	case o.Phase == phase.Succeeded:
		conditions.MarkTrue(obj, Ready, reason, "%s", msg)
		conditions.Delete(obj, Reconciling)
		conditions.Delete(obj, Stalled)
	case o.Phase == phase.Halted:
		conditions.MarkFalse(obj, Ready, reason, "%s", msg)
		conditions.Delete(obj, Reconciling)
		conditions.MarkTrue(obj, Stalled, reason, "%s", msg)
	case o.Terminal:
		conditions.MarkFalse(obj, Ready, reason, "%s", msg)
		conditions.Delete(obj, Reconciling)
		conditions.MarkTrue(obj, Stalled, reason, "ended in %s: %s", o.Phase, msg)
	default:
		conditions.MarkFalse(obj, Ready, reason, "%s", msg)
		conditions.MarkTrue(obj, Reconciling, reason, "%s", msg)
		conditions.Delete(obj, Stalled)
	}
}
