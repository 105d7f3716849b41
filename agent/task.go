package agent

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodewright/nodewright/agent/action"
	"github.com/nodewright/nodewright/agent/journal"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// claimRetryAfter is how soon a task whose claim lost a race is looked at
// again (by then the cache shows who won).
const claimRetryAfter = time.Second

// maxConflictRetries bounds how often a write to a task this agent owns is
// re-applied after a conflict (someone changed the object's metadata or
// spec meanwhile).
const maxConflictRetries = 5

// errTaskGone says a task can no longer be reported: it was deleted, is
// claimed by another agent, or was finished by someone else.
var errTaskGone = errors.New("the task can no longer be reported by this agent")

// taskReconciler carries out the node's NodeTasks.
type taskReconciler struct {
	client    client.Client
	reader    client.Reader
	opts      Options
	heartbeat *heartbeat
}

// Reconcile moves one NodeTask forward. A finished task is never touched
// again. A new task is refused (Failed) when its deadline has passed or it
// cannot be understood, else claimed with optimistic concurrency, run and
// finished. A task this agent claimed before it restarted is resumed; one
// another agent claimed is left alone.
func (r *taskReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	task := &v1.NodeTask{}
	if err := r.client.Get(ctx, req.NamespacedName, task); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if v1.TaskPhase(task.Status.Phase).Terminal() {
		return ctrl.Result{}, nil
	}
	// The cache may lag behind writes (ours or another agent's); act on
	// what the API server has now.
	if err := r.reader.Get(ctx, req.NamespacedName, task); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if task.Labels[v1.LabelNode] != r.opts.Node || task.Namespace != r.opts.Namespace {
		return ctrl.Result{}, nil
	}
	phase := v1.TaskPhase(task.Status.Phase)
	switch {
	case phase.Terminal():
		return ctrl.Result{}, nil
	case phase == "" || phase == v1.TaskPending:
		return r.start(ctx, task)
	case phase == v1.TaskClaimed || phase == v1.TaskRunning:
		if task.Status.ClaimedBy != r.opts.ID {
			logger.Info("task is claimed by another agent; leaving it", "phase", phase, "claimedBy", task.Status.ClaimedBy)
			return ctrl.Result{}, nil
		}
		why, err := r.unproven(ctx, task, false)
		if err != nil {
			return ctrl.Result{}, err
		}
		if why != "" {
			// Claimed under this agent's ID, but not by this agent: the
			// status was written by someone else. Nothing was run.
			logger.Info("task refused", "message", why)
			return ctrl.Result{}, ignoreGone(ctx, r.finish(ctx, task, v1.TaskFailed, why))
		}
		logger.Info("resuming a task this agent claimed earlier", "phase", phase)
		return ctrl.Result{}, r.run(ctx, task)
	default:
		logger.Info("task has a phase this agent does not know; leaving it", "phase", phase)
		return ctrl.Result{}, nil
	}
}

// start refuses a new task that is past its deadline or cannot be
// understood, and otherwise claims and runs it. The refusal and the claim
// are written with the resourceVersion read, so of two agents racing for
// the task exactly one succeeds; the other requeues and finds it taken.
func (r *taskReconciler) start(ctx context.Context, task *v1.NodeTask) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	now := r.opts.Clock()
	status := v1.NodeTaskStatus{ClaimedBy: r.opts.ID}
	reason := r.refusal(task, now)
	if reason == "" {
		var err error
		if reason, err = r.unproven(ctx, task, true); err != nil {
			return ctrl.Result{}, err
		}
	}
	if reason != "" {
		finished := metav1.NewTime(now)
		status.Phase, status.Message, status.FinishedAt = string(v1.TaskFailed), reason, &finished
		logger.Info("task refused", "message", reason)
	} else {
		status.Phase = string(v1.TaskClaimed)
		status.Message = fmt.Sprintf("claimed by agent %s", r.opts.ID)
	}
	task.Status = status
	switch err := r.client.Status().Update(ctx, task); {
	case apierrors.IsConflict(err):
		logger.V(1).Info("task changed before this agent could claim it; looking again")
		return ctrl.Result{RequeueAfter: claimRetryAfter}, nil
	case apierrors.IsNotFound(err):
		return ctrl.Result{}, nil
	case err != nil:
		return ctrl.Result{}, err
	}
	if status.Phase == string(v1.TaskFailed) {
		r.heartbeat.Poke()
		return ctrl.Result{}, nil
	}
	logger.Info("task claimed")
	return ctrl.Result{}, r.run(ctx, task)
}

// refusal returns why the agent will not start the task ("" when it will).
func (r *taskReconciler) refusal(task *v1.NodeTask, now time.Time) string {
	switch {
	case task.Spec.NodeName != r.opts.Node:
		return fmt.Sprintf("task is labelled %s=%s but spec.nodeName is %q; not touched", v1.LabelNode, r.opts.Node, task.Spec.NodeName)
	case task.Spec.Deadline.IsZero():
		return "spec.deadline is not set; not touched"
	case now.After(task.Spec.Deadline.Time):
		return fmt.Sprintf("deadline %s passed before the agent started the task", timestamp(task.Spec.Deadline.Time))
	}
	if _, err := r.parse(task); err != nil {
		return err.Error()
	}
	return ""
}

