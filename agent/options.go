package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/nodewright/nodewright/agent/drbd"
	"github.com/nodewright/nodewright/agent/journal"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// DefaultNamespace is where the reconciler creates NodeTasks unless told
// otherwise.
const DefaultNamespace = "nodewright-system"

// DefaultHeartbeatInterval is how often the agent updates its
// NodewrightAgentStatus unless Options.HeartbeatInterval says otherwise.
const DefaultHeartbeatInterval = 10 * time.Second

// GracefulShutdownTimeout is how long a stopping agent's manager waits for
// the task in flight and the last heartbeat after its context was
// cancelled. A task in flight returns at once (the restarted agent resumes
// it), except that a revert in progress is finished, for at most
// revertTimeout; the last heartbeat takes at most stopReportTimeout,
// meanwhile. So an agent stops within this bound, which stays under the 30 s
// a pod gets between SIGTERM and SIGKILL by default.
const GracefulShutdownTimeout = revertTimeout + stopReportTimeout

// Options configure one agent: the node it serves and the host it changes.
type Options struct {
	// Node is the node's Kubernetes name; the agent executes the NodeTasks
	// labelled nodewright.io/node=<Node> and names its
	// NodewrightAgentStatus after it. Required.
	Node string
	// Namespace is where the NodeTasks are (default nodewright-system).
	Namespace string
	// ID names this agent instance in a task's status.claimedBy (default:
	// Node). Keep it stable across restarts: a restarted agent resumes only
	// the tasks claimed under its own ID (so a pod name is a poor choice).
	// Two agents with different IDs may watch one node; each task is
	// claimed by exactly one of them.
	ID string
	// Host looks at and changes the node. Required.
	Host Host
	// HeartbeatInterval is how often the NodewrightAgentStatus is updated
	// (default 10s).
	HeartbeatInterval time.Duration
	// Clock returns the current time for deadlines and timestamps (default
	// time.Now). Waiting (probe timeouts, the dead-man switch) uses real
	// time for the durations the clock's readings give.
	Clock func() time.Time
	// Version is the agent's build, reported in the heartbeat (default
	// "unknown").
	Version string
	// APIServer is the target of the apiserver probe (default: the host of
	// the rest.Config the agent uses).
	APIServer string
	// ReconcilerUser is the reconciler's user name, as the API server
	// authenticates it (default: the ServiceAccount nodewright-reconciler
	// in Namespace). The agent runs a task only when the API server says
	// its attestation token belongs to this user.
	ReconcilerUser string
	// Journal, when set, is the node's journal: every change is recorded
	// there before it is made, a watchdog in the agent reverts entries
	// past their deadline (as `nodewright agent watchdog` does beside it),
	// and a restarted agent resumes from it. Host must then implement
	// journal.Host. A real node must have one; without it the agent's own
	// dead-man switch is the only revert.
	Journal *journal.Journal
	// DRBD reads the node's DRBD resources for the heartbeat. The default
	// is the Host's own reader when it implements DRBDReader (the
	// simulated host), else ReadDRBD: `drbdsetup status --json` on the
	// node. An error wrapping drbd.ErrNotInstalled reports DRBD
	// NotInstalled (no DRBD on the node, not a problem); any other error
	// reports Unavailable with the error.
	DRBD func(ctx context.Context) ([]drbd.Resource, error)
}

// ReadDRBD reads the node's DRBD by running drbdsetup (drbd.Read with
// drbd.Exec); a node without drbdsetup gets drbd.ErrNotInstalled.
func ReadDRBD(ctx context.Context) ([]drbd.Resource, error) {
	return drbd.Read(ctx, drbd.Exec)
}

// DefaultReconcilerServiceAccount is the reconciler's ServiceAccount
// unless Options.ReconcilerUser says otherwise.
const DefaultReconcilerServiceAccount = "nodewright-reconciler"

// withDefaults returns o with its defaults filled in, or an error naming
// the first option that is missing or bad.
func (o Options) withDefaults() (Options, error) {
	if o.Node == "" {
		return o, errors.New("agent: Options.Node is required")
	}
	if errs := validation.IsDNS1123Subdomain(o.Node); len(errs) > 0 {
		return o, fmt.Errorf("agent: Options.Node %q is not a node name: %s", o.Node, errs[0])
	}
	if o.Host == nil {
		return o, errors.New("agent: Options.Host is required")
	}
	if _, ok := o.Host.(journal.Host); o.Journal != nil && !ok {
		return o, fmt.Errorf("agent: Options.Host (%T) cannot snapshot and restore bonds, which Options.Journal needs", o.Host)
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.ID == "" {
		o.ID = o.Node
	}
	if o.ReconcilerUser == "" {
		o.ReconcilerUser = "system:serviceaccount:" + o.Namespace + ":" + DefaultReconcilerServiceAccount
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.HeartbeatInterval < 0 {
		return o, fmt.Errorf("agent: Options.HeartbeatInterval %s is negative", o.HeartbeatInterval)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Version == "" {
		o.Version = "unknown"
	}
	if o.DRBD == nil {
		if r, ok := o.Host.(DRBDReader); ok {
			o.DRBD = r.DRBD
		} else {
			o.DRBD = ReadDRBD
		}
	}
	return o, nil
}

// ManagerOptions returns the controller-runtime manager options an agent
// runs with: the cache holds only the NodeTasks of opts.Node in
// opts.Namespace, there is no metrics server, health probe or leader
// election (each node runs its own agent), and a stop waits at most
// GracefulShutdownTimeout. Controller name validation is
// off so that several agents, or a restarted one, can run in one process
// (a demo with one agent per simulated node, or tests).
func ManagerOptions(scheme *runtime.Scheme, opts Options) ctrl.Options {
	namespace := opts.Namespace
	if namespace == "" {
		namespace = DefaultNamespace
	}
	id := opts.ID
	if id == "" {
		id = opts.Node
	}
	skipNameValidation := true
	shutdown := GracefulShutdownTimeout
	return ctrl.Options{
		Scheme:                  scheme,
		GracefulShutdownTimeout: &shutdown,
		Logger:                  ctrl.Log.WithName("agent").WithValues("node", opts.Node, "agent", id),
		Cache: cache.Options{
			DefaultNamespaces: map[string]cache.Config{namespace: {}},
			ByObject: map[client.Object]cache.ByObject{
				&v1.NodeTask{}: {Label: labels.SelectorFromSet(labels.Set{v1.LabelNode: opts.Node})},
			},
		},
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		LeaderElection:         false,
		Controller:             config.Controller{SkipNameValidation: &skipNameValidation},
	}
}
