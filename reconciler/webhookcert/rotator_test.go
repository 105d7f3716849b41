package webhookcert_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/nodewright/nodewright/reconciler/webhookcert"
)

// TestEnsureFromNothing: one pass creates the Secret, the files and the
// caBundle of every webhook, and the API server then calls the webhook.
func TestEnsureFromNothing(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	dir := t.TempDir()
	var clk clock
	o := f.options(dir)
	o.Now = clk.now
	r := f.rotator(o)
	assert.False(t, r.NeedLeaderElection(), "every replica serves the webhook")
	require.ErrorContains(t, r.Ready(nil), "no pass has succeeded yet")

	// Before: nothing calls the webhook successfully (no caBundle, no server).
	_, err := f.createConfigMap(ctx, false)
	require.Error(t, err, "failurePolicy Fail refuses while the webhook cannot be called")

	require.NoError(t, r.Ensure(ctx))
	s := f.secret()
	f.checkSecret(s)
	checkFiles(t, dir, s)
	cfg, err := f.webhookConfig(ctx)
	require.NoError(t, err)
	for _, w := range cfg.Webhooks {
		assert.Equal(t, string(s.Data["ca.crt"]), string(w.ClientConfig.CABundle), "the caBundle of %s is the CA alone", w.Name)
	}
	assert.NotContains(t, s.Data, "ca-next.crt")
	assert.NotContains(t, s.Data, "ca-previous.crt")
	assert.Contains(t, f.logs.String(), "creating the webhook certificate Secret")
	require.NoError(t, r.Ready(nil))

	f.serve(dir)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		assert.NoError(c, f.webhookWorks(ctx))
	}, 30*time.Second, 50*time.Millisecond, "the API server calls the webhook")
	// The second webhook (UPDATE) has the caBundle too.
	cm, err := f.createConfigMap(ctx, false)
	require.NoError(t, err)
	cm.Data = map[string]string{"k": "v"}
	require.NoError(t, f.c.Update(ctx, cm), "an allowed update passes the UPDATE webhook")
	cm.Labels = map[string]string{denyLabel: "deny"}
	require.NoError(t, refusedByHandler(cm, f.c.Update(ctx, cm)), "the UPDATE webhook is called")

	// A second pass changes nothing.
	require.NoError(t, r.Ensure(ctx))
	again := f.secret()
	assert.Equal(t, s.ResourceVersion, again.ResourceVersion, "the Secret is left as it is")
	cfgAgain, err := f.webhookConfig(ctx)
	require.NoError(t, err)
	assert.Equal(t, cfg.ResourceVersion, cfgAgain.ResourceVersion, "the webhook configuration is left as it is")

	// Ready says so when the files expire.
	clk.advance(webhookcert.DefaultCertLifetime + time.Hour)
	require.ErrorContains(t, r.Ready(nil), "expired at")
}

// TestRotationUnderLoad runs Start with lifetimes of seconds while
// ConfigMaps are created through the API server without a pause, and waits
// for serving certificate renewals, a CA rotation, and the old CA leaving
// the caBundle. Every create must be decided by the handler (never a TLS
// failure), and every TLS handshake with the server must verify against
// the caBundle the API server holds at that moment.
func TestRotationUnderLoad(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	dir := t.TempDir()
	o := f.options(dir)
	o.CertLifetime = 4 * time.Second
	o.CALifetime = 8 * time.Second // CheckInterval defaults to CertLifetime/6
	r := f.rotator(o)
	require.NoError(t, r.Ensure(ctx))
	f.serve(dir)
	first := f.secret()
	firstCA, _ := f.checkSecret(first)

	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Start(runCtx) }()
	stopRotator := sync.OnceValue(func() error { stopRun(); return <-ran })
	t.Cleanup(func() { assert.NoError(t, stopRotator()) })

	l := startLoad(f)
	t.Cleanup(l.stop)

	began := time.Now()
	var (
		serials       = map[string]bool{}
		probeFailures []string
		sawNewCA      bool
		oldCAGone     bool
	)
	require.Eventually(t, func() bool {
		cfg, err := f.webhookConfig(ctx)
		if err != nil {
			probeFailures = append(probeFailures, err.Error())
			return false
		}
		bundle := cfg.Webhooks[0].ClientConfig.CABundle
		conn, err := tls.Dial("tcp", f.addr, &tls.Config{RootCAs: pool(bundle), ServerName: "127.0.0.1"})
		if err != nil {
			probeFailures = append(probeFailures, fmt.Sprintf("%s: %v", time.Since(began).Round(time.Millisecond), err))
			return false
		}
		leaf := conn.ConnectionState().PeerCertificates[0]
		_ = conn.Close()
		serials[leaf.SerialNumber.String()] = true
		if leaf.CheckSignatureFrom(firstCA) != nil {
			sawNewCA = true
		}
		if sawNewCA && !bytes.Contains(bundle, encodePEM(firstCA)) {
			oldCAGone = true
		}
		return len(serials) >= 4 && sawNewCA && oldCAGone && l.count() > 0
	}, 90*time.Second, 50*time.Millisecond, "serving renewals, a CA rotation and the old CA's removal")
	elapsed := time.Since(began)

	require.NoError(t, stopRotator())
	admitted, denied, failures := l.stopAndResult()
	t.Logf("in %s: %d serving certificates served, %d creates admitted and %d refused by the handler", elapsed.Round(time.Millisecond), len(serials), admitted, denied)
	assert.Empty(t, probeFailures, "every handshake verifies against the published caBundle")
	assert.Empty(t, failures, "every create is decided by the webhook handler")
	assert.Positive(t, admitted)
	assert.Positive(t, denied)

	last := f.secret()
	lastCA, _ := f.checkSecret(last)
	assert.False(t, lastCA.Equal(firstCA), "the CA rotated")
	checkFiles(t, dir, last)
	logs := f.logs.String()
	assert.Contains(t, logs, "tls.crt is in the last third of its life")
	assert.Contains(t, logs, "issued the next CA")
	assert.Contains(t, logs, "signs from now on")
	assert.Contains(t, logs, "dropped it from the caBundle")
}

