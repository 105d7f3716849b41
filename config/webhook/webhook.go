package webhook

import (
	"bufio"
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// The names and settings the manifests, the Deployment and the reconciler
// agree on. config/webhook_test.go checks them against what config/default
// renders.
const (
	// ConfigurationName is the name of the ValidatingWebhookConfiguration.
	ConfigurationName = "nodewright-validating"
	// ServiceName is the Service in nodewright-system the API server calls
	// the webhooks through.
	ServiceName = "nodewright-webhook"
	// Path is the path every webhook of the configuration is served on.
	Path = "/validate"
	// SecretName is the Secret in nodewright-system holding the serving
	// certificate: issued by the reconciler, or by cert-manager.
	SecretName = "nodewright-webhook-cert"
	// Port is the container port the reconciler serves the webhooks on
	// (the Service's port 443 leads to it).
	Port = 9443
)

//go:embed manifests.yaml
var manifest []byte

// Configuration returns the ValidatingWebhookConfiguration of
// manifests.yaml, decoded strictly (a field the API type does not have is
// an error). Each call returns a new object, which the caller may change.
// It carries no caBundle, and not the labels kustomize adds when it
// deploys it.
func Configuration() (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	return decode(manifest)
}

// decode decodes and checks data, which must be one
// ValidatingWebhookConfiguration document.
func decode(data []byte) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	// yaml.UnmarshalStrict reads the first document only: count them, so
	// an object added below the configuration is not silently dropped.
	var docs [][]byte
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("webhook manifests.yaml: %w", err)
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("webhook manifests.yaml: %d YAML documents, not 1", len(docs))
	}
	c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := yaml.UnmarshalStrict(docs[0], c); err != nil {
		return nil, fmt.Errorf("webhook manifests.yaml: %w", err)
	}
	gvk := admissionregistrationv1.SchemeGroupVersion.WithKind("ValidatingWebhookConfiguration")
	if c.APIVersion != gvk.GroupVersion().String() || c.Kind != gvk.Kind {
		return nil, fmt.Errorf("webhook manifests.yaml: %s, kind %s, not %s, kind %s", c.APIVersion, c.Kind, gvk.GroupVersion(), gvk.Kind)
	}
	if c.Name != ConfigurationName {
		return nil, fmt.Errorf("webhook manifests.yaml: named %q, not %q", c.Name, ConfigurationName)
	}
	return c, nil
}
