package reconciler

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/nodewright/nodewright/reconciler/admission"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/backend"
	"github.com/nodewright/nodewright/reconciler/bondflip"
	"github.com/nodewright/nodewright/reconciler/fleetsource"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	"github.com/nodewright/nodewright/reconciler/operation"
	"github.com/nodewright/nodewright/reconciler/provenance"
	"github.com/nodewright/nodewright/reconciler/replication"
	"github.com/nodewright/nodewright/reconciler/vmmigration"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/trust"
)

// Options configure the manager.
type Options struct {
	// Cluster names this cluster (its NodewrightCluster and audit chain).
	Cluster string
	// Site, when set, is the only site served.
	Site string
	// Namespace holds the FleetSources, operations and NodeTasks.
	Namespace string
	// StateDir holds the sources' mirrors and caches.
	StateDir string
	// TrustRoot, when set, pins the trust root of every FleetSource.
	TrustRoot *trust.Policy
	// LeaderElection turns leader election on; LeaderElectionID names the
	// Lease (default nodewright-reconciler-<cluster>).
	LeaderElection   bool
	LeaderElectionID string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election
	// (controller-runtime's defaults when zero).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
	// HoldLeaseOnStop keeps the Lease when the manager stops, as a killed
	// process would; by default a stopping leader releases it at once.
	HoldLeaseOnStop bool
	// MetricsBindAddress and HealthProbeBindAddress ("0" disables).
	MetricsBindAddress, HealthProbeBindAddress string
	// Storage and VMs are the LINSTOR and KubeVirt backends (nil: steps
	// that need them halt with a reason).
	Storage backend.Storage
	VMs     backend.VMs
	// Evacuator, when set, protects VMs during node operations instead of
	// VMs (a KubeVirt backend that does VM protection only).
	Evacuator backend.Evacuator
	// Sinks receive every audit record, in order.
	Sinks []audit.Sink
	// Hooks are for tests.
	Hooks operation.Hooks
	// Poll is how soon a waiting step looks again (default 2s).
	Poll time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logger is the manager's logger.
	Logger logr.Logger
	// Publisher, when set, receives the cluster's status and audit records
	// when they changed (looked at after every transition and every
	// ReportInterval, default 30s) and at least every PublishHeartbeat
	// (default 10m), so a silent cluster shows as such.
	Publisher                        Publisher
	ReportInterval, PublishHeartbeat time.Duration
	// Applied is called after a FleetSource applied a commit.
	Applied func(name, commit string)
	// Kinds are the operation kinds to run (default: every kind).
	Kinds []*operation.Kind
	// Webhook, when set, serves the validating admission webhook on the
	// manager's webhook server.
	Webhook *WebhookOptions
}

// WebhookOptions configure the admission webhook the reconciler serves.
type WebhookOptions struct {
	// Host and Port are where it listens (Port is required).
	Host string
	Port int
	// CertDir holds tls.crt and tls.key (controller-runtime reloads them
	// when they change).
	CertDir string
	// AgentUser is the agents' user name: only it writes NodeTask status.
	AgentUser string
	// Certs, when set, is called once the manager exists, before New
	// returns, to keep CertDir's certificates (the reconciler's own CA; see
	// package webhookcert); nil serves whatever CertDir holds (cert-manager).
	Certs func(mgr ctrl.Manager) error
}

// GracefulShutdownTimeout is how long a stopping manager waits for its
// runnables (reconciles in flight, the audit pump's last delivery, the
// reporter, the metrics and probe servers) to return after its context
// was cancelled; a runnable still running then is abandoned and Start
// returns an error. It is well under the 30 s a pod gets between SIGTERM
// and SIGKILL by default, leaving room for the release of the leader
// Lease that follows (bounded by the renew deadline, 10 s by default)
// and for closing the audit sinks. Every runnable honours its context,
// so a stop normally takes a fraction of a second.
const GracefulShutdownTimeout = 10 * time.Second