// load creates ConfigMaps through the API server until stopped, every
// fifth one labelled for refusal, and records what was not decided by the
// handler as it should be.
type load struct {
	cancel   context.CancelFunc
	done     chan struct{}
	mu       sync.Mutex
	admitted int
	denied   int
	failures []string
}

func startLoad(f *fixture) *load {
	ctx, cancel := context.WithCancel(context.Background())
	l := &load{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		tick := time.NewTicker(20 * time.Millisecond) // pacing, not synchronisation
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			deny := i%5 == 4
			cm, err := f.createConfigMap(ctx, deny)
			if ctx.Err() != nil {
				return
			}
			l.mu.Lock()
			switch {
			case !deny && err == nil:
				l.admitted++
			case deny && refusedByHandler(cm, err) == nil:
				l.denied++
			case deny:
				l.failures = append(l.failures, refusedByHandler(cm, err).Error())
			default:
				l.failures = append(l.failures, err.Error())
			}
			l.mu.Unlock()
		}
	}()
	return l
}

// count is how many creates were decided as they should be.
func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitted + l.denied
}

// stop ends the load and waits for it.
func (l *load) stop() {
	l.cancel()
	<-l.done
}

// stopAndResult stops the load and returns what it saw.
func (l *load) stopAndResult() (admitted, denied int, failures []string) {
	l.stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.admitted, l.denied, l.failures
}

