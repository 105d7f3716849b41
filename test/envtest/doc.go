// Package envtest runs a real Kubernetes control plane (kube-apiserver and
// etcd) for integration tests: internal/sandbox/controlplane, failing the
// test on error and resolving paths against the module root.
//
// The binaries are not downloaded: `make controlplane` (hack/controlplane.sh)
// builds them from the Go module proxy at pinned versions into bin/k8s, and
// Start looks for them in KUBEBUILDER_ASSETS, or in <module root>/bin/k8s
// when that is unset. Start installs the CustomResourceDefinitions found in
// the given directories before it returns, so a test can create custom
// resources at once.
//
// A package's tests share one control plane, started in TestMain with
// StartForMain; a test that needs an API server of its own calls Start.
//
// The package owns only the test control plane: it installs no controllers,
// webhooks or RBAC of the product, and it must never be imported by non-test
// code.
package envtest
