package fleetsource

import (
	"errors"
	"testing"

	"github.com/fluxcd/pkg/apis/meta"
	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestSetConditions(t *testing.T) {
	for _, tc := range []struct {
		name                         string
		res                          Result
		ready, reconciling, stalled  metav1.ConditionStatus
		wantReason                   string
		observedGenerationMovesAhead bool
	}{
		{"success", next(ReasonApplied, "applied"), metav1.ConditionTrue, "", "", ReasonApplied, true},
		{"refused", stop("Unsigned", "commit x is not signed"), metav1.ConditionFalse, "", metav1.ConditionTrue, "Unsigned", true},
		{"transient", requeue(ReasonFetchFailed, nil, "connection refused"), metav1.ConditionFalse, metav1.ConditionTrue, "", ReasonFetchFailed, false},
		{"transient with backoff", requeue(ReasonApplyFailed, errors.New("conflict"), "conflict"), metav1.ConditionFalse, metav1.ConditionTrue, "", ReasonApplyFailed, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := &v1.FleetSource{ObjectMeta: metav1.ObjectMeta{Generation: 5}, Status: v1.FleetSourceStatus{ObservedGeneration: 4}}
			// Start from the opposite state, so stale conditions must go.
			conditions.MarkTrue(fs, meta.StalledCondition, "Old", "old")
			conditions.MarkTrue(fs, meta.ReconcilingCondition, "Old", "old")
			setConditions(fs, tc.res)
			status := func(typ string) metav1.ConditionStatus {
				if c := conditions.Get(fs, typ); c != nil {
					return c.Status
				}
				return ""
			}
			assert.Equal(t, tc.ready, status(meta.ReadyCondition))
			assert.Equal(t, tc.reconciling, status(meta.ReconcilingCondition))
			assert.Equal(t, tc.stalled, status(meta.StalledCondition))
			assert.Equal(t, tc.wantReason, conditions.Get(fs, meta.ReadyCondition).Reason)
			if tc.reconciling != "" {
				assert.Equal(t, tc.wantReason, conditions.Get(fs, meta.ReconcilingCondition).Reason)
			}
			if tc.stalled != "" {
				assert.Equal(t, tc.wantReason, conditions.Get(fs, meta.StalledCondition).Reason)
			}
			want := int64(4)
			if tc.observedGenerationMovesAhead {
				want = 5
			}
			assert.Equal(t, want, fs.Status.ObservedGeneration)
		})
	}
}

func TestMarkProgress(t *testing.T) {
	fs := &v1.FleetSource{}
	conditions.MarkTrue(fs, meta.ReadyCondition, ReasonApplied, "applied")
	conditions.MarkTrue(fs, meta.StalledCondition, "Unsigned", "refused")
	assert.True(t, markProgress(fs, "reconciling generation %d", 2))
	assert.True(t, conditions.IsTrue(fs, meta.ReconcilingCondition))
	assert.Equal(t, meta.ProgressingReason, conditions.GetReason(fs, meta.ReconcilingCondition))
	assert.True(t, conditions.IsUnknown(fs, meta.ReadyCondition))
	assert.False(t, conditions.Has(fs, meta.StalledCondition))

	// A Reconciling that is True already stays as it is: a retry that
	// fails the same way changes nothing.
	setConditions(fs, requeue(ReasonFetchFailed, nil, "connection refused"))
	before := fs.DeepCopy()
	assert.False(t, markProgress(fs, "reconciling generation %d", 2))
	assert.Equal(t, before, fs)
}

func TestVerdictString(t *testing.T) {
	assert.Equal(t, "Continue", Continue.String())
	assert.Equal(t, "Requeue", Requeue.String())
	assert.Equal(t, "Stop", Stop.String())
	assert.Equal(t, "Verdict(7)", Verdict(7).String())
}