// parse checks the task's action and reads its params.
func (r *taskReconciler) parse(task *v1.NodeTask) (action.FlipBond, error) {
	if task.Spec.Action != v1.ActionFlipBond {
		return action.FlipBond{}, fmt.Errorf("action %q is not one this agent knows (known: %s); not touched", task.Spec.Action, v1.ActionFlipBond)
	}
	f, err := action.ParseFlipBond(task.Spec.Params)
	if err != nil {
		return action.FlipBond{}, fmt.Errorf("%s: %s; not touched", task.Spec.Action, strings.ReplaceAll(err.Error(), "\n", "; "))
	}
	return f, nil
}

// run executes a task this agent has claimed: it marks it Running (once)
// and carries out the action, which reports the terminal phase. A returned
// error makes controller-runtime retry the task with backoff; the retry
// resumes it.
func (r *taskReconciler) run(ctx context.Context, task *v1.NodeTask) error {
	report := func(ctx context.Context, phase v1.TaskPhase, message string) error {
		return r.finish(ctx, task, phase, message)
	}
	f, err := r.parse(task)
	if err != nil {
		// The params were checked before the claim; they were edited since.
		return ignoreGone(ctx, report(ctx, v1.TaskFailed, err.Error()))
	}
	if task.Status.Phase == string(v1.TaskClaimed) || task.Status.StartedAt == nil {
		started := metav1.NewTime(r.opts.Clock())
		err := r.update(ctx, task, func(s *v1.NodeTaskStatus) {
			s.Phase = string(v1.TaskRunning)
			s.StartedAt = &started
			s.Message = fmt.Sprintf("flipping %s from %s to %s", f.Bond, f.FromMode, f.ToMode)
		})
		if err != nil {
			return ignoreGone(ctx, err)
		}
	}
	r.heartbeat.setCurrent(task.Name)
	defer r.heartbeat.setCurrent("")

	fr := &flipRun{
		host:      r.opts.Host,
		now:       r.opts.Clock,
		apiServer: r.opts.APIServer,
		f:         f,
		report:    report,
		journal:   r.opts.Journal,
		task:      journal.Task{Namespace: task.Namespace, Name: task.Name, UID: string(task.UID)},
	}
	fr.setDeadman(task.Status.StartedAt.Time, task.Spec.Deadline.Time)
	return fr.run(ctx)
}

// finish writes the task's terminal phase and message.
func (r *taskReconciler) finish(ctx context.Context, task *v1.NodeTask, phase v1.TaskPhase, message string) error {
	finished := metav1.NewTime(r.opts.Clock())
	err := r.update(ctx, task, func(s *v1.NodeTaskStatus) {
		s.Phase, s.Message, s.FinishedAt = string(phase), message, &finished
	})
	if err != nil {
		return err
	}
	log.FromContext(ctx).Info("task finished", "phase", phase, "message", message)
	r.heartbeat.Poke()
	return nil
}

// update writes the task's status after mutate changes it, with the task's
// resourceVersion. On a conflict it re-reads the task and, while it is
// still this agent's and unfinished, applies mutate again; if the task was
// already finished with the same phase and message (an earlier write whose
// answer was lost) that counts as written. It returns an error wrapping
// errTaskGone when the task cannot be written any more.
func (r *taskReconciler) update(ctx context.Context, task *v1.NodeTask, mutate func(*v1.NodeTaskStatus)) error {
	key := client.ObjectKeyFromObject(task)
	want := task.DeepCopy()
	mutate(&want.Status)
	for attempt := 0; ; attempt++ {
		err := r.client.Status().Update(ctx, want)
		switch {
		case err == nil:
			*task = *want
			return nil
		case apierrors.IsNotFound(err):
			return fmt.Errorf("%w: it was deleted", errTaskGone)
		case !apierrors.IsConflict(err) || attempt >= maxConflictRetries:
			return err
		}
		live := &v1.NodeTask{}
		if err := r.reader.Get(ctx, key, live); err != nil {
			if apierrors.IsNotFound(err) {
				return fmt.Errorf("%w: it was deleted", errTaskGone)
			}
			return err
		}
		if live.Status.ClaimedBy != r.opts.ID {
			return fmt.Errorf("%w: it is claimed by %q", errTaskGone, live.Status.ClaimedBy)
		}
		if v1.TaskPhase(live.Status.Phase).Terminal() {
			if live.Status.Phase == want.Status.Phase && live.Status.Message == want.Status.Message {
				*task = *live
				return nil
			}
			return fmt.Errorf("%w: it already finished as %s", errTaskGone, live.Status.Phase)
		}
		want = live.DeepCopy()
		mutate(&want.Status)
	}
}

// ignoreGone logs and drops errTaskGone: there is nobody to report to.
func ignoreGone(ctx context.Context, err error) error {
	if errors.Is(err, errTaskGone) {
		log.FromContext(ctx).Info("task not reported", "reason", err.Error())
		return nil
	}
	return err
}

// timestamp formats a time for messages.
func timestamp(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}
