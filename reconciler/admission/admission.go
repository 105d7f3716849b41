package admission

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Reason codes of a refusal, the first word of its message.
const (
	// ReasonNotReconciler: a write that only the reconciler may make came
	// from someone else.
	ReasonNotReconciler = "NotReconciler"
	// ReasonInFlight: a spec change of an operation in flight.
	ReasonInFlight = "SpecLockedInFlight"
	// ReasonImmutable: a spec change of a NodeTask.
	ReasonImmutable = "TaskImmutable"
	// ReasonWrongNode: a NodeTask status write by someone other than the
	// agent of the task's node, or a NodewrightAgentStatus write by an
	// agent for a node other than its own (or with a token that names no
	// node).
	ReasonWrongNode = "WrongNode"
	// ReasonMalformed: the request or its object cannot be read.
	ReasonMalformed = "MalformedRequest"
	// ReasonUnknown: a kind, subresource or operation the webhook does not
	// know.
	ReasonUnknown = "UnknownRequest"
)

// NodeNameExtra is the user-info extra key in which the API server names
// the node of the pod a ServiceAccount token is bound to.
const NodeNameExtra = "authentication.kubernetes.io/node-name"

// DefaultDeleters are the users besides the reconciler that may delete the
// objects: the garbage collector, the namespace controller and the API
// server itself (a deleted CRD's instances).
var DefaultDeleters = []string{
	"system:serviceaccount:kube-system:generic-garbage-collector",
	"system:serviceaccount:kube-system:namespace-controller",
	"system:apiserver",
}

// Policy is who may do what.
type Policy struct {
	// Reconciler is the reconciler's user name (its ServiceAccount's
	// system:serviceaccount:<namespace>:<name>). Required.
	Reconciler string
	// Agent is the agents' user name. Required.
	Agent string
	// Deleters may delete the objects (default DefaultDeleters).
	Deleters []string
	// InFlight reports whether an operation of kind in phase is in flight:
	// its spec is then locked. Required. It should report an unknown phase
	// as in flight.
	InFlight func(kind, phase string) bool
}

// Validate reports the first missing field.
func (p Policy) Validate() error {
	switch {
	case p.Reconciler == "":
		return fmt.Errorf("admission: Policy.Reconciler (the reconciler's user name) is required")
	case p.Agent == "":
		return fmt.Errorf("admission: Policy.Agent (the agents' user name) is required")
	case p.Reconciler == p.Agent:
		return fmt.Errorf("admission: the reconciler and the agents must have different users (both are %q)", p.Reconciler)
	case p.InFlight == nil:
		return fmt.Errorf("admission: Policy.InFlight is required")
	}
	return nil
}

// User is who sent a request, as the API server authenticated them.
type User struct {
	// Name is the user name.
	Name string
	// Extra holds the authenticator's extra fields.
	Extra map[string][]string
}

// Request is one admission request.
type Request struct {
	// Operation is CREATE, UPDATE or DELETE.
	Operation string
	// Kind is the object's kind, e.g. BondModeFlipPlan.
	Kind string
	// SubResource is "" or "status".
	SubResource string
	// User sent the request.
	User User
	// Old and New are the object before and after, as JSON (nil when the
	// operation has none: no Old on CREATE, no New on DELETE).
	Old, New []byte
}

// Decision is the webhook's answer.
type Decision struct {
	// Allowed lets the request through.
	Allowed bool
	// Reason is the reason code of a refusal.
	Reason string
	// Message says what was refused and why.
	Message string
}

// String is the refusal as kubectl shows it: the reason code, then the
// message.
func (d Decision) String() string {
	if d.Allowed {
		return "allowed"
	}
	return d.Reason + ": " + d.Message
}

func allow() Decision { return Decision{Allowed: true} }

func deny(reason, format string, args ...any) Decision {
	return Decision{Reason: reason, Message: fmt.Sprintf(format, args...)}
}

// kindClass says which rules a kind gets.
type kindClass int

const (
	classUnknown kindClass = iota
	classOperation
	classProfile
	classTask
	classAgentStatus
)

func classify(kind string) kindClass {
	switch {
	case kind == v1.KindNodeTask:
		return classTask
	case kind == v1.KindEdgeProfile:
		return classProfile
	case kind == v1.KindNodewrightAgentStatus:
		return classAgentStatus
	default:
		if _, ok := v1.LookupOperationKind(kind); ok {
			return classOperation
		}
		return classUnknown
	}
}

