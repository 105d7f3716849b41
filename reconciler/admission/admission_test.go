package admission_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/nodewright/nodewright/reconciler/admission"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

const (
	reconcilerUser = "system:serviceaccount:nodewright-system:nodewright-reconciler"
	agentUser      = "system:serviceaccount:nodewright-agent:nodewright-agent"
	admin          = "kubernetes-admin"
)

var policy = admission.Policy{
	Reconciler: reconcilerUser,
	Agent:      agentUser,
	InFlight: func(_, phase string) bool {
		switch phase {
		case "", "Pending", "AwaitingApproval", "Halted", "Succeeded", "Aborted":
			return false
		}
		return true
	},
}

// obj builds an object's JSON from metadata, spec and status.
func obj(labels, annotations map[string]string, spec map[string]any, phase string) []byte {
	o := map[string]any{
		"apiVersion": v1.APIVersion,
		"metadata":   map[string]any{"name": "x", "namespace": "nodewright-system", "labels": labels, "annotations": annotations},
		"spec":       spec,
	}
	if phase != "" {
		o["status"] = map[string]any{"phase": phase}
	}
	data, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	return data
}

var (
	spec       = map[string]any{"bond": "bond0", "fromMode": "active-backup", "toMode": "802.3ad", "nodes": []any{"node-a"}}
	otherSpec  = map[string]any{"bond": "bond0", "fromMode": "active-backup", "toMode": "balance-rr", "nodes": []any{"node-a"}}
	taskSpec   = map[string]any{"nodeName": "node-a", "action": "FlipBond"}
	sourced    = map[string]string{v1.LabelSourceCommit: "abc", "team": "edge"}
	forgedGate = map[string]string{v1.AnnotationGates: `{"allowed":true}`}
)

// agentStatus builds a NodewrightAgentStatus's JSON: its name, its
// nodewright.io/node label and its status.nodeName ("" leaves either out).
func agentStatus(name, label, nodeName string) []byte {
	meta := map[string]any{"name": name}
	if label != "" {
		meta["labels"] = map[string]string{v1.LabelNode: label}
	}
	o := map[string]any{"apiVersion": v1.APIVersion, "kind": v1.KindNodewrightAgentStatus, "metadata": meta}
	if nodeName != "" {
		o["status"] = map[string]any{"nodeName": nodeName, "agentVersion": "v1"}
	}
	data, err := json.Marshal(o)
	if err != nil {
		panic(err)
	}
	return data
}

func user(name string, node ...string) admission.User {
	u := admission.User{Name: name}
	if node != nil {
		u.Extra = map[string][]string{admission.NodeNameExtra: node}
	}
	return u
}

