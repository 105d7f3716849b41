package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/nodewright/nodewright/internal/yamlfile"
)

// Config is the file `nodewright reconciler --config` reads; flags given
// on the command line override it. Keys are camelCase.
type Config struct {
	// ClusterName names this cluster.
	ClusterName string `yaml:"clusterName"`
	// Site is the site this cluster serves.
	Site string `yaml:"site"`
	// Namespace holds the FleetSources, operations and NodeTasks.
	Namespace string `yaml:"namespace"`
	// TrustRoot is the trust root file; empty reads each FleetSource's
	// spec.trustRoot Secret instead.
	TrustRoot string `yaml:"trustRoot"`
	// StateDir holds mirrors and caches.
	StateDir string `yaml:"stateDir"`
	// Kubeconfig, when set, is used instead of the in-cluster config.
	Kubeconfig string `yaml:"kubeconfig"`
	// LeaderElect turns leader election on (default true).
	LeaderElect *bool `yaml:"leaderElect"`
	// MetricsBindAddress serves Prometheus metrics ("0" disables).
	MetricsBindAddress string `yaml:"metricsBindAddress"`
	// HealthProbeBindAddress serves /healthz and /readyz ("0" disables).
	HealthProbeBindAddress string `yaml:"healthProbeBindAddress"`
	// Audit configures the audit sinks.
	Audit AuditConfig `yaml:"audit"`
	// Status configures the status branch write-back.
	Status StatusConfig `yaml:"status"`
	// Webhook configures the validating admission webhook.
	Webhook WebhookConfig `yaml:"webhook"`
	// AgentServiceAccount is the agents' ServiceAccount in AgentNamespace
	// (default nodewright-agent): only it writes NodeTask status, and the
	// webhook holds it to its own node's NodeTasks and
	// NodewrightAgentStatus.
	AgentServiceAccount string `yaml:"agentServiceAccount"`
	// AgentNamespace is the namespace of AgentServiceAccount, where the
	// agents' DaemonSet runs (default nodewright-agent). It is not
	// Namespace: the agents need a namespace whose Pod Security level
	// admits host access, and the reconciler's stays restricted.
	AgentNamespace string `yaml:"agentNamespace"`
	// LINSTOR configures the LINSTOR backend the ReplicationUpgrade
	// drives; without controllers the reconciler has none, and a
	// ReplicationUpgrade halts with NoStorageBackend.
	LINSTOR LINSTORConfig `yaml:"linstor"`
}

// LINSTORConfig says how to reach the LINSTOR controller. The files it
// names (TLS, password, token) are meant to be a Secret mounted into the
// reconciler's pod; none of them may be written into the config itself.
type LINSTORConfig struct {
	// Controllers are the controllers' URLs, http:// or https:// (ports
	// 3370 and 3371 by default); the next is tried when one is down. None
	// turns the backend off.
	Controllers []string `yaml:"controllers"`
	// Timeout bounds every request to the controller, as a Go duration
	// ("30s", the default when empty).
	Timeout string `yaml:"timeout"`
	// TLS holds the files of an https connection.
	TLS LINSTORTLS `yaml:"tls"`
	// BasicAuth authenticates with a user name and password.
	BasicAuth LINSTORBasicAuth `yaml:"basicAuth"`
	// BearerTokenFile holds a bearer token (plain, or LINSTOR's auth.json
	// with a "token" key); it excludes basicAuth. Read at start.
	BearerTokenFile string `yaml:"bearerTokenFile"`
}

// LINSTORTLS holds the PEM files of an https connection to LINSTOR.
type LINSTORTLS struct {
	// CAFile is the bundle the controller's certificate is checked
	// against (the system's roots when empty).
	CAFile string `yaml:"caFile"`
	// CertFile and KeyFile are the client certificate and its key, both
	// or neither; they are read again at every TLS handshake, so a renewed
	// Secret needs no restart.
	CertFile string `yaml:"certFile"`
	// KeyFile is CertFile's private key.
	KeyFile string `yaml:"keyFile"`
}

// LINSTORBasicAuth holds HTTP basic auth credentials for LINSTOR.
type LINSTORBasicAuth struct {
	// Username is the user name.
	Username string `yaml:"username"`
	// PasswordFile holds the password (a trailing newline is dropped).
	// Read at start.
	PasswordFile string `yaml:"passwordFile"`
}

// DefaultLINSTORTimeout is the timeout of a request to LINSTOR when
// linstor.timeout is empty.
const DefaultLINSTORTimeout = 30 * time.Second

// Enabled is true when controllers are set: the reconciler has a LINSTOR
// backend.
func (l LINSTORConfig) Enabled() bool { return len(l.Controllers) > 0 }

