// Package optest is test support for the tests of one operation kind: it
// drives one operation of the kind through the real reconcile skeleton
// (operation.Reconciler) on a real API server (test/envtest), with a fake
// clock, and checks the transitions the kind's scenarios took against its
// table.
//
// A kind's tests keep what is theirs: the site profile's resource groups
// and storage classes, the simulated backend, the usual spec and the
// scenarios. ControlPlane is the API server the package's tests share,
// Harness is one scenario's operation, Coverage the check that the
// scenarios took every transition of the table and CheckKind the check
// that the table and the steps agree.
//
// The package is for tests only and must never be imported by production
// code.
package optest
