package cluster

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	webhookconfig "github.com/nodewright/nodewright/config/webhook"
	"github.com/nodewright/nodewright/reconciler/admission"
)

// webhookStartTimeout bounds the wait for the webhook server to listen.
const webhookStartTimeout = 30 * time.Second

// Webhook is the cluster's admission webhook: the handler the reconciler
// serves, on a server of its own that outlives the reconciler managers
// (as the Service in front of the reconciler's replicas does), installed
// in the API server through envtest's webhook options as the shipped
// configuration (config/webhook) narrowed to the cluster's namespace.
type Webhook struct {
	// Name is the ValidatingWebhookConfiguration's name.
	Name string
	// URL is where the API server calls it.
	URL string

	install *envtest.WebhookInstallOptions
	client  client.Client
	logger  logr.Logger
	cancel  context.CancelFunc
	done    chan error
}

// WebhookConfiguration is the shipped ValidatingWebhookConfiguration
// (config/webhook) for a cluster in namespace: named after it, its
// namespaced webhooks narrowed to it, each calling url (none when empty)
// with no caBundle yet.
func WebhookConfiguration(namespace, url string) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	vwc, err := webhookconfig.Configuration()
	if err != nil {
		return nil, err
	}
	vwc.Name = webhookconfig.ConfigurationName + "-" + namespace
	for i := range vwc.Webhooks {
		w := &vwc.Webhooks[i]
		w.ClientConfig = admissionregistrationv1.WebhookClientConfig{}
		if url != "" {
			w.ClientConfig.URL = &url
		}
		if w.NamespaceSelector != nil {
			w.NamespaceSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": namespace}}
		}
	}
	return vwc, nil
}

// startWebhook serves and installs the webhook for policy.
func startWebhook(cfg *rest.Config, c client.Client, namespace string, policy admission.Policy, logger logr.Logger) (*Webhook, error) {
	vwc, err := WebhookConfiguration(namespace, "")
	if err != nil {
		return nil, err
	}
	install := &envtest.WebhookInstallOptions{ValidatingWebhooks: []*admissionregistrationv1.ValidatingWebhookConfiguration{vwc}, LocalServingHost: "127.0.0.1"}
	if err := install.PrepWithoutInstalling(); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	w := &Webhook{Name: vwc.Name, install: install, client: c, logger: logger, done: make(chan error, 1)}
	w.URL = "https://" + net.JoinHostPort(install.LocalServingHost, strconv.Itoa(install.LocalServingPort)) + webhookconfig.Path
	for i := range vwc.Webhooks {
		vwc.Webhooks[i].ClientConfig.URL = &w.URL
	}
	srv := webhook.NewServer(webhook.Options{Host: install.LocalServingHost, Port: install.LocalServingPort, CertDir: install.LocalServingCertDir})
	if err := admission.Register(srv, policy, logger.WithName("admission")); err != nil {
		_ = install.Cleanup()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go func() { w.done <- srv.Start(ctx) }()
	started := srv.StartedChecker()
	deadline := time.Now().Add(webhookStartTimeout)
	for started(&http.Request{}) != nil {
		if time.Now().After(deadline) {
			w.Close()
			return nil, fmt.Errorf("webhook: the server did not listen on %s within %s", w.URL, webhookStartTimeout)
		}
		select {
		case err := <-w.done:
			w.done <- err
			w.Close()
			return nil, fmt.Errorf("webhook: the server stopped: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if err := install.Install(cfg); err != nil {
		w.Close()
		return nil, fmt.Errorf("webhook: install %s: %w", vwc.Name, err)
	}
	return w, nil
}

// Close uninstalls the webhook, stops its server and removes its
// certificates. The configuration goes first: with failurePolicy Fail, a
// configuration without its server would refuse every write it matches.
func (w *Webhook) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: w.Name}}
	_ = client.IgnoreNotFound(w.client.Delete(ctx, vwc))
	if w.cancel != nil {
		w.cancel()
		if err := <-w.done; err != nil {
			w.logger.Error(err, "the webhook server stopped with an error")
		}
	}
	_ = w.install.Cleanup()
}
