package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/go-logr/logr"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/simhost"
	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/backend"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// FleetSourceName is the name of the cluster's FleetSource.
const FleetSourceName = "fleet"

// Cluster is one simulated cluster following a served fleet repository.
type Cluster struct {
	// Config reaches the API server; Client is an uncached client on it.
	Config *rest.Config
	Client client.Client
	// Namespace holds the FleetSource, operations and NodeTasks.
	Namespace string
	// Name names the cluster; Site is the fleet's site it serves.
	Name, Site string
	// Hosts are the simulated nodes, by name.
	Hosts map[string]*simhost.Host
	// Storage and VMs are the backends given to the reconciler.
	Storage backend.Storage
	VMs     backend.VMs
	// StateDir is the reconciler's state directory; AuditFile its JSONL
	// audit sink.
	StateDir, AuditFile string
	// Logger is given to the managers.
	Logger logr.Logger

	// Webhook is the admission webhook (nil with Options.NoWebhook).
	Webhook *Webhook

	reconcilerConfig, agentConfig *rest.Config
	reconcilerUser                string
	onAgentError                  func(node string, err error)

	mu      sync.Mutex
	agents  map[string]context.CancelFunc
	running []*Manager
}

// Options shape a cluster.
type Options struct {
	// Namespace and Name name the cluster; they must be unique per API
	// server.
	Namespace, Name string
	// Site is the fleet's site the cluster serves; Repo the URL of the
	// fleet repository; TrustRoot the trust policy it starts from.
	Site, Repo string
	TrustRoot  []byte
	// Dir (created if missing) holds the reconciler's state directory and
	// audit file.
	Dir string
	// Storage and VMs are the backends.
	Storage backend.Storage
	VMs     backend.VMs
	// Nodes are the simulated nodes.
	Nodes []string
	// Heartbeat is the agents' heartbeat interval (default 500ms).
	Heartbeat time.Duration
	// Logger is given to the managers and agents.
	Logger logr.Logger
	// ReconcilerConfig and AgentConfig, when set, are the identities the
	// reconciler and the agents reach the API server with; the default is
	// cfg impersonating the ServiceAccounts ReconcilerServiceAccount and
	// AgentServiceAccount of Namespace (with system:masters, so RBAC is not
	// in the way; TestShippedRBACIsEnough passes configs without it). Each
	// agent's config also names its node, as a pod-bound token does.
	ReconcilerConfig, AgentConfig *rest.Config
	// NoWebhook leaves the admission webhook out, so that only the
	// operation controllers' and the agents' own checks stand.
	NoWebhook bool
	// OnAgentError hears of an agent that stopped with an error before
	// Close asked it to; the default drops it.
	OnAgentError func(node string, err error)
}

