// Package e2e holds the end-to-end stories: a served, signed fleet
// repository (test/fleet), a real kube-apiserver and etcd (test/envtest),
// one agent per simulated node and reconciler managers (test/stack), driven
// as an operator would, through Git: every kind to Succeeded, a bond flip
// gated on approvals, a crash after every transition, a failed node step
// resumed from Git, a refused source, a leader handover, an operation
// removed in flight, the shipped RBAC, and a prompt shutdown. Its tests
// share one control plane per test binary, started lazily.
package e2e
