package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/config/crd"
	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/schema/example"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/envtest"
	"github.com/nodewright/nodewright/test/fleet"
	"github.com/nodewright/nodewright/test/harness"
	"github.com/nodewright/nodewright/test/stack"
)

// demoNamespace is where the demo cluster's Nodewright objects live.
const demoNamespace = "nodewright-system"

// cluster is the demo's second act: a real API server, the reconciler and
// an agent per simulated node carry out the bond flip the fleet approves.
// With hold it returns only when the demo's context is cancelled; runDemo
// then stops everything.
func (d *demo) cluster(hold bool) {
	ctx := d.ctx
	d.heading("A cluster: kube-apiserver and etcd, the reconciler, and an agent per simulated node")
	ctrl.SetLogger(logr.Discard()) // the demo narrates; the managers' logs would drown it
	crdDir := filepath.Join(d.base, "crds")
	if err := os.MkdirAll(crdDir, 0o755); err != nil {
		d.tb.Fatalf("%v", err)
	}
	names, docs := crd.Files()
	for i, name := range names {
		if err := os.WriteFile(filepath.Join(crdDir, filepath.Base(name)), docs[i], 0o644); err != nil {
			d.tb.Fatalf("%v", err)
		}
	}
	env, stop, err := envtest.StartForMain(crdDir)
	if err != nil {
		d.tb.Fatalf("%v", err)
	}
	d.tb.Cleanup(stop)
	kubeconfig := filepath.Join(d.base, "kubeconfig")
	if err := env.WriteKubeconfig(kubeconfig); err != nil {
		d.tb.Fatalf("%v", err)
	}
	d.say("   kube-apiserver and etcd (from %s) serve %s", env.AssetsDir, env.Config.Host)

	f := fleet.New(d.tb, fleet.Options{AnyTime: true})
	d.say("   a new fleet repository at %s: alice (OpenPGP) and bob (SSH) commit, carol (SSH) approves", f.URL)
	d.say("   (its maintenance window is opened all week, so the demo runs whenever you start it)")
	profile, err := f.Profile()
	if err != nil {
		d.tb.Fatalf("%v", err)
	}
	// The cluster's own key signs its status commits; the fleet lists it.
	clusterKey := harness.NewSSHKey(d.tb, fleet.Site)
	f.Work.Write(".nodewright/clusters.yaml", fmt.Sprintf("apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\nclusters:\n  - name: %s\n    site: %s\n    keys:\n      - ssh: %q\n", fleet.Site, fleet.Site, clusterKey.AuthorizedKey))
	d.commit(f.Work, "List cluster edge-001's status key", f.Alice)
	f.Push()
	keyData, err := os.ReadFile(clusterKey.PrivatePath)
	if err != nil {
		d.tb.Fatalf("%v", err)
	}
	signer, err := statusbranch.ParseSigningKey(keyData)
	if err != nil {
		d.tb.Fatalf("%v", err)
	}
	writer := &statusbranch.Writer{URL: f.URL, Cluster: fleet.Site, Signer: signer, QueueDir: filepath.Join(d.base, "status-queue")}
	d.tb.Cleanup(func() { _ = writer.Close() })
	vms := memory.VMsFromProfile(profile, "apps", 2)
	storage := memory.StorageFromProfile(profile, 4)
	s, err := stack.New(d.tb, env.Config, stack.Options{Namespace: demoNamespace, Cluster: fleet.Site, Fleet: f, VMs: vms, Storage: storage, Heartbeat: time.Second})
	if err != nil {
		d.tb.Fatalf("%v", err)
	}
	if _, err := s.StartReconciler(func(o *reconciler.Options) { o.Publisher, o.ReportInterval = writer, time.Second }); err != nil {
		d.tb.Fatalf("%v", err)
	}
	d.say("   nodes %s, each with bond0 in active-backup, an agent on a simulated host and 2 VMs", strings.Join(fleet.Nodes, ", "))
	d.say("   (LINSTOR and KubeVirt are in-memory stand-ins: their real backends come later)")
	d.say("   the reconciler follows FleetSource %s/fleet for site %s and writes its status and audit", demoNamespace, fleet.Site)
	d.say("   records back to the branch nodewright/status, signed with the cluster's own SSH key")

	d.heading("A pull request adds the bond flip and is merged")
	f.Work.Git("checkout", "-q", "-b", "bond-flip")
	f.Work.Write(fleet.BondFlip, string(fleetExample(fleet.BondFlip)))
	d.commit(f.Work, "Plan: move bond0 to LACP on all three nodes", f.Bob)
	f.Work.Git("checkout", "-q", "main")
	f.Work.Merge("bond-flip", f.Alice)
	d.say("   %s %-9s Merge the bond flip", f.Work.Head()[:12], "openpgp")
	f.Push()
	d.kick(ctx, s)
	w := &transitionPrinter{d: d, s: s, name: "bond0-to-lacp"}
	w.until(ctx, "AwaitingApproval")
	plan := &v1.BondModeFlipPlan{}
	d.get(ctx, s, plan)
	d.say("   approvals: %s", plan.Annotations[v1.AnnotationApprovals])

	d.heading("Approvals land: alice with gpg, carol with an SSH key, through nodewright approve")
	d.approve(f.Work, f.Alice, fleet.BondFlip)
	f.Push()
	d.kick(ctx, s)
	d.waitApprovals(ctx, s, "needs 1 more")
	d.approve(f.Work, f.Carol, fleet.BondFlip)
	f.Push()
	d.kick(ctx, s)

	d.heading("The reconciler flips one node at a time through the agents; every transition is audited")
	w.until(ctx, "Succeeded", "Halted")

	d.heading("The result")
	d.get(ctx, s, plan)
	d.say("   $ kubectl get bondmodeflipplans -n %s", demoNamespace)
	d.say("   %-15s %-6s %-8s %s", "NAME", "BOND", "TO", "PHASE")
	d.say("   %-15s %-6s %-8s %s", plan.Name, plan.Spec.Bond, plan.Spec.ToMode, plan.Status.Phase)
	for _, n := range fleet.Nodes {
		mode, _ := s.Hosts[n].Mode("bond0")
		d.say("   %s: bond0 runs %s (%d change on the host)", n, mode, len(s.Hosts[n].Journal()))
	}
	nc := &v1.NodewrightCluster{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: fleet.Site}, nc); err != nil {
		d.tb.Fatalf("%v", err)
	}
	if err := audit.Verify(nc.Audit.Recent); err != nil {
		d.tb.Fatalf("audit chain: %v", err)
	}
	d.say("   audit chain: %d records, unbroken, head %s", nc.Audit.Seq, nc.Audit.Hash[:16])
	if plan.Status.Phase != "Succeeded" {
		d.tb.Fatalf("the bond flip ended in %s", plan.Status.Phase)
	}

	d.heading("The fleet's view, from the status branch alone: fleet status, audit verify, dashboard")
	d.waitStatus(ctx, f.URL, "Succeeded")
	d.expect(d.nodewright("fleet", "status", "--repo", f.URL), exitOK)
	d.expect(d.nodewright("audit", "verify", "--repo", f.URL), exitOK)
	d.expect(d.nodewright("audit", "log", "--repo", f.URL, "--operation", "BondModeFlipPlan/bond0-to-lacp"), exitOK)
	dash := filepath.Join(d.base, "dashboard")
	d.expect(d.nodewright("fleet", "dashboard", "--repo", f.URL, "--out", dash), exitOK)
	d.bundles(f, clusterKey)
	if hold {
		d.say("\nThe dashboard is %s.", filepath.Join(dash, "index.html"))
		d.say("The cluster keeps running. In another terminal:")
		d.say("   kubectl --kubeconfig %s get bondmodeflipplans,nodetasks -n %s", kubeconfig, demoNamespace)
		d.say("%s", demoHolding)
		<-ctx.Done()
	}
}