// New creates the namespace, trust root Secret, Ready nodes, agents and
// the FleetSource; Close stops every agent and manager. A failure stops
// the agents already started.
func New(cfg *rest.Config, o Options) (*Cluster, error) {
	var missing []string
	for name, v := range map[string]string{"Namespace": o.Namespace, "Name": o.Name, "Site": o.Site, "Repo": o.Repo, "Dir": o.Dir} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(o.Nodes) == 0 {
		missing = append(missing, "Nodes")
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("cluster: options %s are required", strings.Join(missing, ", "))
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	scheme, err := reconciler.Scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	s := &Cluster{Config: cfg, Client: c, reconcilerConfig: serviceAccountConfig(cfg, o.Namespace, ReconcilerServiceAccount),
		agentConfig: serviceAccountConfig(cfg, o.Namespace, AgentServiceAccount), Namespace: o.Namespace, Name: o.Name, Site: o.Site,
		Hosts: map[string]*simhost.Host{}, Storage: o.Storage, VMs: o.VMs, agents: map[string]context.CancelFunc{}, Logger: o.Logger,
		StateDir: filepath.Join(o.Dir, "state"), AuditFile: filepath.Join(o.Dir, "audit.jsonl"), onAgentError: o.OnAgentError}
	if o.ReconcilerConfig != nil {
		s.reconcilerConfig = o.ReconcilerConfig
	}
	if o.AgentConfig != nil {
		s.agentConfig = o.AgentConfig
	}
	if err := s.setUp(o); err != nil {
		s.Close()
		return nil, fmt.Errorf("cluster %s: %w", o.Name, err)
	}
	return s, nil
}

func (s *Cluster) setUp(o Options) error {
	ctx := context.Background()
	if err := s.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	reconcilerUser, err := userOf(ctx, s.reconcilerConfig)
	if err != nil {
		return err
	}
	agentUser, err := userOf(ctx, s.agentConfig)
	if err != nil {
		return err
	}
	s.reconcilerUser = reconcilerUser
	for _, u := range []string{reconcilerUser, agentUser} {
		if err := ensureServiceAccount(ctx, s.Client, u); err != nil {
			return err
		}
	}
	if !o.NoWebhook {
		if s.Webhook, err = startWebhook(s.Config, s.Client, o.Namespace, reconciler.AdmissionPolicy(reconcilerUser, agentUser, nil), s.Logger); err != nil {
			return err
		}
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "trust-root", Namespace: o.Namespace}, Data: map[string][]byte{"trust.yaml": o.TrustRoot}}
	if err := s.Client.Create(ctx, sec); err != nil {
		return err
	}
	if err := ReadyNodes(ctx, s.Client, o.Nodes...); err != nil {
		return err
	}
	// Agent statuses are cluster-scoped and named after nodes: start from
	// none, as on a new cluster.
	if err := s.Client.DeleteAllOf(ctx, &v1.NodewrightAgentStatus{}); err != nil {
		return err
	}
	hb := o.Heartbeat
	if hb == 0 {
		hb = 500 * time.Millisecond
	}
	for _, n := range o.Nodes {
		s.Hosts[n] = simhost.New(v1.Bond{Name: "bond0", Mode: v1.BondActiveBackup, Slaves: []string{"eth0", "eth1"}})
		s.StartAgent(n, hb)
	}
	fs := &v1.FleetSource{
		ObjectMeta: metav1.ObjectMeta{Name: FleetSourceName, Namespace: o.Namespace},
		Spec: v1.FleetSourceSpec{Repo: o.Repo, Site: o.Site, TrustRoot: v1.SecretKeyReference{Name: "trust-root"},
			Interval: metav1.Duration{Duration: time.Minute}},
	}
	return s.Client.Create(ctx, fs)
}

// ReadyNodes creates Node objects with a Ready condition, as kubelets
// would, so the health gate sees a healthy site.
func ReadyNodes(ctx context.Context, c client.Client, names ...string) error {
	for _, name := range names {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := c.Create(ctx, n); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
		if err := c.Get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			return err
		}
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		if err := c.Status().Update(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// StartAgent runs node's agent on its simulated host until Close.
func (s *Cluster) StartAgent(node string, heartbeat time.Duration) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.mu.Lock()
	s.agents[node] = func() { cancel(); <-done }
	s.mu.Unlock()
	// The host is looked up here, not in the goroutine: setUp goes on
	// adding the other nodes' hosts to the map while this agent starts.
	host := s.Hosts[node]
	go func() {
		defer close(done)
		err := agent.Run(ctx, onNode(s.agentConfig, node), nil, agent.Options{Node: node, Namespace: s.Namespace, Host: host, HeartbeatInterval: heartbeat, Version: "sandbox",
			ReconcilerUser: s.reconcilerUser})
		if err != nil && ctx.Err() == nil && s.onAgentError != nil {
			s.onAgentError(node, err)
		}
	}()
}

// Manager is a running reconciler manager.
type Manager struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
	sinks  []audit.Sink
}

// Stop stops the manager as a crash would from the operations' point of
// view (nothing more is written), waits for it, and closes its sinks.
func (m *Manager) Stop() error {
	m.cancel()
	return m.Wait()
}

