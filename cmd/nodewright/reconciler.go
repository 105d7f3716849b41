package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/backend/linstor"
	"github.com/nodewright/nodewright/reconciler/config"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/webhookcert"
	"github.com/nodewright/nodewright/source/trust"
)

func newReconcilerCommand() *cobra.Command {
	var configFile string
	var c config.Config
	var leaderElect bool
	cmd := &cobra.Command{
		Use:   "reconciler",
		Short: "Run the in-cluster controller manager (FleetSource and operation controllers)",
		Long: `reconciler runs the controller manager of one cluster: it follows the FleetSources of its
namespace, verifies every new commit, applies the site's profile and operations as
custom resources and drives each operation through its phases, with node steps
sent to the node agents as NodeTasks. Settings come from --config and flags (flags
win). Leader election is on: of several replicas only one acts.

Logs are JSON lines on stderr; metrics on --metrics-bind-address, /healthz and
/readyz on --health-probe-bind-address. With linstor.controllers (or
--linstor-controller) set, ReplicationUpgrades drive that LINSTOR controller;
without, they halt with NoStorageBackend. When the API server serves KubeVirt
(virtualmachineinstances.kubevirt.io), the ProtectVMs step of node operations
cordons the node and live-migrates or stops its VMs through KubeVirt; without
KubeVirt, and for VMVolumeMigrations, steps that need it halt with NoVMBackend.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := config.Config{}
			if configFile != "" {
				data, err := os.ReadFile(configFile)
				if err != nil {
					return usageError("config: %v", err)
				}
				parsed, err := config.Parse(configFile, data)
				if err != nil {
					return usageError("%v", err)
				}
				cfg = *parsed
			}
			flags := cmd.Flags()
			override := func(name string, dst *string, v string) {
				if flags.Changed(name) || *dst == "" {
					*dst = v
				}
			}
			override("cluster-name", &cfg.ClusterName, c.ClusterName)
			override("site", &cfg.Site, c.Site)
			override("namespace", &cfg.Namespace, c.Namespace)
			override("trust-root", &cfg.TrustRoot, c.TrustRoot)
			override("state-dir", &cfg.StateDir, c.StateDir)
			override("kubeconfig", &cfg.Kubeconfig, c.Kubeconfig)
			override("metrics-bind-address", &cfg.MetricsBindAddress, c.MetricsBindAddress)
			override("health-probe-bind-address", &cfg.HealthProbeBindAddress, c.HealthProbeBindAddress)
			override("audit-file", &cfg.Audit.File, c.Audit.File)
			override("audit-url", &cfg.Audit.URL, c.Audit.URL)
			override("audit-spool-dir", &cfg.Audit.SpoolDir, c.Audit.SpoolDir)
			override("status-repo", &cfg.Status.Repo, c.Status.Repo)
			override("status-branch", &cfg.Status.Branch, c.Status.Branch)
			override("cluster-key", &cfg.Status.Key, c.Status.Key)
			override("status-queue-dir", &cfg.Status.QueueDir, c.Status.QueueDir)
			override("webhook-cert-dir", &cfg.Webhook.CertDir, c.Webhook.CertDir)
			override("webhook-certs", &cfg.Webhook.Certs, c.Webhook.Certs)
			override("agent-service-account", &cfg.AgentServiceAccount, c.AgentServiceAccount)
			override("agent-namespace", &cfg.AgentNamespace, c.AgentNamespace)
			if flags.Changed("linstor-controller") {
				cfg.LINSTOR.Controllers = c.LINSTOR.Controllers
			}
			if flags.Changed("webhook-port") {
				cfg.Webhook.Port = c.Webhook.Port
			}
			if flags.Changed("leader-elect") || cfg.LeaderElect == nil {
				cfg.LeaderElect = &leaderElect
			}
			if err := cfg.Validate(); err != nil {
				return usageError("reconciler: %v", err)
			}
			return runReconciler(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&configFile, "config", "", "config file (YAML; keys as in config/manager/reconciler.yaml)")
	f.StringVar(&c.ClusterName, "cluster-name", "", "this cluster's name")
	f.StringVar(&c.Site, "site", "", "the site this cluster serves")
	f.StringVar(&c.Namespace, "namespace", "nodewright-system", "namespace of the FleetSources, operations and NodeTasks")
	f.StringVar(&c.TrustRoot, "trust-root", "", "trust root TrustPolicy file (default: each FleetSource's spec.trustRoot Secret)")
	f.StringVar(&c.StateDir, "state-dir", "/var/lib/nodewright", "mirrors and verification caches")
	f.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file (default: in-cluster, then $KUBECONFIG)")
	f.BoolVar(&leaderElect, "leader-elect", true, "elect a leader among replicas")
	f.StringVar(&c.MetricsBindAddress, "metrics-bind-address", ":8080", `metrics address ("0" disables)`)
	f.StringVar(&c.HealthProbeBindAddress, "health-probe-bind-address", ":8081", `health probe address ("0" disables)`)
	f.StringVar(&c.Audit.File, "audit-file", "", "append every audit record to this JSONL file")
	f.StringVar(&c.Audit.URL, "audit-url", "", "POST audit records to this URL")
	f.StringVar(&c.Audit.SpoolDir, "audit-spool-dir", "", "keep audit records for --audit-url here until acknowledged")
	f.StringVar(&c.Status.Repo, "status-repo", "", "write status and audit records back to this repository's status branch")
	f.StringVar(&c.Status.Branch, "status-branch", "nodewright/status", "the status branch")
	f.StringVar(&c.Status.Key, "cluster-key", "", "the cluster's private key (SSH or armored OpenPGP) that signs status commits")
	f.IntVar(&c.Webhook.Port, "webhook-port", 0, "serve the validating admission webhook on this port (0: as the config says; the config's default is off)")
	f.StringVar(&c.Webhook.CertDir, "webhook-cert-dir", "", "the webhook's tls.crt and tls.key")
	f.StringVar(&c.Webhook.Certs, "webhook-certs", "", `how the webhook's certificates are kept: "self" (issued and renewed by the reconciler) or "files" (served as found in --webhook-cert-dir, e.g. from cert-manager)`)
	f.StringVar(&c.AgentServiceAccount, "agent-service-account", "nodewright-agent", "the agents' ServiceAccount in --agent-namespace")
	f.StringVar(&c.AgentNamespace, "agent-namespace", "nodewright-agent", "the namespace of the agents' ServiceAccount (their DaemonSet's)")
	f.StringArrayVar(&c.LINSTOR.Controllers, "linstor-controller", nil, "a LINSTOR controller's URL (http or https; repeat for several), as linstor.controllers: ReplicationUpgrades need it")
	f.StringVar(&c.Status.QueueDir, "status-queue-dir", "", "where status updates wait while the repository is unreachable (default <state-dir>/status-queue)")
	return cmd
}

// restConfig loads a kubeconfig file, or the in-cluster config, or the
// default loading rules ($KUBECONFIG, ~/.kube/config).
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig != "" {
		return clientcmd.BuildConfigFromFlags("", kubeconfig)
	}
	return ctrl.GetConfig()
}

