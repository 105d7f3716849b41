package gates

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/trust"
)

// Reason is a stable code for a blocked gate.
type Reason string

// The gate reason codes; each surfaces in plan output and as a condition
// reason on the operation.
const (
	// ApprovalMissing surfaces when fewer approvals than the policy asks for count.
	ApprovalMissing Reason = "ApprovalMissing"
	// ApprovalStale surfaces when approvals exist only for an earlier version of the file.
	ApprovalStale Reason = "ApprovalStale"
	// SelfApproval surfaces when the operation's author approved it and that is why approvals are short.
	SelfApproval Reason = "SelfApproval"
	// Stale surfaces when the source's newest accepted commit is older than freshness.maxAge.
	Stale Reason = "Stale"
	// Paused surfaces when the site's profile sets paused.
	Paused Reason = "Paused"
	// OutsideWindow surfaces when no maintenance window is open.
	OutsideWindow Reason = "OutsideWindow"
	// HealthBlocked surfaces when nodes, DRBD or another operation make the site unfit.
	HealthBlocked Reason = "HealthBlocked"
	// BlastRadius surfaces when another disruptive operation runs or too many nodes are down.
	BlastRadius Reason = "BlastRadius"
	// StorageNotHealthy surfaces when a DRBD resource on a node the next step acts on is not
	// healthy (not UpToDate, or not Connected and Established to every peer, e.g. while it resyncs)
	// or its DRBD is installed but cannot be read; the step waits until it is.
	StorageNotHealthy Reason = "StorageNotHealthy"
	// StorageUnknown surfaces when the DRBD state of a node the next step acts on is not known:
	// no agent status, a heartbeat too old to count, or an agent that reports no DRBD state.
	StorageUnknown Reason = "StorageUnknown"
)

// Approval is one principal's approval of a file version, from a verified
// commit.
type Approval struct {
	// Principal approved; Key is the key they signed with.
	Principal string `json:"principal"`
	Key       string `json:"key"`
	// Blob is the approved blob id of the file.
	Blob string `json:"blob"`
	// Commit is the approval commit.
	Commit string `json:"commit"`
	// Superseded is set when the approval was made before the file's
	// current version came into being (it was changed, or removed and
	// added again, after the approval): it never counts, whatever blob
	// it names.
	Superseded bool `json:"superseded,omitempty"`
}

// Operation is what the gates need to know of one operation.
type Operation struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Path is the manifest's path in the fleet repository; Blob its blob id
	// at the commit being applied.
	Path string `json:"path"`
	Blob string `json:"blob"`
	// Author is the principal who signed the commit that last changed the
	// file to Blob.
	Author string `json:"author"`
	// Nodes are the nodes the operation acts on.
	Nodes []string `json:"nodes"`
	// Disruptive operations take nodes or VMs down while they run.
	Disruptive bool `json:"disruptive"`
	// MaxUnavailable bounds how many of Nodes may be down at once.
	MaxUnavailable int `json:"maxUnavailable"`
	// StepInProgress is set when a step already runs: pause and windows
	// let it finish; they only stop new steps.
	StepInProgress bool `json:"stepInProgress,omitempty"`
	// StepNodes are the nodes the next step acts on (a bond flip's next
	// wave), for the node gates (the Node chain).
	StepNodes []string `json:"stepNodes,omitempty"`
}

// Health is the site's state as gathered from the cluster.
type Health struct {
	// Reported is false when no health report was gathered.
	Reported bool
	// Nodes maps node name to Ready.
	Nodes map[string]bool
	// DRBD lists replicated resources.
	DRBD []DRBDResource
	// InFlight lists the other operations of the site that are running.
	InFlight []Operation
	// Agents are the agent reports of the nodes, by node name, as the
	// node gates read them; a node without an entry has no agent status.
	// Nil when no agent report was gathered (plan gathers none).
	Agents map[string]AgentReport
}

