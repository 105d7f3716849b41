package webhookcert

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// maxAttempts bounds how often one pass writes an object again after
// another writer (a replica, a person) won a race for it.
const maxAttempts = 5

// Rotator keeps the webhook's CA, serving pair, files and caBundle
// current; see the package documentation for the scheme.
type Rotator struct {
	o      Options
	cfg    config
	log    logr.Logger
	secret client.ObjectKey

	// pass serialises Ensure: Start and a caller may both run it.
	pass sync.Mutex

	mu sync.Mutex
	// seenNext is the DER of the next CA last seen in every webhook's
	// caBundle, and seenAt when it was first seen there: it may sign one
	// CheckInterval later.
	seenNext  []byte
	seenAt    time.Time
	succeeded bool
}

var (
	_ manager.Runnable               = (*Rotator)(nil)
	_ manager.LeaderElectionRunnable = (*Rotator)(nil)
	_ healthz.Checker                = (*Rotator)(nil).Ready
)

// New validates the options, fills in their defaults and returns a
// Rotator. It does no I/O.
func New(o Options) (*Rotator, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	o.DNSNames = slices.Clone(o.DNSNames)
	o.IPAddresses = slices.Clone(o.IPAddresses)
	wantDNS, wantIPs := sans(o.DNSNames, o.IPAddresses)
	return &Rotator{
		o: o,
		cfg: config{
			caLifetime: o.CALifetime, certLifetime: o.CertLifetime,
			dnsNames: o.DNSNames, ips: o.IPAddresses,
			wantDNS: wantDNS, wantIPs: wantIPs,
		},
		log:    o.Logger,
		secret: client.ObjectKey{Namespace: o.Namespace, Name: o.SecretName},
	}, nil
}

// Ensure makes one pass: it creates or renews the Secret as needed, sets
// the caBundle of every webhook of the configuration when it differs, and
// writes tls.crt and tls.key to CertDir when they differ. A missing webhook
// configuration is an error naming it (apierrors.IsNotFound reports it);
// the files are still written then, as nobody calls the webhook.
func (r *Rotator) Ensure(ctx context.Context) error {
	r.pass.Lock()
	defer r.pass.Unlock()
	st, err := r.ensureSecret(ctx)
	if err != nil {
		return err
	}
	trusted, bundleErr := r.ensureBundle(ctx, st)
	if !trusted {
		return fmt.Errorf("webhookcert: left the serving pair in %s as it was, since the caBundle of ValidatingWebhookConfiguration %s lacks the CA that signed the new one: %w",
			r.o.CertDir, r.o.WebhookConfigName, bundleErr)
	}
	if err := r.writeFiles(st.serving); err != nil {
		return errors.Join(err, bundleErr)
	}
	if bundleErr != nil {
		return bundleErr
	}
	r.mu.Lock()
	r.succeeded = true
	r.mu.Unlock()
	return nil
}

