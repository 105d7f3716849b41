// Package admission is the reconciler's validating admission webhook for
// the objects that move nodes: the operation kinds, EdgeProfile and
// NodeTask; and for the agents' reports, NodewrightAgentStatus.
//
// The webhook is a second line, not the first: the operation controllers
// check every operation against the provenance record and the agents
// check every NodeTask's attestation whether or not the webhook runs. What
// it adds is that a forged or edited object never gets into the API server
// at all, so `kubectl` shows the refusal to whoever tried, with a reason
// code.
//
// The rules (Policy.Decide, a pure function of the request):
//
//   - Only the reconciler's own user may create or delete these objects,
//     or change their spec, their nodewright.io/ labels and annotations
//     or their owner references; the garbage collector, the namespace
//     controller and the API server itself may delete them.
//   - Nobody, the reconciler included, changes the spec of an operation in
//     flight (past its approvals and not ended) or of a NodeTask.
//   - Only the reconciler writes operation and EdgeProfile status; only the
//     agent's user writes NodeTask status, and only for a task whose
//     spec.nodeName is the node the API server names in the request (the
//     authentication.kubernetes.io/node-name extra of a pod-bound token).
//   - The agent's user writes only its own node's NodewrightAgentStatus:
//     the one whose name, nodewright.io/node label (when set) and
//     status.nodeName are that same node. Others' writes of the kind are
//     left to RBAC (which lets the reconciler read them and nothing more).
//   - A token of the agent's user that names no node writes nothing.
//   - An unknown kind, subresource or operation, and an object that does
//     not decode, are refused.
package admission