// TestReplicasConverge: two Rotators on one Secret that both see it
// missing, then both see it broken, race for the write; the loser uses the
// winner's Secret, and both serve one pair.
func TestReplicasConverge(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	counting := &countingClient{Client: f.c}
	dirs := []string{t.TempDir(), t.TempDir()}
	readers := []*gatedReader{{Reader: f.c}, {Reader: f.c}}
	var rotators []*webhookcert.Rotator
	for i := range dirs {
		o := f.options(dirs[i])
		o.Client = counting
		o.Reader = readers[i]
		rotators = append(rotators, f.rotator(o))
	}
	// race runs one Ensure on each Rotator at once, both reading the Secret
	// before either writes it.
	race := func() {
		t.Helper()
		b := newBarrier(len(rotators))
		for _, g := range readers {
			g.arm(b)
		}
		errs := make([]error, len(rotators))
		var wg sync.WaitGroup
		for i, r := range rotators {
			wg.Go(func() { errs[i] = r.Ensure(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "replica %d", i)
		}
	}

	race()
	creates, updates := counting.results()
	require.Len(t, creates, 2, "both replicas tried to create the Secret")
	assert.Empty(t, updates)
	assert.Equal(t, 1, countMatching(creates, apierrors.IsAlreadyExists), "one create lost: %v", creates)
	s := f.secret()
	f.checkSecret(s)
	for _, dir := range dirs {
		checkFiles(t, dir, s)
	}
	assert.Contains(t, f.logs.String(), "another writer changed the webhook certificate Secret first")

	// Both see a broken serving certificate and repair it at once.
	s.Data[corev1.TLSCertKey] = []byte("broken")
	require.NoError(t, f.c.Update(ctx, s))
	counting.reset()
	race()
	creates, updates = counting.results()
	assert.Empty(t, creates)
	require.Len(t, updates, 2, "both replicas tried to repair the Secret")
	assert.Equal(t, 1, countMatching(updates, apierrors.IsConflict), "one update lost: %v", updates)
	repaired := f.secret()
	f.checkSecret(repaired)
	for _, dir := range dirs {
		checkFiles(t, dir, repaired)
	}

	// Further passes, concurrent or not, change nothing.
	counting.reset()
	var wg sync.WaitGroup
	for range 3 {
		for _, r := range rotators {
			wg.Go(func() { assert.NoError(t, r.Ensure(ctx)) })
		}
	}
	wg.Wait()
	creates, updates = counting.results()
	assert.Empty(t, creates)
	assert.Empty(t, updates)
	assert.Equal(t, repaired.ResourceVersion, f.secret().ResourceVersion)
}

// countingClient records the outcome of every create and update of a
// Secret.
type countingClient struct {
	client.Client
	mu               sync.Mutex
	creates, updates []error
}

func (c *countingClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	err := c.Client.Create(ctx, obj, opts...)
	if _, ok := obj.(*corev1.Secret); ok {
		c.mu.Lock()
		c.creates = append(c.creates, err)
		c.mu.Unlock()
	}
	return err
}

func (c *countingClient) Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error {
	err := c.Client.Update(ctx, obj, opts...)
	if _, ok := obj.(*corev1.Secret); ok {
		c.mu.Lock()
		c.updates = append(c.updates, err)
		c.mu.Unlock()
	}
	return err
}

func (c *countingClient) results() (creates, updates []error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]error(nil), c.creates...), append([]error(nil), c.updates...)
}

func (c *countingClient) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.creates, c.updates = nil, nil
}

// countMatching counts the errors for which is holds.
func countMatching(errs []error, is func(error) bool) int {
	n := 0
	for _, err := range errs {
		if err != nil && is(err) {
			n++
		}
	}
	return n
}

// gatedReader is a Reader whose next Get of a Secret, once armed, waits
// after reading until every reader armed with the same barrier has read.
type gatedReader struct {
	client.Reader
	mu   sync.Mutex
	gate *barrier
}

func (g *gatedReader) arm(b *barrier) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gate = b
}

func (g *gatedReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	err := g.Reader.Get(ctx, key, obj, opts...)
	if _, ok := obj.(*corev1.Secret); ok {
		g.mu.Lock()
		b := g.gate
		g.gate = nil
		g.mu.Unlock()
		if b != nil {
			if werr := b.wait(ctx); werr != nil {
				return werr
			}
		}
	}
	return err
}

// barrier releases its waiters once n have arrived.
type barrier struct {
	mu      sync.Mutex
	n       int
	release chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, release: make(chan struct{})} }

func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	b.n--
	if b.n == 0 {
		close(b.release)
	}
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return errors.New("barrier: the other replica never read the Secret")
	}
}