func TestDecide(t *testing.T) {
	op := v1.KindBondModeFlipPlan
	as := v1.KindNodewrightAgentStatus
	cases := []struct {
		name   string
		req    admission.Request
		reason string // "" allows
	}{
		{"reconciler creates an operation",
			admission.Request{Operation: "CREATE", Kind: op, User: user(reconcilerUser), New: obj(sourced, nil, spec, "")}, ""},
		{"cluster-admin creates an operation with a forged verdict",
			admission.Request{Operation: "CREATE", Kind: op, User: user(admin), New: obj(sourced, forgedGate, spec, "")}, admission.ReasonNotReconciler},
		{"the agent creates an operation",
			admission.Request{Operation: "CREATE", Kind: op, User: user(agentUser, "node-a"), New: obj(nil, nil, spec, "")}, admission.ReasonNotReconciler},
		{"a user whose name only starts like the reconciler's",
			admission.Request{Operation: "CREATE", Kind: op, User: user(reconcilerUser + "x"), New: obj(nil, nil, spec, "")}, admission.ReasonNotReconciler},
		{"kubectl edit of the spec before it started",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, "AwaitingApproval"), New: obj(sourced, nil, otherSpec, "AwaitingApproval")}, admission.ReasonNotReconciler},
		{"kubectl edit of the spec in flight",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, "Flip"), New: obj(sourced, nil, otherSpec, "Flip")}, admission.ReasonInFlight},
		{"the reconciler changes the spec in flight",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(reconcilerUser), Old: obj(sourced, nil, spec, "Flip"), New: obj(sourced, nil, otherSpec, "Flip")}, admission.ReasonInFlight},
		{"a phase the table does not know counts as in flight",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(reconcilerUser), Old: obj(sourced, nil, spec, "Bogus"), New: obj(sourced, nil, otherSpec, "Bogus")}, admission.ReasonInFlight},
		{"the reconciler changes the spec of a halted operation (a Resume from git)",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(reconcilerUser), Old: obj(sourced, nil, spec, "Halted"), New: obj(sourced, nil, otherSpec, "Halted")}, ""},
		{"same spec, keys reordered and spaced, is no change",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin),
				Old: []byte(`{"metadata":{"name":"x"},"spec":{"a":1,"b":[1,2]},"status":{"phase":"Flip"}}`),
				New: []byte(`{"metadata":{"name":"x"}, "spec":{"b":[1,2], "a":1},"status":{"phase":"Flip"}}`)}, ""},
		{"a person adds their own label",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, "Flip"), New: obj(map[string]string{v1.LabelSourceCommit: "abc", "team": "edge", "owner": "ops"}, nil, spec, "Flip")}, ""},
		{"a person rewrites the source label",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, ""), New: obj(map[string]string{v1.LabelSourceCommit: "def", "team": "edge"}, nil, spec, "")}, admission.ReasonNotReconciler},
		{"a person removes the source label",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, ""), New: obj(map[string]string{"team": "edge"}, nil, spec, "")}, admission.ReasonNotReconciler},
		{"a person adds a forged verdict annotation",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, ""), New: obj(sourced, forgedGate, spec, "")}, admission.ReasonNotReconciler},
		{"a nodewright subdomain key, in upper case, is still nodewright's",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, ""), New: obj(sourced, map[string]string{"X.NodeWright.io/gates": "1"}, spec, "")}, admission.ReasonNotReconciler},
		{"a look-alike domain is not",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, ""), New: obj(sourced, map[string]string{"notnodewright.io/x": "1"}, spec, "")}, ""},
		{"a person adds an owner reference (the garbage collector would delete the operation)",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(admin),
				Old: []byte(`{"metadata":{"name":"x"},"spec":{}}`),
				New: []byte(`{"metadata":{"name":"x","ownerReferences":[{"apiVersion":"v1","kind":"ConfigMap","name":"c","uid":"u"}]},"spec":{}}`)}, admission.ReasonNotReconciler},
		{"a person deletes an operation",
			admission.Request{Operation: "DELETE", Kind: op, User: user(admin), Old: obj(sourced, nil, spec, "Flip")}, admission.ReasonNotReconciler},
		{"the reconciler deletes an operation",
			admission.Request{Operation: "DELETE", Kind: op, User: user(reconcilerUser), Old: obj(sourced, nil, spec, "Succeeded")}, ""},
		{"the namespace controller deletes an operation",
			admission.Request{Operation: "DELETE", Kind: op, User: user("system:serviceaccount:kube-system:namespace-controller"), Old: obj(sourced, nil, spec, "")}, ""},
		{"the reconciler writes operation status",
			admission.Request{Operation: "UPDATE", Kind: op, SubResource: "status", User: user(reconcilerUser), Old: obj(sourced, nil, spec, "Pending"), New: obj(sourced, nil, spec, "AwaitingApproval")}, ""},
		{"a person forges an operation's phase",
			admission.Request{Operation: "UPDATE", Kind: op, SubResource: "status", User: user(admin), Old: obj(sourced, nil, spec, "AwaitingApproval"), New: obj(sourced, nil, spec, "Flip")}, admission.ReasonNotReconciler},
		{"the agent writes its node's task status",
			admission.Request{Operation: "UPDATE", Kind: v1.KindNodeTask, SubResource: "status", User: user(agentUser, "node-a"), Old: obj(nil, nil, taskSpec, ""), New: obj(nil, nil, taskSpec, "Claimed")}, ""},
		{"the agent of node-b writes node-a's task status",
			admission.Request{Operation: "UPDATE", Kind: v1.KindNodeTask, SubResource: "status", User: user(agentUser, "node-b"), Old: obj(nil, nil, taskSpec, ""), New: obj(nil, nil, taskSpec, "Succeeded")}, admission.ReasonWrongNode},
		{"an agent token naming two nodes",
			admission.Request{Operation: "UPDATE", Kind: v1.KindNodeTask, SubResource: "status", User: user(agentUser, "node-a", "node-b"), Old: obj(nil, nil, taskSpec, ""), New: obj(nil, nil, taskSpec, "Succeeded")}, admission.ReasonWrongNode},
		{"an agent token without a node",
			admission.Request{Operation: "UPDATE", Kind: v1.KindNodeTask, SubResource: "status", User: user(agentUser), Old: obj(nil, nil, taskSpec, ""), New: obj(nil, nil, taskSpec, "Succeeded")}, admission.ReasonWrongNode},
		{"the reconciler writes task status",
			admission.Request{Operation: "UPDATE", Kind: v1.KindNodeTask, SubResource: "status", User: user(reconcilerUser), Old: obj(nil, nil, taskSpec, ""), New: obj(nil, nil, taskSpec, "Succeeded")}, admission.ReasonWrongNode},
		{"a person creates a task",
			admission.Request{Operation: "CREATE", Kind: v1.KindNodeTask, User: user(admin), New: obj(nil, nil, taskSpec, "")}, admission.ReasonNotReconciler},
		{"the reconciler creates a task",
			admission.Request{Operation: "CREATE", Kind: v1.KindNodeTask, User: user(reconcilerUser), New: obj(nil, nil, taskSpec, "")}, ""},
		{"the reconciler changes a task's spec",
			admission.Request{Operation: "UPDATE", Kind: v1.KindNodeTask, User: user(reconcilerUser), Old: obj(nil, nil, taskSpec, ""), New: obj(nil, nil, map[string]any{"nodeName": "node-b", "action": "FlipBond"}, "")}, admission.ReasonImmutable},
		{"a person creates an EdgeProfile",
			admission.Request{Operation: "CREATE", Kind: v1.KindEdgeProfile, User: user(admin), New: obj(nil, nil, map[string]any{}, "")}, admission.ReasonNotReconciler},
		{"an unknown kind",
			admission.Request{Operation: "CREATE", Kind: "FleetSource", User: user(reconcilerUser), New: obj(nil, nil, spec, "")}, admission.ReasonUnknown},
		{"an unknown subresource",
			admission.Request{Operation: "UPDATE", Kind: op, SubResource: "scale", User: user(reconcilerUser), Old: obj(nil, nil, spec, ""), New: obj(nil, nil, spec, "")}, admission.ReasonUnknown},
		{"an unknown operation",
			admission.Request{Operation: "CONNECT", Kind: op, User: user(reconcilerUser), New: obj(nil, nil, spec, "")}, admission.ReasonUnknown},
		{"an update without the old object",
			admission.Request{Operation: "UPDATE", Kind: op, User: user(reconcilerUser), New: obj(nil, nil, spec, "")}, admission.ReasonMalformed},
		{"an object that is not JSON",
			admission.Request{Operation: "CREATE", Kind: op, User: user(reconcilerUser), New: []byte("{")}, admission.ReasonMalformed},
		// NodewrightAgentStatus: RBAC lets every agent write every node's;
		// the webhook holds each agent to its own node's.
		{"the agent creates its node's status object",
			admission.Request{Operation: "CREATE", Kind: as, User: user(agentUser, "node-a"), New: agentStatus("node-a", "node-a", "")}, ""},
		{"the agent reports its node's status",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(agentUser, "node-a"), Old: agentStatus("node-a", "node-a", ""), New: agentStatus("node-a", "node-a", "node-a")}, ""},
		{"the agent updates its node's object, whose status the API server keeps",
			admission.Request{Operation: "UPDATE", Kind: as, User: user(agentUser, "node-a"), Old: agentStatus("node-a", "node-a", "node-a"), New: agentStatus("node-a", "node-a", "node-a")}, ""},
		{"the agent of node-b reports node-a's status",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(agentUser, "node-b"), Old: agentStatus("node-a", "node-a", "node-a"), New: agentStatus("node-a", "node-a", "node-a")}, admission.ReasonWrongNode},
		{"the agent of node-b creates node-a's status object",
			admission.Request{Operation: "CREATE", Kind: as, User: user(agentUser, "node-b"), New: agentStatus("node-a", "node-a", "")}, admission.ReasonWrongNode},
		{"the agent of node-b deletes node-a's status object",
			admission.Request{Operation: "DELETE", Kind: as, User: user(agentUser, "node-b"), Old: agentStatus("node-a", "node-a", "node-a")}, admission.ReasonWrongNode},
		{"an agent token without a node reports a status",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(agentUser), Old: agentStatus("node-a", "node-a", ""), New: agentStatus("node-a", "node-a", "node-a")}, admission.ReasonWrongNode},
		{"an agent token without a node creates a status object",
			admission.Request{Operation: "CREATE", Kind: as, User: user(agentUser), New: agentStatus("node-a", "node-a", "")}, admission.ReasonWrongNode},
		{"an agent token naming an empty node",
			admission.Request{Operation: "CREATE", Kind: as, User: user(agentUser, ""), New: agentStatus("node-a", "", "")}, admission.ReasonWrongNode},
		{"an agent token naming two nodes reports a status",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(agentUser, "node-a", "node-b"), Old: agentStatus("node-a", "", ""), New: agentStatus("node-a", "", "node-a")}, admission.ReasonWrongNode},
		{"the agent reports, in its own node's object, another node (name != status.nodeName)",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(agentUser, "node-a"), Old: agentStatus("node-a", "node-a", "node-a"), New: agentStatus("node-a", "node-a", "node-b")}, admission.ReasonWrongNode},
		{"the agent updates its own object, whose status names another node",
			admission.Request{Operation: "UPDATE", Kind: as, User: user(agentUser, "node-a"), Old: agentStatus("node-a", "node-a", "node-b"), New: agentStatus("node-a", "node-a", "node-b")}, admission.ReasonWrongNode},
		{"the agent reports a status that names no node",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(agentUser, "node-a"), Old: agentStatus("node-a", "node-a", "node-a"), New: agentStatus("node-a", "node-a", "")}, admission.ReasonWrongNode},
		{"the agent labels its own object with another node",
			admission.Request{Operation: "CREATE", Kind: as, User: user(agentUser, "node-a"), New: agentStatus("node-a", "node-b", "")}, admission.ReasonWrongNode},
		{"a cluster-admin repairs an agent's status (left to RBAC)",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(admin), Old: agentStatus("node-a", "node-a", "node-a"), New: agentStatus("node-a", "node-a", "node-b")}, ""},
		{"the reconciler writes an agent's status (left to RBAC, which refuses it)",
			admission.Request{Operation: "UPDATE", Kind: as, SubResource: "status", User: user(reconcilerUser), Old: agentStatus("node-a", "", "node-a"), New: agentStatus("node-a", "", "node-a")}, ""},
		{"a create of an agent status's status subresource",
			admission.Request{Operation: "CREATE", Kind: as, SubResource: "status", User: user(agentUser, "node-a"), New: agentStatus("node-a", "", "node-a")}, admission.ReasonUnknown},
		{"an agent status that is not JSON",
			admission.Request{Operation: "CREATE", Kind: as, User: user(agentUser, "node-a"), New: []byte(`{"metadata":`)}, admission.ReasonMalformed},
		{"a task whose spec is not an object",
			admission.Request{Operation: "UPDATE", Kind: v1.KindNodeTask, SubResource: "status", User: user(agentUser, "node-a"), Old: []byte(`{"spec":"node-a"}`), New: obj(nil, nil, taskSpec, "")}, admission.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := policy.Decide(c.req)
			if c.reason == "" {
				assert.True(t, d.Allowed, "refused: %s", d)
				return
			}
			assert.False(t, d.Allowed)
			assert.Equal(t, c.reason, d.Reason, d.Message)
			assert.NotEmpty(t, d.Message)
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	for _, p := range []admission.Policy{
		{Agent: agentUser, InFlight: policy.InFlight},
		{Reconciler: reconcilerUser, InFlight: policy.InFlight},
		{Reconciler: reconcilerUser, Agent: reconcilerUser, InFlight: policy.InFlight},
		{Reconciler: reconcilerUser, Agent: agentUser},
	} {
		assert.Error(t, p.Validate())
		d := p.Decide(admission.Request{Operation: "CREATE", Kind: v1.KindBondModeFlipPlan, User: user(reconcilerUser), New: obj(nil, nil, spec, "")})
		assert.False(t, d.Allowed, "an incomplete policy refuses everything")
	}
}