// Scheme returns a scheme with the Kubernetes and Nodewright types.
func Scheme() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		return nil, err
	}
	if err := v1.AddToScheme(s); err != nil {
		return nil, err
	}
	return s, nil
}

// New builds the manager with every controller and the audit pump; Start
// runs it.
func New(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if o.Cluster == "" || o.Namespace == "" || o.StateDir == "" {
		return nil, errors.New("reconciler: cluster name, namespace and state dir are required")
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	if o.LeaderElectionID == "" {
		o.LeaderElectionID = "nodewright-reconciler-" + o.Cluster
	}
	if o.MetricsBindAddress == "" {
		o.MetricsBindAddress = "0"
	}
	if o.HealthProbeBindAddress == "" {
		o.HealthProbeBindAddress = "0"
	}
	shutdown := GracefulShutdownTimeout
	mo := ctrl.Options{
		Scheme:                        scheme,
		Logger:                        o.Logger,
		GracefulShutdownTimeout:       &shutdown,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.LeaderElectionID,
		LeaderElectionNamespace:       o.Namespace,
		LeaderElectionReleaseOnCancel: !o.HoldLeaseOnStop,
		Metrics:                       metricsserver.Options{BindAddress: o.MetricsBindAddress},
		HealthProbeBindAddress:        o.HealthProbeBindAddress,
		Cache:                         cache.Options{DefaultNamespaces: map[string]cache.Config{o.Namespace: {}}},
		Client:                        client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
	}
	if o.LeaseDuration > 0 {
		mo.LeaseDuration, mo.RenewDeadline, mo.RetryPeriod = &o.LeaseDuration, &o.RenewDeadline, &o.RetryPeriod
	}
	// The reconciler's own user: it attests the NodeTasks with tokens of
	// its ServiceAccount, and the webhook lets only it write intent.
	self, saNamespace, saName, err := whoAmI(cfg, scheme)
	if err != nil {
		return nil, err
	}
	if w := o.Webhook; w != nil {
		if w.Port <= 0 || w.CertDir == "" || w.AgentUser == "" {
			return nil, errors.New("reconciler: the webhook needs a port, a certificate directory and the agents' user name")
		}
		mo.WebhookServer = webhook.NewServer(webhook.Options{Host: w.Host, Port: w.Port, CertDir: w.CertDir})
	}
	mgr, err := ctrl.NewManager(cfg, mo)
	if err != nil {
		return nil, fmt.Errorf("reconciler: %w", err)
	}
	if w := o.Webhook; w != nil {
		if w.Certs != nil {
			if err := w.Certs(mgr); err != nil {
				return nil, err
			}
		}
		if err := admission.Register(mgr.GetWebhookServer(), AdmissionPolicy(self, w.AgentUser, o.Kinds), o.Logger.WithName("admission")); err != nil {
			return nil, err
		}
		if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
			return nil, err
		}
	}
	attester := &nodetask.TokenAttester{Client: mgr.GetClient(), Namespace: saNamespace, ServiceAccount: saName, Now: o.Now}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return nil, err
	}

	p := &pump{reader: mgr.GetAPIReader(), cluster: o.Cluster, sinks: o.Sinks, kick: make(chan struct{}, 1), log: o.Logger.WithName("audit")}
	if o.ReportInterval <= 0 {
		o.ReportInterval = 30 * time.Second
	}
	if o.PublishHeartbeat <= 0 {
		o.PublishHeartbeat = 10 * time.Minute
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	rep := &reporter{client: mgr.GetClient(), reader: mgr.GetAPIReader(), cluster: o.Cluster, site: o.Site, namespace: o.Namespace,
		publisher: o.Publisher, interval: o.ReportInterval, heartbeat: o.PublishHeartbeat, now: now, kick: make(chan struct{}, 1), log: o.Logger.WithName("report")}
	notify := func() { p.notify(); rep.notify() }
	chain := &operation.Chain{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Cluster: o.Cluster, Notify: notify}
	if err := mgr.Add(p); err != nil {
		return nil, err
	}
	if err := mgr.Add(rep); err != nil {
		return nil, err
	}

	kinds := o.Kinds
	if len(kinds) == 0 {
		kinds = Kinds()
	}
	tables := operation.TablesOf(kinds)
	ledger, err := provenance.Open(o.StateDir)
	if err != nil {
		return nil, err
	}
	fsr := &fleetsource.Reconciler{Tables: tables, Provenance: ledger, Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), StateDir: o.StateDir, Site: o.Site, TrustRoot: o.TrustRoot, Now: o.Now, Applied: o.Applied}
	if err := ctrl.NewControllerManagedBy(mgr).For(&v1.FleetSource{}).Named("fleetsource").
		WithOptions(controller.Options{MaxConcurrentReconciles: 1, SkipNameValidation: &skipNameValidation}).Complete(fsr); err != nil {
		return nil, err
	}

	env := &operation.Env{Tables: tables, Provenance: ledger, Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Chain: chain, Storage: o.Storage, VMs: o.VMs, Evacuator: o.Evacuator, Cluster: o.Cluster, Site: o.Site, Now: o.Now, Hooks: o.Hooks, Poll: o.Poll, Attester: attester}
	for _, k := range kinds {
		k := k
		r := &operation.Reconciler{Kind: k, Env: env}
		err := ctrl.NewControllerManagedBy(mgr).For(k.New()).Named(k.Name).
			Watches(&v1.NodeTask{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
				l := obj.GetLabels()
				if l[v1.LabelOperationKind] != k.Name {
					return nil
				}
				return []reconcile.Request{{NamespacedName: client.ObjectKey{Namespace: obj.GetNamespace(), Name: l[v1.LabelOperationName]}}}
			})).
			WithOptions(controller.Options{MaxConcurrentReconciles: 4, SkipNameValidation: &skipNameValidation}).
			Complete(r)
		if err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// skipNameValidation lets one process run several managers (the demo runs
