// Package controlplane runs an embedded Kubernetes control plane, a real
// kube-apiserver and etcd on loopback through controller-runtime's envtest
// runner, for the demo and the integration tests.
//
// The binaries are not downloaded: `make controlplane` builds them from the
// Go module proxy at pinned versions into bin/k8s. Start runs them from
// Options.AssetsDir, else $KUBEBUILDER_ASSETS, else the k8s directory beside
// the running executable (bin/nodewright finds bin/k8s), and installs the
// CustomResourceDefinitions it is given before it returns.
//
// The package owns only the throwaway control plane: it installs no
// controllers, webhooks or RBAC of the product.
package controlplane
