package agent

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	"github.com/nodewright/nodewright/agent/journal"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Run runs one agent until ctx is done: it builds a manager with
// ManagerOptions, adds the agent with Add and starts it. A nil scheme means
// client-go's types plus nodewright.io/v1alpha1. Run returns nil when ctx
// ends the agent, or the error that stopped it. Several agents may run in
// one process (one per simulated node), each with its own Run.
func Run(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if scheme == nil {
		if scheme, err = NewScheme(); err != nil {
			return err
		}
	}
	mgr, err := ctrl.NewManager(cfg, ManagerOptions(scheme, opts))
	if err != nil {
		return fmt.Errorf("agent for node %s: %w", opts.Node, err)
	}
	if err := Add(mgr, opts); err != nil {
		return err
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("agent for node %s: %w", opts.Node, err)
	}
	return nil
}

// NewScheme returns a scheme with client-go's types and
// nodewright.io/v1alpha1, which is what an agent needs.
func NewScheme() (*runtime.Scheme, error) {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := v1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return scheme, nil
}

// Add adds the agent for opts.Node to mgr: the NodeTask controller and the
// heartbeat. The manager should be built with ManagerOptions, so that its
// cache holds only this node's tasks; the controller also filters by label
// and namespace itself, so a wider cache costs memory, not correctness. The
// agent reads its NodewrightAgentStatus and re-reads each task it acts on
// through the manager's API reader, not the cache.
func Add(mgr manager.Manager, opts Options) error {
	opts, err := opts.withDefaults()
	if err != nil {
		return err
	}
	if opts.APIServer == "" {
		opts.APIServer = mgr.GetConfig().Host
	}
	hb := &heartbeat{
		client: mgr.GetClient(),
		reader: mgr.GetAPIReader(),
		opts:   opts,
		poke:   make(chan struct{}, 1),
	}
	r := &taskReconciler{
		client:    mgr.GetClient(),
		reader:    mgr.GetAPIReader(),
		opts:      opts,
		heartbeat: hb,
	}
	mine := predicate.NewPredicateFuncs(func(o client.Object) bool {
		return o.GetNamespace() == opts.Namespace && o.GetLabels()[v1.LabelNode] == opts.Node
	})
	err = ctrl.NewControllerManagedBy(mgr).
		Named("nodetask").
		For(&v1.NodeTask{}, builder.WithPredicates(mine)).
		Complete(r)
	if err != nil {
		return fmt.Errorf("agent for node %s: %w", opts.Node, err)
	}
	if opts.Journal != nil {
		// The agent reverts what a crashed or stopped run of it left past
		// its deadline (first at start), as the watchdog container does.
		wd := &journal.Watchdog{Journal: opts.Journal, Host: opts.Host.(journal.Host), By: journal.ByAgent,
			Log: mgr.GetLogger().WithName("journal")}
		if err := mgr.Add(manager.RunnableFunc(wd.Run)); err != nil {
			return fmt.Errorf("agent for node %s: %w", opts.Node, err)
		}
	}
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		hb.run(log.IntoContext(ctx, mgr.GetLogger().WithName("heartbeat")))
		return nil
	})); err != nil {
		return fmt.Errorf("agent for node %s: %w", opts.Node, err)
	}
	return nil
}
