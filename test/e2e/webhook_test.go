package e2e_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	webhookconfig "github.com/nodewright/nodewright/config/webhook"
	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/admission"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/webhookcert"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/fleet"
)

// freePort returns a loopback port nobody listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}

// The reconciler serves the webhook itself, as `nodewright reconciler`
// does with webhook.certs: self: the shipped configuration starts with no
// caBundle; the reconciler issues its CA and serving certificate into the
// Secret, fills the caBundle and serves. A forged operation is refused by
// it, and the approved bond flip, whose every write (the reconciler's
// applies and status, the agents' task reports) goes through it, runs to
// Succeeded.
func TestReconcilerServesTheWebhookWithItsOwnCertificates(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, fleet.Options{Operations: []string{fleet.BondFlip}, AnyTime: true, Edit: noVMProtection}, withWebhook(false))
	port := freePort(t)
	url := "https://127.0.0.1:" + strconv.Itoa(port) + webhookconfig.Path
	vwc, err := cluster.WebhookConfiguration(s.Namespace, url)
	require.NoError(t, err)
	require.NoError(t, s.Client.Create(ctx, vwc))
	t.Cleanup(func() { _ = s.Client.Delete(context.Background(), vwc) })

	s.Fleet.Approve(fleet.BondFlip, s.Fleet.Alice, s.Fleet.Carol)
	certDir := t.TempDir()
	health := "127.0.0.1:" + strconv.Itoa(freePort(t))
	_, err = s.StartReconciler(func(o *reconciler.Options) {
		o.HealthProbeBindAddress = health
		o.Webhook = &reconciler.WebhookOptions{
			Host: "127.0.0.1", Port: port, CertDir: certDir,
			AgentUser: nodetask.ServiceAccountUser(s.Namespace, cluster.AgentServiceAccount),
			Certs: reconciler.SelfManagedCerts(webhookcert.Options{
				Namespace: s.Namespace, SecretName: webhookconfig.SecretName, WebhookConfigName: vwc.Name,
				IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}, CertDir: certDir,
			}),
		}
	})
	require.NoError(t, err)

	secret := &corev1.Secret{}
	require.NoError(t, s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: webhookconfig.SecretName}, secret))
	assert.NotEmpty(t, secret.Data[corev1.TLSCertKey], "the reconciler issued its serving certificate")
	require.NoError(t, s.Client.Get(ctx, client.ObjectKeyFromObject(vwc), vwc))
	for _, w := range vwc.Webhooks {
		assert.NotEmpty(t, w.ClientConfig.CABundle, "webhook %s has the reconciler's CA", w.Name)
	}

	forged := &v1.BondModeFlipPlan{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: "forged",
			Annotations: map[string]string{v1.AnnotationGates: `{"allowed":true}`}},
		Spec: v1.BondModeFlipPlanSpec{Bond: "bond0", FromMode: v1.BondActiveBackup, ToMode: v1.Bond8023AD, Nodes: []string{"node-a"},
			RevertAfter: metav1.Duration{Duration: time.Minute}, Probes: v1.Probes{Timeout: metav1.Duration{Duration: 5 * time.Second}}},
	}
	refusedBy(t, clusterAdmin(t, s).Create(ctx, forged), admission.ReasonNotReconciler)

	plan := &v1.BondModeFlipPlan{}
	require.NoError(t, s.WaitPhase(ctx, plan, "bond0-to-lacp", 2*time.Minute, "Succeeded", "Halted"))
	assert.Equal(t, "Succeeded", plan.Status.Phase, "%v", plan.Status.Conditions)

	// Ready counts the webhook server and its certificates.
	resp, err := http.Get("http://" + health + "/readyz?verbose")
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, resp.Body.Close())
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	assert.Contains(t, string(body), "[+]webhook-certs ok")
	assert.Contains(t, string(body), "[+]webhook ok")
}