func fleetExample(path string) []byte { return example.Files()[path] }

func (d *demo) kick(ctx context.Context, s *stack.Stack) {
	if err := s.Kick(ctx); err != nil {
		d.tb.Fatalf("%v", err)
	}
	d.say("   (pushed; the FleetSource is asked to fetch now instead of at its next interval)")
}

func (d *demo) get(ctx context.Context, s *stack.Stack, plan *v1.BondModeFlipPlan) {
	if err := s.Operation(ctx, plan, "bond0-to-lacp"); err != nil {
		d.tb.Fatalf("%v", err)
	}
}

// waitApprovals waits until the applied operation's approvals say want.
func (d *demo) waitApprovals(ctx context.Context, s *stack.Stack, want string) {
	deadline := time.Now().Add(time.Minute)
	plan := &v1.BondModeFlipPlan{}
	for time.Now().Before(deadline) {
		if err := s.Operation(ctx, plan, "bond0-to-lacp"); err == nil && strings.Contains(plan.Annotations[v1.AnnotationApprovals], want) {
			d.say("   approvals: %s", plan.Annotations[v1.AnnotationApprovals])
			return
		}
		d.pause(50 * time.Millisecond) // polling the API server
	}
	d.tb.Fatalf("approvals never reached %q", want)
}

