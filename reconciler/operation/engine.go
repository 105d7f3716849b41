package operation

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/phase"
	"github.com/nodewright/nodewright/reconciler/provenance"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Finalizer keeps a deleted operation until it reached a safe point: not
// started, halted or ended. Its NodeTasks are deleted first.
const Finalizer = "nodewright.io/operation"

// MaxAudit is how many audit records an operation's status keeps.
const MaxAudit = 20

// Reasons the skeleton itself sets.
const (
	// ReasonApplied: the operation was applied from git.
	ReasonApplied = "Applied"
	// ReasonRetriesExhausted: a step failed more often than the kind allows.
	ReasonRetriesExhausted = "RetriesExhausted"
	// ReasonResumed and ReasonAborted: a person's spec.action took effect.
	ReasonResumed = "Resumed"
	// ReasonAborted: a person aborted the operation.
	ReasonAborted = "Aborted"
	// ReasonAwaitingAction: halted, waiting for spec.action in git.
	ReasonAwaitingAction = "AwaitingAction"
	// ReasonTransitionNotAllowed: a step asked for a transition outside the
	// kind's table; a bug, so the operation halts rather than skip ahead.
	ReasonTransitionNotAllowed = "TransitionNotAllowed"
)

// Step is the work of one phase. It returns the phase to move to, or ""
// to stay (with progress recorded in the status), or an error that
// Classify sorts. Steps are idempotent: after a crash the same step runs
// again from what the status and the cluster show.
type Step func(ctx context.Context, run *Run) (phase.Phase, error)

// Kind is what an operation kind supplies to the skeleton: data and
// step functions.
type Kind struct {
	// Name is the kind, e.g. BondModeFlipPlan.
	Name string
	// Table is the kind's state machine.
	Table *phase.Table
	// New returns an empty object of the kind.
	New func() v1.Operation
	// First is the phase that follows AwaitingApproval.
	First phase.Phase
	// Steps maps each working phase to its step.
	Steps map[phase.Phase]Step
	// MaxRetries bounds the transient failures of one step.
	MaxRetries int32
	// OnHalt, when set, is asked before the operation halts in phase cur
	// (a step stalled, or failed more than MaxRetries times) with the
	// halt's reason and message. It may send the operation to another
	// phase instead (a roll back), returning it with run.Reason and
	// run.Message set; "" halts. It classifies nothing: the skeleton did.
	OnHalt func(run *Run, cur phase.Phase, reason, message string) phase.Phase
}

// Hooks let tests stop the reconciler at exact points. A hook that
// returns an error ends the reconcile right there, as a crash would.
type Hooks struct {
	// AfterTransition runs once a transition is in the status.
	AfterTransition func(kind, name string, from, to phase.Phase) error
	// AfterTaskCreated runs once a NodeTask exists, before the operation's
	// status records it.
	AfterTaskCreated func(kind, name, task string) error
}

// Env is what steps may use.
type Env struct {
	// Client is the manager's client (cached reads).
	Client client.Client
	// Reader reads uncached, where a decision must see the newest state.
	Reader client.Reader
	// Chain appends audit records.
	Chain *Chain
	// Tables are every kind's transition table, for telling which other
	// operations have ended.
	Tables Tables
	// Storage and VMs are the LINSTOR and KubeVirt backends.
	Storage backend.Storage
	VMs     backend.VMs
	// Evacuator protects VMs during node operations; nil uses VMs.
	Evacuator backend.Evacuator
	// Cluster and Site name where the reconciler runs.
	Cluster, Site string
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Provenance is the record of what the FleetSource controller applied
	// from verified commits; an operation matching none of it stops with
	// NotFromSource before anything changes (nil refuses every operation).
	Provenance *provenance.Ledger
	// Attester proves to the agents that a NodeTask is the reconciler's
	// (nil: tasks carry no attestation, and agents refuse them).
	Attester nodetask.Attester
	// Hooks are for tests.
	Hooks Hooks
	// startMu serialises first starts: see Run.CheckStepGates.
	startMu sync.Mutex
	// Poll is how soon a waiting step looks again (default 2s). When set,
	// it also caps every wait at five polls, so tests and the demo run
	// at the pace of their simulated backends.
	Poll time.Duration
}

