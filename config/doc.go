// Package config holds Nodewright's Kubernetes deployment as kustomize
// directories: crd (the CustomResourceDefinitions generated into crd/bases),
// rbac (least-privilege accounts and roles for the reconciler and the node
// agent), manager (the reconciler's namespace, configuration and
// Deployment), agent (the node agent's namespace and DaemonSet), webhook
// (the validating admission webhooks and their Service), default (all of
// these together), components/cert-manager (an
// optional component that has cert-manager issue the webhook's certificate)
// and samples (a FleetSource). config/README.md says how to deploy them.
// The packages crd and webhook embed their manifests in the binary.
//
// The package has no code of its own. Its tests render the directories with
// kustomize and check what comes out, then apply it to a real API server and
// prove with SubjectAccessReviews that each account can do what it needs and
// nothing else. It must not hold product logic: the reconciler reads the
// configuration file, this package only ships it.
package config