// runReconciler runs the manager until ctx ends (main cancels it on SIGINT
// or SIGTERM), which takes at most reconciler.GracefulShutdownTimeout plus
// the release of the leader Lease; the audit sinks and the status writer
// are closed after it stopped.
func runReconciler(ctx context.Context, c config.Config) error {
	log := logr.FromSlogHandler(slog.NewJSONHandler(os.Stderr, nil))
	ctrl.SetLogger(log)
	// The LINSTOR backend's files (CA, client certificate, password,
	// token) are read first, so a bad one fails before anything starts.
	var storage *linstor.Storage
	if c.LINSTOR.Enabled() {
		st, err := linstor.New(linstorConfig(c.LINSTOR))
		if err != nil {
			return usageError("%v", err)
		}
		storage = st
	}
	cfg, err := restConfig(c.Kubeconfig)
	if err != nil {
		return usageError("kubeconfig: %v", err)
	}
	o := reconciler.Options{
		Cluster: c.ClusterName, Site: c.Site, Namespace: c.Namespace, StateDir: c.StateDir,
		LeaderElection: *c.LeaderElect, MetricsBindAddress: c.MetricsBindAddress, HealthProbeBindAddress: c.HealthProbeBindAddress,
		Logger: log,
	}
	if c.TrustRoot != "" {
		data, err := os.ReadFile(c.TrustRoot)
		if err != nil {
			return usageError("trust root: %v", err)
		}
		if o.TrustRoot, err = trust.Parse(c.TrustRoot, data); err != nil {
			return usageError("%v", err)
		}
	}
	if c.Audit.File != "" {
		s, err := audit.OpenFile(c.Audit.File)
		if err != nil {
			return fmt.Errorf("audit file: %w", err)
		}
		defer s.Close()
		o.Sinks = append(o.Sinks, s)
	}
	if c.Audit.URL != "" {
		s, err := audit.OpenHTTP(audit.HTTPOptions{URL: c.Audit.URL, SpoolDir: c.Audit.SpoolDir, Logger: log})
		if err != nil {
			return fmt.Errorf("audit url: %w", err)
		}
		defer s.Close()
		o.Sinks = append(o.Sinks, s)
	}
	if c.Status.Repo != "" {
		w, err := statusWriter(c)
		if err != nil {
			return err
		}
		defer w.Close()
		o.Publisher = w
	}
	if c.Webhook.Port != 0 {
		o.Webhook = webhookOptions(c, log)
	}
	if storage != nil {
		o.Storage = storage
		log.Info("LINSTOR backend", "controllers", c.LINSTOR.Controllers, "timeout", c.LINSTOR.TimeoutDuration().String())
	}
	evacuator, err := kubevirtEvacuator(cfg)
	if err != nil {
		return err
	}
	if evacuator != nil {
		o.Evacuator = evacuator
		log.Info("KubeVirt backend for VM protection")
	}
	mgr, err := reconciler.New(cfg, o)
	if err != nil {
		return err
	}
	log.Info("starting", "cluster", c.ClusterName, "site", c.Site, "namespace", c.Namespace, "leaderElect", *c.LeaderElect)
	return mgr.Start(ctx)
}