func FuzzDecide(f *testing.F) {
	f.Add("UPDATE", v1.KindNodeTask, "status", agentUser, "node-a", string(obj(nil, nil, taskSpec, "")), string(obj(nil, nil, taskSpec, "Claimed")))
	f.Add("UPDATE", v1.KindBondModeFlipPlan, "", admin, "", string(obj(sourced, nil, spec, "Flip")), string(obj(sourced, forgedGate, otherSpec, "Flip")))
	f.Add("CREATE", v1.KindEdgeProfile, "", reconcilerUser, "", "", `{"spec":null}`)
	f.Add("UPDATE", v1.KindNodewrightAgentStatus, "status", agentUser, "node-a", string(agentStatus("node-a", "node-a", "")), string(agentStatus("node-a", "node-a", "node-a")))
	f.Add("CREATE", v1.KindNodewrightAgentStatus, "", agentUser, "node-b", "", string(agentStatus("node-a", "", "")))
	f.Fuzz(func(t *testing.T, op, kind, sub, name, node, old, cur string) {
		u := user(name)
		if node != "" {
			u = user(name, node)
		}
		r := admission.Request{Operation: op, Kind: kind, SubResource: sub, User: u, Old: []byte(old), New: []byte(cur)}
		d := policy.Decide(r)
		if d.Allowed {
			// Whatever is allowed is allowed for a reason the rules give.
			if sub == "status" && kind == v1.KindNodeTask && name != agentUser {
				t.Fatalf("task status allowed for %q", name)
			}
			if kind == v1.KindNodewrightAgentStatus {
				// The agent writes its own node's object only; others
				// are left to RBAC.
				if name == agentUser && !ownAgentStatus(node, op, old, cur) {
					t.Fatalf("agent on node %q allowed to %s %s / %s", node, op, old, cur)
				}
				return
			}
			if (op == "CREATE" || op == "DELETE") && name != reconcilerUser && !(op == "DELETE" && isDeleter(name)) && sub == "" {
				t.Fatalf("%s allowed for %q", op, name)
			}
			return
		}
		if d.Reason == "" || d.Message == "" {
			t.Fatalf("a refusal without a reason: %+v", d)
		}
	})
}

// ownAgentStatus reports whether the object an agent on node writes (cur,
// or old for a delete) is node's: named after it, with status.nodeName
// empty or node.
func ownAgentStatus(node, op, old, cur string) bool {
	data := cur
	if op == "DELETE" {
		data = old
	}
	var o struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Status struct {
			NodeName string `json:"nodeName"`
		} `json:"status"`
	}
	if json.Unmarshal([]byte(data), &o) != nil {
		return false
	}
	return node != "" && o.Metadata.Name == node && (o.Status.NodeName == "" || o.Status.NodeName == node)
}

func isDeleter(name string) bool {
	for _, d := range admission.DefaultDeleters {
		if d == name {
			return true
		}
	}
	return false
}
