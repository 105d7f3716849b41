package reconciler

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/gates"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Publisher sends a cluster's status and audit records out of the
// cluster: fleet/statusbranch.Writer commits them to the status branch.
// Records are the newest of the cluster's chain, oldest first; a
// publisher keeps those above what it already holds.
type Publisher interface {
	Write(ctx context.Context, status v1.ClusterStatus, records []v1.AuditRecord) error
}

// reporter keeps the NodewrightCluster's status (the read-only rollup)
// and, when a Publisher is set, publishes it with the audit records. It
// runs on the leader, after every new audit link and every interval.
type reporter struct {
	client    client.Client
	reader    client.Reader
	cluster   string
	site      string
	namespace string
	publisher Publisher
	interval  time.Duration
	heartbeat time.Duration
	now       func() time.Time
	// published is what went out last (without its time), and when.
	published   *v1.ClusterStatus
	publishedAt time.Time
	sent        int64
	kick        chan struct{}
	log         logr.Logger
}

func (r *reporter) notify() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// NeedLeaderElection makes the reporter run on the leader only.
func (r *reporter) NeedLeaderElection() bool { return true }

// Start reports until ctx ends.
func (r *reporter) Start(ctx context.Context) error {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	for {
		if err := r.report(ctx); err != nil && ctx.Err() == nil {
			r.log.Error(err, "report cluster status")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.kick:
		case <-t.C:
		}
	}
}

// report builds the rollup, stores it, and publishes it.
func (r *reporter) report(ctx context.Context) error {
	st, err := r.status(ctx)
	if err != nil {
		return err
	}
	nc := &v1.NodewrightCluster{}
	if err := r.reader.Get(ctx, client.ObjectKey{Name: r.cluster}, nc); err != nil {
		if !apierrors.IsNotFound(err) {
			return err
		}
		nc = &v1.NodewrightCluster{ObjectMeta: metav1.ObjectMeta{Name: r.cluster}}
		if err := r.client.Create(ctx, nc); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := r.reader.Get(ctx, client.ObjectKey{Name: r.cluster}, nc); err != nil {
			return err
		}
	}
	prev := nc.Status.DeepCopy()
	prev.Time = st.Time
	if !equality.Semantic.DeepEqual(*prev, st) {
		nc.Status = st
		if err := r.client.Status().Update(ctx, nc); err != nil && !apierrors.IsConflict(err) {
			return fmt.Errorf("update NodewrightCluster %s status: %w", r.cluster, err)
		}
	}
	if r.publisher == nil {
		return nil
	}
	// Publish what changed, and otherwise a heartbeat now and then, so
	// the status branch grows with events, not with the clock. Only the
	// ClusterStatus goes out: the node details stay in the cluster.
	bare := st.ClusterStatus.DeepCopy()
	bare.Time = metav1.Time{}
	if r.published != nil && equality.Semantic.DeepEqual(*r.published, *bare) && nc.Audit.Seq == r.sent &&
		r.now().Sub(r.publishedAt) < r.heartbeat {
		return nil
	}
	if err := r.publisher.Write(ctx, st.ClusterStatus, nc.Audit.Recent); err != nil {
		return err
	}
	r.published, r.publishedAt, r.sent = bare, r.now(), nc.Audit.Seq
	return nil
}

// status gathers the rollup from the cluster: the FleetSource's applied
// commit and policy, every operation with its phase and progress, node
// readiness, and each node's details from its agent (see nodeDetails).
func (r *reporter) status(ctx context.Context) (v1.NodewrightClusterStatus, error) {
	full := v1.NodewrightClusterStatus{ClusterStatus: v1.ClusterStatus{Cluster: r.cluster, Site: r.site, Time: metav1.NewTime(r.now().UTC().Truncate(time.Second))}}
	st := &full.ClusterStatus
	sources := &v1.FleetSourceList{}
	if err := r.client.List(ctx, sources, client.InNamespace(r.namespace)); err != nil {
		return full, err
	}
	for _, fs := range sources.Items {
		if r.site == "" || fs.Spec.Site == r.site {
			st.Site, st.AppliedCommit, st.PolicyVersion = fs.Spec.Site, fs.Status.AppliedCommit, fs.Status.PolicyVersion
			break
		}
	}
	for _, k := range v1.Registry {
		l := k.NewList()
		if err := r.client.List(ctx, l, client.InNamespace(r.namespace)); err != nil {
			return full, err
		}
		for _, op := range l.Operations() {
			os := op.OperationStatus()
			st.Operations = append(st.Operations, v1.OperationSummary{Kind: k.Kind, Name: op.GetName(), Phase: orPending(os.Phase), Progress: progress(os)})
		}
	}
	sort.Slice(st.Operations, func(i, j int) bool {
		a, b := st.Operations[i], st.Operations[j]
		if a.Kind != b.Kind {
			return a.Kind < b.Kind
		}
		return a.Name < b.Name
	})
	nodes := &corev1.NodeList{}
	if err := r.client.List(ctx, nodes); err != nil {
		return full, err
	}
	ready := map[string]bool{}
	for _, n := range nodes.Items {
		st.Nodes.Total++
		ready[n.Name] = false
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				st.Nodes.Ready++
				ready[n.Name] = true
			}
		}
	}
	agents := &v1.NodewrightAgentStatusList{}
	if err := r.client.List(ctx, agents); err != nil {
		return full, err
	}
	full.NodeDetails = nodeDetails(ready, agents.Items, r.now())
	return full, nil
}