func (e *Env) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

func (e *Env) poll() time.Duration {
	if e.Poll > 0 {
		return e.Poll
	}
	return 2 * time.Second
}

// VMProtector returns the backend that protects VMs during node
// operations: Evacuator when set, else VMs, else nil.
func (e *Env) VMProtector() backend.Evacuator {
	switch {
	case e.Evacuator != nil:
		return e.Evacuator
	case e.VMs != nil:
		return e.VMs
	}
	return nil
}

// Run is one step's view of its operation.
type Run struct {
	// Env is the environment.
	Env *Env
	// Op is the operation; the step changes its status in place.
	Op v1.Operation
	// Kind is the operation's kind.
	Kind *Kind
	// Source is the version of the operation that the FleetSource
	// controller applied from a verified commit, with its admission
	// verdict: what the operation runs, whatever its annotations say.
	Source provenance.Version
	// Now is the reconcile's clock reading.
	Now time.Time
	// Log is the reconcile's logger.
	Log logr.Logger
	// Reason and Message explain the transition a step returns.
	Reason, Message string
}

// Status returns the operation's status.
func (r *Run) Status() *v1.OperationStatus { return r.Op.OperationStatus() }

// Progress returns the progress entry of target, nil when none.
func (r *Run) Progress(target string) *v1.StepProgress {
	st := r.Status()
	for i := range st.Progress {
		if st.Progress[i].Target == target {
			return &st.Progress[i]
		}
	}
	return nil
}

// SetProgress sets target's step phase and message, adding the entry
// when it is new; the time moves only when the phase changes.
func (r *Run) SetProgress(target, stepPhase, format string, args ...any) *v1.StepProgress {
	p := r.Progress(target)
	if p == nil {
		st := r.Status()
		st.Progress = append(st.Progress, v1.StepProgress{Target: target})
		p = &st.Progress[len(st.Progress)-1]
	}
	if p.Phase != stepPhase {
		p.Phase = stepPhase
		p.LastTransitionTime = metav1.NewTime(r.Now.UTC().Truncate(time.Second))
	}
	p.Message = fmt.Sprintf(format, args...)
	return p
}

// Task ensures the NodeTask of a node step exists and returns it.
func (r *Run) Task(ctx context.Context, s nodetask.Step) (*v1.NodeTask, error) {
	s.Operation, s.Kind = r.Op, r.Kind.Name
	task, err := nodetask.Ensure(ctx, r.Env.Client, s, r.Env.Attester)
	if err != nil {
		return nil, err
	}
	if h := r.Env.Hooks.AfterTaskCreated; h != nil {
		if err := h(r.Kind.Name, r.Op.GetName(), task.Name); err != nil {
			return nil, err
		}
	}
	return task, nil
}

// Reconciler runs one kind's operations.
type Reconciler struct {
	Kind *Kind
	Env  *Env
}

