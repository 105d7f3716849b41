package webhookcert_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/nodewright/nodewright/reconciler/webhookcert"
)

const (
	// secretName is the Secret each test's Rotators keep.
	secretName = "webhook-cert"
	// webhookPath is where the test webhook server serves its handler.
	webhookPath = "/validate"
	// denyLabel marks the ConfigMaps the test handler refuses, with
	// denyMessage.
	denyLabel   = "test"
	denyMessage = "refused by the test webhook: the ConfigMap is labelled test=deny"
)

// fixtures numbers the fixtures, so each has its own namespace and webhook
// configuration also when the tests run several times in one process.
var fixtures atomic.Int64

// fixture is one test's namespace, a ValidatingWebhookConfiguration for
// ConfigMaps there calling a webhook server on a free local port, and the
// log the test's Rotators write.
type fixture struct {
	t      *testing.T
	c      client.Client
	ns     string
	config string
	addr   string
	port   int
	logs   *logBuffer
}

// newFixture creates the namespace and the webhook configuration (with
// an empty caBundle, as deployed) and deletes the configuration at the
// end of the test.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{t: t, c: apiClient(t), ns: fmt.Sprintf("webhookcert-%d", fixtures.Add(1)), logs: &logBuffer{}}
	f.config = f.ns
	// Registered first, so it runs last: after everything that logs stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Rotator log:\n%s", f.logs)
		}
	})
	f.port = freePort(t)
	f.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(f.port))

	ctx := t.Context()
	require.NoError(t, f.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: f.ns}}))
	cfg := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: f.config},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{
			f.webhook("create.webhookcert.nodewright.io", admissionregistrationv1.Create),
			f.webhook("update.webhookcert.nodewright.io", admissionregistrationv1.Update),
		},
	}
	require.NoError(t, f.c.Create(ctx, cfg))
	t.Cleanup(func() {
		assert.NoError(t, client.IgnoreNotFound(f.c.Delete(context.Background(), cfg)))
	})
	return f
}

// webhook is one webhook of the configuration: ConfigMaps of the
// fixture's namespace, for one operation, failing closed.
func (f *fixture) webhook(name string, op admissionregistrationv1.OperationType) admissionregistrationv1.ValidatingWebhook {
	url := "https://" + f.addr + webhookPath
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	scope := admissionregistrationv1.NamespacedScope
	timeout := int32(5)
	return admissionregistrationv1.ValidatingWebhook{
		Name:         name,
		ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: &url},
		Rules: []admissionregistrationv1.RuleWithOperations{{
			Operations: []admissionregistrationv1.OperationType{op},
			Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"configmaps"}, Scope: &scope},
		}},
		NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{corev1.LabelMetadataName: f.ns}},
		FailurePolicy:           &fail,
		SideEffects:             &none,
		AdmissionReviewVersions: []string{"v1"},
		TimeoutSeconds:          &timeout,
	}
}

// options are a Rotator's options for the fixture, writing to certDir.
func (f *fixture) options(certDir string) webhookcert.Options {
	return webhookcert.Options{
		Client:            f.c,
		Reader:            f.c, // the control plane's client has no cache
		Namespace:         f.ns,
		SecretName:        secretName,
		WebhookConfigName: f.config,
		IPAddresses:       []net.IP{net.IPv4(127, 0, 0, 1)},
		CertDir:           certDir,
		Logger:            f.logs.logger(),
	}
}

// rotator builds a Rotator from o.
func (f *fixture) rotator(o webhookcert.Options) *webhookcert.Rotator {
	f.t.Helper()
	r, err := webhookcert.New(o)
	require.NoError(f.t, err)
	return r
}

// serve runs controller-runtime's webhook server on the fixture's port
// with the certificates of certDir, until the end of the test.
func (f *fixture) serve(certDir string) {
	t := f.t
	t.Helper()
	srv := webhook.NewServer(webhook.Options{Host: "127.0.0.1", Port: f.port, CertDir: certDir})
	srv.Register(webhookPath, &webhook.Admission{Handler: admission.HandlerFunc(handle)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Start(ctx) }()
	var (
		once    sync.Once
		stopped error
	)
	wait := func() error { once.Do(func() { stopped = <-done }); return stopped }
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, wait(), "the webhook server stops")
	})
	var exited atomic.Bool
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			exited.Store(true)
			done <- err
			return true
		default:
		}
		return srv.StartedChecker()(nil) == nil
	}, 30*time.Second, 10*time.Millisecond, "the webhook server starts")
	if exited.Load() {
		t.Fatalf("the webhook server stopped: %v", wait())
	}
}

// handle allows every ConfigMap but those labelled test=deny.
func handle(_ context.Context, req admission.Request) admission.Response {
	var cm corev1.ConfigMap
	if err := json.Unmarshal(req.Object.Raw, &cm); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if cm.Labels[denyLabel] == "deny" {
		return admission.Denied(denyMessage)
	}
	return admission.Allowed("")
}