// AgentReport is what a node's agent last reported, for the node gates.
type AgentReport struct {
	// LastHeartbeat is when the agent last reported.
	LastHeartbeat time.Time
	// DRBD is the node's DRBD as the agent reported it; nil when the
	// agent reported none.
	DRBD *v1.DRBDStatus
}

// DRBDResource is one replicated volume's state.
type DRBDResource struct {
	Name     string `json:"name" yaml:"name"`
	Replicas int    `json:"replicas" yaml:"replicas"`
	UpToDate int    `json:"upToDate" yaml:"upToDate"`
}

// Input is everything the chain looks at, gathered beforehand.
type Input struct {
	Now       time.Time
	Operation Operation
	Profile   *v1.EdgeProfile
	Policy    *trust.Policy
	// Approvals are the approvals of the operation's Path, any version.
	Approvals []Approval
	// Stale is the source's Stale message, or "".
	Stale  string
	Health Health
}

// Verdict is one gate's answer.
type Verdict struct {
	Gate    string `json:"gate"`
	Allowed bool   `json:"allowed"`
	Reason  Reason `json:"reason,omitempty"`
	Message string `json:"message"`
}

// Decision is the chain's answer: allowed only when every gate allows.
type Decision struct {
	Allowed  bool      `json:"allowed"`
	Verdicts []Verdict `json:"verdicts"`
}

// Gate is one pure check, with the inputs it cannot judge without.
type Gate struct {
	// Name is how verdicts, plan output and conditions name the gate.
	Name string
	// Check judges the input; it is called only when the inputs Needs
	// names are present.
	Check func(Input) Verdict
	// Needs names the inputs the gate reads that may be absent from an
	// Input (the trust policy, the profile); a chain refuses to run the
	// gate without them rather than let it pass or crash.
	Needs []Need
}

// Need is an input a gate cannot judge without.
type Need string

// The inputs a gate may need.
const (
	// NeedPolicy is Input.Policy.
	NeedPolicy Need = "trust policy"
	// NeedProfile is Input.Profile.
	NeedProfile Need = "site profile"
	// NeedAgents is Input.Health.Agents: the nodes' agent reports.
	NeedAgents Need = "report of the nodes' agents"
	// NeedStepNodes is Input.Operation.StepNodes: which nodes the next
	// step acts on.
	NeedStepNodes Need = "list of the nodes the next step acts on"
)

// present reports whether in holds input n.
func (n Need) present(in Input) bool {
	switch n {
	case NeedPolicy:
		return in.Policy != nil
	case NeedProfile:
		return in.Profile != nil
	case NeedAgents:
		return in.Health.Agents != nil
	case NeedStepNodes:
		return len(in.Operation.StepNodes) > 0
	}
	return false // an input this package does not know is never present
}

// InputMissing surfaces when a chain runs a gate without an input it
// needs: the chain was given less than it was built for.
const InputMissing Reason = "InputMissing"

// The gates, as values; chains are built from them.
var (
	// ApprovalsGate counts the approvals of the operation's file version.
	ApprovalsGate = Gate{Name: "approvals", Check: checkApprovals, Needs: []Need{NeedPolicy}}
	// FreshnessGate blocks while the source's newest accepted commit is stale.
	FreshnessGate = Gate{Name: "freshness", Check: checkFreshness}
	// PauseGate blocks new steps of a paused site.
	PauseGate = Gate{Name: "pause", Check: checkPause, Needs: []Need{NeedProfile}}
	// WindowGate blocks new steps outside the site's maintenance windows.
	WindowGate = Gate{Name: "window", Check: checkWindow, Needs: []Need{NeedProfile}}
	// HealthGate blocks while nodes, DRBD or other operations make the
	// site unfit.
	HealthGate = Gate{Name: "health", Check: checkHealth, Needs: []Need{NeedProfile}}
	// BlastRadiusGate bounds disruption: one disruptive operation per site and
	// maxUnavailable nodes down.
	BlastRadiusGate = Gate{Name: "blast-radius", Check: checkBlastRadius}
	// NodeStorageGate blocks a step on nodes whose DRBD is not healthy or
	// not known (see checkNodeStorage).
	NodeStorageGate = Gate{Name: "node-storage", Check: checkNodeStorage, Needs: []Need{NeedProfile, NeedAgents, NeedStepNodes}}
)

