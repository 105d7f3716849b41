// Package backend names what the operation controllers ask of the systems
// that do the real work: LINSTOR for storage (Storage) and KubeVirt for
// virtual machines (VMs). Nodewright orchestrates; these do the work.
//
// The interfaces are narrow and every call is idempotent and
// non-blocking: a long job is started by one call and observed by the
// next, so a controller can crash and resume at any point. The package
// holds no implementation of its own; the LINSTOR and KubeVirt clients
// are built against these interfaces, and backend/memory holds in-memory
// stand-ins for tests and the demo.
package backend