// Cancel tells the manager to stop without waiting for it.
func (m *Manager) Cancel() { m.cancel() }

// Wait waits for the manager to end and closes its sinks.
func (m *Manager) Wait() error {
	<-m.done
	for _, s := range m.sinks {
		_ = s.Close()
	}
	m.sinks = nil
	return m.err
}

// Done is closed when the manager ended.
func (m *Manager) Done() <-chan struct{} { return m.done }

// StartReconciler starts a reconciler manager with the cluster's
// settings; change sets more options (hooks, leader election).
func (s *Cluster) StartReconciler(change func(*reconciler.Options)) (*Manager, error) {
	sink, err := audit.OpenFile(s.AuditFile)
	if err != nil {
		return nil, err
	}
	o := reconciler.Options{
		Cluster: s.Name, Site: s.Site, Namespace: s.Namespace, StateDir: s.StateDir,
		Storage: s.Storage, VMs: s.VMs, Sinks: []audit.Sink{sink}, Poll: 200 * time.Millisecond, Logger: s.Logger,
	}
	if change != nil {
		change(&o)
	}
	mgr, err := reconciler.New(s.reconcilerConfig, o)
	if err != nil {
		_ = sink.Close()
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cancel: cancel, done: make(chan struct{}), sinks: o.Sinks}
	go func() {
		defer close(m.done)
		m.err = mgr.Start(ctx)
	}()
	s.mu.Lock()
	s.running = append(s.running, m)
	s.mu.Unlock()
	return m, nil
}

// Close stops every manager and agent and waits for them.
func (s *Cluster) Close() {
	s.mu.Lock()
	running, agents := s.running, s.agents
	s.running, s.agents = nil, map[string]context.CancelFunc{}
	s.mu.Unlock()
	for _, m := range running {
		_ = m.Stop()
	}
	for _, stop := range agents {
		stop()
	}
	if s.Webhook != nil {
		s.Webhook.Close()
		s.Webhook = nil
	}
}

// Kick asks the FleetSource controller to fetch now, as `flux reconcile`
// does: a changed annotation is an event.
func (s *Cluster) Kick(ctx context.Context) error {
	fs := &v1.FleetSource{}
	if err := s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: FleetSourceName}, fs); err != nil {
		return err
	}
	patch := client.MergeFrom(fs.DeepCopy())
	ann := fs.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	ann[v1.AnnotationRequestedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	fs.SetAnnotations(ann)
	return s.Client.Patch(ctx, fs, patch)
}

// Operation reads an operation.
func (s *Cluster) Operation(ctx context.Context, obj v1.Operation, name string) error {
	return s.Client.Get(ctx, client.ObjectKey{Namespace: s.Namespace, Name: name}, obj)
}

// WaitPhase polls the operation until it is in one of phases, the
// timeout passes or ctx ends, and leaves it in obj.
func (s *Cluster) WaitPhase(ctx context.Context, obj v1.Operation, name string, timeout time.Duration, phases ...string) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		err := s.Operation(ctx, obj, name)
		if err == nil {
			last = obj.OperationStatus().Phase
			if slices.Contains(phases, last) {
				return nil
			}
		} else if !apierrors.IsNotFound(err) {
			return err
		}
		if time.Now().After(deadline) {
			msg := ""
			for _, c := range obj.GetConditions() {
				msg += fmt.Sprintf(" %s=%s %s: %s;", c.Type, c.Status, c.Reason, c.Message)
			}
			return fmt.Errorf("%s %s: phase %q after %s, want %s;%s", obj.GetObjectKind().GroupVersionKind().Kind, name, last, timeout, strings.Join(phases, "|"), msg)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Tasks lists the NodeTasks of the cluster.
func (s *Cluster) Tasks(ctx context.Context) ([]v1.NodeTask, error) {
	l := &v1.NodeTaskList{}
	if err := s.Client.List(ctx, l, client.InNamespace(s.Namespace)); err != nil {
		return nil, err
	}
	return l.Items, nil
}
