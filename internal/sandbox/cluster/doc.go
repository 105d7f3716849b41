// Package cluster runs a whole Nodewright cluster in a sandbox, for the
// demo and the end-to-end tests: on a running API server it creates a
// namespace, the trust root Secret, Ready nodes, one agent per node on a
// simulated host (agent/simhost), the FleetSource of a served fleet
// repository, and starts reconciler managers (and stops them, as a crash
// would).
//
// Everything it runs is the product's own code; only the hosts and the
// backends it is given (reconciler/backend/memory) are stand-ins.
package cluster
