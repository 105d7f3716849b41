package replication

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/operation"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// ReasonSyncStalled halts the operation when a new replica made no
// progress for spec.stallTimeout; the message names resource, node and
// what it is stuck in.
const ReasonSyncStalled = "SyncStalled"

// The conditions of a new replica, as the phase of its progress entry
// (target replica/<resource>@<node>).
const (
	// ReplicaSyncing is a replica receiving its data (or waiting to).
	ReplicaSyncing = "Syncing"
	// ReplicaWFBitMapT is a replica a peer volume of which waits for the
	// bitmap (DRBD WFBitMapT): a resync that has not started.
	ReplicaWFBitMapT = "WFBitMapT"
	// ReplicaConnecting is a replica whose connection to a peer is not
	// established (DRBD Connecting, Unconnected, ...).
	ReplicaConnecting = "Connecting"
	// ReplicaStandAlone is a replica that gave up a connection to a peer
	// (DRBD StandAlone): it does not reconnect by itself.
	ReplicaStandAlone = "StandAlone"
	// BatchStalled is a batch halted for a replica without progress.
	BatchStalled = "Stalled"
)

// replicaPrefix starts the targets of the replicas' progress entries:
// details of the current batch, not steps of their own.
const replicaPrefix = "replica/"

func replicaTarget(resource, node string) string { return replicaPrefix + resource + "@" + node }

// Observation is what one poll sees of a replica that is not UpToDate.
type Observation struct {
	// Condition is one of the Replica* conditions.
	Condition string
	// Percent is the resync's progress, negative when not reported.
	Percent float64
	// Detail names the peer and states behind Condition.
	Detail string
}

// Observe classifies a replica that is not UpToDate by what its node
// reports of its peers: a StandAlone connection first, then one not
// connected, then a peer volume in WFBitMapT, else syncing with the
// furthest progress any peer reports.
func Observe(rep backend.Replica) Observation {
	for _, p := range rep.Peers {
		if p.Connection == "StandAlone" {
			return Observation{Condition: ReplicaStandAlone, Percent: -1, Detail: fmt.Sprintf("StandAlone towards %s, disk %s", p.Node, rep.State)}
		}
	}
	for _, p := range rep.Peers {
		if p.Connection != "" && p.Connection != "Connected" {
			return Observation{Condition: ReplicaConnecting, Percent: -1, Detail: fmt.Sprintf("%s to %s, disk %s", p.Connection, p.Node, rep.State)}
		}
	}
	for _, p := range rep.Peers {
		if p.Replication == "WFBitMapT" {
			return Observation{Condition: ReplicaWFBitMapT, Percent: -1, Detail: fmt.Sprintf("WFBitMapT with %s, disk %s", p.Node, rep.State)}
		}
	}
	o := Observation{Condition: ReplicaSyncing, Percent: -1, Detail: "disk " + rep.State}
	for _, p := range rep.Peers {
		if p.DonePercent >= 0 && p.DonePercent > o.Percent {
			o.Percent = p.DonePercent
			o.Detail = fmt.Sprintf("%s from %s, disk %s", orState(p.Replication), p.Node, rep.State)
		}
	}
	return o
}

func orState(s string) string {
	if s == "" {
		return "syncing"
	}
	return s
}

// message writes an observation as its progress entry's message; the
// percentage comes first, so that percentOf reads it back.
func (o Observation) message() string {
	if o.Percent < 0 {
		return o.Detail
	}
	return strconv.FormatFloat(o.Percent, 'f', 1, 64) + "% " + o.Detail
}

// percentOf reads back the percentage message wrote, or -1.
func percentOf(msg string) float64 {
	num, _, ok := strings.Cut(msg, "% ")
	if !ok {
		return -1
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return -1
	}
	return f
}

// Stalled is the pure verdict on one replica: it is stalled when its
// condition has lasted stallTimeout (counted from since, the later of
// when the condition began or the progress last grew, and when the phase
// began) and it is not a sync whose progress is unknown — such a sync is
// bounded by syncTimeout alone.
func Stalled(o Observation, since, now time.Time, stallTimeout time.Duration) bool {
	if o.Condition == ReplicaSyncing && o.Percent < 0 {
		return false
	}
	return now.Sub(since) >= stallTimeout
}

// trackReplicas updates the progress entries of the batch's replicas
// that are not UpToDate, drops those of replicas now UpToDate, and
// returns the stalled ones, described.
func trackReplicas(run *operation.Run, g *backend.ResourceGroup, resources []string, stallTimeout time.Duration) []string {
	var phaseSince time.Time
	if s := run.Status().PhaseSince; s != nil {
		phaseSince = s.Time
	}
	seen := map[string]bool{}
	var stalled []string
	for _, name := range resources {
		i := slices.IndexFunc(g.Resources, func(r backend.Resource) bool { return r.Name == name })
		if i < 0 {
			continue
		}
		for _, rep := range g.Resources[i].Replicas {
			if rep.State == backend.UpToDate {
				continue
			}
			target := replicaTarget(name, rep.Node)
			seen[target] = true
			o := Observe(rep)
			prev := run.Progress(target)
			grew := prev != nil && prev.Phase == o.Condition && o.Percent > percentOf(prev.Message)
			p := run.SetProgress(target, o.Condition, "%s", o.message())
			if grew {
				p.LastTransitionTime = metav1.NewTime(run.Now.UTC().Truncate(time.Second))
			}
			since := p.LastTransitionTime.Time
			if phaseSince.After(since) {
				since = phaseSince
			}
			if Stalled(o, since, run.Now, stallTimeout) {
				stalled = append(stalled, fmt.Sprintf("%s on %s: %s for %s", name, rep.Node, o.message(), run.Now.Sub(since).Round(time.Second)))
			}
		}
	}
	dropReplicas(run, func(target string) bool { return !seen[target] })
	return stalled
}

// dropReplicas removes the replicas' progress entries that drop says to.
func dropReplicas(run *operation.Run, drop func(target string) bool) {
	st := run.Status()
	st.Progress = slices.DeleteFunc(st.Progress, func(p v1.StepProgress) bool {
		return strings.HasPrefix(p.Target, replicaPrefix) && drop(p.Target)
	})
}