// Chain is an ordered set of gates that decides together: allowed only
// when it has gates and every one allows. It is built with NewChain, so
// an empty chain, a gate without a check or a gate listed twice is an
// error where the chain is made, never a pass where it runs. The zero
// Chain allows nothing.
type Chain struct {
	name  string
	gates []Gate
}

// NewChain builds the chain name of gates, in the order they are
// evaluated and shown.
func NewChain(name string, gs ...Gate) (Chain, error) {
	if len(gs) == 0 {
		return Chain{}, fmt.Errorf("gate chain %q has no gates", name)
	}
	seen := map[string]bool{}
	for i, g := range gs {
		switch {
		case g.Name == "":
			return Chain{}, fmt.Errorf("gate chain %q: gate %d has no name", name, i)
		case g.Check == nil:
			return Chain{}, fmt.Errorf("gate chain %q: gate %s has no check", name, g.Name)
		case seen[g.Name]:
			return Chain{}, fmt.Errorf("gate chain %q lists gate %s twice", name, g.Name)
		}
		seen[g.Name] = true
	}
	return Chain{name: name, gates: slices.Clone(gs)}, nil
}

// MustChain is NewChain for the package-level chains: a bad chain is a
// programming error found when the program starts.
func MustChain(name string, gs ...Gate) Chain {
	c, err := NewChain(name, gs...)
	if err != nil {
		panic(err)
	}
	return c
}

// The chains of the reconciler and of nodewright plan.
var (
	// Admission decides whether an operation may start at all; the
	// FleetSource controller evaluates it on every accepted commit.
	Admission = MustChain("admission", ApprovalsGate, FreshnessGate)
	// Step decides whether an operation's next node or batch may start
	// now; operation controllers evaluate it before each, never mid-step.
	Step = MustChain("step", PauseGate, WindowGate, HealthGate, BlastRadiusGate)
	// All is every gate, admission first: what nodewright plan shows, so
	// a person sees everything that stands in the way at once. The node
	// gates are not in it: they judge what the nodes' agents report now,
	// which only the cluster has.
	All = MustChain("all", ApprovalsGate, FreshnessGate, PauseGate, WindowGate, HealthGate, BlastRadiusGate)
	// Node decides whether a step may start on the nodes it acts on
	// (Operation.StepNodes), from what their agents report; a bond flip
	// evaluates it before it creates a node's flip task. A block is a
	// wait, like the step gates': the step starts once the nodes are fit.
	Node = MustChain("node", NodeStorageGate)
)

// Name returns the chain's name.
func (c Chain) Name() string { return c.name }

// Gates returns the names of the chain's gates in order.
func (c Chain) Gates() []string {
	out := make([]string, len(c.gates))
	for i, g := range c.gates {
		out[i] = g.Name
	}
	return out
}

// Evaluate runs every gate of the chain in order; none short-circuits, so
// a person sees everything that stands in the way at once. A gate whose
// needed input is absent blocks with InputMissing. The zero Chain blocks.
// It is the one evaluation path of plan, the FleetSource controller and
// the operation controllers.
func (c Chain) Evaluate(in Input) Decision {
	if len(c.gates) == 0 {
		return Decision{Verdicts: []Verdict{{Gate: "chain", Reason: InputMissing,
			Message: "no gate chain was configured, so nothing is allowed"}}}
	}
	d := Decision{Allowed: true}
	for _, g := range c.gates {
		v := check(g, in)
		v.Gate = g.Name
		d.Allowed = d.Allowed && v.Allowed
		d.Verdicts = append(d.Verdicts, v)
	}
	return d
}

func check(g Gate, in Input) Verdict {
	for _, n := range g.Needs {
		if !n.present(in) {
			return block(InputMissing, "gate %s was given no %s, which it needs; nothing is allowed without it", g.Name, n)
		}
	}
	return g.Check(in)
}

