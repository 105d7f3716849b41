package webhook

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// config/webhook_test.go compares Configuration with what kustomize
// renders; these tests cover the decoding alone.

func TestConfigurationDecodesTheManifest(t *testing.T) {
	c, err := Configuration()
	require.NoError(t, err)
	assert.Equal(t, ConfigurationName, c.Name)
	var names []string
	for _, w := range c.Webhooks {
		names = append(names, w.Name)
		assert.Empty(t, w.ClientConfig.CABundle, "%s: the caBundle is filled in the cluster", w.Name)
	}
	assert.Equal(t, []string{"operations.nodewright.io", "nodetasks.nodewright.io", "edgeprofiles.nodewright.io", "nodewrightagentstatuses.nodewright.io"}, names)

	c.Webhooks[0].Name = "changed"
	again, err := Configuration()
	require.NoError(t, err)
	assert.Equal(t, "operations.nodewright.io", again.Webhooks[0].Name, "each call returns a new object")
}

func TestDecodeIsStrict(t *testing.T) {
	const valid = "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: nodewright-validating}\n"
	_, err := decode([]byte(valid))
	require.NoError(t, err)
	for name, doc := range map[string]string{
		"unknown field": valid + "webhooks: [{name: a.nodewright.io, timeout: 10}]\n",
		"duplicate key": valid + "webhooks: []\nwebhooks: []\n",
		"wrong kind":    "apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\nmetadata: {name: nodewright-validating}\n",
		"wrong version": "apiVersion: admissionregistration.k8s.io/v1beta1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: nodewright-validating}\n",
		"wrong name":    "apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\nmetadata: {name: other}\n",
		"not a mapping": "- a\n",
		"two documents": valid + "---\n" + valid,
	} {
		t.Run(name, func(t *testing.T) {
			_, err := decode([]byte(doc))
			assert.Error(t, err)
		})
	}
}
