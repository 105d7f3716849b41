package nodetask

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Step names one node step of one operation.
type Step struct {
	// Operation is the operation the step belongs to.
	Operation v1.Operation
	// Kind is the operation's kind.
	Kind string
	// Node is the node whose agent executes the step.
	Node string
	// Action and Params are what the agent does.
	Action string
	Params map[string]string
	// Attempt tells runs of the same step apart: a resumed step is a new
	// attempt and so a new task.
	Attempt int32
	// Deadline is when the agent must give up.
	Deadline time.Time
}

// Name is the task's name: the same step and attempt always give the
// same name, so a reconciler that crashed after creating the task and
// before recording it finds it again instead of creating a second one.
func (s Step) Name() string {
	name := fmt.Sprintf("%s-%s-%s-%s-%d", shortKind(s.Kind), s.Operation.GetName(), strings.ToLower(s.Action), s.Node, s.Attempt)
	if len(name) <= 63 {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:50] + "-" + hex.EncodeToString(sum[:])[:12]
}

func shortKind(kind string) string {
	if k, ok := v1.LookupOperationKind(kind); ok {
		return k.Short
	}
	return strings.ToLower(kind)
}

// Ensure creates the step's task unless it exists, and returns it as the
// API server has it. A new task carries attester's attestation; with a nil
// attester it carries none, and no agent runs it.
func Ensure(ctx context.Context, c client.Client, s Step, attester Attester) (*v1.NodeTask, error) {
	op := s.Operation
	task := &v1.NodeTask{
		ObjectMeta: metav1.ObjectMeta{
			Name:      s.Name(),
			Namespace: op.GetNamespace(),
			Labels: map[string]string{
				v1.LabelNode:          s.Node,
				v1.LabelOperationKind: s.Kind,
				v1.LabelOperationName: op.GetName(),
			},
		},
		Spec: v1.NodeTaskSpec{
			NodeName:  s.Node,
			Operation: v1.OperationReference{Kind: s.Kind, Name: op.GetName()},
			Action:    s.Action,
			Params:    s.Params,
			Deadline:  metav1.NewTime(s.Deadline.UTC().Truncate(time.Second)),
		},
	}
	got, err := Get(ctx, c, s)
	if err != nil {
		return nil, err
	}
	if got == nil {
		if attester != nil {
			token, err := attester.Attest(ctx, task)
			if err != nil {
				return nil, err
			}
			task.Annotations = map[string]string{v1.AnnotationAttestation: token}
		}
		err := c.Create(ctx, task)
		if err == nil {
			return task, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			return nil, fmt.Errorf("create NodeTask %s for node %s: %w", task.Name, s.Node, err)
		}
		// Created meanwhile (the cache lagged): read what is there.
		got = &v1.NodeTask{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(task), got); err != nil {
			return nil, fmt.Errorf("read NodeTask %s: %w", task.Name, err)
		}
	}
	if got.Spec.NodeName != s.Node || got.Spec.Action != s.Action || got.Spec.Operation.Name != op.GetName() {
		return nil, fmt.Errorf("NodeTask %s exists for another step (%s on %s for %s)", got.Name, got.Spec.Action, got.Spec.NodeName, got.Spec.Operation.Name)
	}
	return got, nil
}

// Get returns the step's task, or nil when it does not exist.
func Get(ctx context.Context, c client.Client, s Step) (*v1.NodeTask, error) {
	got := &v1.NodeTask{}
	err := c.Get(ctx, client.ObjectKey{Namespace: s.Operation.GetNamespace(), Name: s.Name()}, got)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read NodeTask %s: %w", s.Name(), err)
	}
	return got, nil
}

// DeleteAll deletes every task of the operation. It is the cleanup of an
// operation that ended or was removed from git.
func DeleteAll(ctx context.Context, c client.Client, kind string, op client.Object) error {
	return client.IgnoreNotFound(c.DeleteAllOf(ctx, &v1.NodeTask{}, client.InNamespace(op.GetNamespace()),
		client.MatchingLabels{v1.LabelOperationKind: kind, v1.LabelOperationName: op.GetName()}))
}