// TestRepairsCorruptSecret: a Secret that exists but is unusable is
// repaired by issuing anew, with a log line saying why, and the webhook
// works again.
func TestRepairsCorruptSecret(t *testing.T) {
	tests := []struct {
		name    string
		corrupt func(t *testing.T, d map[string][]byte)
		reason  string
		newCA   bool
	}{
		{"serving certificate is not PEM", func(_ *testing.T, d map[string][]byte) {
			d[corev1.TLSCertKey] = []byte("-----BEGIN CERTIFICATE-----\nnot base64\n")
		}, "tls.crt/tls.key: tls: failed to find any PEM data in certificate input", false},
		{"serving key does not match", func(t *testing.T, d map[string][]byte) {
			_, d[corev1.TLSPrivateKeyKey] = issuePair(t, servingTemplate(nil, []net.IP{net.IPv4(127, 0, 0, 1)}), nil, nil)
		}, "tls.crt/tls.key: tls: private key does not match public key", false},
		{"serving certificate names another host", func(t *testing.T, d map[string][]byte) {
			ca, err := tls.X509KeyPair(d["ca.crt"], d["ca.key"])
			require.NoError(t, err)
			d[corev1.TLSCertKey], d[corev1.TLSPrivateKeyKey] = issuePair(t, servingTemplate([]string{"other.example"}, nil), ca.Leaf, ca.PrivateKey.(crypto.Signer))
		}, "tls.crt names [other.example], want [127.0.0.1]", false},
		{"CA key does not match", func(t *testing.T, d map[string][]byte) {
			_, d["ca.key"] = issuePair(t, servingTemplate(nil, nil), nil, nil)
		}, "ca.crt/ca.key: tls: private key does not match public key: issued a new CA", true},
		{"every key junk", func(_ *testing.T, d map[string][]byte) {
			// The API server refuses a kubernetes.io/tls Secret without
			// tls.crt and tls.key, so they cannot go missing.
			for k := range d {
				d[k] = []byte("junk")
			}
		}, "ca.crt/ca.key: tls: failed to find any PEM data in certificate input: issued a new CA", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := t.Context()
			dir := t.TempDir()
			r := f.rotator(f.options(dir))
			require.NoError(t, r.Ensure(ctx))
			f.serve(dir)
			before := f.secret()
			oldCA, _ := f.checkSecret(before)

			tt.corrupt(t, before.Data)
			require.NoError(t, f.c.Update(ctx, before))
			require.NoError(t, r.Ensure(ctx))

			assert.Contains(t, f.logs.String(), tt.reason)
			after := f.secret()
			ca, _ := f.checkSecret(after)
			checkFiles(t, dir, after)
			assert.Equal(t, tt.newCA, !ca.Equal(oldCA), "a new CA")
			if tt.name == "CA key does not match" {
				cfg, err := f.webhookConfig(ctx)
				require.NoError(t, err)
				assert.True(t, bytes.Contains(cfg.Webhooks[0].ClientConfig.CABundle, encodePEM(oldCA)),
					"the old CA certificate stays in the caBundle for replicas still serving a certificate it signed")
			}
			require.EventuallyWithT(t, func(c *assert.CollectT) {
				assert.NoError(c, f.webhookWorks(ctx))
			}, 30*time.Second, 50*time.Millisecond, "the API server calls the webhook again")
		})
	}
}

// TestEnsureErrors: what Ensure cannot fix is an error naming it.
func TestEnsureErrors(t *testing.T) {
	t.Run("webhook configuration missing", func(t *testing.T) {
		f := newFixture(t)
		dir := t.TempDir()
		o := f.options(dir)
		o.WebhookConfigName = f.config + "-absent"
		r := f.rotator(o)
		err := r.Ensure(t.Context())
		require.ErrorContains(t, err, "ValidatingWebhookConfiguration "+o.WebhookConfigName+" does not exist")
		assert.True(t, apierrors.IsNotFound(err), "apierrors.IsNotFound: %v", err)
		checkFiles(t, dir, f.secret()) // nobody calls the webhook, so the files are written
		assert.ErrorContains(t, r.Ready(nil), "no pass has succeeded yet")
	})
	t.Run("Secret of another type", func(t *testing.T) {
		f := newFixture(t)
		ctx := t.Context()
		require.NoError(t, f.c.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: f.ns, Name: secretName},
			Data:       map[string][]byte{"password": []byte("hunter2")},
		}))
		r := f.rotator(f.options(t.TempDir()))
		require.ErrorContains(t, r.Ensure(ctx), fmt.Sprintf(`Secret %s/%s has type "Opaque", want "kubernetes.io/tls"`, f.ns, secretName))
		assert.Equal(t, "hunter2", string(f.secret().Data["password"]), "someone else's Secret is left alone")
	})
}