// object is the part of an object the rules read.
type object struct {
	Metadata struct {
		Name            string            `json:"name"`
		Namespace       string            `json:"namespace"`
		Labels          map[string]string `json:"labels"`
		Annotations     map[string]string `json:"annotations"`
		OwnerReferences json.RawMessage   `json:"ownerReferences"`
	} `json:"metadata"`
	Spec   json.RawMessage `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
		// NodeName is status.nodeName of a NodewrightAgentStatus.
		NodeName string `json:"nodeName"`
	} `json:"status"`
	// NodeName is spec.nodeName of a NodeTask.
	NodeName string `json:"-"`
}

func decode(data []byte, class kindClass) (*object, error) {
	var o object
	if err := json.Unmarshal(data, &o); err != nil {
		return nil, err
	}
	if class == classTask && len(o.Spec) > 0 && !bytes.Equal(o.Spec, []byte("null")) {
		var spec struct {
			NodeName string `json:"nodeName"`
		}
		if err := json.Unmarshal(o.Spec, &spec); err != nil {
			return nil, fmt.Errorf("spec: %w", err)
		}
		o.NodeName = spec.NodeName
	}
	return &o, nil
}

// name is how a message names the object.
func (o *object) name(kind string) string {
	if o.Metadata.Namespace == "" {
		return kind + " " + o.Metadata.Name
	}
	return kind + " " + o.Metadata.Namespace + "/" + o.Metadata.Name
}

// Decide answers one request. It is a pure function of the policy and the
// request.
func (p Policy) Decide(r Request) Decision {
	if err := p.Validate(); err != nil {
		return deny(ReasonUnknown, "%v", err)
	}
	class := classify(r.Kind)
	if class == classUnknown {
		return deny(ReasonUnknown, "kind %q is not one this webhook knows", r.Kind)
	}
	if r.SubResource != "" && r.SubResource != "status" {
		return deny(ReasonUnknown, "subresource %q of %s is not one this webhook knows", r.SubResource, r.Kind)
	}
	var old, cur *object
	var err error
	needOld := r.Operation == "UPDATE" || r.Operation == "DELETE"
	needNew := r.Operation == "UPDATE" || r.Operation == "CREATE"
	if !needOld && !needNew {
		return deny(ReasonUnknown, "operation %q on %s is not one this webhook knows", r.Operation, r.Kind)
	}
	if needOld {
		if len(r.Old) == 0 {
			return deny(ReasonMalformed, "%s %s without the old object", r.Operation, r.Kind)
		}
		if old, err = decode(r.Old, class); err != nil {
			return deny(ReasonMalformed, "%s %s: old object: %v", r.Operation, r.Kind, err)
		}
	}
	if needNew {
		if len(r.New) == 0 {
			return deny(ReasonMalformed, "%s %s without the object", r.Operation, r.Kind)
		}
		if cur, err = decode(r.New, class); err != nil {
			return deny(ReasonMalformed, "%s %s: object: %v", r.Operation, r.Kind, err)
		}
	}
	if class == classAgentStatus {
		return p.agentStatus(r, old, cur)
	}
	if r.SubResource == "status" {
		return p.status(r, class, old)
	}
	subject := cur
	if subject == nil {
		subject = old
	}
	who := r.User.Name
	switch r.Operation {
	case "CREATE":
		if who != p.Reconciler {
			return deny(ReasonNotReconciler, "%s may be created by the reconciler (%s) only, not by %s: operations come from verified commits of the fleet repository", subject.name(r.Kind), p.Reconciler, who)
		}
		return allow()
	case "DELETE":
		if who != p.Reconciler && !slices.Contains(p.deleters(), who) {
			return deny(ReasonNotReconciler, "%s may be deleted by the reconciler (%s) only, not by %s: remove it from the fleet repository instead", subject.name(r.Kind), p.Reconciler, who)
		}
		return allow()
	}
	// UPDATE of the object itself.
	specChanged := !sameJSON(old.Spec, cur.Spec)
	switch {
	case specChanged && class == classTask:
		return deny(ReasonImmutable, "the spec of %s cannot change: a NodeTask is one step, a new step is a new task", subject.name(r.Kind))
	case specChanged && class == classOperation && p.InFlight(r.Kind, old.Status.Phase):
		return deny(ReasonInFlight, "the spec of %s cannot change while it is in flight (phase %s); change it in git after it ends or halts", subject.name(r.Kind), old.Status.Phase)
	case who == p.Reconciler:
		return allow()
	case specChanged:
		return deny(ReasonNotReconciler, "the spec of %s may be changed by the reconciler (%s) only, not by %s: change it in the fleet repository", subject.name(r.Kind), p.Reconciler, who)
	}
	if k, ok := changedKey(old.Metadata.Labels, cur.Metadata.Labels); ok {
		return deny(ReasonNotReconciler, "label %s of %s may be changed by the reconciler (%s) only, not by %s", k, subject.name(r.Kind), p.Reconciler, who)
	}
	if k, ok := changedKey(old.Metadata.Annotations, cur.Metadata.Annotations); ok {
		return deny(ReasonNotReconciler, "annotation %s of %s may be changed by the reconciler (%s) only, not by %s", k, subject.name(r.Kind), p.Reconciler, who)
	}
	if !sameJSON(old.Metadata.OwnerReferences, cur.Metadata.OwnerReferences) {
		return deny(ReasonNotReconciler, "the owner references of %s may be changed by the reconciler (%s) only, not by %s", subject.name(r.Kind), p.Reconciler, who)
	}
	return allow()
}

// status decides a write of the status subresource.
func (p Policy) status(r Request, class kindClass, old *object) Decision {
	who := r.User.Name
	if r.Operation != "UPDATE" {
		return deny(ReasonUnknown, "operation %s on the status of %s is not one this webhook knows", r.Operation, r.Kind)
	}
	if class != classTask {
		if who != p.Reconciler {
			return deny(ReasonNotReconciler, "the status of %s may be written by the reconciler (%s) only, not by %s", old.name(r.Kind), p.Reconciler, who)
		}
		return allow()
	}
	if who != p.Agent {
		return deny(ReasonWrongNode, "the status of %s may be written by the agent of node %s (%s) only, not by %s", old.name(r.Kind), old.NodeName, p.Agent, who)
	}
	nodes := r.User.Extra[NodeNameExtra]
	switch {
	case len(nodes) == 0:
		return deny(ReasonWrongNode, "%s writes the status of %s with a token that names no node (%s is missing; agents must use the pod-bound token of their DaemonSet pod)", who, old.name(r.Kind), NodeNameExtra)
	case len(nodes) != 1 || nodes[0] != old.NodeName:
		return deny(ReasonWrongNode, "the agent on node %s may not write the status of %s, which is for node %s", strings.Join(nodes, ","), old.name(r.Kind), old.NodeName)
	}
	return allow()
}

// agentStatus decides a write of a NodewrightAgentStatus or of its status.
// The agents' user may write only its own node's object: the one named
// after the node its token is bound to, labelled (when labelled) and
// reporting (status.nodeName) for that node; a token that names no node
// may write none. RBAC cannot narrow the agents' grant to one object, so
// this is what stops an agent from reporting for another node. Everyone
// else is left to RBAC, as before the webhook knew the kind: the
// reconciler reads these objects, and a cluster-admin may repair one.
func (p Policy) agentStatus(r Request, old, cur *object) Decision {
	if r.SubResource == "status" && r.Operation != "UPDATE" {
		return deny(ReasonUnknown, "operation %s on the status of %s is not one this webhook knows", r.Operation, r.Kind)
	}
	who := r.User.Name
	if who != p.Agent {
		return allow()
	}
	subject, what := cur, "write"
	if subject == nil {
		subject, what = old, "delete"
	}
	nodes := r.User.Extra[NodeNameExtra]
	switch {
	case len(nodes) == 0:
		return deny(ReasonWrongNode, "%s writes %s with a token that names no node (%s is missing; agents must use the pod-bound token of their DaemonSet pod)", who, subject.name(r.Kind), NodeNameExtra)
	case len(nodes) != 1:
		return deny(ReasonWrongNode, "%s writes %s with a token that names %d nodes (%s: %s); an agent's token names its one node", who, subject.name(r.Kind), len(nodes), NodeNameExtra, strings.Join(nodes, ","))
	}
	node := nodes[0]
	if subject.Metadata.Name != node {
		return deny(ReasonWrongNode, "the agent on node %s may not %s %s, which is for node %s: an agent keeps the %s named after its own node only", node, what, subject.name(r.Kind), subject.Metadata.Name, r.Kind)
	}
	if l, ok := subject.Metadata.Labels[v1.LabelNode]; ok && l != node {
		return deny(ReasonWrongNode, "the agent on node %s may not label %s with %s=%s: its label names its own node", node, subject.name(r.Kind), v1.LabelNode, l)
	}
	switch n := subject.Status.NodeName; {
	case n == node:
	case n == "" && r.SubResource != "status":
		// The API server drops the status of a create and keeps the old
		// one on an update of the object: status.nodeName is written
		// through the status subresource.
	case n == "":
		return deny(ReasonWrongNode, "the agent on node %s writes the status of %s without status.nodeName: it must name its node, %s", node, subject.name(r.Kind), node)
	default:
		return deny(ReasonWrongNode, "the agent on node %s may not write %s with status.nodeName %s: it reports on its own node only", node, subject.name(r.Kind), n)
	}
	return allow()
}

func (p Policy) deleters() []string {
	if p.Deleters == nil {
		return DefaultDeleters
	}
	return p.Deleters
}

// isNodewrightKey reports whether a label or annotation key is in the
// nodewright.io domain (nodewright.io/x or any.sub.nodewright.io/x).
func isNodewrightKey(k string) bool {
	prefix, _, ok := strings.Cut(k, "/")
	if !ok {
		return false
	}
	prefix = strings.ToLower(prefix)
	return prefix == v1.Group || strings.HasSuffix(prefix, "."+v1.Group)
}

// changedKey returns the first nodewright.io key (sorted) that was added,
// removed or changed between a and b.
func changedKey(a, b map[string]string) (string, bool) {
	keys := slices.Sorted(maps.Keys(a))
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if !isNodewrightKey(k) {
			continue
		}
		va, inA := a[k]
		vb, inB := b[k]
		if inA != inB || va != vb {
			return k, true
		}
	}
	return "", false
}

// sameJSON reports whether two JSON values are equal as values (key order
// and spacing aside); absent and null are the same.
func sameJSON(a, b json.RawMessage) bool {
	null := func(m json.RawMessage) bool { return len(m) == 0 || bytes.Equal(bytes.TrimSpace(m), []byte("null")) }
	if null(a) || null(b) {
		return null(a) && null(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return false
	}
	return reflect.DeepEqual(va, vb)
}
