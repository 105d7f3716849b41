package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/nodewright/nodewright/agent"
	"github.com/nodewright/nodewright/agent/journal"
	"github.com/nodewright/nodewright/agent/linux"
	"github.com/nodewright/nodewright/agent/simhost"
	"github.com/nodewright/nodewright/reconciler/nodetask"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// The --host backends.
const (
	// hostSimulated keeps bonds in memory (demos, tests).
	hostSimulated = "simulated"
	// hostLinux changes the node's bonds through rtnetlink (agent/linux).
	hostLinux = "linux"
)

type agentOptions struct {
	node       string
	kubeconfig string
	namespace  string
	host       string
	simBonds   []string
	heartbeat  time.Duration
	reconciler string
	journal    string
}

func newAgentCommand() *cobra.Command {
	o := &agentOptions{}
	cmd := &cobra.Command{
		Use:   "agent --node NAME --host linux|simulated [--journal DIR] [--sim-bond bond0=active-backup ...] [--kubeconfig FILE] [--namespace nodewright-system] [--heartbeat 10s]",
		Short: "Run the node agent: carry out this node's NodeTasks and report its heartbeat",
		Long: `agent runs the node agent for one node. It watches the NodeTasks labelled
nodewright.io/node=<node> in the namespace, claims each one (so that exactly one
agent executes it), carries it out behind a dead-man switch and reports Succeeded,
Failed or Reverted with a message. A FlipBond task sets the bond's new mode, probes
the gateway, the API server and the peers, and puts the old mode back when a probe
fails or the success cannot be reported before revertAfter. The agent also keeps
the node's NodewrightAgentStatus (bonds with their link state, DRBD, heartbeat,
Ready). DRBD is read with "drbdsetup status --json" (--host linux; a node without
drbdsetup reports NotInstalled); the simulated host has none.

A task runs only when the reconciler wrote it: its nodewright.io/attestation
annotation must be a token that the API server (a TokenReview) says belongs to
--reconciler-service-account and was minted for this task's namespace, name and
spec, and the operation it names must exist and be in the phase that asks for
it. Anything else is refused (Failed, with the reason) and the node untouched.

--host simulated keeps the bonds in memory (give them with --sim-bond
NAME=MODE[:SLAVE,SLAVE...]; default bond0=active-backup) and changes no real
interface: it is for demos and tests. --host linux changes the node's real bonds
through rtnetlink (agent/linux): it plans each change by the kernel's rules before
touching anything, restores the bond's captured state (addresses and routes
included) when the change fails, and waits for LACP after a change to 802.3ad.

--journal names the node-local journal directory (required with --host linux; a
hostPath on a real node). Before its first change to a bond the agent writes the
bond's whole state, the task and the deadline there, fsynced, and it marks the
entry committed only after the probes passed and Succeeded was reported. Any
entry past its deadline is reverted from the journal, by the agent and by
"nodewright agent watchdog" (a second container of the agent's pod), which needs
neither the agent nor the API server. A restarted agent resumes from the journal:
a change it had made is probed again, never made twice; a change under way when
it stopped is undone.

The API server is reached through --kubeconfig, else $KUBECONFIG, the in-cluster
service account or ~/.kube/config.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.node, "node", "", "the Kubernetes name of the node this agent serves (required)")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)")
	f.StringVar(&o.namespace, "namespace", agent.DefaultNamespace, "namespace of the NodeTasks")
	f.StringVar(&o.host, "host", "", `host backend (required): "linux" (rtnetlink, needs CAP_NET_ADMIN in the node's network namespace) or "simulated"`)
	f.StringArrayVar(&o.simBonds, "sim-bond", nil, "a bond of the simulated host, NAME=MODE[:SLAVE,SLAVE...]; repeatable (default bond0=active-backup)")
	f.StringVar(&o.reconciler, "reconciler-service-account", agent.DefaultReconcilerServiceAccount, "the reconciler's ServiceAccount in --namespace: a task runs only when the API server says this account attested it")
	f.DurationVar(&o.heartbeat, "heartbeat", agent.DefaultHeartbeatInterval, "how often to update the NodewrightAgentStatus")
	f.StringVar(&o.journal, "journal", "", "the node-local journal directory (required with --host linux); the watchdog reads the same one")
	cmd.AddCommand(newWatchdogCommand())
	return cmd
}

func (o *agentOptions) run(ctx context.Context, stderr io.Writer) error {
	opts, err := o.options()
	if err != nil {
		return err
	}
	cfg, err := o.restConfig()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// main cancels ctx on SIGINT or SIGTERM; the agent then stops within
	// its manager's graceful shutdown timeout.
	ctrl.SetLogger(logr.FromSlogHandler(slog.NewTextHandler(stderr, nil)))
	if err := agent.Run(ctx, cfg, nil, opts); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return nil
}

// options checks the flags and builds the agent's options.
func (o *agentOptions) options() (agent.Options, error) {
	switch {
	case o.node == "":
		return agent.Options{}, usageError("--node is required")
	case len(validation.IsDNS1123Subdomain(o.node)) > 0:
		return agent.Options{}, usageError("--node %q is not a Kubernetes node name (lowercase letters, digits, '-' and '.')", o.node)
	case o.host == "":
		return agent.Options{}, usageError(`--host is required: "linux" (the node's bonds, through rtnetlink) or "simulated"`)
	case o.host != hostSimulated && o.host != hostLinux:
		return agent.Options{}, usageError(`--host %q: want "linux" or "simulated"`, o.host)
	case o.host == hostLinux && len(o.simBonds) > 0:
		return agent.Options{}, usageError("--sim-bond is for --host simulated only")
	case o.heartbeat <= 0:
		return agent.Options{}, usageError("--heartbeat %s must be positive", o.heartbeat)
	case len(validation.IsDNS1123Label(o.namespace)) > 0:
		return agent.Options{}, usageError("--namespace %q is not a namespace name", o.namespace)
	case len(validation.IsDNS1123Subdomain(o.reconciler)) > 0:
		return agent.Options{}, usageError("--reconciler-service-account %q is not a ServiceAccount name", o.reconciler)
	case o.host == hostLinux && o.journal == "":
		return agent.Options{}, usageError("--journal is required with --host linux: a real node's changes are journalled so that the watchdog can revert them without the agent")
	}
	opts := agent.Options{
		Node:              o.node,
		Namespace:         o.namespace,
		HeartbeatInterval: o.heartbeat,
		Version:           version,
		ReconcilerUser:    nodetask.ServiceAccountUser(o.namespace, o.reconciler),
	}
	if o.journal != "" {
		j, err := journal.Open(o.journal, nil)
		if err != nil {
			return agent.Options{}, usageError("--journal: %v", err)
		}
		opts.Journal = j
	}
	if o.host == hostLinux {
		h, err := linux.New(linux.Options{})
		if err != nil {
			return agent.Options{}, err
		}
		opts.Host = h
		opts.DRBD = agent.ReadDRBD // the node's own drbdsetup
		return opts, nil
	}
	specs := o.simBonds
	if len(specs) == 0 {
		specs = []string{"bond0=" + string(v1.BondActiveBackup)}
	}
	var bonds []v1.Bond
	for _, s := range specs {
		b, err := parseSimBond(s)
		if err != nil {
			return agent.Options{}, err
		}
		if slices.ContainsFunc(bonds, func(x v1.Bond) bool { return x.Name == b.Name }) {
			return agent.Options{}, usageError("--sim-bond %s: bond %s is given twice", s, b.Name)
		}
		bonds = append(bonds, b)
	}
	opts.Host = simhost.New(bonds...)
	return opts, nil
}

// simBondName is what Linux accepts as an interface name.
var simBondName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,15}$`)

// parseSimBond reads NAME=MODE[:SLAVE,SLAVE...].
func parseSimBond(s string) (v1.Bond, error) {
	name, rest, ok := strings.Cut(s, "=")
	if !ok {
		return v1.Bond{}, usageError("--sim-bond %q: want NAME=MODE[:SLAVE,SLAVE...], e.g. bond0=active-backup", s)
	}
	mode, slaves, _ := strings.Cut(rest, ":")
	b := v1.Bond{Name: name, Mode: v1.BondMode(mode)}
	if !simBondName.MatchString(name) {
		return v1.Bond{}, usageError("--sim-bond %q: %q is not an interface name", s, name)
	}
	if !slices.Contains(v1.BondModes, b.Mode) {
		names := make([]string, len(v1.BondModes))
		for i, m := range v1.BondModes {
			names[i] = string(m)
		}
		return v1.Bond{}, usageError("--sim-bond %q: %q is not a bond mode (one of %s)", s, mode, strings.Join(names, ", "))
	}
	for sl := range strings.SplitSeq(slaves, ",") {
		if sl = strings.TrimSpace(sl); sl != "" {
			b.Slaves = append(b.Slaves, sl)
		}
	}
	return b, nil
}

// restConfig loads the API server connection from --kubeconfig, or the way
// controller-runtime finds it without one.
func (o *agentOptions) restConfig() (*rest.Config, error) {
	var (
		cfg *rest.Config
		err error
	)
	if o.kubeconfig != "" {
		cfg, err = clientcmd.BuildConfigFromFlags("", o.kubeconfig)
	} else {
		cfg, err = ctrl.GetConfig()
	}
	if err != nil {
		return nil, usageError("no API server to reach: %v", err)
	}
	cfg.UserAgent = fmt.Sprintf("nodewright-agent/%s (node %s)", version, o.node)
	return cfg, nil
}
