package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/nodewright/nodewright/agent/drbd"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// ConditionReady is the heartbeat's condition: True while the agent runs
// and can read its host's bonds. The node's DRBD has no condition of its
// own: status.drbd.state says whether it could be read (NotInstalled is no
// problem; Unavailable carries the error in status.drbd.message).
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

// drbdReadTimeout bounds one read of the node's DRBD, so that a hung
// drbdsetup delays a heartbeat by this much at most (and reports DRBD
// Unavailable).
const drbdReadTimeout = 5 * time.Second

// report writes the status once, creating the object when it is missing.
// The last report of a stopping agent does not read DRBD again (it has at
// most stopReportTimeout): the state of the heartbeat before stays.
func (h *heartbeat) report(ctx context.Context, stopped bool) error {
	bonds, hostErr := observeBonds(ctx, h.opts.Host)
	var storage *v1.DRBDStatus
	if !stopped {
		drbdCtx, cancel := context.WithTimeout(ctx, drbdReadTimeout)
		storage = DRBDStatus(h.opts.DRBD(drbdCtx))
		cancel()
	}
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
		if storage != nil {
			obj.Status.DRBD = storage
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

// observeBonds reads the host's bonds with their link state when the host
// reports it (BondObserver), else as Bonds gives them, and keeps at most
// v1.MaxObservedBonds bonds of at most v1.MaxObservedSlaves slaves each,
// the status's bounds.
func observeBonds(ctx context.Context, host Host) ([]v1.ObservedBond, error) {
	var out []v1.ObservedBond
	if o, ok := host.(BondObserver); ok {
		bonds, err := o.ObservedBonds(ctx)
		if err != nil {
			return nil, err
		}
		out = bonds
	} else {
		bonds, err := host.Bonds(ctx)
		if err != nil {
			return nil, err
		}
		for _, b := range bonds {
			ob := v1.ObservedBond{Name: b.Name, Mode: b.Mode, Options: b.Options}
			for _, s := range b.Slaves {
				ob.Slaves = append(ob.Slaves, v1.ObservedSlave{Name: s})
			}
			out = append(out, ob)
		}
	}
	if len(out) > v1.MaxObservedBonds {
		out = out[:v1.MaxObservedBonds]
	}
	for i := range out {
		if len(out[i].Slaves) > v1.MaxObservedSlaves {
			out[i].Slaves = out[i].Slaves[:v1.MaxObservedSlaves]
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// DRBDStatus maps what a DRBD read returned onto the agent's status: an
// error wrapping drbd.ErrNotInstalled is NotInstalled (the node runs no
// DRBD), any other error is Unavailable with the error as the message, and
// resources are Installed with each resource's health verdict
// (drbd.Resource.Healthy). Resources are listed unhealthy first, then by
// name, and cut to the status's bounds (v1.MaxDRBDResources resources,
// v1.MaxDRBDVolumes volumes and peer devices, v1.MaxDRBDConnections
// connections); Total and Unhealthy count every resource, and each
// verdict is made before anything is cut, so what is left out never hides
// a problem. The reconciler's simulated agents use it too, so that they
// report what a real agent would.
func DRBDStatus(resources []drbd.Resource, err error) *v1.DRBDStatus {
	switch {
	case errors.Is(err, drbd.ErrNotInstalled):
		return &v1.DRBDStatus{State: v1.DRBDNotInstalled}
	case err != nil:
		return &v1.DRBDStatus{State: v1.DRBDUnavailable, Message: clip(err.Error(), 1024)}
	}
	all := make([]v1.DRBDResource, 0, len(resources))
	for _, r := range resources {
		all = append(all, drbdResource(r))
	}
	slices.SortStableFunc(all, func(a, b v1.DRBDResource) int {
		if a.Healthy != b.Healthy {
			if !a.Healthy {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	// A resource name appears once per node, and the API server refuses a
	// list (a map by name) that repeats one: keep the first, which is
	// the unhealthy one if either is.
	st := &v1.DRBDStatus{State: v1.DRBDInstalled}
	seen := map[string]bool{}
	for _, r := range all {
		if seen[r.Name] {
			continue
		}
		seen[r.Name] = true
		if st.Total < math.MaxInt32 {
			st.Total++
		}
		if !r.Healthy && st.Unhealthy < math.MaxInt32 {
			st.Unhealthy++
		}
		st.Resources = append(st.Resources, r)
	}
	if len(st.Resources) > v1.MaxDRBDResources {
		st.Resources = st.Resources[:v1.MaxDRBDResources]
	}
	if len(st.Resources) == 0 {
		st.Resources = nil
	}
	return st
}

// drbdResource maps one resource, with drbd's health verdict.
func drbdResource(r drbd.Resource) v1.DRBDResource {
	healthy, msg := r.Healthy()
	out := v1.DRBDResource{Name: clip(r.Name, 253), Role: clip(string(r.Role), 32), Healthy: healthy}
	if !healthy {
		out.Problem = clip(msg, 512)
	}
	for _, d := range r.Devices[:min(len(r.Devices), v1.MaxDRBDVolumes)] {
		out.Volumes = append(out.Volumes, v1.DRBDVolume{Volume: clampInt32(d.Volume, 0, math.MaxInt32), DiskState: clip(string(d.DiskState), 32), Client: d.Client})
	}
	for _, c := range r.Connections[:min(len(r.Connections), v1.MaxDRBDConnections)] {
		conn := v1.DRBDConnection{PeerName: clip(c.Name, 253), PeerNodeID: clampInt32(c.PeerNodeID, math.MinInt32, math.MaxInt32), ConnectionState: clip(string(c.ConnectionState), 32)}
		if conn.PeerName == "" {
			conn.PeerName = fmt.Sprintf("node-id %d", c.PeerNodeID)
		}
		for _, pd := range c.PeerDevices[:min(len(c.PeerDevices), v1.MaxDRBDVolumes)] {
			conn.PeerDevices = append(conn.PeerDevices, v1.DRBDPeerDevice{
				Volume: clampInt32(pd.Volume, 0, math.MaxInt32), ReplicationState: clip(string(pd.ReplicationState), 32),
				PeerDiskState: clip(string(pd.PeerDiskState), 32), PercentInSyncMilli: milliPercent(pd.PercentInSync),
			})
		}
		out.Connections = append(out.Connections, conn)
	}
	return out
}

// milliPercent turns a percentage into thousandths of a percent, rounded
// down (99.9999 % in sync is not 100 %) and clamped to 0–100000, as
// drbdsetup's own figure can fall outside 0–100 when the kernel's
// counters disagree. Nil (not reported) and NaN stay nil.
func milliPercent(p *float64) *int32 {
	if p == nil || math.IsNaN(*p) {
		return nil
	}
	const eps = 1e-6 // 42.1 is 42.09999…; do not floor it to 42.099
	m := int32(math.Floor(math.Max(0, math.Min(100, *p))*1000 + eps))
	return &m
}

func clampInt32(v, lo, hi int) int32 {
	return int32(max(lo, min(hi, v)))
}

// clip cuts s to at most n bytes, on a rune boundary, so that a long
// message never makes the API server refuse the whole status.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
