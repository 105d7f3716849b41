package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/nodewright/nodewright/config/crd"
	"github.com/nodewright/nodewright/fleet/statusbranch"
	"github.com/nodewright/nodewright/fleet/view"
	"github.com/nodewright/nodewright/internal/sandbox"
	"github.com/nodewright/nodewright/internal/sandbox/cluster"
	"github.com/nodewright/nodewright/internal/sandbox/controlplane"
	"github.com/nodewright/nodewright/internal/sandbox/samplefleet"
	"github.com/nodewright/nodewright/reconciler"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/reconciler/backend/memory"
	"github.com/nodewright/nodewright/schema/example"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// demoNamespace is where the demo cluster's Nodewright objects live.
const demoNamespace = "nodewright-system"

// demoPlan is the bond flip the demo cluster carries out.
const demoPlan = "bond0-to-lacp"

// cluster is the demo's second act: a real API server, the reconciler and
// an agent per simulated node carry out the bond flip the fleet approves.
// With hold it returns only when the demo's context is cancelled; runDemo
// then stops everything.
func (d *demo) cluster(hold bool) error {
	ctx := d.ctx
	d.heading("A cluster: kube-apiserver and etcd, the reconciler, and an agent per simulated node")
	ctrl.SetLogger(logr.Discard()) // the demo narrates; the managers' logs would drown it
	crds, err := crd.Objects()
	if err != nil {
		return err
	}
	cp, err := controlplane.Start(controlplane.Options{CRDs: crds})
	if err != nil {
		return err
	}
	d.onClose(cp.Stop)
	kubeconfig := filepath.Join(d.base, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	d.say("   kube-apiserver and etcd (from %s) serve %s", cp.AssetsDir, cp.Config.Host)

	f, err := samplefleet.New(filepath.Join(d.base, "fleet"), samplefleet.Options{AnyTime: true})
	if err != nil {
		return err
	}
	d.onClose(f.Close)
	d.say("   a new fleet repository at %s: alice (OpenPGP) and bob (SSH) commit, carol (SSH) approves", f.URL)
	d.say("   (its maintenance window is opened all week, so the demo runs whenever you start it)")
	profile, err := f.Profile()
	if err != nil {
		return err
	}
	// The cluster's own key signs its status commits; the fleet lists it.
	clusterKey, err := sandbox.NewSSHKey(filepath.Join(d.base, "ssh-"+samplefleet.Site), samplefleet.Site)
	if err != nil {
		return err
	}
	if err := f.Work.Write(".nodewright/clusters.yaml", fmt.Sprintf("apiVersion: nodewright.io/v1alpha1\nkind: ClusterKeys\nclusters:\n  - name: %s\n    site: %s\n    keys:\n      - ssh: %q\n", samplefleet.Site, samplefleet.Site, clusterKey.AuthorizedKey)); err != nil {
		return err
	}
	if err := d.commit(f.Work, "List cluster edge-001's status key", f.Alice); err != nil {
		return err
	}
	if err := f.Push(); err != nil {
		return err
	}
	keyData, err := os.ReadFile(clusterKey.PrivatePath)
	if err != nil {
		return err
	}
	signer, err := statusbranch.ParseSigningKey(keyData)
	if err != nil {
		return err
	}
	writer := &statusbranch.Writer{URL: f.URL, Cluster: samplefleet.Site, Signer: signer, QueueDir: filepath.Join(d.base, "status-queue")}
	d.onClose(writer.Close)
	s, err := cluster.New(cp.Config, cluster.Options{
		Namespace: demoNamespace, Name: samplefleet.Site, Site: samplefleet.Site, Repo: f.URL, TrustRoot: f.RootYAML(), Dir: filepath.Join(d.base, "cluster"),
		VMs: memory.VMsFromProfile(profile, "apps", 2), Storage: memory.StorageFromProfile(profile, 4), Nodes: samplefleet.Nodes, Heartbeat: time.Second,
		OnAgentError: func(node string, err error) { d.say("   agent %s stopped: %v", node, err) },
	})
	if err != nil {
		return err
	}
	d.onClose(func() error { s.Close(); return nil })
	if _, err := s.StartReconciler(func(o *reconciler.Options) { o.Publisher, o.ReportInterval = writer, time.Second }); err != nil {
		return err
	}
	d.say("   nodes %s, each with bond0 in active-backup, an agent on a simulated host and 2 VMs", strings.Join(samplefleet.Nodes, ", "))
	d.say("   (LINSTOR and KubeVirt are in-memory stand-ins: their real backends come later)")
	d.say("   the reconciler follows FleetSource %s/%s for site %s and writes its status and audit", demoNamespace, cluster.FleetSourceName, samplefleet.Site)
	d.say("   records back to the branch nodewright/status, signed with the cluster's own SSH key")
	d.say("   the reconciler runs as ServiceAccount %s, the agents as %s; its admission", cluster.ReconcilerServiceAccount, cluster.AgentServiceAccount)
	d.say("   webhook refuses writes of intent by anyone else")

	if err := d.flip(ctx, s, f); err != nil {
		return err
	}

	d.heading("The fleet's view, from the status branch alone: fleet status, audit verify, dashboard")
	if err := d.waitStatus(ctx, f.URL, "Succeeded"); err != nil {
		return err
	}
	dash := filepath.Join(d.base, "dashboard")
	for _, args := range [][]string{
		{"fleet", "status", "--repo", f.URL},
		{"audit", "verify", "--repo", f.URL},
		{"audit", "log", "--repo", f.URL, "--operation", "BondModeFlipPlan/" + demoPlan},
		{"fleet", "dashboard", "--repo", f.URL, "--out", dash},
	} {
		if err := d.expect(exitOK, args...); err != nil {
			return err
		}
	}
	if err := d.bundles(f, clusterKey); err != nil {
		return err
	}
	if hold {
		d.say("\nThe dashboard is %s.", filepath.Join(dash, "index.html"))
		d.say("The cluster keeps running. In another terminal:")
		d.say("   kubectl --kubeconfig %s get bondmodeflipplans,nodetasks -n %s", kubeconfig, demoNamespace)
		d.say("%s", demoHolding)
		<-ctx.Done()
	}
	return nil
}

// flip is the story of the bond flip: a merged pull request, two
// approvals, and the reconciler's walk through the phases.
func (d *demo) flip(ctx context.Context, s *cluster.Cluster, f *samplefleet.Fleet) error {
	d.heading("A pull request adds the bond flip and is merged")
	if _, err := f.Work.Git("checkout", "-q", "-b", "bond-flip"); err != nil {
		return err
	}
	if err := f.Work.Write(samplefleet.BondFlip, string(example.Files()[samplefleet.BondFlip])); err != nil {
		return err
	}
	if err := d.commit(f.Work, "Plan: move bond0 to LACP on all three nodes", f.Bob); err != nil {
		return err
	}
	if _, err := f.Work.Git("checkout", "-q", "main"); err != nil {
		return err
	}
	merge, err := f.Work.Merge("bond-flip", f.Alice)
	if err != nil {
		return err
	}
	d.say("   %s %-9s Merge the bond flip", merge[:12], "openpgp")
	if err := d.push(ctx, s, f); err != nil {
		return err
	}
	w := &transitionPrinter{d: d, s: s, name: demoPlan}
	if err := w.until(ctx, "AwaitingApproval"); err != nil {
		return err
	}
	plan := &v1.BondModeFlipPlan{}
	if err := s.Operation(ctx, plan, demoPlan); err != nil {
		return err
	}
	d.say("   approvals: %s", plan.Annotations[v1.AnnotationApprovals])

	d.heading("Approvals land: alice with gpg, carol with an SSH key, through nodewright approve")
	if err := d.approve(f.Work, f.Alice, samplefleet.BondFlip); err != nil {
		return err
	}
	if err := d.push(ctx, s, f); err != nil {
		return err
	}
	if err := d.waitApprovals(ctx, s, "needs 1 more"); err != nil {
		return err
	}
	if err := d.approve(f.Work, f.Carol, samplefleet.BondFlip); err != nil {
		return err
	}
	if err := d.push(ctx, s, f); err != nil {
		return err
	}

	d.heading("The reconciler flips one node at a time through the agents; every transition is audited")
	if err := w.until(ctx, "Succeeded", "Halted"); err != nil {
		return err
	}

	d.heading("The result")
	if err := s.Operation(ctx, plan, demoPlan); err != nil {
		return err
	}
	d.say("   $ kubectl get bondmodeflipplans -n %s", demoNamespace)
	d.say("   %-15s %-6s %-8s %s", "NAME", "BOND", "TO", "PHASE")
	d.say("   %-15s %-6s %-8s %s", plan.Name, plan.Spec.Bond, plan.Spec.ToMode, plan.Status.Phase)
	for _, n := range samplefleet.Nodes {
		mode, _ := s.Hosts[n].Mode("bond0")
		d.say("   %s: bond0 runs %s (%d change on the host)", n, mode, len(s.Hosts[n].Journal()))
	}
	nc := &v1.NodewrightCluster{}
	if err := s.Client.Get(ctx, client.ObjectKey{Name: samplefleet.Site}, nc); err != nil {
		return err
	}
	if err := audit.Verify(nc.Audit.Recent); err != nil {
		return fmt.Errorf("audit chain: %w", err)
	}
	d.say("   audit chain: %d records, unbroken, head %s", nc.Audit.Seq, nc.Audit.Hash[:16])
	if plan.Status.Phase != "Succeeded" {
		return fmt.Errorf("the bond flip ended in %s", plan.Status.Phase)
	}
	return d.bypass(ctx, s, plan)
}

// bypass shows that intent written past git is refused: a cluster-admin's
// edit of the plan and a NodeTask written by hand.
func (d *demo) bypass(ctx context.Context, s *cluster.Cluster, plan *v1.BondModeFlipPlan) error {
	d.heading("Writes that skip git are refused, even from a cluster-admin")
	admin, err := client.New(cluster.PersonConfig(s.Config, "jane@example.org"), client.Options{Scheme: s.Client.Scheme()})
	if err != nil {
		return err
	}
	edited := plan.DeepCopy()
	edited.Spec.ToMode = v1.BondBalanceRR
	d.say("   $ kubectl edit bondmodeflipplan %s   (as jane@example.org, cluster-admin: toMode balance-rr)", plan.Name)
	err = admin.Update(ctx, edited)
	if err := expectRefused(err); err != nil {
		return err
	}
	d.say("   %s", webhookRefusal(err))
	task := &v1.NodeTask{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.Namespace, Name: "by-hand", Labels: map[string]string{v1.LabelNode: samplefleet.Nodes[0]}},
		Spec: v1.NodeTaskSpec{NodeName: samplefleet.Nodes[0], Operation: v1.OperationReference{Kind: v1.KindBondModeFlipPlan, Name: plan.Name},
			Action: v1.ActionFlipBond, Params: map[string]string{v1.ParamBond: "bond0"}, Deadline: metav1.NewTime(time.Now().Add(time.Hour).UTC().Truncate(time.Second))},
	}
	d.say("   $ kubectl create -f nodetask.yaml   (as jane@example.org: a FlipBond for %s)", samplefleet.Nodes[0])
	err = admin.Create(ctx, task)
	if err := expectRefused(err); err != nil {
		return err
	}
	d.say("   %s", webhookRefusal(err))
	d.say("   (with the webhook off, the operation controller halts an operation not from the source")
	d.say("   with NotFromSource, and an agent runs no NodeTask the API server does not vouch for)")
	return nil
}

