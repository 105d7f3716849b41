package webhookcert

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Defaults and bounds of the Options.
const (
	// DefaultCALifetime is the CA's lifetime when Options.CALifetime is
	// zero: one year, so the CA rotation runs in every cluster's life.
	DefaultCALifetime = 365 * 24 * time.Hour
	// DefaultCertLifetime is the serving certificate's lifetime when
	// Options.CertLifetime is zero.
	DefaultCertLifetime = 90 * 24 * time.Hour
	// DefaultCheckInterval is how often Start looks at the Secret and the
	// caBundle when Options.CheckInterval is zero and CertLifetime/6 is not
	// shorter.
	DefaultCheckInterval = time.Minute
	// MinCertLifetime is the shortest serving certificate lifetime allowed:
	// certificates carry whole seconds, and a renewal needs a check or two
	// in the last third.
	MinCertLifetime = 3 * time.Second
)

// Options configure a Rotator.
type Options struct {
	// Client writes the Secret and the webhook configuration; reads of both
	// go through Reader.
	Client client.Client
	// Reader reads the Secret and the webhook configuration. It must not be
	// a cache (the reconciler may get Secrets by name only; it cannot list
	// or watch them): use the manager's GetAPIReader.
	Reader client.Reader
	// Namespace and SecretName name the Secret holding the CA and the
	// serving pair (see the package documentation for its keys).
	Namespace, SecretName string
	// WebhookConfigName is the ValidatingWebhookConfiguration whose every
	// webhook's clientConfig.caBundle is kept current.
	WebhookConfigName string
	// DNSNames and IPAddresses are the serving certificate's subject
	// alternative names (a deployment: <service>.<namespace>.svc; a test:
	// 127.0.0.1). At least one is required.
	DNSNames    []string
	IPAddresses []net.IP
	// CertDir is where tls.crt and tls.key are written for
	// controller-runtime's webhook server. It is created (mode 0700) if
	// missing.
	CertDir string
	// CALifetime is the lifetime of each CA (default DefaultCALifetime); it
	// must be at least twice CertLifetime.
	CALifetime time.Duration
	// CertLifetime is the lifetime of each serving certificate (default
	// DefaultCertLifetime, at least MinCertLifetime).
	CertLifetime time.Duration
	// CheckInterval is how often Start looks at the Secret and the caBundle,
	// and how long a next CA must have been seen in the caBundle before it
	// signs. Zero is DefaultCheckInterval or CertLifetime/6, whichever is
	// shorter; a longer value than CertLifetime/6 is an error, as a serving
	// certificate could then expire between two checks.
	CheckInterval time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger records what the Rotator changes and why.
	Logger logr.Logger
}

// validate checks the options and fills in the defaults.
func (o *Options) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.Client == nil {
		bad("Options.Client is nil")
	}
	if o.Reader == nil {
		bad("Options.Reader is nil")
	}
	if o.Namespace == "" {
		bad("Options.Namespace is empty")
	} else if msgs := validation.IsDNS1123Label(o.Namespace); len(msgs) > 0 {
		bad("Options.Namespace %q is not a namespace name: %s", o.Namespace, strings.Join(msgs, "; "))
	}
	if o.SecretName == "" {
		bad("Options.SecretName is empty")
	} else if msgs := validation.IsDNS1123Subdomain(o.SecretName); len(msgs) > 0 {
		bad("Options.SecretName %q is not a Secret name: %s", o.SecretName, strings.Join(msgs, "; "))
	}
	if o.WebhookConfigName == "" {
		bad("Options.WebhookConfigName is empty")
	} else if msgs := validation.IsDNS1123Subdomain(o.WebhookConfigName); len(msgs) > 0 {
		bad("Options.WebhookConfigName %q is not an object name: %s", o.WebhookConfigName, strings.Join(msgs, "; "))
	}
	if len(o.DNSNames) == 0 && len(o.IPAddresses) == 0 {
		bad("Options.DNSNames and Options.IPAddresses are both empty: the serving certificate needs a name")
	}
	for i, name := range o.DNSNames {
		if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
			bad("Options.DNSNames[%d] %q is not a DNS name: %s", i, name, strings.Join(msgs, "; "))
		}
	}
	for i, ip := range o.IPAddresses {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			bad("Options.IPAddresses[%d] is not an IP address (%d bytes)", i, len(ip))
		}
	}
	if o.CertDir == "" {
		bad("Options.CertDir is empty")
	}
	if o.CertLifetime == 0 {
		o.CertLifetime = DefaultCertLifetime
	}
	if o.CALifetime == 0 {
		o.CALifetime = DefaultCALifetime
	}
	switch {
	case o.CertLifetime < 0:
		bad("Options.CertLifetime %s is negative", o.CertLifetime)
	case o.CertLifetime < MinCertLifetime:
		bad("Options.CertLifetime %s is shorter than %s", o.CertLifetime, MinCertLifetime)
	case o.CALifetime < 0:
		bad("Options.CALifetime %s is negative", o.CALifetime)
	case o.CALifetime < 2*o.CertLifetime:
		bad("Options.CALifetime %s is shorter than twice Options.CertLifetime (%s): the CA rotation needs room for a serving certificate's renewals", o.CALifetime, 2*o.CertLifetime)
	}
	limit := o.CertLifetime / 6
	switch {
	case o.CheckInterval < 0:
		bad("Options.CheckInterval %s is negative", o.CheckInterval)
	case o.CheckInterval == 0:
		o.CheckInterval = min(DefaultCheckInterval, limit)
	case o.CheckInterval > limit:
		bad("Options.CheckInterval %s is longer than Options.CertLifetime/6 (%s): a serving certificate could expire between two checks", o.CheckInterval, limit)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(errs) > 0 {
		return fmt.Errorf("webhookcert: %w", errors.Join(errs...))
	}
	return nil
}

// sans returns the DNS names, lower-cased and sorted, and the IP addresses
// as strings, sorted: the form in which the serving certificate's names are
// compared.
func sans(dnsNames []string, ips []net.IP) (dns, ipStrings []string) {
	for _, n := range dnsNames {
		dns = append(dns, strings.ToLower(n))
	}
	for _, ip := range ips {
		ipStrings = append(ipStrings, ip.String())
	}
	slices.Sort(dns)
	slices.Sort(ipStrings)
	return slices.Compact(dns), slices.Compact(ipStrings)
}
