package agent_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/simhost"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// TestTasksNotFromTheReconcilerAreRefused writes NodeTasks the way an
// intruder with rights to NodeTasks would, each a valid FlipBond for the
// agent's node, and shows that the agent refuses every one with its
// reason and never touches the host; a genuine task then runs.
func TestTasksNotFromTheReconcilerAreRefused(t *testing.T) {
	_, c := env(t)
	ctx := context.Background()
	ns, node := newNamespace(t), nodeName()
	reconcilerSide(t, ns)
	intruder := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "intruder"}}
	require.NoError(t, c.Create(ctx, intruder))
	for _, o := range []*v1.BondModeFlipPlan{
		{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "waiting"}, Spec: flipSpec()},
	} {
		require.NoError(t, c.Create(ctx, o)) // no status: phase ""
	}

	tests := []struct {
		name string
		// make returns the task to create; forge, when set, then writes
		// its status as the intruder would.
		make    func() *v1.NodeTask
		forge   *v1.NodeTaskStatus
		message string
	}{{
		name: "hand-made",
		make: func() *v1.NodeTask {
			return unattestedTask(ns, "hand-made", node, v1.ActionFlipBond, flipParams(), hour())
		},
		message: "no nodewright.io/attestation annotation: the task was not written by the reconciler (system:serviceaccount:" + ns + ":nodewright-reconciler); not touched",
	}, {
		name: "garbage-token",
		make: func() *v1.NodeTask {
			task := unattestedTask(ns, "garbage-token", node, v1.ActionFlipBond, flipParams(), hour())
			task.Annotations = map[string]string{v1.AnnotationAttestation: "eyJhbGciOiJub25lIn0.e30."}
			return task
		},
		message: "the API server does not vouch for the task's attestation",
	}, {
		name: "another-account",
		make: func() *v1.NodeTask {
			task := unattestedTask(ns, "another-account", node, v1.ActionFlipBond, flipParams(), hour())
			token, err := (&nodetask.TokenAttester{Client: c, Namespace: ns, ServiceAccount: "intruder"}).Attest(ctx, task)
			require.NoError(t, err)
			task.Annotations = map[string]string{v1.AnnotationAttestation: token}
			return task
		},
		message: "the task's attestation belongs to system:serviceaccount:" + ns + ":intruder, not to the reconciler",
	}, {
		name: "copied-token",
		// A genuine attestation of a harmless task, copied onto a task
		// with other params.
		make: func() *v1.NodeTask {
			genuine := unattestedTask(ns, "copied-token", node, v1.ActionFlipBond, flipParams(), hour())
			attest(t, genuine)
			task := unattestedTask(ns, "copied-token", node, v1.ActionFlipBond, flipParams(func(p map[string]string) { p[v1.ParamToMode] = string(v1.BondBalanceRR) }), hour())
			task.Annotations = genuine.Annotations
			return task
		},
		message: "the API server does not vouch for the task's attestation",
	}, {
		name: "no-such-operation",
		make: func() *v1.NodeTask {
			task := unattestedTask(ns, "no-such-operation", node, v1.ActionFlipBond, flipParams(), hour())
			task.Spec.Operation.Name = "ghost"
			attest(t, task)
			return task
		},
		message: "the task names BondModeFlipPlan ghost, which does not exist; not touched",
	}, {
		name: "operation-not-flipping",
		make: func() *v1.NodeTask {
			task := unattestedTask(ns, "operation-not-flipping", node, v1.ActionFlipBond, flipParams(), hour())
			task.Spec.Operation.Name = "waiting"
			attest(t, task)
			return task
		},
		message: `BondModeFlipPlan waiting is in phase "", not Flip, which asks for FlipBond; not touched`,
	}, {
		name: "wrong-kind",
		make: func() *v1.NodeTask {
			task := unattestedTask(ns, "wrong-kind", node, v1.ActionFlipBond, flipParams(), hour())
			task.Spec.Operation.Kind = v1.KindReplicationUpgrade
			attest(t, task)
			return task
		},
		message: "action FlipBond belongs to BondModeFlipPlan operations, but the task names ReplicationUpgrade flip; not touched",
	}, {
		name: "forged-claim",
		make: func() *v1.NodeTask {
			return unattestedTask(ns, "forged-claim", node, v1.ActionFlipBond, flipParams(), hour())
		},
		forge:   &v1.NodeTaskStatus{Phase: string(v1.TaskRunning), ClaimedBy: node, Message: "resume me"},
		message: "no nodewright.io/attestation annotation",
	}}
	tasks := make([]*v1.NodeTask, len(tests))
	for i, tt := range tests {
		tasks[i] = tt.make()
		require.NoError(t, c.Create(ctx, tasks[i]), tt.name)
		if tt.forge != nil {
			tasks[i].Status = *tt.forge
			require.NoError(t, c.Status().Update(ctx, tasks[i]), tt.name)
		}
	}
	host := simhost.New(bond0(v1.BondActiveBackup))
	runAgent(t, agent.Options{Node: node, Namespace: ns, Host: host})
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := waitPhase(t, tasks[i], v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
			assert.Equal(t, string(v1.TaskFailed), got.Status.Phase)
			assert.Contains(t, got.Status.Message, tt.message)
			assert.Regexp(t, `^(NotAttested|NotRequested): `, got.Status.Message, "a refusal starts with its reason code")
		})
	}
	assert.Empty(t, host.Journal(), "no refused task touched the host")

	genuine := newTask(t, ns, "genuine", node, v1.ActionFlipBond, flipParams(), hour())
	got := waitPhase(t, genuine, v1.TaskSucceeded, v1.TaskFailed, v1.TaskReverted)
	assert.Equal(t, string(v1.TaskSucceeded), got.Status.Phase, got.Status.Message)
	assert.Len(t, host.Journal(), 1)
}