// createConfigMap creates a ConfigMap through the API server, labelled
// for refusal when deny is set.
func (f *fixture) createConfigMap(ctx context.Context, deny bool) (*corev1.ConfigMap, error) {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, GenerateName: "cm-"}}
	if deny {
		cm.Labels = map[string]string{denyLabel: "deny"}
	}
	return cm, f.c.Create(ctx, cm)
}

// webhookWorks returns nil when the API server calls the webhook: an
// allowed ConfigMap is created and one labelled test=deny is refused with
// the handler's message.
func (f *fixture) webhookWorks(ctx context.Context) error {
	if _, err := f.createConfigMap(ctx, false); err != nil {
		return fmt.Errorf("creating an allowed ConfigMap: %w", err)
	}
	return refusedByHandler(f.createConfigMap(ctx, true))
}

// refusedByHandler returns nil when err is the test handler's refusal.
func refusedByHandler(_ *corev1.ConfigMap, err error) error {
	switch {
	case err == nil:
		return errors.New("a ConfigMap labelled test=deny was admitted")
	case !strings.Contains(err.Error(), denyMessage):
		return fmt.Errorf("a ConfigMap labelled test=deny failed otherwise than by the handler: %w", err)
	}
	return nil
}

// secret reads the fixture's Secret.
func (f *fixture) secret() *corev1.Secret {
	f.t.Helper()
	var s corev1.Secret
	require.NoError(f.t, f.c.Get(f.t.Context(), client.ObjectKey{Namespace: f.ns, Name: secretName}, &s))
	return &s
}

// webhookConfig reads the fixture's webhook configuration.
func (f *fixture) webhookConfig(ctx context.Context) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	var cfg admissionregistrationv1.ValidatingWebhookConfiguration
	err := f.c.Get(ctx, client.ObjectKey{Name: f.config}, &cfg)
	return &cfg, err
}

// checkSecret checks that s holds a CA and a serving pair it signed for
// 127.0.0.1, valid now, and that every webhook's caBundle verifies that
// pair; it returns the CA and the serving certificate.
func (f *fixture) checkSecret(s *corev1.Secret) (ca, leaf *x509.Certificate) {
	t := f.t
	t.Helper()
	assert.Equal(t, corev1.SecretTypeTLS, s.Type)
	caPair, err := tls.X509KeyPair(s.Data["ca.crt"], s.Data["ca.key"])
	require.NoError(t, err, "ca.crt/ca.key")
	require.True(t, caPair.Leaf.IsCA)
	pair, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey])
	require.NoError(t, err, "tls.crt/tls.key")
	leaf = pair.Leaf
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pool(s.Data["ca.crt"]), DNSName: "127.0.0.1"})
	require.NoError(t, err, "the CA verifies the serving certificate for 127.0.0.1")

	cfg, err := f.webhookConfig(t.Context())
	require.NoError(t, err)
	require.Len(t, cfg.Webhooks, 2)
	for _, w := range cfg.Webhooks {
		_, err := leaf.Verify(x509.VerifyOptions{Roots: pool(w.ClientConfig.CABundle), DNSName: "127.0.0.1"})
		assert.NoError(t, err, "the caBundle of %s verifies the serving certificate", w.Name)
	}
	return caPair.Leaf, leaf
}

// checkFiles checks that dir holds the Secret's serving pair, mode 0600.
func checkFiles(t *testing.T, dir string, s *corev1.Secret) {
	t.Helper()
	for _, name := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, string(s.Data[name]), string(data), "%s holds the Secret's %s", path, name)
		info, err := os.Stat(path)
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "%s's mode", path)
	}
}

// encodePEM is a certificate's PEM.
func encodePEM(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// pool is a certificate pool of a PEM bundle.
func pool(bundle []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(bundle)
	return p
}

// issuePair issues a P-256 certificate from tmpl, signed by parent and
// parentKey (nil: self-signed), and returns it and its key in PEM.
func issuePair(t *testing.T, tmpl, parent *x509.Certificate, parentKey crypto.Signer) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Minute), time.Now().Add(time.Hour)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	require.NoError(t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(t, err)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// servingTemplate is a serving certificate's template for the names.
func servingTemplate(dns []string, ips []net.IP) *x509.Certificate {
	return &x509.Certificate{
		Subject:     pkix.Name{CommonName: "test"},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    dns, IPAddresses: ips,
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// logBuffer collects a test's log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

// logger returns a logger writing into b, V(1) included.
func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.lines = append(b.lines, strings.TrimSpace(prefix+" "+args))
	}, funcr.Options{Verbosity: 1})
}

// String returns the lines, one a line.
func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return strings.Join(b.lines, "\n")
}

// clock is a settable clock: the real time plus an offset.
type clock struct{ offset atomic.Int64 }

// now is the clock's time.
func (c *clock) now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// advance moves the clock forward by d.
func (c *clock) advance(d time.Duration) { c.offset.Add(int64(d)) }