func allow(format string, args ...any) Verdict {
	return Verdict{Allowed: true, Message: fmt.Sprintf(format, args...)}
}

func block(r Reason, format string, args ...any) Verdict {
	return Verdict{Reason: r, Message: fmt.Sprintf(format, args...)}
}

func checkApprovals(in Input) Verdict {
	op := in.Operation
	rule, ok := in.Policy.Operations[op.Kind]
	if !ok {
		// Fail closed: an operation kind nobody may approve never starts.
		return block(ApprovalMissing, "the trust policy names no approvers for %s; add operations.%s to .nodewright/trust.yaml", op.Kind, op.Kind)
	}
	counted := map[string]bool{}
	var self, stale, outside, revoked, removed []string
	for _, a := range in.Approvals {
		holder, held := in.Policy.Keyring().HolderByID(a.Key)
		switch {
		case a.Blob != op.Blob || a.Superseded:
			stale = append(stale, a.Principal)
		case a.Principal == op.Author:
			self = append(self, a.Principal)
		case !held || holder.Principal != a.Principal:
			removed = append(removed, a.Principal)
		case !in.Policy.HasRole(a.Principal, rule.Role):
			outside = append(outside, a.Principal)
		case holder.Revoked:
			revoked = append(revoked, a.Principal)
		default:
			counted[a.Principal] = true
		}
	}
	have := slices.Sorted(maps.Keys(counted))
	if len(have) >= rule.Threshold {
		return allow("%d of %d approvals from role %s: %s", len(have), rule.Threshold, rule.Role, strings.Join(have, ", "))
	}
	var candidates []string
	for _, p := range in.Policy.Roles[rule.Role].Principals {
		if !counted[p] && p != op.Author {
			candidates = append(candidates, p)
		}
	}
	msg := fmt.Sprintf("needs %d more %s from role %s: any of %s", rule.Threshold-len(have), plural(rule.Threshold-len(have), "approval", "approvals"),
		rule.Role, orNone(candidates))
	if len(have) > 0 {
		msg += fmt.Sprintf(" (counted: %s)", strings.Join(have, ", "))
	}
	if len(outside) > 0 {
		msg += fmt.Sprintf("; not counted, not in role %s: %s", rule.Role, strings.Join(uniq(outside), ", "))
	}
	if len(revoked) > 0 {
		msg += fmt.Sprintf("; not counted, signed with a key the policy revoked: %s", strings.Join(uniq(revoked), ", "))
	}
	if len(removed) > 0 {
		msg += fmt.Sprintf("; not counted, signed with a key the policy in force no longer lists for that principal: %s", strings.Join(uniq(removed), ", "))
	}
	stale = slices.DeleteFunc(stale, func(p string) bool { return counted[p] })
	switch {
	case len(self) > 0:
		return block(SelfApproval, "%s; %s wrote this version and cannot approve it", msg, op.Author)
	case len(stale) > 0:
		return block(ApprovalStale, "%s; approvals by %s are for an earlier version of %s and were voided by the edit", msg, strings.Join(uniq(stale), ", "), op.Path)
	}
	return block(ApprovalMissing, "%s", msg)
}

func checkFreshness(in Input) Verdict {
	if in.Stale != "" {
		return block(Stale, "%s", in.Stale)
	}
	return allow("the source is fresh")
}

func checkPause(in Input) Verdict {
	if in.Profile.Spec.Paused {
		if in.Operation.StepInProgress {
			return allow("the site is paused; the step in flight may finish")
		}
		return block(Paused, "site %s is paused (spec.paused in its profile); no new step starts until it is unpaused", in.Profile.Spec.Site)
	}
	return allow("the site is not paused")
}