// Reconcile is the fixed skeleton: fetch → finalizer → leave safely when
// deleted or removed from git → first transition → halted → step of the
// phase → transition or wait → conditions.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	log := ctrl.LoggerFrom(ctx)
	obj := r.Kind.New()
	if err := r.Env.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	st := obj.OperationStatus()
	cur := phase.Phase(st.Phase)
	table := r.Kind.Table

	deleting := !obj.GetDeletionTimestamp().IsZero()
	if !deleting && !controllerutil.ContainsFinalizer(obj, Finalizer) {
		controllerutil.AddFinalizer(obj, Finalizer)
		return ctrl.Result{}, r.Env.Client.Update(ctx, obj)
	}
	removed := obj.GetAnnotations()[v1.AnnotationRemoved] != ""
	if (deleting || removed) && r.Kind.Table.SafeToLeave(cur) { // idle or ended; else it runs on to one
		return ctrl.Result{}, r.leave(ctx, obj, deleting)
	}

	if table.IsTerminal(cur) {
		return ctrl.Result{}, nil
	}
	source, res, err := r.provenance(ctx, obj, cur)
	if res != nil {
		return *res, err
	}
	switch cur {
	case "":
		return r.transition(ctx, obj, "", table.Initial, ReasonApplied, fmt.Sprintf("applied from fleet commit %s", short(source.Commit)))
	case phase.Halted:
		return r.halted(ctx, obj, source)
	}

	step, ok := r.Kind.Steps[cur]
	if !ok {
		return r.halt(ctx, obj, cur, ReasonTransitionNotAllowed, fmt.Sprintf("phase %s has no step in %s", cur, r.Kind.Name))
	}
	before := st.DeepCopy()
	run := &Run{Env: r.Env, Op: obj, Kind: r.Kind, Source: source, Now: r.Env.now(), Log: log}
	next, err := step(ctx, run)
	if err == nil && next != "" {
		if !table.Allowed(cur, next) {
			return r.halt(ctx, obj, cur, ReasonTransitionNotAllowed, fmt.Sprintf("%s → %s is not in the %s table", cur, next, r.Kind.Name))
		}
		return r.transition(ctx, obj, cur, next, run.Reason, run.Message)
	}
	if err == nil {
		return ctrl.Result{}, r.saveIfChanged(ctx, obj, before, Observation{Phase: cur, Reason: run.Reason, Message: run.Message})
	}
	out := Classify(err)
	switch out.Class {
	case Stalling:
		return r.haltOrRedirect(ctx, run, cur, out.Reason, out.Message)
	case Waiting:
		after := out.After
		if after <= 0 {
			after = r.Env.poll()
		}
		if r.Env.Poll > 0 {
			after = min(after, 5*r.Env.Poll)
		}
		return ctrl.Result{RequeueAfter: after}, r.saveIfChanged(ctx, obj, before, Observation{Phase: cur, Reason: out.Reason, Message: out.Message})
	}
	st.Retries++
	if st.Retries > r.Kind.MaxRetries {
		return r.haltOrRedirect(ctx, run, cur, ReasonRetriesExhausted, fmt.Sprintf("%s failed %d times: %v", cur, st.Retries, err))
	}
	log.Error(err, "step failed; retrying", "phase", cur, "retries", st.Retries)
	if serr := r.saveIfChanged(ctx, obj, before, Observation{Phase: cur, Reason: "Retrying", Message: fmt.Sprintf("attempt %d of %d failed: %v", st.Retries, r.Kind.MaxRetries, err)}); serr != nil {
		return ctrl.Result{}, serr
	}
	return ctrl.Result{}, err
}

// haltOrRedirect halts the operation in phase cur for reason, unless the
// kind's OnHalt hook sends it elsewhere (a roll back): then it moves there,
// if the kind's table allows it, with the reason the hook set on run.
func (r *Reconciler) haltOrRedirect(ctx context.Context, run *Run, cur phase.Phase, reason, message string) (ctrl.Result, error) {
	obj := run.Op
	if r.Kind.OnHalt != nil {
		if next := r.Kind.OnHalt(run, cur, reason, message); next != "" {
			if !r.Kind.Table.Allowed(cur, next) {
				return r.halt(ctx, obj, cur, ReasonTransitionNotAllowed, fmt.Sprintf("%s → %s (instead of halting: %s) is not in the %s table", cur, next, reason, r.Kind.Name))
			}
			return r.transition(ctx, obj, cur, next, run.Reason, run.Message)
		}
	}
	return r.halt(ctx, obj, cur, reason, message)
}

// leave deletes the operation's NodeTasks, then the operation (removed
// from git) or its finalizer (deleted).
func (r *Reconciler) leave(ctx context.Context, obj v1.Operation, deleting bool) error {
	if err := nodetask.DeleteAll(ctx, r.Env.Client, r.Kind.Name, obj); err != nil {
		return err
	}
	if !deleting {
		return client.IgnoreNotFound(r.Env.Client.Delete(ctx, obj))
	}
	controllerutil.RemoveFinalizer(obj, Finalizer)
	return client.IgnoreNotFound(r.Env.Client.Update(ctx, obj))
}