func TestNewRejectsBadOptions(t *testing.T) {
	valid := func() webhookcert.Options {
		return webhookcert.Options{
			Client: fake.NewClientBuilder().Build(), Reader: fake.NewClientBuilder().Build(),
			Namespace: "nodewright-system", SecretName: "webhook-cert", WebhookConfigName: "nodewright-validating",
			DNSNames: []string{"nodewright-webhook.nodewright-system.svc"}, CertDir: t.TempDir(),
		}
	}
	_, err := webhookcert.New(valid())
	require.NoError(t, err)

	tests := []struct {
		name   string
		modify func(o *webhookcert.Options)
		want   string
	}{
		{"no client", func(o *webhookcert.Options) { o.Client = nil }, "Options.Client is nil"},
		{"no reader", func(o *webhookcert.Options) { o.Reader = nil }, "Options.Reader is nil"},
		{"no namespace", func(o *webhookcert.Options) { o.Namespace = "" }, "Options.Namespace is empty"},
		{"bad namespace", func(o *webhookcert.Options) { o.Namespace = "Nodewright" }, `Options.Namespace "Nodewright" is not a namespace name`},
		{"no Secret", func(o *webhookcert.Options) { o.SecretName = "" }, "Options.SecretName is empty"},
		{"bad Secret", func(o *webhookcert.Options) { o.SecretName = "a/b" }, `Options.SecretName "a/b" is not a Secret name`},
		{"no webhook configuration", func(o *webhookcert.Options) { o.WebhookConfigName = "" }, "Options.WebhookConfigName is empty"},
		{"no names", func(o *webhookcert.Options) { o.DNSNames = nil }, "Options.DNSNames and Options.IPAddresses are both empty"},
		{"bad DNS name", func(o *webhookcert.Options) { o.DNSNames = []string{"svc", "under_score.example"} }, `Options.DNSNames[1] "under_score.example" is not a DNS name`},
		{"bad IP", func(o *webhookcert.Options) { o.IPAddresses = []net.IP{{1, 2, 3}} }, "Options.IPAddresses[0] is not an IP address (3 bytes)"},
		{"no directory", func(o *webhookcert.Options) { o.CertDir = "" }, "Options.CertDir is empty"},
		{"negative cert lifetime", func(o *webhookcert.Options) { o.CertLifetime = -time.Second }, "Options.CertLifetime -1s is negative"},
		{"short cert lifetime", func(o *webhookcert.Options) { o.CertLifetime = time.Second }, "Options.CertLifetime 1s is shorter than 3s"},
		{"negative CA lifetime", func(o *webhookcert.Options) { o.CALifetime = -time.Second }, "Options.CALifetime -1s is negative"},
		{"CA shorter than two certs", func(o *webhookcert.Options) { o.CertLifetime, o.CALifetime = time.Hour, 90*time.Minute },
			"Options.CALifetime 1h30m0s is shorter than twice Options.CertLifetime (2h0m0s)"},
		{"negative interval", func(o *webhookcert.Options) { o.CheckInterval = -time.Second }, "Options.CheckInterval -1s is negative"},
		{"interval too long", func(o *webhookcert.Options) { o.CertLifetime, o.CheckInterval = time.Minute, 11*time.Second },
			"Options.CheckInterval 11s is longer than Options.CertLifetime/6 (10s)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := valid()
			tt.modify(&o)
			r, err := webhookcert.New(o)
			require.ErrorContains(t, err, "webhookcert: ")
			assert.ErrorContains(t, err, tt.want)
			assert.Nil(t, r)
		})
	}

	// Several problems are reported together.
	_, err = webhookcert.New(webhookcert.Options{})
	require.Error(t, err)
	for _, want := range []string{"Options.Client is nil", "Options.Namespace is empty", "Options.CertDir is empty"} {
		assert.ErrorContains(t, err, want)
	}
}

// TestStartRetriesAfterFailure: a failed pass is logged, the files served
// stay, and the next tick tries again.
func TestStartRetriesAfterFailure(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	dir := t.TempDir()
	reader := &failingReader{Reader: f.c}
	o := f.options(dir)
	o.Reader = reader
	o.CheckInterval = 50 * time.Millisecond
	r := f.rotator(o)
	require.NoError(t, r.Ensure(ctx))
	served := f.secret()

	reader.failing.Store(true)
	runCtx, stopRun := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- r.Start(runCtx) }()
	stopRotator := sync.OnceValue(func() error { stopRun(); return <-ran })
	t.Cleanup(func() { assert.NoError(t, stopRotator()) })

	require.Eventually(t, func() bool {
		return strings.Count(f.logs.String(), "webhook certificate pass failed") >= 2
	}, 30*time.Second, 10*time.Millisecond, "failed passes are logged and tried again")
	assert.Contains(t, f.logs.String(), "injected failure")
	checkFiles(t, dir, served)
	assert.NoError(t, r.Ready(nil), "the files served stay valid")

	// Once reads work again, a pass repairs what broke meanwhile.
	broken := f.secret()
	broken.Data[corev1.TLSCertKey] = []byte("broken")
	require.NoError(t, f.c.Update(ctx, broken))
	reader.failing.Store(false)
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		var s corev1.Secret
		require.NoError(c, f.c.Get(ctx, client.ObjectKeyFromObject(broken), &s))
		assert.NotEqual(c, "broken", string(s.Data[corev1.TLSCertKey]))
		data, err := os.ReadFile(filepath.Join(dir, corev1.TLSCertKey))
		require.NoError(c, err)
		assert.Equal(c, string(s.Data[corev1.TLSCertKey]), string(data))
	}, 30*time.Second, 10*time.Millisecond, "a later pass repairs the Secret and writes the files")
	require.NoError(t, stopRotator(), "Start returns nil when its context ends")
}

// failingReader fails every Get while failing is set.
type failingReader struct {
	client.Reader
	failing atomic.Bool
}

func (r *failingReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if r.failing.Load() {
		return fmt.Errorf("injected failure reading %s", key)
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}