func checkWindow(in Input) Verdict {
	windows := in.Profile.Spec.MaintenanceWindows
	if len(windows) == 0 {
		return allow("the site has no maintenance windows: any time")
	}
	if w, end, ok := OpenWindow(windows, in.Now); ok {
		return allow("inside the window %s until %s", describeWindow(w), end.Format("Mon 15:04 MST"))
	}
	if in.Operation.StepInProgress {
		return allow("outside every window, but the step in flight started inside one and may finish; no new node starts")
	}
	next, w, ok := NextWindow(windows, in.Now)
	if !ok {
		return block(OutsideWindow, "outside every maintenance window")
	}
	return block(OutsideWindow, "outside every maintenance window; the next (%s) opens %s, in %s", describeWindow(w), next.Format("Mon 2006-01-02 15:04 MST"), next.Sub(in.Now).Round(time.Minute))
}

func describeWindow(w v1.MaintenanceWindow) string {
	days := make([]string, len(w.Days))
	for i, d := range w.Days {
		days[i] = string(d)
	}
	return fmt.Sprintf("%s %s for %s, %s", strings.Join(days, ","), w.Start, v1.FormatDuration(w.Duration.Duration), w.TimeZone)
}

func checkHealth(in Input) Verdict {
	h := in.Health
	if !h.Reported {
		return block(HealthBlocked, "no health report; the reconciler gathers one from the cluster (plan: --health FILE)")
	}
	var problems []string
	ready := 0
	var notReady []string
	for _, name := range slices.Sorted(maps.Keys(h.Nodes)) {
		if h.Nodes[name] {
			ready++
		} else {
			notReady = append(notReady, name)
		}
	}
	if m := in.Profile.Spec.Health.MinReadyNodes; m != nil && ready < int(*m) {
		problems = append(problems, fmt.Sprintf("%d nodes Ready, the profile needs %d (not Ready: %s)", ready, *m, orNone(notReady)))
	}
	if r := in.Profile.Spec.Health.RequireDRBDUpToDate; r == nil || *r {
		for _, d := range h.DRBD {
			if d.UpToDate < d.Replicas {
				problems = append(problems, fmt.Sprintf("DRBD resource %s has %d of %d replicas UpToDate", d.Name, d.UpToDate, d.Replicas))
			}
		}
	}
	for _, other := range h.InFlight {
		if other.Kind == in.Operation.Kind && other.Name == in.Operation.Name {
			continue
		}
		if shared := intersect(other.Nodes, in.Operation.Nodes); len(shared) > 0 {
			problems = append(problems, fmt.Sprintf("%s %s is in flight on %s", other.Kind, other.Name, strings.Join(shared, ", ")))
		}
	}
	if len(problems) > 0 {
		return block(HealthBlocked, "%s", strings.Join(problems, "; "))
	}
	return allow("%d nodes Ready, storage in sync, no other operation on these nodes", ready)
}

func checkBlastRadius(in Input) Verdict {
	op := in.Operation
	if op.Disruptive {
		for _, other := range in.Health.InFlight {
			if other.Disruptive && !(other.Kind == op.Kind && other.Name == op.Name) {
				return block(BlastRadius, "%s %s is a disruptive operation in flight at this site; one at a time", other.Kind, other.Name)
			}
		}
	}
	if op.MaxUnavailable > 0 && in.Health.Reported && !op.StepInProgress {
		var down []string
		for _, n := range op.Nodes {
			if ready, known := in.Health.Nodes[n]; known && !ready {
				down = append(down, n)
			}
		}
		if len(down)+1 > op.MaxUnavailable {
			return block(BlastRadius, "%d of its nodes are already down (%s); another step would exceed maxUnavailable %d", len(down), strings.Join(down, ", "), op.MaxUnavailable)
		}
	}
	return allow("within the blast radius")
}

func intersect(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func uniq(xs []string) []string {
	s := slices.Clone(xs)
	slices.Sort(s)
	return slices.Compact(s)
}

func orNone(xs []string) string {
	if len(xs) == 0 {
		return "none left"
	}
	return strings.Join(xs, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// Blocking returns the verdicts that block, in chain order.
func (d Decision) Blocking() []Verdict {
	var out []Verdict
	for _, v := range d.Verdicts {
		if !v.Allowed {
			out = append(out, v)
		}
	}
	return out
}