// webhookOptions are the admission webhook's settings from the config:
// with certs "self" the reconciler keeps its own CA and serving
// certificate (package webhookcert) for the Service's DNS names.
func webhookOptions(c config.Config, log logr.Logger) *reconciler.WebhookOptions {
	w := c.Webhook
	o := &reconciler.WebhookOptions{Port: w.Port, CertDir: w.CertDir, AgentUser: nodetask.ServiceAccountUser(c.AgentNamespace, c.AgentServiceAccount)}
	if w.Certs != config.CertsSelf {
		return o
	}
	svc := w.ServiceName + "." + c.Namespace + ".svc"
	o.Certs = reconciler.SelfManagedCerts(webhookcert.Options{
		Namespace: c.Namespace, SecretName: w.SecretName, WebhookConfigName: w.ConfigurationName,
		DNSNames: []string{svc, svc + ".cluster.local"}, CertDir: w.CertDir, Logger: log.WithName("webhook-certs"),
	})
	return o
}

// linstorConfig is the LINSTOR backend's configuration from the
// reconciler's linstor section (checked by Validate).
func linstorConfig(l config.LINSTORConfig) linstor.Config {
	return linstor.Config{
		Controllers: l.Controllers, Timeout: l.TimeoutDuration(),
		CAFile: l.TLS.CAFile, CertFile: l.TLS.CertFile, KeyFile: l.TLS.KeyFile,
		Username: l.BasicAuth.Username, PasswordFile: l.BasicAuth.PasswordFile, BearerTokenFile: l.BearerTokenFile,
	}
}

// statusWriter opens the status branch writer the config describes.
func statusWriter(c config.Config) (*statusbranch.Writer, error) {
	data, err := os.ReadFile(c.Status.Key)
	if err != nil {
		return nil, usageError("cluster key: %v", err)
	}
	signer, err := statusbranch.ParseSigningKey(data)
	if err != nil {
		return nil, usageError("cluster key %s: %v", c.Status.Key, err)
	}
	queue := c.Status.QueueDir
	if queue == "" {
		queue = filepath.Join(c.StateDir, "status-queue")
	}
	return &statusbranch.Writer{URL: c.Status.Repo, Branch: c.Status.Branch, Cluster: c.ClusterName, Signer: signer, QueueDir: queue}, nil
}