// a reconciler beside its agents; the crash tests restart it in-process):
// controller names only need to be unique per manager.
var skipNameValidation = true

// Kinds returns every operation kind the reconciler runs.
func Kinds() []*operation.Kind {
	return []*operation.Kind{bondflip.Kind, replication.Kind, vmmigration.Kind}
}

// pump feeds the audit sinks from the cluster's chain: after every new
// link and every few seconds, each sink gets the records above what it
// holds. It runs only on the leader.
type pump struct {
	reader  client.Reader
	cluster string
	sinks   []audit.Sink
	kick    chan struct{}
	log     logr.Logger
}

func (p *pump) notify() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// NeedLeaderElection makes the pump run on the leader only.
func (p *pump) NeedLeaderElection() bool { return true }

// finalDeliveryTimeout bounds the pump's last delivery as the manager
// stops, well inside GracefulShutdownTimeout.
const finalDeliveryTimeout = 5 * time.Second

// Start delivers until ctx ends, then once more.
func (p *pump) Start(ctx context.Context) error {
	if len(p.sinks) == 0 {
		<-ctx.Done()
		return nil
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			final, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalDeliveryTimeout)
			p.deliver(final)
			cancel()
			return nil
		case <-p.kick:
		case <-t.C:
		}
		p.deliver(ctx)
	}
}

func (p *pump) deliver(ctx context.Context) {
	nc := &v1.NodewrightCluster{}
	if err := p.reader.Get(ctx, client.ObjectKey{Name: p.cluster}, nc); err != nil {
		if client.IgnoreNotFound(err) != nil {
			p.log.Error(err, "read the audit chain")
		}
		return
	}
	for _, s := range p.sinks {
		recs, err := audit.Undelivered(nc.Audit, s.Delivered())
		if err != nil {
			p.log.Error(err, "audit sink fell behind the chain window; records missing from it must be replayed from the status branch")
			continue
		}
		if len(recs) == 0 {
			continue
		}
		if err := s.Deliver(ctx, recs); err != nil {
			p.log.Error(err, "deliver audit records", "from", recs[0].Seq, "to", recs[len(recs)-1].Seq)
		}
	}
}
