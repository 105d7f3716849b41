package config_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/nodewright/nodewright/config/webhook"
	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/test/envtest"
)

// renderedWebhooks returns the rendered ValidatingWebhookConfiguration.
func renderedWebhooks(t *testing.T, objs []*unstructured.Unstructured) *admissionregistrationv1.ValidatingWebhookConfiguration {
	t.Helper()
	c := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	typed(t, find(t, objs, "ValidatingWebhookConfiguration", webhook.ConfigurationName), c)
	return c
}

// webhooks is what each webhook of config/webhook intercepts, as "What the
// webhooks refuse" in config/README.md says: the operation kinds and
// NodeTasks (spec and status) in nodewright-system, EdgeProfiles
// everywhere, and the agents' creates and updates of
// NodewrightAgentStatuses (and their status) everywhere.
var webhooks = []struct {
	name       string
	resources  []string
	operations []admissionregistrationv1.OperationType
	scope      admissionregistrationv1.ScopeType
	namespace  string // the namespace selected, "" for none
}{
	{"operations.nodewright.io", []string{
		"bondmodeflipplans", "bondmodeflipplans/status",
		"replicationupgrades", "replicationupgrades/status",
		"vmvolumemigrations", "vmvolumemigrations/status",
	}, createUpdateDelete, admissionregistrationv1.NamespacedScope, namespace},
	{"nodetasks.nodewright.io", []string{"nodetasks", "nodetasks/status"}, createUpdateDelete, admissionregistrationv1.NamespacedScope, namespace},
	{"edgeprofiles.nodewright.io", []string{"edgeprofiles"}, createUpdateDelete, admissionregistrationv1.ClusterScope, ""},
	// No DELETE: RBAC lets no agent delete one.
	{"nodewrightagentstatuses.nodewright.io", []string{"nodewrightagentstatuses", "nodewrightagentstatuses/status"},
		[]admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
		admissionregistrationv1.ClusterScope, ""},
}

// createUpdateDelete are the operations most webhooks intercept.
var createUpdateDelete = []admissionregistrationv1.OperationType{
	admissionregistrationv1.Create, admissionregistrationv1.Update, admissionregistrationv1.Delete,
}

func TestWebhookConfigurationIsExactlyThese(t *testing.T) {
	got := renderedWebhooks(t, render(t, "config/default"))
	require.Len(t, got.Webhooks, len(webhooks))
	for i, want := range webhooks {
		t.Run(want.name, func(t *testing.T) {
			var selector *metav1.LabelSelector
			if want.namespace != "" {
				selector = &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: want.namespace}}
			}
			assert.Equal(t, admissionregistrationv1.ValidatingWebhook{
				Name: want.name,
				ClientConfig: admissionregistrationv1.WebhookClientConfig{
					Service: &admissionregistrationv1.ServiceReference{
						Namespace: namespace,
						Name:      webhook.ServiceName,
						Path:      new(webhook.Path),
						Port:      new(int32(443)),
					},
				},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: want.operations,
					Rule: admissionregistrationv1.Rule{
						APIGroups:   []string{"nodewright.io"},
						APIVersions: []string{"v1alpha1"},
						Resources:   want.resources,
						Scope:       new(want.scope),
					},
				}},
				FailurePolicy:           new(admissionregistrationv1.Fail),
				MatchPolicy:             new(admissionregistrationv1.Equivalent),
				NamespaceSelector:       selector,
				SideEffects:             new(admissionregistrationv1.SideEffectClassNone),
				TimeoutSeconds:          new(int32(10)),
				AdmissionReviewVersions: []string{"v1"},
			}, got.Webhooks[i])
		})
	}
}

// TestEmbeddedWebhookConfigurationIsTheRenderedOne proves the reconciler's
// copy (config/webhook's Configuration) is what kustomize deploys, but for
// the labels config/default adds.
func TestEmbeddedWebhookConfigurationIsTheRenderedOne(t *testing.T) {
	rendered := renderedWebhooks(t, render(t, "config/default"))
	embedded, err := webhook.Configuration()
	require.NoError(t, err)

	assert.Equal(t, "nodewright", rendered.Labels["app.kubernetes.io/part-of"])
	delete(rendered.Labels, "app.kubernetes.io/part-of")
	assert.Equal(t, embedded, rendered)
}

func TestWebhookConstantsMatchTheDeployment(t *testing.T) {
	objs := render(t, "config/default")
	dep, c := reconcilerDeployment(t, objs)
	svc := &corev1.Service{}
	typed(t, find(t, objs, "Service", webhook.ServiceName), svc)

	t.Run("the Service leads to the Deployment's port webhook", func(t *testing.T) {
		assert.Equal(t, namespace, svc.Namespace)
		assert.Equal(t, corev1.ServiceTypeClusterIP, svc.Spec.Type)
		assert.Equal(t, dep.Spec.Selector.MatchLabels, svc.Spec.Selector, "the Service selects the reconciler pods")
		assert.Empty(t, dep.Spec.Selector.MatchExpressions)
		require.Len(t, svc.Spec.Ports, 1)
		p := svc.Spec.Ports[0]
		assert.EqualValues(t, 443, p.Port)
		assert.Equal(t, corev1.ProtocolTCP, p.Protocol)
		assert.Equal(t, intstr.FromString("webhook"), p.TargetPort)
		assert.EqualValues(t, webhook.Port, portNumber(t, c, p.TargetPort))
	})
	t.Run("every webhook calls the Service on its port and path", func(t *testing.T) {
		for _, w := range renderedWebhooks(t, objs).Webhooks {
			s := w.ClientConfig.Service
			require.NotNil(t, s, w.Name)
			assert.Equal(t, svc.Namespace+"/"+svc.Name, s.Namespace+"/"+s.Name, w.Name)
			require.NotNil(t, s.Port, w.Name)
			assert.Equal(t, svc.Spec.Ports[0].Port, *s.Port, w.Name)
			require.NotNil(t, s.Path, w.Name)
			assert.Equal(t, webhook.Path, *s.Path, w.Name)
			assert.Nil(t, w.ClientConfig.URL, w.Name)
		}
	})
	t.Run("the configuration file names the same objects", func(t *testing.T) {
		cm := &corev1.ConfigMap{}
		typed(t, find(t, objs, "ConfigMap", configMapPrefix), cm)
		var cfg reconcilerConfig
		require.NoError(t, yaml.UnmarshalStrict([]byte(cm.Data["reconciler.yaml"]), &cfg))
		assert.Equal(t, webhookConfig{
			Port:              webhook.Port,
			CertDir:           mountOf(t, c, "webhook-certs").MountPath,
			Certs:             "self",
			SecretName:        webhook.SecretName,
			ServiceName:       webhook.ServiceName,
			ConfigurationName: webhook.ConfigurationName,
		}, cfg.Webhook)
	})
}