// TimeoutDuration returns Timeout, or DefaultLINSTORTimeout when it is
// empty; Validate has checked it.
func (l LINSTORConfig) TimeoutDuration() time.Duration {
	d, err := time.ParseDuration(l.Timeout)
	if l.Timeout == "" || err != nil || d <= 0 {
		return DefaultLINSTORTimeout
	}
	return d
}

// validate returns the problems of the linstor section, each naming its
// key; an empty section (no controllers) has none unless other keys are
// set without controllers.
func (l LINSTORConfig) validate() []string {
	var problems []string
	if !l.Enabled() {
		if l.Timeout != "" || l.TLS != (LINSTORTLS{}) || l.BasicAuth != (LINSTORBasicAuth{}) || l.BearerTokenFile != "" {
			problems = append(problems, "linstor.controllers is required with other linstor settings")
		}
		return problems
	}
	tlsSet := l.TLS != (LINSTORTLS{})
	for i, c := range l.Controllers {
		key := fmt.Sprintf("linstor.controllers[%d]", i)
		u, err := url.Parse(c)
		switch {
		case c == "":
			problems = append(problems, key+" is empty")
		case err != nil:
			problems = append(problems, fmt.Sprintf("%s %q is not a URL: %v", key, c, err))
		case u.Scheme != "http" && u.Scheme != "https":
			problems = append(problems, fmt.Sprintf("%s %q is not an http or https URL", key, c))
		case u.Host == "" || u.Hostname() == "":
			problems = append(problems, fmt.Sprintf("%s %q has no host", key, c))
		case u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" || u.User != nil:
			problems = append(problems, fmt.Sprintf("%s %q must be scheme://host[:port] only", key, c))
		case tlsSet && u.Scheme != "https":
			problems = append(problems, fmt.Sprintf("%s %q is not https, but linstor.tls is set", key, c))
		}
	}
	if l.Timeout != "" {
		if d, err := time.ParseDuration(l.Timeout); err != nil || d <= 0 {
			problems = append(problems, fmt.Sprintf("linstor.timeout %q is not a positive duration (e.g. 30s)", l.Timeout))
		}
	}
	if (l.TLS.CertFile == "") != (l.TLS.KeyFile == "") {
		problems = append(problems, "linstor.tls.certFile and linstor.tls.keyFile go together")
	}
	b := l.BasicAuth
	switch {
	case b != (LINSTORBasicAuth{}) && l.BearerTokenFile != "":
		problems = append(problems, "linstor.basicAuth and linstor.bearerTokenFile exclude each other")
	case b.Username != "" && b.PasswordFile == "":
		problems = append(problems, "linstor.basicAuth.passwordFile is required with linstor.basicAuth.username")
	case b.Username == "" && b.PasswordFile != "":
		problems = append(problems, "linstor.basicAuth.username is required with linstor.basicAuth.passwordFile")
	}
	return problems
}

// The ways the webhook's serving certificates are kept (WebhookConfig.Certs).
const (
	// CertsSelf: the reconciler issues and renews its own CA and serving
	// certificate into SecretName, and the caBundle of ConfigurationName.
	CertsSelf = "self"
	// CertsFiles: the reconciler serves whatever CertDir holds
	// (cert-manager's Secret, mounted there).
	CertsFiles = "files"
)

// WebhookConfig configures the validating admission webhook; Port 0
// turns it off.
type WebhookConfig struct {
	// Port is where it listens.
	Port int `yaml:"port"`
	// CertDir holds tls.crt and tls.key.
	CertDir string `yaml:"certDir"`
	// Certs is CertsSelf or CertsFiles.
	Certs string `yaml:"certs"`
	// SecretName is the Secret of self-managed certificates.
	SecretName string `yaml:"secretName"`
	// ServiceName is the Service in front of the webhook (the serving
	// certificate's DNS names are <serviceName>.<namespace>.svc[.cluster.local]).
	ServiceName string `yaml:"serviceName"`
	// ConfigurationName is the ValidatingWebhookConfiguration whose
	// caBundle self-managed certificates keep current.
	ConfigurationName string `yaml:"configurationName"`
}

// StatusConfig configures the status branch write-back; with Repo unset
// nothing is written back.
type StatusConfig struct {
	// Repo is the repository holding the status branch (usually the fleet
	// repository), which this cluster may push to.
	Repo string `yaml:"repo"`
	// Branch is the status branch (default nodewright/status).
	Branch string `yaml:"branch"`
	// Key is the cluster's private signing key file (SSH or armored
	// OpenPGP, no passphrase); its public half is listed for the cluster
	// in the fleet repository's .nodewright/clusters.yaml.
	Key string `yaml:"key"`
	// QueueDir holds updates while the repository is unreachable
	// (default <stateDir>/status-queue).
	QueueDir string `yaml:"queueDir"`
}

