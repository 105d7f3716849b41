package operation

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/fluxcd/pkg/runtime/conditions"
	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func TestClassify(t *testing.T) {
	assert.Equal(t, Stalling, Classify(Stall("NodeStepFailed", "node %s", "a")).Class)
	o := Classify(fmt.Errorf("wrapped: %w", Stall("X", "y")))
	assert.Equal(t, Outcome{Class: Stalling, Reason: "X", Message: "y", Err: o.Err}, o)
	o = Classify(fmt.Errorf("wrapped: %w", Wait(time.Second, "OutsideWindow", "later")))
	assert.Equal(t, Outcome{Class: Waiting, Reason: "OutsideWindow", Message: "later", After: time.Second, Err: o.Err}, o)
	// A stall anywhere in the chain wins over a wait.
	assert.Equal(t, Stalling, Classify(errors.Join(Wait(time.Second, "W", "w"), Stall("S", "s"))).Class)
	refused := errors.New("connection refused")
	assert.Equal(t, Outcome{Class: Transient, Message: "connection refused", Err: refused}, Classify(refused))

	// The backend's typed errors: a missing object and a refusal halt at
	// once, a transient one is retried, wrapped or not.
	o = Classify(fmt.Errorf("read group: %w", &backend.NotFoundError{Kind: "resource group", Name: "rg"}))
	assert.Equal(t, Stalling, o.Class)
	assert.Equal(t, backend.ReasonNotFound, o.Reason)
	assert.Contains(t, o.Message, `resource group "rg" not found`)
	o = Classify(&backend.RefusedError{Op: "autoplace r1 to 3 replicas", Message: "Not enough available nodes"})
	assert.Equal(t, Stalling, o.Class)
	assert.Equal(t, backend.ReasonRefused, o.Reason)
	o = Classify(fmt.Errorf("x: %w", &backend.TransientError{Op: "GET /v1/nodes", Err: refused}))
	assert.Equal(t, Transient, o.Class)
	assert.True(t, errors.Is(o.Err, refused))
}

func TestSetConditions(t *testing.T) {
	for _, tc := range []struct {
		name                                 string
		obs                                  Observation
		ready, reconciling, stalled, wantWhy string
	}{
		{"working", Observation{Phase: "Flip", Reason: "WaitingForAgent", Message: "m"}, "False", "True", "", "WaitingForAgent"},
		{"halted", Observation{Phase: phase.Halted, Reason: "NodeStepFailed", Message: "node b"}, "False", "", "True", "NodeStepFailed"},
		{"succeeded", Observation{Phase: phase.Succeeded, Terminal: true}, "True", "", "", "Succeeded"},
		{"aborted", Observation{Phase: phase.Aborted, Terminal: true, Reason: "Aborted"}, "False", "", "True", "Aborted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj := &v1.BondModeFlipPlan{}
			// Start from the opposite state, so stale conditions must go.
			conditions.MarkTrue(obj, Stalled, "Old", "old")
			conditions.MarkTrue(obj, Reconciling, "Old", "old")
			SetConditions(obj, tc.obs)
			status := func(typ string) string {
				if c := conditions.Get(obj, typ); c != nil {
					return string(c.Status)
				}
				return ""
			}
			assert.Equal(t, tc.ready, status(Ready))
			assert.Equal(t, tc.reconciling, status(Reconciling))
			assert.Equal(t, tc.stalled, status(Stalled))
			assert.Equal(t, tc.wantWhy, conditions.Get(obj, Ready).Reason)
		})
	}
}

func TestFindOrphan(t *testing.T) {
	recent := []v1.AuditRecord{
		{Seq: 7, Kind: "K", Name: "op", From: "A", To: "B"},
		{Seq: 8, Kind: "K", Name: "other", From: "A", To: "B"},
		{Seq: 9, Kind: "K", Name: "op", From: "B", To: "C"},
	}
	r, ok := findOrphan(recent, v1.AuditRecord{Kind: "K", Name: "op", From: "B", To: "C"}, 7)
	assert.True(t, ok, "a record linked after the operation's last one is adopted")
	assert.Equal(t, int64(9), r.Seq)
	_, ok = findOrphan(recent, v1.AuditRecord{Kind: "K", Name: "op", From: "A", To: "B"}, 7)
	assert.False(t, ok, "a record the operation already holds is not adopted again")
	_, ok = findOrphan(recent, v1.AuditRecord{Kind: "K", Name: "op", From: "B", To: "D"}, 7)
	assert.False(t, ok, "another transition is linked anew")
}

// The writer named in a NotFromSource halt is the newest writer of the
// spec; metadata-only and status writes do not count.
func TestLastWriter(t *testing.T) {
	at := func(min int) *metav1.Time {
		tm := metav1.NewTime(time.Date(2026, 12, 3, 10, min, 0, 0, time.UTC))
		return &tm
	}
	obj := &v1.BondModeFlipPlan{}
	assert.Equal(t, "an unknown writer (no managedFields)", lastWriter(obj))
	obj.ManagedFields = []metav1.ManagedFieldsEntry{
		{Manager: "nodewright-fleetsource", Operation: metav1.ManagedFieldsOperationApply, Time: at(1)},
		{Manager: "kubectl-edit", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(5), FieldsV1: metav1.NewFieldsV1(`{"f:spec":{"f:toMode":{}}}`)},
		{Manager: "nodewright", Operation: metav1.ManagedFieldsOperationUpdate, Time: at(7), FieldsV1: metav1.NewFieldsV1(`{"f:metadata":{"f:finalizers":{}}}`)},
		{Manager: "nodewright-reconciler", Operation: metav1.ManagedFieldsOperationUpdate, Subresource: "status", Time: at(9)},
	}
	assert.Equal(t, `field manager "kubectl-edit" (Update at 2026-12-03T10:05:00Z)`, lastWriter(obj))
	obj.ManagedFields = obj.ManagedFields[2:]
	assert.Equal(t, `field manager "nodewright" (Update at 2026-12-03T10:07:00Z)`, lastWriter(obj), "no spec writer: the newest writer")
}

// evacuatorOnly is a VM protection backend without volume migration.
type evacuatorOnly struct{ backend.Evacuator }

func TestVMProtectorPrefersTheEvacuator(t *testing.T) {
	assert.Nil(t, (&Env{}).VMProtector(), "no backend: nil, so steps halt with a reason")
	e := evacuatorOnly{}
	assert.Equal(t, backend.Evacuator(e), (&Env{Evacuator: e}).VMProtector())
}