// TestWebhooksFailClosedInTheirNamespaceOnly creates, as dry runs, objects
// the webhooks intercept while nothing serves them (the test API server
// runs no pods): failurePolicy Fail refuses them in nodewright-system, the
// namespaceSelector lets them through elsewhere, and EdgeProfiles and
// NodewrightAgentStatuses, which are cluster-scoped, are refused
// everywhere.
func TestWebhooksFailClosedInTheirNamespaceOnly(t *testing.T) {
	installDefault(t)
	doc := func(t *testing.T, path, ns string) *unstructured.Unstructured {
		t.Helper()
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal(example.Files()[path], &u.Object), path)
		u.SetNamespace(ns)
		return u
	}
	nodeTask := func(t *testing.T, ns string) *unstructured.Unstructured {
		t.Helper()
		u := &unstructured.Unstructured{}
		require.NoError(t, yaml.Unmarshal([]byte("apiVersion: nodewright.io/v1alpha1\nkind: NodeTask\nmetadata: {name: flip-node-a}\n"+
			"spec: {nodeName: node-a, operation: {kind: BondModeFlipPlan, name: bond0-to-lacp}, action: FlipBond, deadline: \"2026-11-26T10:00:00Z\"}\n"), &u.Object))
		u.SetNamespace(ns)
		return u
	}
	for _, tc := range []struct {
		name    string
		obj     func(t *testing.T) *unstructured.Unstructured
		webhook string // the webhook that refuses it, "" for none
	}{
		{"operation in nodewright-system", func(t *testing.T) *unstructured.Unstructured {
			return doc(t, "sites/edge-001/operations/bond-flip.yaml", namespace)
		}, "operations.nodewright.io"},
		{"operation elsewhere", func(t *testing.T) *unstructured.Unstructured {
			return doc(t, "sites/edge-001/operations/bond-flip.yaml", "default")
		}, ""},
		{"NodeTask in nodewright-system", func(t *testing.T) *unstructured.Unstructured { return nodeTask(t, namespace) }, "nodetasks.nodewright.io"},
		{"NodeTask elsewhere", func(t *testing.T) *unstructured.Unstructured { return nodeTask(t, "default") }, ""},
		{"EdgeProfile", func(t *testing.T) *unstructured.Unstructured {
			return doc(t, "bases/edge-profile/profile.yaml", "")
		}, "edgeprofiles.nodewright.io"},
		{"NodewrightAgentStatus", func(t *testing.T) *unstructured.Unstructured {
			u := &unstructured.Unstructured{}
			require.NoError(t, yaml.Unmarshal([]byte("apiVersion: nodewright.io/v1alpha1\nkind: NodewrightAgentStatus\nmetadata: {name: node-a}\n"), &u.Object))
			return u
		}, "nodewrightagentstatuses.nodewright.io"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Where a call does not fail at once, it waits for the
			// webhook's timeout: wait side by side.
			t.Parallel()
			began := time.Now()
			err := env.Client.Create(t.Context(), tc.obj(t), client.DryRunAll)
			t.Logf("answered in %s", time.Since(began).Round(time.Millisecond))
			if tc.webhook == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), `failed calling webhook "`+tc.webhook+`"`)
		})
	}
}

// TestWebhookConfigurationCanBeDeletedInAnOverlay renders the overlay
// "Turning the webhooks off" in config/README.md shows: without the
// configuration, nothing is refused for want of a webhook server.
func TestWebhookConfigurationCanBeDeletedInAnOverlay(t *testing.T) {
	overlay := t.TempDir()
	base, err := filepath.Rel(overlay, filepath.Join(envtest.ModuleRoot(), "config", "default"))
	require.NoError(t, err)
	kustomization := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " + base + `
patches:
  - patch: |-
      $patch: delete
      apiVersion: admissionregistration.k8s.io/v1
      kind: ValidatingWebhookConfiguration
      metadata:
        name: nodewright-validating
`
	require.NoError(t, os.WriteFile(filepath.Join(overlay, "kustomization.yaml"), []byte(kustomization), 0o644))

	var want, got []string
	for _, o := range render(t, "config/default") {
		if o.GetKind() != "ValidatingWebhookConfiguration" {
			want = append(want, id(o))
		}
	}
	for _, o := range render(t, overlay) {
		got = append(got, id(o))
	}
	assert.Equal(t, want, got)
}
