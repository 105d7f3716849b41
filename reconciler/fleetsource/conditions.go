package fleetsource

import (
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// markProgress says that the reconcile works on something new (a new
// generation of the spec, or a newly verified commit): Reconciling is
// True and Ready Unknown, both with reason Progressing, until the
// reconcile's result replaces them. It reports whether the conditions
// changed: a Reconciling that is True already (a retry of a transient
// failure, say) is left as it is, so a reconcile that keeps failing the
// same way writes nothing new.
func markProgress(fs *v1.FleetSource, format string, args ...any) bool {
	if conditions.IsTrue(fs, meta.ReconcilingCondition) {
		return false
	}
	conditions.MarkReconciling(fs, meta.ProgressingReason, format, args...)
	conditions.MarkUnknown(fs, meta.ReadyCondition, meta.ProgressingReason, format, args...)
	return true
}

// setConditions records a reconcile's result on fs; it is pure over fs's
// status and table-tested.
//
//   - Continue (every step continued): Ready is True with the last step's
//     reason, Reconciling and Stalled are removed, and ObservedGeneration
//     becomes the generation.
//   - Stop: Ready is False and Stalled True with the reason (a DESIGN
//     reason code for a refused commit), Reconciling is removed, and
//     ObservedGeneration becomes the generation: this generation has been
//     looked at, and retrying will not change the answer.
//   - Requeue: Ready is False and Reconciling True with the reason,
//     Stalled is removed, and ObservedGeneration stays: the generation is
//     not yet reconciled.
func setConditions(fs *v1.FleetSource, res Result) {
	reason, msg := res.Reason, res.Message
	if reason == "" {
		reason = meta.FailedReason
	}
	if msg == "" {
		msg = reason
	}
	switch res.Verdict {
	case Continue:
		conditions.MarkTrue(fs, meta.ReadyCondition, reason, "%s", msg)
		conditions.Delete(fs, meta.ReconcilingCondition)
		conditions.Delete(fs, meta.StalledCondition)
		fs.Status.ObservedGeneration = fs.Generation
	case Stop:
		conditions.MarkFalse(fs, meta.ReadyCondition, reason, "%s", msg)
		conditions.Delete(fs, meta.ReconcilingCondition)
		conditions.MarkStalled(fs, reason, "%s", msg)
		fs.Status.ObservedGeneration = fs.Generation
	default:
		conditions.MarkFalse(fs, meta.ReadyCondition, reason, "%s", msg)
		conditions.MarkReconciling(fs, reason, "%s", msg)
		conditions.Delete(fs, meta.StalledCondition)
	}
}
