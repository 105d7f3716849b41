// Package stack runs a whole Nodewright cluster for the integration
// tests and the demo: on a real kube-apiserver and etcd it creates a
// namespace, the trust root Secret, Ready nodes, one agent per node on a
// simulated host, the FleetSource of a served fleet repository, and
// starts (and stops, as a crash would) the reconciler manager.
package stack
