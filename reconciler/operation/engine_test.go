package operation_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/operation/optest"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

var controlPlane optest.ControlPlane

func TestMain(m *testing.M) { controlPlane.Main(m) }

const (
	working   phase.Phase = "Working"
	rolledOff phase.Phase = "RolledOff"
)

// testKind is a kind of one working phase whose step returns err, on
// BondModeFlipPlan objects; onHalt, when set, is its OnHalt hook.
func testKind(step operation.Step, onHalt func(*operation.Run, phase.Phase, string, string) phase.Phase) *operation.Kind {
	return &operation.Kind{
		Name: v1.KindBondModeFlipPlan,
		Table: &phase.Table{
			Kind: v1.KindBondModeFlipPlan, Initial: phase.Pending,
			Idle:     []phase.Phase{phase.Pending, phase.AwaitingApproval, phase.Halted},
			Terminal: []phase.Phase{phase.Succeeded, phase.Aborted, rolledOff},
			Next: map[phase.Phase][]phase.Phase{
				phase.Pending:          {phase.AwaitingApproval},
				phase.AwaitingApproval: {working, phase.Aborted},
				working:                {phase.Succeeded, phase.Halted, rolledOff},
				phase.Halted:           {working, phase.Aborted},
			},
		},
		New:        func() v1.Operation { return &v1.BondModeFlipPlan{} },
		First:      working,
		MaxRetries: 2,
		OnHalt:     onHalt,
		Steps: map[phase.Phase]operation.Step{
			phase.Pending:          operation.Begin,
			phase.AwaitingApproval: operation.AwaitApproval,
			working:                step,
		},
	}
}

// runTo applies an operation of kind and reconciles it until it leaves
// the working phase or has been reconciled n times there, and returns it
// with the last reconcile's result.
func runTo(t *testing.T, kind *operation.Kind, n int) (*v1.BondModeFlipPlan, time.Duration) {
	h := optest.New[*v1.BondModeFlipPlan](t, controlPlane.Client(t), optest.Options{Kind: kind, Name: "op", Site: "engine"})
	op := &v1.BondModeFlipPlan{Spec: v1.BondModeFlipPlanSpec{Bond: "bond0", FromMode: "active-backup", ToMode: "802.3ad", Nodes: []string{"node-a"}}}
	v1.Default(op)
	h.Apply(op)
	var after time.Duration
	for range n + 5 {
		op := h.Get()
		if p := phase.Phase(op.Status.Phase); p == working {
			if n--; n < 0 {
				break
			}
		} else if p != "" && p != phase.Pending && p != phase.AwaitingApproval {
			break
		}
		res, _ := h.Rec.Reconcile(context.Background(), h.Request())
		after = res.RequeueAfter
	}
	return h.Get(), after
}

// A wrapped Stall, Wait or transient error does exactly what the bare one
// does: the skeleton classifies once, wherever the typed error sits.
func TestWrappedErrorsBehaveLikeBareOnes(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("step: %w", fmt.Errorf("inner: %w", err)) }
	cases := []struct {
		name  string
		err   error
		check func(t *testing.T, op *v1.BondModeFlipPlan, after time.Duration)
	}{
		{"stall", operation.Stall("NodeStepFailed", "node-a refused"), func(t *testing.T, op *v1.BondModeFlipPlan, _ time.Duration) {
			assert.Equal(t, string(phase.Halted), op.Status.Phase)
			assert.Equal(t, "NodeStepFailed", lastReason(t, op))
		}},
		{"wait", operation.Wait(7*time.Second, "OutsideWindow", "later"), func(t *testing.T, op *v1.BondModeFlipPlan, after time.Duration) {
			assert.Equal(t, string(working), op.Status.Phase)
			assert.Equal(t, 7*time.Second, after)
			assert.Zero(t, op.Status.Retries)
		}},
		{"transient", errors.New("connection refused"), func(t *testing.T, op *v1.BondModeFlipPlan, _ time.Duration) {
			assert.Equal(t, string(phase.Halted), op.Status.Phase)
			assert.Equal(t, operation.ReasonRetriesExhausted, lastReason(t, op))
		}},
	}
	for _, c := range cases {
		for _, wrapped := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/wrapped=%v", c.name, wrapped), func(t *testing.T) {
				t.Parallel()
				err := c.err
				if wrapped {
					err = wrap(err)
				}
				kind := testKind(func(context.Context, *operation.Run) (phase.Phase, error) { return "", err }, nil)
				op, after := runTo(t, kind, 4)
				c.check(t, op, after)
			})
		}
	}
}

// OnHalt redirects a halt, stalled or out of retries, when the kind says
// so, and only into a phase its table allows.
func TestOnHaltRedirects(t *testing.T) {
	t.Parallel()
	var asked []string
	redirect := func(run *operation.Run, cur phase.Phase, reason, message string) phase.Phase {
		asked = append(asked, reason)
		run.Reason, run.Message = "RolledOff", "instead of "+reason+": "+message
		return rolledOff
	}
	stall := testKind(func(context.Context, *operation.Run) (phase.Phase, error) {
		return "", fmt.Errorf("wrapped: %w", operation.Stall("Broken", "it broke"))
	}, redirect)
	op, _ := runTo(t, stall, 1)
	assert.Equal(t, string(rolledOff), op.Status.Phase)
	require.Equal(t, []string{"Broken"}, asked)

	asked = nil
	failing := testKind(func(context.Context, *operation.Run) (phase.Phase, error) { return "", errors.New("flaky") }, redirect)
	op, _ = runTo(t, failing, 5)
	assert.Equal(t, string(rolledOff), op.Status.Phase)
	assert.Equal(t, []string{operation.ReasonRetriesExhausted}, asked)

	// A redirect the table does not allow halts instead of skipping ahead.
	bad := testKind(func(context.Context, *operation.Run) (phase.Phase, error) {
		return "", operation.Stall("Broken", "it broke")
	},
		func(*operation.Run, phase.Phase, string, string) phase.Phase { return phase.Succeeded + "Elsewhere" })
	op, _ = runTo(t, bad, 1)
	assert.Equal(t, string(phase.Halted), op.Status.Phase)
	assert.Equal(t, operation.ReasonTransitionNotAllowed, lastReason(t, op))
}

// lastReason is the reason of the operation's newest audit record.
func lastReason(t *testing.T, op *v1.BondModeFlipPlan) string {
	t.Helper()
	require.NotEmpty(t, op.Status.Audit)
	return op.Status.Audit[len(op.Status.Audit)-1].Reason
}
