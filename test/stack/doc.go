// Package stack runs a whole Nodewright cluster for the end-to-end tests
// (internal/sandbox/cluster) on the sample fleet of test/fleet: on a real
// kube-apiserver and etcd it creates a namespace, the trust root Secret,
// Ready nodes, one agent per node on a simulated host, the FleetSource of
// the served fleet repository, and starts (and stops, as a crash would)
// reconciler managers. Everything stops when the test ends.
package stack
