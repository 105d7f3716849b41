package gates

import (
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// AgentStaleAfter is how old a node's agent report may be for it to count:
// an older one says nothing about the node now. The bond flip's own checks
// of its agents use the same bound.
const AgentStaleAfter = 2 * time.Minute

// maxShown bounds the unhealthy resources one node's message names.
const maxShown = 3

// The DRBD states the node gate compares against, as drbdsetup names them.
const (
	diskUpToDate    = "UpToDate"
	diskDiskless    = "Diskless"
	connConnected   = "Connected"
	replEstablished = "Established"
)

// checkNodeStorage blocks while a node the next step acts on has DRBD
// that is not healthy or not known, so that a bond flip never takes a
// node's replication links down while its data depends on them (a
// resync in progress, a peer not connected). Per node, in StepNodes
// order:
//
//   - no agent status, a heartbeat older than AgentStaleAfter, or an agent
//     that reports no DRBD state: StorageUnknown (fail closed: what is not
//     known is not healthy);
//   - DRBD NotInstalled: the node runs no DRBD, it passes;
//   - DRBD Unavailable (drbdsetup there but unreadable): StorageNotHealthy;
//   - DRBD Installed: every resource must be healthy by the agent's
//     verdict (agent/drbd: UpToDate, Connected and Established to every
//     peer) and by the states it reports (checked again here, so that a
//     report contradicting its own verdict does not pass), and Unhealthy,
//     which counts resources too many to list, must be 0:
//     else StorageNotHealthy.
//
// The reason is the first blocking node's; the message names every
// blocking node. A site whose profile sets health.requireDRBDUpToDate to
// false has asked not to be held by DRBD, and passes.
func checkNodeStorage(in Input) Verdict {
	nodes := uniqueInOrder(in.Operation.StepNodes)
	if r := in.Profile.Spec.Health.RequireDRBDUpToDate; r != nil && !*r {
		return allow("the profile sets health.requireDRBDUpToDate false: DRBD on %s is not checked", strings.Join(nodes, ", "))
	}
	var reason Reason
	var problems, fine []string
	for _, n := range nodes {
		r, msg := nodeStorage(in, n)
		if r == "" {
			fine = append(fine, fmt.Sprintf("%s (%s)", n, msg))
			continue
		}
		if reason == "" {
			reason = r
		}
		problems = append(problems, fmt.Sprintf("node %s: %s", n, msg))
	}
	if len(problems) > 0 {
		return block(reason, "%s", strings.Join(problems, "; "))
	}
	return allow("DRBD fit on %s", strings.Join(fine, ", "))
}

// nodeStorage judges one node: a reason and what is wrong, or no reason
// and a summary of why it is fine.
func nodeStorage(in Input, node string) (Reason, string) {
	a, ok := in.Health.Agents[node]
	switch {
	case !ok:
		return StorageUnknown, "no agent has reported from it (no NodewrightAgentStatus), so its DRBD state is unknown"
	case a.LastHeartbeat.IsZero():
		return StorageUnknown, "its agent has not reported a heartbeat, so its DRBD state is unknown"
	case in.Now.Sub(a.LastHeartbeat) > AgentStaleAfter:
		return StorageUnknown, fmt.Sprintf("its agent last reported %s ago (more than %s), so its DRBD state is unknown",
			in.Now.Sub(a.LastHeartbeat).Round(time.Second), AgentStaleAfter)
	case a.DRBD == nil:
		return StorageUnknown, "its agent reports no DRBD state (an agent older than this reconciler), so it is unknown"
	}
	d := a.DRBD
	switch d.State {
	case v1.DRBDNotInstalled:
		return "", "no DRBD"
	case v1.DRBDUnavailable:
		msg := "DRBD is installed but its state cannot be read"
		if d.Message != "" {
			msg += ": " + d.Message
		}
		return StorageNotHealthy, msg
	case v1.DRBDInstalled:
	default:
		return StorageUnknown, fmt.Sprintf("its agent reports DRBD state %q, which is none this reconciler knows", d.State)
	}
	var bad []string
	for _, r := range d.Resources {
		if p := resourceProblem(r); p != "" {
			bad = append(bad, r.Name+": "+p)
		}
	}
	more := max(int(d.Unhealthy)-len(bad), 0) // counted by the agent, not listed
	if len(bad) == 0 && more == 0 {
		return "", fmt.Sprintf("%d DRBD %s healthy", max(int(d.Total), len(d.Resources)), plural(max(int(d.Total), len(d.Resources)), "resource", "resources"))
	}
	shown := bad[:min(len(bad), maxShown)]
	more += len(bad) - len(shown)
	msg := fmt.Sprintf("DRBD not healthy: %s", strings.Join(shown, "; "))
	if len(shown) == 0 {
		msg = "DRBD not healthy"
	}
	if more > 0 {
		msg += fmt.Sprintf("; %d more %s not healthy", more, plural(more, "resource", "resources"))
	}
	return StorageNotHealthy, msg
}

// resourceProblem says what keeps a reported resource from being healthy:
// the agent's own verdict first, then any state in the report that
// contradicts a healthy verdict. "" when it is healthy.
func resourceProblem(r v1.DRBDResource) string {
	if !r.Healthy {
		if r.Problem != "" {
			return r.Problem
		}
		return "not healthy"
	}
	for _, c := range r.Connections {
		if c.ConnectionState != connConnected {
			return fmt.Sprintf("peer %s %s", c.PeerName, c.ConnectionState)
		}
		for _, pd := range c.PeerDevices {
			if pd.ReplicationState != replEstablished {
				s := fmt.Sprintf("peer %s volume %d %s", c.PeerName, pd.Volume, pd.ReplicationState)
				if pd.PercentInSyncMilli != nil {
					s += " " + formatMilliPercent(*pd.PercentInSyncMilli) + " in sync"
				}
				return s
			}
		}
	}
	for _, v := range r.Volumes {
		if v.DiskState != diskUpToDate && !(v.Client && v.DiskState == diskDiskless) {
			return fmt.Sprintf("volume %d disk %s", v.Volume, v.DiskState)
		}
	}
	return ""
}

// formatMilliPercent writes thousandths of a percent with one decimal,
// rounded down, as agent/drbd writes percentages: 40000 is "40.0%".
func formatMilliPercent(m int32) string {
	return fmt.Sprintf("%d.%d%%", m/1000, m%1000/100)
}

func uniqueInOrder(xs []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}