// bundles carries the fleet to an air-gapped site and the cluster's
// status back to the hub, as signed git bundles.
func (d *demo) bundles(f *fleet.Fleet, clusterKey *harness.SSHKey) {
	d.heading("Across an air gap: the fleet to a site and its status back, as signed git bundles")
	dir := filepath.Join(d.base, "bundles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		d.tb.Fatalf("%v", err)
	}
	root := filepath.Join(dir, "trust-root.yaml")
	if err := os.WriteFile(root, f.RootYAML(), 0o644); err != nil {
		d.tb.Fatalf("%v", err)
	}
	fleetBundle := filepath.Join(dir, "fleet-1.bundle")
	d.expect(d.nodewright("bundle", "create", "--repo", f.Work.Dir, "--out", fleetBundle, "--sign-key", f.Bob.PrivatePath), exitOK)
	site := filepath.Join(dir, "site-state")
	d.expect(d.nodewright("bundle", "import", fleetBundle, "--into", site, "--trust-root", root), exitOK)
	d.say("   The same bundle again is a replay:")
	d.expect(d.nodewright("bundle", "import", fleetBundle, "--into", site, "--trust-root", root), exitRefused)

	d.say("   The cluster's status comes back the same way; the hub keeps only its directory:")
	siteRepo := filepath.Join(dir, "site-status.git")
	f.Work.Git("clone", "-q", "--bare", "--single-branch", "--branch", "nodewright/status", f.URL, siteRepo)
	statusBundle := filepath.Join(dir, "status-1.bundle")
	d.expect(d.nodewright("bundle", "create", "--status", "--cluster", fleet.Site, "--repo", siteRepo, "--out", statusBundle, "--sign-key", clusterKey.PrivatePath), exitOK)
	hub := filepath.Join(dir, "hub.git")
	f.Work.Git("clone", "-q", "--bare", "--single-branch", "--branch", "main", f.URL, hub)
	d.expect(d.nodewright("bundle", "import", "--status", statusBundle, "--into", hub), exitOK)
	d.expect(d.nodewright("audit", "verify", "--repo", hub), exitOK)
}

// waitStatus waits until the status branch reports every operation of
// the cluster as phase: the reconciler publishes after every transition.
func (d *demo) waitStatus(ctx context.Context, url, phase string) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if done(ctx, url, phase) {
			return
		}
		d.pause(200 * time.Millisecond) // polling the status branch
	}
	d.tb.Fatalf("the status branch did not report %s within a minute", phase)
}

func done(ctx context.Context, url, phase string) bool {
	repo, err := view.Open(ctx, view.Source{Repo: url})
	if err != nil {
		return false
	}
	defer repo.Close()
	f, err := view.Load(repo, view.Options{})
	if err != nil || len(f.Clusters) == 0 {
		return false
	}
	for _, c := range f.Clusters {
		if len(c.Operations) == 0 {
			return false
		}
		for _, op := range c.Operations {
			if op.Phase != phase {
				return false
			}
		}
	}
	return true
}

// transitionPrinter prints an operation's audit records as they appear.
type transitionPrinter struct {
	d    *demo
	s    *stack.Stack
	name string
	seen int64
}

// until prints transitions until the operation is in one of phases.
func (w *transitionPrinter) until(ctx context.Context, phases ...string) {
	deadline := time.Now().Add(2 * time.Minute)
	plan := &v1.BondModeFlipPlan{}
	for time.Now().Before(deadline) {
		if err := w.s.Operation(ctx, plan, w.name); err == nil {
			for _, r := range plan.Status.Audit {
				if r.Seq <= w.seen {
					continue
				}
				w.seen = r.Seq
				from := r.From
				if from == "" {
					from = "(new)"
				}
				w.d.say("   %s  #%-3d %-16s → %-16s %s: %s", r.Time.Local().Format("15:04:05"), r.Seq, from, r.To, r.Reason, r.Message)
			}
			if slices.Contains(phases, plan.Status.Phase) {
				return
			}
		}
		w.d.pause(50 * time.Millisecond) // polling the API server
	}
	w.d.tb.Fatalf("%s did not reach %s within 2 minutes", w.name, strings.Join(phases, " or "))
}