// expectRefused returns an error unless err is the API server's refusal.
func expectRefused(err error) error {
	if err == nil {
		return errors.New("the API server accepted a write that skips git")
	}
	if !apierrors.IsForbidden(err) {
		return err
	}
	return nil
}

// webhookRefusal is the webhook's message without the API server's prefix.
func webhookRefusal(err error) string {
	msg := err.Error()
	if _, after, ok := strings.Cut(msg, "denied the request: "); ok {
		return "refused: " + after
	}
	return msg
}

// push publishes the fleet and asks the FleetSource to fetch at once.
func (d *demo) push(ctx context.Context, s *cluster.Cluster, f *samplefleet.Fleet) error {
	if err := f.Push(); err != nil {
		return err
	}
	if err := s.Kick(ctx); err != nil {
		return err
	}
	d.say("   (pushed; the FleetSource is asked to fetch now instead of at its next interval)")
	return nil
}

// waitApprovals waits until the applied operation's approvals say want.
func (d *demo) waitApprovals(ctx context.Context, s *cluster.Cluster, want string) error {
	deadline := time.Now().Add(time.Minute)
	plan := &v1.BondModeFlipPlan{}
	for time.Now().Before(deadline) {
		if err := s.Operation(ctx, plan, demoPlan); err == nil && strings.Contains(plan.Annotations[v1.AnnotationApprovals], want) {
			d.say("   approvals: %s", plan.Annotations[v1.AnnotationApprovals])
			return nil
		}
		if err := d.pause(50 * time.Millisecond); err != nil { // polling the API server
			return err
		}
	}
	return fmt.Errorf("approvals never reached %q", want)
}