// AuditConfig configures the audit sinks.
type AuditConfig struct {
	// File is a JSONL file every record is appended to.
	File string `yaml:"file"`
	// URL receives records by HTTP POST, spooled in SpoolDir while it is
	// unreachable.
	URL string `yaml:"url"`
	// SpoolDir holds records not yet acknowledged by URL.
	SpoolDir string `yaml:"spoolDir"`
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Parse reads a config file strictly: unknown keys, wrong types
// and several documents are errors naming the file and line. An empty
// file is an empty config. The error is a yamlfile.Errors listing every
// problem, in yaml.v3's wording.
func Parse(file string, data []byte) (*Config, error) {
	docs, err := yamlfile.Documents(file, data, yamlfile.DefaultMaxSize)
	if err != nil {
		return nil, err
	}
	c := &Config{}
	if len(docs) == 0 {
		return c, nil
	}
	errs := yamlfile.DecodeNode(file, docs[0], c, yamlfile.Options{Tag: "yaml", YAMLv3: true, Aliases: true})
	if len(docs) > 1 {
		extra := docs[1]
		if len(extra.Content) > 0 {
			extra = extra.Content[0]
		}
		errs = append(errs, &yamlfile.Error{File: file, Line: extra.Line, Message: "a second YAML document; the config is one document"})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// Validate checks the settings the reconciler cannot run without.
func (c *Config) Validate() error {
	var problems []string
	for _, f := range []struct{ name, value string }{{"clusterName", c.ClusterName}, {"namespace", c.Namespace}, {"site", c.Site}} {
		if f.value == "" {
			problems = append(problems, f.name+" is required")
		} else if !namePattern.MatchString(f.value) || len(f.value) > 63 {
			problems = append(problems, fmt.Sprintf("%s %q is not a DNS label", f.name, f.value))
		}
	}
	if c.StateDir == "" {
		problems = append(problems, "stateDir is required")
	}
	if c.Audit.URL != "" && c.Audit.SpoolDir == "" {
		problems = append(problems, "audit.spoolDir is required with audit.url")
	}
	if c.Audit.URL != "" && !strings.HasPrefix(c.Audit.URL, "http://") && !strings.HasPrefix(c.Audit.URL, "https://") {
		problems = append(problems, fmt.Sprintf("audit.url %q is not an http(s) URL", c.Audit.URL))
	}
	if w := c.Webhook; w.Port != 0 {
		// The webhook tells the agents apart by their user name,
		// system:serviceaccount:<agentNamespace>:<agentServiceAccount>.
		switch {
		case c.AgentNamespace == "":
			problems = append(problems, "agentNamespace is required with webhook.port (the webhook knows the agents by their ServiceAccount)")
		case !namePattern.MatchString(c.AgentNamespace) || len(c.AgentNamespace) > 63:
			problems = append(problems, fmt.Sprintf("agentNamespace %q is not a DNS label", c.AgentNamespace))
		}
		switch {
		case c.AgentServiceAccount == "":
			problems = append(problems, "agentServiceAccount is required with webhook.port (the webhook knows the agents by their ServiceAccount)")
		case len(validation.IsDNS1123Subdomain(c.AgentServiceAccount)) > 0:
			problems = append(problems, fmt.Sprintf("agentServiceAccount %q is not a ServiceAccount name", c.AgentServiceAccount))
		}
		switch {
		case w.Port < 0 || w.Port > 65535:
			problems = append(problems, fmt.Sprintf("webhook.port %d is not a port (0 turns the webhook off)", w.Port))
		case w.CertDir == "":
			problems = append(problems, "webhook.certDir is required with webhook.port")
		}
		switch w.Certs {
		case CertsSelf:
			for _, f := range []struct{ name, value string }{{"webhook.secretName", w.SecretName}, {"webhook.serviceName", w.ServiceName}, {"webhook.configurationName", w.ConfigurationName}} {
				if f.value == "" {
					problems = append(problems, f.name+" is required with webhook.certs: self")
				}
			}
		case CertsFiles:
		default:
			problems = append(problems, fmt.Sprintf("webhook.certs %q is not one of %s, %s", w.Certs, CertsSelf, CertsFiles))
		}
	}
	problems = append(problems, c.LINSTOR.validate()...)
	if c.Status.Repo != "" && c.Status.Key == "" {
		problems = append(problems, "status.key is required with status.repo: status commits are signed by the cluster")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
