package agent

import (
	"context"
	"fmt"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// ConditionReady is the heartbeat's condition: True while the agent runs
// and can read its host.
const ConditionReady = "Ready"

// Reasons of the Ready condition.
const (
	// ReasonAgentRunning (Ready=True): the agent runs and read its host's
	// bonds at the last heartbeat.
	ReasonAgentRunning = "AgentRunning"
	// ReasonHostUnreadable (Ready=False): the agent runs but the host did not
	// report its bonds; the message has the host's error.
	ReasonHostUnreadable = "HostUnreadable"
	// ReasonAgentStopped (Ready=False): the agent was shut down; it
	// executes no tasks until it starts again.
	ReasonAgentStopped = "AgentStopped"
)

// stopReportTimeout bounds the last heartbeat an agent writes as it stops.
const stopReportTimeout = 5 * time.Second

// heartbeat keeps the node's NodewrightAgentStatus.
type heartbeat struct {
	client client.Client
	reader client.Reader
	opts   Options
	// poke asks for a heartbeat now (after a task finishes); it holds at
	// most one pending request.
	poke chan struct{}

	mu      sync.Mutex
	current string // the task being executed, for the Ready message
}

// run reports every HeartbeatInterval and when poked, until ctx is done;
// then it reports Ready=False (AgentStopped) once.
func (h *heartbeat) run(ctx context.Context) {
	logger := log.FromContext(ctx)
	ticker := time.NewTicker(h.opts.HeartbeatInterval)
	defer ticker.Stop()
	for {
		if err := h.report(ctx, false); err != nil && ctx.Err() == nil {
			logger.Error(err, "heartbeat not written")
		}
		select {
		case <-ctx.Done():
			stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), stopReportTimeout)
			if err := h.report(stopCtx, true); err != nil {
				logger.Error(err, "last heartbeat (agent stopped) not written")
			}
			cancel()
			return
		case <-ticker.C:
		case <-h.poke:
		}
	}
}

// Poke asks for a heartbeat now, without waiting for it.
func (h *heartbeat) Poke() {
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// setCurrent records the task being executed ("" when none).
func (h *heartbeat) setCurrent(task string) {
	h.mu.Lock()
	h.current = task
	h.mu.Unlock()
}

// report writes the status once, creating the object when it is missing.
func (h *heartbeat) report(ctx context.Context, stopped bool) error {
	bonds, hostErr := h.opts.Host.Bonds(ctx)
	cond := metav1.Condition{Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonAgentRunning}
	h.mu.Lock()
	current := h.current
	h.mu.Unlock()
	switch {
	case stopped:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonAgentStopped
		cond.Message = fmt.Sprintf("agent %s stopped; tasks for node %s wait until it starts again", h.opts.ID, h.opts.Node)
	case hostErr != nil:
		cond.Status, cond.Reason = metav1.ConditionFalse, ReasonHostUnreadable
		cond.Message = fmt.Sprintf("agent %s cannot read the node's bonds: %v", h.opts.ID, hostErr)
	case current != "":
		cond.Message = fmt.Sprintf("agent %s is executing task %s", h.opts.ID, current)
	default:
		cond.Message = fmt.Sprintf("agent %s is idle", h.opts.ID)
	}
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		obj, err := h.get(ctx)
		if err != nil {
			return err
		}
		now := metav1.NewTime(h.opts.Clock())
		obj.Status.NodeName = h.opts.Node
		obj.Status.AgentVersion = h.opts.Version
		obj.Status.LastHeartbeat = now
		if hostErr == nil {
			obj.Status.Bonds = bonds
		}
		cond.LastTransitionTime = now
		meta.SetStatusCondition(&obj.Status.Conditions, cond)
		return h.client.Status().Update(ctx, obj)
	})
}

// get reads the node's NodewrightAgentStatus from the API server, creating
// it when it does not exist.
func (h *heartbeat) get(ctx context.Context) (*v1.NodewrightAgentStatus, error) {
	obj := &v1.NodewrightAgentStatus{}
	err := h.reader.Get(ctx, client.ObjectKey{Name: h.opts.Node}, obj)
	if err == nil || !apierrors.IsNotFound(err) {
		return obj, err
	}
	obj = &v1.NodewrightAgentStatus{
		ObjectMeta: metav1.ObjectMeta{
			Name:   h.opts.Node,
			Labels: map[string]string{v1.LabelNode: h.opts.Node},
		},
	}
	err = h.client.Create(ctx, obj)
	if apierrors.IsAlreadyExists(err) {
		// Another instance for this node made it first; update theirs.
		obj = &v1.NodewrightAgentStatus{}
		err = h.reader.Get(ctx, client.ObjectKey{Name: h.opts.Node}, obj)
	}
	if err != nil {
		return nil, fmt.Errorf("creating NodewrightAgentStatus %s: %w", h.opts.Node, err)
	}
	return obj, nil
}
