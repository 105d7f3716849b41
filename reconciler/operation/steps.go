package operation

import (
	"context"
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/gates/gather"
	"github.com/nodewright/nodewright/reconciler/phase"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// ReasonApproved means the admission gates let the operation start.
const ReasonApproved = "Approved"

// admissionPoll is how often an operation waiting for approval looks at
// its verdict again (it is also woken when the verdict changes).
const admissionPoll = 30 * time.Second

// Begin is the step of Pending: the operation waits for its gates next.
func Begin(_ context.Context, run *Run) (phase.Phase, error) {
	run.Reason, run.Message = "AwaitingApproval", "waiting for the admission gates"
	return phase.AwaitingApproval, nil
}

// AwaitApproval is the step of AwaitingApproval, shared by every kind: it
// waits until the admission verdict (approvals, freshness) that the
// FleetSource controller recorded for this version of the manifest
// (run.Source, from the provenance record) allows it, then moves to
// the kind's first working phase, or to Aborted when spec.action says so.
func AwaitApproval(_ context.Context, run *Run) (phase.Phase, error) {
	adm := run.Source.Admission
	if !adm.Allowed {
		return "", Wait(admissionPoll, adm.Reason, "%s", adm.Message)
	}
	if run.Op.OperationAction() == v1.ActionAbort {
		run.Reason, run.Message = ReasonAborted, "aborted by spec.action Abort before it started"
		return phase.Aborted, nil
	}
	// The version is marked started before it leaves AwaitingApproval: a
	// phase that changes the site is run only for a started version.
	if err := run.Env.Provenance.MarkStarted(run.Op.GetNamespace(), run.Kind.Name, run.Op.GetName(), run.Source.Digest); err != nil {
		return "", err
	}
	run.Reason, run.Message = ReasonApproved, adm.Message
	return run.Kind.First, nil
}

// CheckStepGates evaluates the step gates (pause, window, health, blast
// radius) before a new node or batch starts, and returns a WaitError
// naming every gate that blocks.
//
// The first time an operation passes them it is marked started, and the
// check and the mark happen under one lock with uncached reads, so two
// operations that wait for each other never both start at once: the
// first to pass is in flight for the second.
func (r *Run) CheckStepGates(ctx context.Context) error {
	st := r.Status()
	first := st.StartedAt == nil
	if first {
		r.Env.startMu.Lock()
		defer r.Env.startMu.Unlock()
	}
	d, err := r.Env.StepGates(ctx, r.Op, first)
	if err != nil {
		return err
	}
	if !d.Allowed {
		blocking := d.Blocking()
		msgs := make([]string, len(blocking))
		for i, v := range blocking {
			msgs[i] = fmt.Sprintf("%s: %s", v.Gate, v.Message)
		}
		return Wait(r.Env.poll()*5, string(blocking[0].Reason), "%s", strings.Join(msgs, "; "))
	}
	if first {
		t := metav1.NewTime(r.Now.UTC().Truncate(time.Second))
		st.StartedAt = &t
		if err := r.Env.Client.Status().Update(ctx, r.Op); err != nil {
			st.StartedAt = nil
			return fmt.Errorf("mark %s started: %w", r.Op.GetName(), err)
		}
	}
	return nil
}

// Gather is where the step gates' inputs and the site's profile are read
// (gates/gather, the one place that gathers for the gates).
func (e *Env) Gather() gather.Cluster {
	return gather.Cluster{Client: e.Client, Fresh: e.Reader, Site: e.Site, Storage: e.Storage, Ended: e.Tables.Ended}
}

// Profile returns the site's EdgeProfile as the FleetSource controller
// applied it, defaulted.
func (e *Env) Profile(ctx context.Context) (*v1.EdgeProfile, error) { return e.Gather().Profile(ctx) }

// StepGates gathers the live inputs of the step gates (read uncached when
// fresh is set) and evaluates them for op.
func (e *Env) StepGates(ctx context.Context, op v1.Operation, fresh bool) (gates.Decision, error) {
	in, err := e.Gather().StepInput(ctx, op, e.now(), fresh)
	if err != nil {
		return gates.Decision{}, err
	}
	return gates.Step.Evaluate(in), nil
}

// Tables are the transition tables of the operation kinds, by kind name.
type Tables map[string]*phase.Table

// TablesOf indexes the kinds' tables.
func TablesOf(kinds []*Kind) Tables {
	t := Tables{}
	for _, k := range kinds {
		t[k.Name] = k.Table
	}
	return t
}

// Ended reports whether op, of the named kind, is in a terminal phase of
// its kind's table; an unknown kind has not ended.
func (t Tables) Ended(kind string, op v1.Operation) bool {
	table, ok := t[kind]
	return ok && table.IsTerminal(phase.Phase(op.OperationStatus().Phase))
}

// InFlight reports whether op, of the named kind, may be changing the
// site: its kind's table says its phase is neither idle nor terminal. An
// operation of a kind without a table counts as in flight.
func (t Tables) InFlight(kind string, op v1.Operation) bool {
	table, ok := t[kind]
	return !ok || table.InFlight(phase.Phase(op.OperationStatus().Phase))
}