// bundles carries the fleet to an air-gapped site and the cluster's
// status back to the hub, as signed git bundles.
func (d *demo) bundles(f *samplefleet.Fleet, clusterKey *sandbox.SSHKey) error {
	d.heading("Across an air gap: the fleet to a site and its status back, as signed git bundles")
	dir := filepath.Join(d.base, "bundles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	root := filepath.Join(dir, "trust-root.yaml")
	if err := os.WriteFile(root, f.RootYAML(), 0o644); err != nil {
		return err
	}
	fleetBundle := filepath.Join(dir, "fleet-1.bundle")
	site := filepath.Join(dir, "site-state")
	if err := d.expect(exitOK, "bundle", "create", "--repo", f.Work.Dir, "--out", fleetBundle, "--sign-key", f.Bob.PrivatePath); err != nil {
		return err
	}
	if err := d.expect(exitOK, "bundle", "import", fleetBundle, "--into", site, "--trust-root", root); err != nil {
		return err
	}
	d.say("   The same bundle again is a replay:")
	if err := d.expect(exitRefused, "bundle", "import", fleetBundle, "--into", site, "--trust-root", root); err != nil {
		return err
	}

	d.say("   The cluster's status comes back the same way; the hub keeps only its directory:")
	siteRepo := filepath.Join(dir, "site-status.git")
	if _, err := f.Work.Git("clone", "-q", "--bare", "--single-branch", "--branch", "nodewright/status", f.URL, siteRepo); err != nil {
		return err
	}
	statusBundle := filepath.Join(dir, "status-1.bundle")
	if err := d.expect(exitOK, "bundle", "create", "--status", "--cluster", samplefleet.Site, "--repo", siteRepo, "--out", statusBundle, "--sign-key", clusterKey.PrivatePath); err != nil {
		return err
	}
	hub := filepath.Join(dir, "hub.git")
	if _, err := f.Work.Git("clone", "-q", "--bare", "--single-branch", "--branch", "main", f.URL, hub); err != nil {
		return err
	}
	if err := d.expect(exitOK, "bundle", "import", "--status", statusBundle, "--into", hub); err != nil {
		return err
	}
	return d.expect(exitOK, "audit", "verify", "--repo", hub)
}

// waitStatus waits until the status branch reports every operation of
// the cluster as phase: the reconciler publishes after every transition.
func (d *demo) waitStatus(ctx context.Context, url, phase string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if done(ctx, url, phase) {
			return nil
		}
		if err := d.pause(200 * time.Millisecond); err != nil { // polling the status branch
			return err
		}
	}
	return fmt.Errorf("the status branch did not report %s within a minute", phase)
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
	s    *cluster.Cluster
	name string
	seen int64
}

// until prints transitions until the operation is in one of phases.
func (w *transitionPrinter) until(ctx context.Context, phases ...string) error {
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
				return nil
			}
		}
		if err := w.d.pause(50 * time.Millisecond); err != nil { // polling the API server
			return err
		}
	}
	return fmt.Errorf("%s did not reach %s within 2 minutes", w.name, strings.Join(phases, " or "))
}