// nodeDetails is the rollup's line per node: every node with a Node
// object (ready says which, and whether Ready) or an agent status, by
// name, at most v1.MaxNodeRollups of them. A node's agent is Reporting,
// Stale when its last heartbeat is older than the node gates accept
// (gates.AgentStaleAfter), or Missing; its bonds and DRBD are summarised
// from the agent's last report, stale or not.
func nodeDetails(ready map[string]bool, agents []v1.NodewrightAgentStatus, now time.Time) []v1.NodeRollup {
	byName := map[string]*v1.NodewrightAgentStatus{}
	names := slices.Collect(maps.Keys(ready))
	for i := range agents {
		a := &agents[i]
		if _, ok := ready[a.Name]; !ok {
			names = append(names, a.Name)
		}
		byName[a.Name] = a
	}
	slices.Sort(names)
	names = slices.Compact(names)
	if len(names) > v1.MaxNodeRollups {
		names = names[:v1.MaxNodeRollups]
	}
	var out []v1.NodeRollup
	for _, n := range names {
		nr := v1.NodeRollup{Name: n, Ready: ready[n], Agent: v1.AgentMissing}
		a := byName[n]
		if a == nil {
			out = append(out, nr)
			continue
		}
		nr.Agent = v1.AgentReporting
		if hb := a.Status.LastHeartbeat; hb.IsZero() || now.Sub(hb.Time) > gates.AgentStaleAfter {
			nr.Agent = v1.AgentStale
		}
		for _, b := range a.Status.Bonds[:min(len(a.Status.Bonds), v1.MaxObservedBonds)] {
			nr.Bonds = append(nr.Bonds, v1.BondRollup{Name: b.Name, Mode: b.Mode, MIIStatus: b.MIIStatus,
				SlavesUp: int32(b.SlavesUp()), Slaves: int32(len(b.Slaves))})
		}
		if d := a.Status.DRBD; d != nil {
			nr.DRBD = drbdRollup(d)
		}
		out = append(out, nr)
	}
	return out
}

// drbdRollup summarises a node's DRBD: its state, how many resources and
// how many not healthy, and the first problem (the first unhealthy
// resource's, or why DRBD is Unavailable).
func drbdRollup(d *v1.DRBDStatus) *v1.DRBDRollup {
	out := &v1.DRBDRollup{State: d.State, Total: max(d.Total, int32(len(d.Resources))), Unhealthy: d.Unhealthy}
	listed := int32(0)
	for _, res := range d.Resources {
		if res.Healthy {
			continue
		}
		if listed++; out.Problem == "" {
			out.Problem = res.Name + ": " + res.Problem
		}
	}
	out.Unhealthy = max(out.Unhealthy, listed)
	if d.State == v1.DRBDUnavailable {
		out.Problem = d.Message
	}
	if len(out.Problem) > 1024 {
		out.Problem = out.Problem[:1024]
	}
	return out
}

func orPending(p string) string {
	if p == "" {
		return "Pending"
	}
	return p
}

// progress says how many of an operation's steps are done, e.g. "2/3",
// and how many details (a ReplicationUpgrade's syncing replicas) are
// under way, e.g. "2/3, 4 syncing".
func progress(os *v1.OperationStatus) string {
	done, steps, details := 0, 0, 0
	for _, p := range os.Progress {
		switch {
		case p.IsDetail():
			details++
		case p.Phase == "Done": // every kind's finished-step phase
			done++
			steps++
		default:
			steps++
		}
	}
	if steps == 0 {
		return ""
	}
	if details > 0 {
		return fmt.Sprintf("%d/%d, %d syncing", done, steps, details)
	}
	return fmt.Sprintf("%d/%d", done, steps)
}