// halted waits for a person: a later generation whose spec.action is
// Resume or Abort and whose admission gates pass.
func (r *Reconciler) halted(ctx context.Context, obj v1.Operation, source provenance.Version) (ctrl.Result, error) {
	st := obj.OperationStatus()
	action := obj.OperationAction()
	if obj.GetGeneration() <= st.HaltedGeneration || action == "" {
		return ctrl.Result{}, nil
	}
	adm := source.Admission
	if !adm.Allowed {
		before := st.DeepCopy()
		return ctrl.Result{}, r.saveIfChanged(ctx, obj, before, Observation{Phase: phase.Halted, Reason: ReasonAwaitingAction,
			Message: fmt.Sprintf("spec.action %s waits for its gates: %s", action, adm.Message)})
	}
	switch action {
	case v1.ActionResume:
		to := phase.Phase(st.HaltedPhase)
		if !r.Kind.Table.Allowed(phase.Halted, to) {
			return r.transition(ctx, obj, phase.Halted, phase.Aborted, ReasonAborted, fmt.Sprintf("cannot resume into %q; aborted", to))
		}
		if err := r.Env.Provenance.MarkStarted(obj.GetNamespace(), r.Kind.Name, obj.GetName(), source.Digest); err != nil {
			return ctrl.Result{}, err
		}
		st.Retries = 0
		return r.transition(ctx, obj, phase.Halted, to, ReasonResumed, fmt.Sprintf("resumed by spec.action Resume at generation %d", obj.GetGeneration()))
	case v1.ActionAbort:
		return r.transition(ctx, obj, phase.Halted, phase.Aborted, ReasonAborted, fmt.Sprintf("aborted by spec.action Abort at generation %d", obj.GetGeneration()))
	}
	return ctrl.Result{}, nil
}

// provenance finds the version of obj that the FleetSource controller
// applied from a verified commit. Without one the operation does not go
// on: it waits while no FleetSource of its namespace has recorded yet,
// and otherwise halts with NotFromSource (or stays halted), naming who
// last wrote it. A non-nil result ends the reconcile with it (and the
// error, which only ever comes with one). An operation that has not
// started takes its source commit from the record.
func (r *Reconciler) provenance(ctx context.Context, obj v1.Operation, cur phase.Phase) (provenance.Version, *ctrl.Result, error) {
	st := obj.OperationStatus()
	check := r.Env.Provenance.Check(r.Kind.Name, obj)
	switch check.Problem {
	case "":
		if cur == "" || r.Kind.Table.IsIdle(cur) {
			st.SourceCommit = check.Version.Commit
			return check.Version, nil, nil
		}
		if check.Version.Started {
			return check.Version, nil, nil
		}
		// A phase that changes the site, reached by no version that passed
		// its admission gates: a status written outside the reconciler.
		check.Message = fmt.Sprintf("its phase %s was not reached through its admission gates: this version (blob %s) never started", cur, check.Version.Blob)
	case provenance.NotReady:
		before := st.DeepCopy()
		res := ctrl.Result{RequeueAfter: r.Env.poll()}
		return provenance.Version{}, &res, r.saveIfChanged(ctx, obj, before, Observation{Phase: cur, Reason: "WaitingForSource", Message: check.Message})
	}
	msg := fmt.Sprintf("not applied from a verified commit: %s; last written by %s", check.Message, lastWriter(obj))
	if check.Problem == "" { // a version of the source whose status was forged
		msg = fmt.Sprintf("%s; its spec was last written by %s", check.Message, lastWriter(obj))
	}
	if cur == phase.Halted {
		before := st.DeepCopy()
		return provenance.Version{}, &ctrl.Result{}, r.saveIfChanged(ctx, obj, before, Observation{Phase: cur, Reason: provenance.ReasonNotFromSource, Message: msg})
	}
	res, err := r.halt(ctx, obj, cur, provenance.ReasonNotFromSource, msg)
	return provenance.Version{}, &res, err
}

