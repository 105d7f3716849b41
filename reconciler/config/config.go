package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
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

var linePattern = regexp.MustCompile(`^line (\d+): (.*)$`)

var namePattern = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Parse reads a config file strictly: unknown keys, wrong types
// and several documents are errors naming the file and line.
func Parse(file string, data []byte) (*Config, error) {
	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			msgs := make([]string, len(te.Errors))
			for i, e := range te.Errors {
				if m := linePattern.FindStringSubmatch(e); m != nil {
					msgs[i] = fmt.Sprintf("%s:%s: %s", file, m[1], m[2])
				} else {
					msgs[i] = file + ": " + e
				}
			}
			return nil, errors.New(strings.Join(msgs, "\n"))
		}
		return nil, fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		line := extra.Line
		if len(extra.Content) > 0 {
			line = extra.Content[0].Line
		}
		return nil, fmt.Errorf("%s:%d: a second YAML document; the config is one document", file, line)
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
	if c.Status.Repo != "" && c.Status.Key == "" {
		problems = append(problems, "status.key is required with status.repo: status commits are signed by the cluster")
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}
