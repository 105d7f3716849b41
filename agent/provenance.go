package agent

import (
	"context"
	"fmt"
	"slices"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Reason codes of a task the agent refuses as not the reconciler's, the
// first word of the task's message.
const (
	// ReasonNotAttested: no attestation, or one the API server does not
	// vouch for as the reconciler's for this task.
	ReasonNotAttested = "NotAttested"
	// ReasonNotRequested: the operation the task names does not exist or
	// is not in the phase that asks for the task's action.
	ReasonNotRequested = "NotRequested"
)

// unproven returns why the agent will not take the task as the
// reconciler's ("" when it will), or an error when it could not find out
// (the API server did not answer; the task is looked at again).
//
// A task is the reconciler's when the API server says that its
// attestation token belongs to Options.ReconcilerUser and was minted for
// this task's audience (a TokenReview), and the operation it names exists
// and is in the phase that asks for its action (v1.TaskRequests). Neither
// a label nor managedFields prove a writer: clients set those themselves.
//
// A task this agent resumes after a restart is checked for its attestation
// only (requested false): its operation may have moved on meanwhile (halted
// for the agent's silence), and the resumed run must still finish or
// revert what the first run began.
func (r *taskReconciler) unproven(ctx context.Context, task *v1.NodeTask, requested bool) (string, error) {
	token := task.Annotations[v1.AnnotationAttestation]
	if token == "" {
		return refusal(ReasonNotAttested, "no %s annotation: the task was not written by the reconciler (%s); not touched", v1.AnnotationAttestation, r.opts.ReconcilerUser), nil
	}
	aud, err := task.AttestationAudience()
	if err != nil {
		return refusal(ReasonNotAttested, "%s; not touched", err), nil
	}
	review := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token, Audiences: []string{aud}}}
	if err := r.client.Create(ctx, review); err != nil {
		return "", fmt.Errorf("review the attestation of task %s: %w", task.Name, err)
	}
	st := review.Status
	switch {
	case !st.Authenticated:
		why := st.Error
		if why == "" {
			why = "not authenticated"
		}
		return refusal(ReasonNotAttested, "the API server does not vouch for the task's attestation (%s): it was not written by the reconciler for this spec, or it expired; not touched", why), nil
	case st.User.Username != r.opts.ReconcilerUser:
		return refusal(ReasonNotAttested, "the task's attestation belongs to %s, not to the reconciler (%s); not touched", st.User.Username, r.opts.ReconcilerUser), nil
	case !slices.Contains(st.Audiences, aud):
		return refusal(ReasonNotAttested, "the task's attestation was not minted for this task; not touched"), nil
	}
	if !requested {
		return "", nil
	}
	return r.unrequested(ctx, task)
}

// unrequested returns why the operation the task names does not ask for
// it ("" when it does).
func (r *taskReconciler) unrequested(ctx context.Context, task *v1.NodeTask) (string, error) {
	ref := task.Spec.Operation
	want, ok := v1.TaskRequests[task.Spec.Action]
	if !ok {
		return refusal(ReasonNotRequested, "no operation asks for action %q; not touched", task.Spec.Action), nil
	}
	if ref.Kind != want.Kind {
		return refusal(ReasonNotRequested, "action %s belongs to %s operations, but the task names %s %s; not touched", task.Spec.Action, want.Kind, ref.Kind, ref.Name), nil
	}
	k, ok := v1.LookupOperationKind(ref.Kind)
	if !ok {
		return refusal(ReasonNotRequested, "the task names an operation of unknown kind %q; not touched", ref.Kind), nil
	}
	op := k.New()
	err := r.reader.Get(ctx, client.ObjectKey{Namespace: task.Namespace, Name: ref.Name}, op)
	switch {
	case apierrors.IsNotFound(err):
		return refusal(ReasonNotRequested, "the task names %s %s, which does not exist; not touched", ref.Kind, ref.Name), nil
	case err != nil:
		return "", fmt.Errorf("read %s %s of task %s: %w", ref.Kind, ref.Name, task.Name, err)
	}
	if got := op.OperationStatus().Phase; got != want.Phase {
		return refusal(ReasonNotRequested, "%s %s is in phase %q, not %s, which asks for %s; not touched", ref.Kind, ref.Name, got, want.Phase, task.Spec.Action), nil
	}
	return "", nil
}

// refusal is a task's message for a refusal: its reason code, then why.
func refusal(code, format string, args ...any) string {
	return code + ": " + fmt.Sprintf(format, args...)
}