// lastWriter names the field manager that last wrote obj's spec, from
// managedFields (status writes do not count); without one that owns spec
// fields, the newest writer of the object.
func lastWriter(obj v1.Operation) string {
	var last, lastSpec *metav1.ManagedFieldsEntry
	entries := obj.GetManagedFields()
	for i := range entries {
		m := &entries[i]
		if m.Subresource != "" || m.Time == nil {
			continue
		}
		if last == nil || !m.Time.Before(last.Time) {
			last = m
		}
		if m.FieldsV1 != nil && bytes.Contains(m.FieldsV1.GetRawBytes(), []byte(`"f:spec"`)) && (lastSpec == nil || !m.Time.Before(lastSpec.Time)) {
			lastSpec = m
		}
	}
	if lastSpec != nil {
		last = lastSpec
	}
	if last == nil {
		return "an unknown writer (no managedFields)"
	}
	return fmt.Sprintf("field manager %q (%s at %s)", last.Manager, last.Operation, last.Time.UTC().Format(time.RFC3339))
}

func (r *Reconciler) halt(ctx context.Context, obj v1.Operation, from phase.Phase, reason, msg string) (ctrl.Result, error) {
	return r.transition(ctx, obj, from, phase.Halted, reason, msg)
}

// transition records from → to: the audit record goes onto the cluster's
// chain first, then the status (phase, record, conditions) is written
// with a compare-and-swap. A crash between the two leaves a chain record
// that the retried transition adopts instead of linking a second one.
func (r *Reconciler) transition(ctx context.Context, obj v1.Operation, from, to phase.Phase, reason, msg string) (ctrl.Result, error) {
	st := obj.OperationStatus()
	now := r.Env.now()
	commit := st.SourceCommit // set from the provenance record: never a label
	rec := audit.Transition{
		Cluster: r.Env.Cluster, Site: r.Env.Site, Kind: r.Kind.Name, Name: obj.GetName(),
		From: string(from), To: string(to), Reason: reason, Message: msg,
		Actor: "nodewright-reconciler/" + r.Env.Cluster, SourceCommit: commit, Time: now,
	}.Record()
	linked, err := r.Env.Chain.Append(ctx, rec, lastSeq(st))
	if err != nil {
		return ctrl.Result{}, err
	}
	if to == phase.Halted {
		st.HaltedPhase, st.HaltedGeneration = string(from), obj.GetGeneration()
	}
	st.Phase, st.SourceCommit, st.ObservedGeneration = string(to), commit, obj.GetGeneration()
	t := metav1.NewTime(now.UTC().Truncate(time.Second))
	st.PhaseSince = &t
	if to != phase.Halted {
		st.Retries = 0
	}
	st.Audit = append(st.Audit, linked)
	if len(st.Audit) > MaxAudit {
		st.Audit = slices.Clone(st.Audit[len(st.Audit)-MaxAudit:])
	}
	SetConditions(obj, Observation{Phase: to, Terminal: r.Kind.Table.IsTerminal(to), Reason: reason, Message: msg})
	if err := r.Env.Client.Status().Update(ctx, obj); err != nil {
		return ctrl.Result{}, fmt.Errorf("record %s → %s: %w", from, to, err)
	}
	ctrl.LoggerFrom(ctx).Info("transition", "kind", r.Kind.Name, "from", from, "to", to, "reason", reason, "message", msg, "seq", linked.Seq)
	if h := r.Env.Hooks.AfterTransition; h != nil {
		if err := h(r.Kind.Name, obj.GetName(), from, to); err != nil {
			return ctrl.Result{}, err
		}
	}
	return ctrl.Result{}, nil
}

// saveIfChanged computes the conditions and writes the status when it
// differs from before.
func (r *Reconciler) saveIfChanged(ctx context.Context, obj v1.Operation, before *v1.OperationStatus, o Observation) error {
	o.Terminal = r.Kind.Table.IsTerminal(o.Phase)
	SetConditions(obj, o)
	after := obj.OperationStatus()
	if equality.Semantic.DeepEqual(before, after) {
		return nil
	}
	after.ObservedGeneration = obj.GetGeneration()
	return r.Env.Client.Status().Update(ctx, obj)
}

func lastSeq(st *v1.OperationStatus) int64 {
	if n := len(st.Audit); n > 0 {
		return st.Audit[n-1].Seq
	}
	return 0
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	if s == "" {
		return "(unknown)"
	}
	return strings.TrimSpace(s)
}
