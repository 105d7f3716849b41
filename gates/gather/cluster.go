package gather

import (
	"context"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/reconciler/backend"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Cluster is where the step gates' live inputs are read in the cluster:
// the site's profile, node readiness, DRBD replica states and the other
// operations in flight; and the node gates', the nodes' agent reports. The operation controllers gather through it, as
// plan gathers through Build, so the gates read what was gathered here
// and nowhere else.
type Cluster struct {
	// Client reads through the manager's cache.
	Client client.Reader
	// Fresh, when set, reads uncached: the first start of an operation
	// must see the newest state of the others.
	Fresh client.Reader
	// Site names the site, and so its EdgeProfile.
	Site string
	// Storage is the LINSTOR backend; nil gathers no DRBD state.
	Storage backend.Storage
	// Ended reports whether an operation of a kind has ended (from the
	// kinds' transition tables).
	Ended func(kind string, op v1.Operation) bool
}

// Profile returns the site's EdgeProfile (cluster-scoped, named after the
// site) as the FleetSource controller applied it, defaulted.
func (c Cluster) Profile(ctx context.Context) (*v1.EdgeProfile, error) {
	p := &v1.EdgeProfile{}
	if err := c.Client.Get(ctx, client.ObjectKey{Name: c.Site}, p); err != nil {
		return nil, fmt.Errorf("EdgeProfile %s: %w", c.Site, err)
	}
	v1.Default(p)
	return p, nil
}

// StepInput gathers the step gates' input for op at now; fresh reads the
// other operations uncached.
func (c Cluster) StepInput(ctx context.Context, op v1.Operation, now time.Time, fresh bool) (gates.Input, error) {
	profile, err := c.Profile(ctx)
	if err != nil {
		return gates.Input{}, err
	}
	health, err := c.Health(ctx, op.GetNamespace(), profile, fresh)
	if err != nil {
		return gates.Input{}, err
	}
	return gates.Input{Now: now, Operation: Describe(op, profile), Profile: profile, Health: health}, nil
}

// NodeInput gathers the node gates' input for the step of op on nodes at
// now: the site's profile, and the agent report (heartbeat and DRBD) of
// each of the nodes, read uncached when Fresh is set, since it decides
// whether a node is touched now. A node without a NodewrightAgentStatus
// has no entry in Health.Agents, which the gates read as unknown.
func (c Cluster) NodeInput(ctx context.Context, op v1.Operation, nodes []string, now time.Time) (gates.Input, error) {
	profile, err := c.Profile(ctx)
	if err != nil {
		return gates.Input{}, err
	}
	reader := c.Client
	if c.Fresh != nil {
		reader = c.Fresh
	}
	agents := map[string]gates.AgentReport{}
	for _, n := range nodes {
		as := &v1.NodewrightAgentStatus{}
		err := reader.Get(ctx, client.ObjectKey{Name: n}, as)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return gates.Input{}, fmt.Errorf("NodewrightAgentStatus %s: %w", n, err)
		}
		agents[n] = AgentReport(as)
	}
	desc := Describe(op, profile)
	desc.StepNodes = slices.Clone(nodes)
	return gates.Input{Now: now, Operation: desc, Profile: profile, Health: gates.Health{Agents: agents}}, nil
}

// AgentReport is what the node gates read of a node's agent status.
func AgentReport(as *v1.NodewrightAgentStatus) gates.AgentReport {
	return gates.AgentReport{LastHeartbeat: as.Status.LastHeartbeat.Time, DRBD: as.Status.DRBD.DeepCopy()}
}

// Health gathers what the health and blast-radius gates read: every
// node's readiness (a profile node missing from the cluster is not
// Ready), the replicas of the profile's resource groups, and the
// operations in flight in namespace.
func (c Cluster) Health(ctx context.Context, namespace string, profile *v1.EdgeProfile, fresh bool) (gates.Health, error) {
	h := gates.Health{Reported: true, Nodes: map[string]bool{}}
	nodes := &corev1.NodeList{}
	if err := c.Client.List(ctx, nodes); err != nil {
		return h, fmt.Errorf("list nodes: %w", err)
	}
	for _, n := range nodes.Items {
		ready := false
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				ready = cond.Status == corev1.ConditionTrue
			}
		}
		h.Nodes[n.Name] = ready
	}
	for _, pn := range profile.Spec.Nodes {
		if _, ok := h.Nodes[pn.Name]; !ok {
			h.Nodes[pn.Name] = false // in the profile, not in the cluster
		}
	}
	if c.Storage != nil {
		for _, rg := range profile.Spec.ResourceGroups {
			g, err := c.Storage.ResourceGroup(ctx, rg.Name)
			if err != nil {
				return h, err
			}
			for _, res := range g.Resources {
				h.DRBD = append(h.DRBD, gates.DRBDResource{Name: res.Name, Replicas: len(res.Replicas), UpToDate: res.InSync()})
			}
		}
	}
	inflight, err := c.InFlight(ctx, namespace, profile, fresh)
	if err != nil {
		return h, err
	}
	h.InFlight = inflight
	return h, nil
}

// InFlight lists the operations of namespace that have started (passed
// their step gates once) and not ended; a halted one counts, as its nodes
// may be half-changed. fresh reads them uncached.
func (c Cluster) InFlight(ctx context.Context, namespace string, profile *v1.EdgeProfile, fresh bool) ([]gates.Operation, error) {
	var out []gates.Operation
	reader := c.Client
	if fresh && c.Fresh != nil {
		reader = c.Fresh
	}
	for _, k := range v1.Registry {
		l := k.NewList()
		if err := reader.List(ctx, l, client.InNamespace(namespace)); err != nil {
			return nil, fmt.Errorf("list %s operations: %w", k.Kind, err)
		}
		for _, op := range l.Operations() {
			if op.OperationStatus().StartedAt == nil || (c.Ended != nil && c.Ended(k.Kind, op)) {
				continue
			}
			out = append(out, Describe(op, profile))
		}
	}
	return out, nil
}
