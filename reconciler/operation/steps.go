package operation

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

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
// waits until the FleetSource controller's admission verdict (approvals,
// freshness) for this version of the manifest allows it, then moves to
// the kind's first working phase, or to Aborted when spec.action says so.
func AwaitApproval(_ context.Context, run *Run) (phase.Phase, error) {
	adm := AdmissionOf(run.Op)
	if !adm.Allowed {
		return "", Wait(admissionPoll, adm.Reason, "%s", adm.Message)
	}
	if run.Op.OperationAction() == v1.ActionAbort {
		run.Reason, run.Message = ReasonAborted, "aborted by spec.action Abort before it started"
		return phase.Aborted, nil
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

// Profile returns the site's EdgeProfile (cluster-scoped, named after the
// site) as the FleetSource controller applied it.
func (e *Env) Profile(ctx context.Context) (*v1.EdgeProfile, error) {
	p := &v1.EdgeProfile{}
	if err := e.Client.Get(ctx, client.ObjectKey{Name: e.Site}, p); err != nil {
		return nil, fmt.Errorf("EdgeProfile %s: %w", e.Site, err)
	}
	v1.Default(p)
	return p, nil
}

// StepGates gathers the live inputs of the step gates — the profile, node
// readiness, DRBD replica states and the other operations in flight (read
// uncached when fresh is set) — and evaluates them for op.
func (e *Env) StepGates(ctx context.Context, op v1.Operation, fresh bool) (gates.Decision, error) {
	profile, err := e.Profile(ctx)
	if err != nil {
		return gates.Decision{}, err
	}
	health, err := e.Health(ctx, op.GetNamespace(), profile, fresh)
	if err != nil {
		return gates.Decision{}, err
	}
	gop := gather.Describe(op, profile)
	return gates.Step.Evaluate(gates.Input{Now: e.now(), Operation: gop, Profile: profile, Health: health}), nil
}

// Health gathers what the health gate reads from the cluster.
func (e *Env) Health(ctx context.Context, namespace string, profile *v1.EdgeProfile, fresh bool) (gates.Health, error) {
	h := gates.Health{Reported: true, Nodes: map[string]bool{}}
	nodes := &corev1.NodeList{}
	if err := e.Client.List(ctx, nodes); err != nil {
		return h, fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes.Items {
		ready := false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				ready = c.Status == corev1.ConditionTrue
			}
		}
		h.Nodes[n.Name] = ready
	}
	for _, pn := range profile.Spec.Nodes {
		if _, ok := h.Nodes[pn.Name]; !ok {
			h.Nodes[pn.Name] = false // in the profile, not in the cluster
		}
	}
	if e.Storage != nil {
		for _, rg := range profile.Spec.ResourceGroups {
			g, err := e.Storage.ResourceGroup(ctx, rg.Name)
			if err != nil {
				return h, err
			}
			for _, res := range g.Resources {
				h.DRBD = append(h.DRBD, gates.DRBDResource{Name: res.Name, Replicas: len(res.Replicas), UpToDate: res.InSync()})
			}
		}
	}
	inflight, err := e.InFlight(ctx, namespace, profile, fresh)
	if err != nil {
		return h, err
	}
	h.InFlight = inflight
	return h, nil
}

// InFlight lists the operations of the namespace that have started (passed
// their step gates once) and not ended; a halted one counts, as its nodes
// may be half-changed. fresh reads them from the API server, not the cache.
func (e *Env) InFlight(ctx context.Context, namespace string, profile *v1.EdgeProfile, fresh bool) ([]gates.Operation, error) {
	var out []gates.Operation
	var reader client.Reader = e.Client
	if fresh && e.Reader != nil {
		reader = e.Reader
	}
	for _, k := range v1.Registry {
		l := k.NewList()
		if err := reader.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list %s operations: %w", k.Kind, err)
		}
		for _, op := range l.Operations() {
			if op.OperationStatus().StartedAt == nil || e.Tables.Ended(k.Kind, op) {
				continue
			}
			out = append(out, gather.Describe(op, profile))
		}
	}
	return out, nil
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

// Lists returns an empty list of each operation kind of v1.Registry, by
// kind, to List into.
func Lists() map[string]client.ObjectList {
	out := make(map[string]client.ObjectList, len(v1.Registry))
	for _, k := range v1.Registry {
		out[k.Kind] = k.NewList()
	}
	return out
}

// Items returns the operations of a list from Lists.
func Items(l client.ObjectList) []v1.Operation {
	if ol, ok := l.(v1.OperationList); ok {
		return ol.Operations()
	}
	return nil
}
