// Package jsonschema turns the OpenAPI schemas of the generated CRDs into
// JSON Schema documents (draft 2020-12), one per kind, so that editors
// validate fleet repository manifests with the same enums, patterns and
// bounds as the cluster and lint. A hand-written schema covers the
// TrustPolicy, which is not a custom resource.
package jsonschema
