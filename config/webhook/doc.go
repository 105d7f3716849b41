// Package webhook embeds manifests.yaml, the ValidatingWebhookConfiguration
// of the reconciler's admission webhooks that config/webhook deploys, and
// names the objects and settings the deployment and the reconciler share:
// the configuration, the Service the API server calls, the path and port
// the reconciler serves, and the Secret holding its serving certificate.
//
// Configuration gives the reconciler, and tests that install the webhooks,
// the configuration as it is deployed: which webhooks there are, what they
// intercept, and the object whose caBundle self-managed certificates keep
// current. The package holds no handler: it only ships the manifest, as
// config/crd ships the CRDs. config/README.md says what the
// webhooks refuse and how their certificates are issued.
package webhook