// Start runs Ensure now and every CheckInterval until ctx ends; a failed
// pass is logged and tried again at the next tick, and the files served
// stay as they are meanwhile. It returns nil when ctx ends.
func (r *Rotator) Start(ctx context.Context) error {
	r.log.Info("keeping the webhook's serving certificate", "secret", r.secret.String(),
		"webhookConfiguration", r.o.WebhookConfigName, "dir", r.o.CertDir, "interval", r.o.CheckInterval.String())
	ticker := time.NewTicker(r.o.CheckInterval)
	defer ticker.Stop()
	for {
		if err := r.Ensure(ctx); err != nil && ctx.Err() == nil {
			r.log.Error(err, "webhook certificate pass failed; the served files stay, trying again", "in", r.o.CheckInterval.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// NeedLeaderElection returns false: every replica serves the webhook and
// needs the files.
func (r *Rotator) NeedLeaderElection() bool {
	return false
}

// Ready is a healthz.Checker: nil once a pass has succeeded and the
// serving certificate in CertDir is valid now.
func (r *Rotator) Ready(_ *http.Request) error {
	r.mu.Lock()
	succeeded := r.succeeded
	r.mu.Unlock()
	if !succeeded {
		return errors.New("webhookcert: no pass has succeeded yet")
	}
	path := filepath.Join(r.o.CertDir, corev1.TLSCertKey)
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("webhookcert: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return fmt.Errorf("webhookcert: %s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return fmt.Errorf("webhookcert: %s: %w", path, err)
	}
	now := r.o.Now()
	switch {
	case !now.Before(c.NotAfter):
		return fmt.Errorf("webhookcert: the certificate in %s expired at %s", path, stamp(c.NotAfter))
	case now.Before(c.NotBefore):
		return fmt.Errorf("webhookcert: the certificate in %s is not valid before %s", path, stamp(c.NotBefore))
	}
	return nil
}

// ensureSecret reads the Secret, plans and writes it if it must change,
// and returns the state it holds. Losing a race for the write reads the
// winner's Secret and plans again.
func (r *Rotator) ensureSecret(ctx context.Context) (*secretState, error) {
	for attempt := 1; ; attempt++ {
		var secret corev1.Secret
		err := r.o.Reader.Get(ctx, r.secret, &secret)
		exists := err == nil
		if err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("webhookcert: reading Secret %s: %w", r.secret, err)
		}
		if exists && secret.Type != corev1.SecretTypeTLS {
			return nil, fmt.Errorf("webhookcert: Secret %s has type %q, want %q; a Secret's type cannot change, so delete it and it is created anew",
				r.secret, secret.Type, corev1.SecretTypeTLS)
		}
		st := parseSecret(secret.Data)
		if st.next != nil {
			// Whether the next CA may sign depends on what the caBundle
			// holds; an error here is the bundle step's to report.
			var cfg admissionregistrationv1.ValidatingWebhookConfiguration
			if err := r.o.Reader.Get(ctx, client.ObjectKey{Name: r.o.WebhookConfigName}, &cfg); err == nil {
				r.observe(&cfg, st.next.cert)
			}
		}
		now := r.o.Now()
		out, why, err := r.cfg.plan(st, now, func(next *x509.Certificate) bool { return r.mayPromote(next, now) })
		if err != nil {
			return nil, fmt.Errorf("webhookcert: Secret %s: %w", r.secret, err)
		}
		if len(why) == 0 {
			return out, nil
		}
		verb := "updating"
		if exists {
			secret.Data = out.data()
			err = r.o.Client.Update(ctx, &secret)
		} else {
			verb = "creating"
			secret = corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: r.secret.Namespace,
					Name:      r.secret.Name,
					Labels: map[string]string{
						"app.kubernetes.io/name":       "nodewright",
						"app.kubernetes.io/component":  "webhook-certificate",
						"app.kubernetes.io/managed-by": "nodewright-reconciler",
					},
				},
				Type: corev1.SecretTypeTLS,
				Data: out.data(),
			}
			err = r.o.Client.Create(ctx, &secret)
		}
		switch {
		case err == nil:
			r.log.Info(verb+" the webhook certificate Secret", "secret", r.secret.String(), "reasons", why)
			return out, nil
		case (apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err)) && attempt < maxAttempts:
			r.log.V(1).Info("another writer changed the webhook certificate Secret first; reading it again", "secret", r.secret.String(), "error", err.Error())
		default:
			return nil, fmt.Errorf("webhookcert: %s Secret %s: %w", verb, r.secret, err)
		}
	}
}

// ensureBundle sets the caBundle of every webhook of the configuration to
// st's when it differs. trusted reports whether the stored caBundles hold
// the CA that signs st's serving certificate (or the configuration does not
// exist), so the files may be written.
func (r *Rotator) ensureBundle(ctx context.Context, st *secretState) (trusted bool, err error) {
	want := st.bundle()
	var next *x509.Certificate
	if st.next != nil {
		next = st.next.cert
	}
	key := client.ObjectKey{Name: r.o.WebhookConfigName}
	for attempt := 1; ; attempt++ {
		var cfg admissionregistrationv1.ValidatingWebhookConfiguration
		if err := r.o.Reader.Get(ctx, key, &cfg); err != nil {
			if apierrors.IsNotFound(err) {
				return true, fmt.Errorf("webhookcert: ValidatingWebhookConfiguration %s does not exist, so no caBundle is set: %w", r.o.WebhookConfigName, err)
			}
			return false, fmt.Errorf("webhookcert: reading ValidatingWebhookConfiguration %s: %w", r.o.WebhookConfigName, err)
		}
		trusted = everyBundleHas(&cfg, st.ca.cert)
		var stale []string
		for i := range cfg.Webhooks {
			w := &cfg.Webhooks[i]
			if !bytes.Equal(w.ClientConfig.CABundle, want) {
				stale = append(stale, w.Name)
				w.ClientConfig.CABundle = want
			}
		}
		if len(stale) == 0 {
			r.observe(&cfg, next)
			return true, nil
		}
		err := r.o.Client.Update(ctx, &cfg)
		switch {
		case err == nil:
			r.log.Info("set the caBundle", "webhookConfiguration", r.o.WebhookConfigName, "webhooks", stale, "cas", subjects(want))
			r.observe(&cfg, next)
			return true, nil
		case apierrors.IsConflict(err) && attempt < maxAttempts:
			r.log.V(1).Info("another writer changed the webhook configuration first; reading it again", "webhookConfiguration", r.o.WebhookConfigName, "error", err.Error())
		default:
			return trusted, fmt.Errorf("webhookcert: setting the caBundle of ValidatingWebhookConfiguration %s (webhooks %v): %w", r.o.WebhookConfigName, stale, err)
		}
	}
}

// observe records whether every webhook's caBundle in cfg holds next.
func (r *Rotator) observe(cfg *admissionregistrationv1.ValidatingWebhookConfiguration, next *x509.Certificate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case next == nil || !everyBundleHas(cfg, next):
		r.seenNext, r.seenAt = nil, time.Time{}
	case !bytes.Equal(r.seenNext, next.Raw):
		r.seenNext, r.seenAt = next.Raw, r.o.Now()
	}
}

// mayPromote reports whether next was seen in every caBundle at least one
// CheckInterval before now.
func (r *Rotator) mayPromote(next *x509.Certificate, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return bytes.Equal(r.seenNext, next.Raw) && now.Sub(r.seenAt) >= r.o.CheckInterval
}

// everyBundleHas reports whether every webhook's caBundle in cfg holds c.
func everyBundleHas(cfg *admissionregistrationv1.ValidatingWebhookConfiguration, c *x509.Certificate) bool {
	for _, w := range cfg.Webhooks {
		if !bundleHas(w.ClientConfig.CABundle, c) {
			return false
		}
	}
	return true
}

// subjects lists the common names of a PEM bundle's certificates, for a
// log line.
func subjects(bundle []byte) []string {
	var out []string
	for {
		var block *pem.Block
		block, bundle = pem.Decode(bundle)
		if block == nil {
			return out
		}
		if c, err := x509.ParseCertificate(block.Bytes); err == nil {
			out = append(out, c.Subject.CommonName)
		}
	}
}

// writeFiles writes the serving pair to CertDir where it differs: the key
// first, then the certificate, each atomically. controller-runtime's
// certificate watcher reloads on either; between the two renames it reads
// a mismatched pair, which it refuses, and keeps serving the old one.
func (r *Rotator) writeFiles(p *keyPair) error {
	if err := os.MkdirAll(r.o.CertDir, 0o700); err != nil {
		return fmt.Errorf("webhookcert: creating the certificate directory: %w", err)
	}
	var wrote []string
	for _, f := range []struct {
		name string
		data []byte
	}{{corev1.TLSPrivateKeyKey, p.keyPEM}, {corev1.TLSCertKey, p.certPEM}} {
		changed, err := writeFileAtomic(r.o.CertDir, f.name, f.data)
		if err != nil {
			return fmt.Errorf("webhookcert: writing %s: %w", filepath.Join(r.o.CertDir, f.name), err)
		}
		if changed {
			wrote = append(wrote, f.name)
		}
	}
	if len(wrote) > 0 {
		r.log.Info("wrote the serving pair", "dir", r.o.CertDir, "files", wrote, "serial", p.cert.SerialNumber.Text(16),
			"names", names(sans(p.cert.DNSNames, p.cert.IPAddresses)), "notAfter", stamp(p.cert.NotAfter))
	}
	return nil
}

// writeFileAtomic replaces dir/name with data (mode 0600) through a
// temporary file and a rename, unless it holds data already.
func writeFileAtomic(dir, name string, data []byte) (changed bool, err error) {
	path := filepath.Join(dir, name)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return false, nil
	}
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return false, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := f.Chmod(0o600); err != nil {
		return false, err
	}
	if _, err := f.Write(data); err != nil {
		return false, err
	}
	if err := f.Sync(); err != nil {
		return false, err
	}
	if err := f.Close(); err != nil {
		return false, err
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return false, err
	}
	return true, nil
}
