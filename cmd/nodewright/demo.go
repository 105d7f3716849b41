package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/render"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/test/harness"
)

func newDemoCommand() *cobra.Command {
	var keep, hold bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The whole story on embedded defaults: a signed fleet, its verifier, and a cluster flipping a bond",
		Long: `demo needs git, gpg and ssh-keygen, and kube-apiserver and etcd in $KUBEBUILDER_ASSETS
(or bin/k8s; "make demo" builds them). It makes throwaway keys, builds a sample fleet
repository (two sites, one operation of each kind) with signed commits, serves it over
smart HTTP with git http-backend on loopback, lints it (catching a deliberate typo), and
runs "nodewright verify" and "nodewright plan" against it: accepting the history,
gating a bond flip on two approvals, then refusing a rollback, an unsigned commit and an
untrusted key.

Then it starts a cluster: kube-apiserver and etcd, the reconciler, and an agent per
simulated node. A pull request adds a bond flip; after two approvals the reconciler
walks it through its phases to Succeeded, printing each transition as it happens.
Everything lives in temporary folders, and kube-apiserver, etcd, the git server
and the gpg agents are stopped and their folders removed when the demo ends, fails,
or is stopped with Ctrl-C (SIGINT) or SIGTERM; with --hold the cluster keeps running
(and its kubeconfig stays) until Ctrl-C or SIGTERM.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDemo(cmd.Context(), cmd.OutOrStdout(), keep, hold)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary folder for a look afterwards")
	cmd.Flags().BoolVar(&hold, "hold", false, "keep the demo cluster running until Ctrl-C or SIGTERM, for kubectl")
	return cmd
}

// demoTB lets the demo drive the test harness: a failure panics with
// demoFailure and cleanups run when the demo ends.
type demoTB struct {
	mu       sync.Mutex
	base     string
	cleanups []func()
}

type demoFailure string

func (d *demoTB) Helper()                           {}
func (d *demoTB) Fatalf(format string, args ...any) { panic(demoFailure(fmt.Sprintf(format, args...))) }
func (d *demoTB) Cleanup(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cleanups = append(d.cleanups, f)
}
func (d *demoTB) TempDir() string {
	dir, err := os.MkdirTemp(d.base, "t")
	if err != nil {
		d.Fatalf("temp dir: %v", err)
	}
	return dir
}
func (d *demoTB) close() {
	d.mu.Lock()
	fns := d.cleanups
	d.cleanups = nil
	d.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
}

// demoHolding is the line the demo prints when --hold keeps its cluster
// running; everything has started by then.
const demoHolding = "Press Ctrl-C to stop it and remove everything."

// runDemo runs the demo until it ends or ctx is cancelled (main cancels
// it on SIGINT or SIGTERM). Whatever it started is stopped, and its
// folders removed, by the cleanups in tb, which run in a defer: on
// success, on failure and on cancellation alike.
func runDemo(ctx context.Context, out io.Writer, keep, hold bool) (err error) {
	for _, tool := range []string{"git", "gpg", "ssh-keygen"} {
		if _, err := exec.LookPath(tool); err != nil {
			return usageError("the demo needs %s on PATH (Debian: apt-get install git gnupg openssh-client)", tool)
		}
	}
	base, err := os.MkdirTemp("", "nodewright-demo-")
	if err != nil {
		return err
	}
	tb := &demoTB{base: base}
	if !keep {
		tb.Cleanup(func() { _ = os.RemoveAll(base) })
	}
	defer func() {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "\nStopping: the cluster's processes are stopped and the demo's folders removed.")
		}
		tb.close()
	}()
	defer func() {
		if r := recover(); r != nil {
			f, ok := r.(demoFailure)
			if !ok {
				panic(r)
			}
			if ctx.Err() != nil {
				// main prints this after the cleanups above have run.
				err = &exitError{code: exitInterrupted, err: fmt.Errorf("demo interrupted (%w); what it started was stopped and removed", context.Cause(ctx))}
				return
			}
			err = fmt.Errorf("demo failed: %s", string(f))
		}
	}()
	d := &demo{ctx: ctx, tb: tb, out: out, base: base}
	d.run()
	d.cluster(hold)
	if keep {
		fmt.Fprintf(out, "\nkept the demo folder %s\n", base)
	}
	return nil
}

type demo struct {
	// ctx ends the demo early: every step and every wait checks it.
	ctx  context.Context
	tb   *demoTB
	out  io.Writer
	base string
	step int
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) heading(format string, args ...any) {
	d.checkInterrupted()
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

// verify runs "nodewright verify" and reports its exit code.
func (d *demo) verify(args ...string) int {
	return d.nodewright(append([]string{"verify"}, args...)...)
}

// nodewright runs the real command line and reports its exit code.
func (d *demo) nodewright(args ...string) int {
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = strings.ReplaceAll(a, d.base+"/", "")
	}
	d.checkInterrupted()
	d.say("   $ nodewright %s", strings.Join(shown, " "))
	w := &indentWriter{w: d.out, prefix: "   "}
	code := runContext(d.ctx, args, w, w)
	d.checkInterrupted()
	d.say("   (exit %d)", code)
	return code
}

func (d *demo) run() {
	d.say("Nodewright demo: a signed fleet repository and the verifier that guards it.")
	d.say("Everything below uses throwaway keys in %s.", d.base)

	d.heading("Throwaway keys, made by the real gpg and ssh-keygen")
	alice := harness.NewGPGKey(d.tb, "alice")
	bob := harness.NewSSHKey(d.tb, "bob")
	carol := harness.NewSSHKey(d.tb, "carol")
	mallory := harness.NewGPGKey(d.tb, "mallory")
	d.say("   alice   OpenPGP %s  (committer, trust-admin)", alice.Fingerprint)
	d.say("   bob     SSH     %s  (committer, trust-admin)", bob.Fingerprint())
	d.say("   carol   SSH     %s  (approver, trust-admin)", carol.Fingerprint())
	d.say("   mallory OpenPGP %s  (in no policy)", mallory.Fingerprint)

	policy := harness.Policy{
		Version: 1,
		MaxAge:  "72h",
		Principals: []harness.Principal{
			harness.Person("alice", alice), harness.Person("bob", bob), harness.Person("carol", carol),
		},
		Roles: map[string]harness.Role{
			"committers":   {Principals: []string{"alice", "bob"}, Threshold: 1},
			"approvers":    {Principals: []string{"alice", "bob", "carol"}, Threshold: 2},
			"trust-admins": {Principals: []string{"alice", "bob", "carol"}, Threshold: 2},
		},
		Operations: map[string]harness.OperationRule{
			"BondModeFlipPlan":   {Role: "approvers", Threshold: 2},
			"ReplicationUpgrade": {Role: "approvers", Threshold: 1},
			"VMVolumeMigration":  {Role: "approvers", Threshold: 1},
		},
	}
	root := filepath.Join(d.base, "trust-root.yaml")
	if err := os.WriteFile(root, []byte(policy.YAML()), 0o644); err != nil {
		d.tb.Fatalf("write trust root: %v", err)
	}

	d.heading("A fleet repository with signed commits, served over smart HTTP by git http-backend")
	serverRoot := filepath.Join(d.base, "server")
	bare := filepath.Join(serverRoot, "fleet.git")
	srv := harness.ServeGit(d.tb, serverRoot)
	url := srv.URL + "/fleet.git"
	work := harness.InitRepo(d.tb, filepath.Join(d.base, "work"))
	push := func() { work.Publish(bare) }
	files := example.Files()
	var operations []string
	for p, data := range files {
		if strings.Contains(p, "/operations/") {
			operations = append(operations, p)
			continue
		}
		work.Write(p, string(data))
	}
	work.Write(".nodewright/trust.yaml", policy.YAML())
	d.commit(work, "Start the fleet: trust policy version 1, a shared base and sites edge-001, edge-002", alice)
	for _, p := range operations {
		work.Write(p, string(files[p]))
	}
	d.commit(work, "Plan a bond flip, a replication upgrade and a VM volume migration", bob)
	push()
	d.say("   served at %s", url)

	d.heading("Lint the fleet as a pull-request check would: render every site, validate every operation")
	d.expect(d.nodewright("lint", "--repo", work.Dir), exitOK)
	flip := "sites/edge-001/operations/bond-flip.yaml"
	d.say("   A typo in a bond mode is caught with its file, line and field:")
	work.Write(flip, strings.Replace(string(files[flip]), "toMode: 802.3ad", "toMode: 8023ad", 1))
	d.expect(d.nodewright("lint", "--repo", work.Dir, "--site", "edge-001"), exitRefused)
	work.Git("checkout", "--", flip)

	d.heading("First verification: the whole history against the trust root")
	state := filepath.Join(d.base, "state")
	d.expect(d.verify("--repo", url, "--trust-root", root, "--state-dir", state), exitOK)

	d.heading("Plan: the bond flip waits for two approvals from role approvers")
	health := filepath.Join(d.base, "health.yaml")
	if err := os.WriteFile(health, []byte(demoHealth), 0o644); err != nil {
		d.tb.Fatalf("write health report: %v", err)
	}
	at := d.windowTime(files)
	plan := func(want int) {
		d.expect(d.nodewright("plan", "--repo", url, "--site", "edge-001", "--trust-root", root, "--state-dir", state, "--health", health, "--at", at), want)
	}
	plan(exitOK)

	d.heading("Two approvers approve with nodewright approve: alice with gpg, carol with an SSH key")
	d.approve(work, alice, flip)
	d.approve(work, carol, flip)
	goodTip := work.Head()
	push()
	d.say("   After the push, plan verifies just the two approval commits; the bond flip is allowed:")
	plan(exitOK)

	d.heading("Editing the operation voids its approvals")
	work.Write(flip, strings.Replace(string(files[flip]), "revertAfter: 2m", "revertAfter: 90s", 1))
	d.commit(work, "Revert automatically after 90s without contact", bob)
	push()
	plan(exitOK)

	d.heading("Attack: the branch is force-pushed back to an older, validly signed commit")
	accepted := work.Head()
	work.Reset(goodTip)
	push()
	d.expect(d.verify("--repo", url, "--trust-root", root, "--state-dir", state), exitRefused)

	d.heading("Attack: an unsigned commit slipped in between two signed ones")
	work.Reset(accepted)
	work.Write(flip, strings.Replace(string(files[flip]), "toMode: 802.3ad", "toMode: balance-rr", 1))
	d.commit(work, "Quietly change the target mode", nil)
	d.commit(work, "Looks innocent", alice)
	push()
	d.expect(d.verify("--repo", url, "--trust-root", root, "--state-dir", state), exitRefused)

	d.heading("Attack: a commit signed by a key no principal holds")
	work.Reset(accepted)
	work.Write("sites/edge-001/kustomization.yaml", string(files["sites/edge-001/kustomization.yaml"])+"# mallory was here\n")
	d.commit(work, "Helpful change", mallory)
	push()
	d.expect(d.verify("--repo", url, "--trust-root", root, "--state-dir", state), exitRefused)

	d.heading("The honest history comes back and is accepted again; nothing was lost")
	work.Reset(accepted)
	push()
	d.expect(d.verify("--repo", url, "--trust-root", root, "--state-dir", state, "-o", "json"), exitOK)
	d.say("\nDone: every refusal kept the last accepted commit %s.", accepted[:12])
}

// approve runs "nodewright approve" in the working copy as a person with
// signer as their git signing key would.
func (d *demo) approve(r *harness.Repo, signer harness.Signer, path string) {
	r.ConfigureSigner(signer)
	self, err := os.Executable()
	if err != nil {
		d.tb.Fatalf("find own executable: %v", err)
	}
	d.say("   $ nodewright approve %s   (as %s, %s)", path, strings.TrimSuffix(strings.Fields(signerName(signer))[0], "@example.test"), signer.Format())
	cmd := exec.CommandContext(d.ctx, self, "approve", path)
	// Stopped early, the child gets SIGTERM and cleans up as its own main
	// does; it is killed only if it has not ended a few seconds later.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Env = append(cmd.Env, signer.Env()...)
	w := &indentWriter{w: d.out, prefix: "   "}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		d.checkInterrupted()
		d.tb.Fatalf("nodewright approve: %v", err)
	}
}

// checkInterrupted ends the demo (through its cleanups) once its context
// is cancelled.
func (d *demo) checkInterrupted() {
	if err := d.ctx.Err(); err != nil {
		d.tb.Fatalf("interrupted: %v", context.Cause(d.ctx))
	}
}

// pause waits for d, or ends the demo when its context is cancelled
// first. It paces the demo's polls of the API server and status branch.
func (d *demo) pause(wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-d.ctx.Done():
		d.checkInterrupted()
	case <-t.C:
	}
}

func signerName(s harness.Signer) string {
	switch k := s.(type) {
	case *harness.GPGKey:
		return k.Name
	case *harness.SSHKey:
		return k.Name
	}
	return "someone"
}

// windowTime returns a time inside edge-001's next maintenance window, so
// the demo's plan does not depend on when it runs.
func (d *demo) windowTime(files map[string][]byte) string {
	tree := render.NewTree(files)
	doc, problems := tree.Profile("edge-001")
	if doc == nil {
		d.tb.Fatalf("render edge-001: %v", problems)
	}
	next, _, ok := gates.NextWindow(doc.Object.(*v1.EdgeProfile).Spec.MaintenanceWindows, time.Now())
	if !ok {
		d.tb.Fatalf("edge-001 has no maintenance window")
	}
	return next.Add(30 * time.Minute).Format(time.RFC3339)
}

const demoHealth = `nodes:
  - {name: node-a, ready: true}
  - {name: node-b, ready: true}
  - {name: node-c, ready: true}
drbd:
  - {name: pvc-db-0, replicas: 2, upToDate: 2}
`

func (d *demo) commit(r *harness.Repo, msg string, s harness.Signer) {
	r.Commit(msg, s)
	who := "UNSIGNED"
	if s != nil {
		who = s.Format()
	}
	subject, _, _ := strings.Cut(msg, "\n")
	d.say("   %s %-9s %s", r.Head()[:12], who, subject)
}

func (d *demo) expect(got, want int) {
	if got != want {
		d.tb.Fatalf("nodewright exited %d, expected %d", got, want)
	}
}

// indentWriter prefixes every line it writes, so command output nests
// under the demo's narration.
type indentWriter struct {
	w       io.Writer
	prefix  string
	midLine bool
}

func (i *indentWriter) Write(p []byte) (int, error) {
	for _, line := range strings.SplitAfter(string(p), "\n") {
		if line == "" {
			continue
		}
		if !i.midLine {
			if _, err := io.WriteString(i.w, i.prefix); err != nil {
				return 0, err
			}
		}
		if _, err := io.WriteString(i.w, line); err != nil {
			return 0, err
		}
		i.midLine = !strings.HasSuffix(line, "\n")
	}
	return len(p), nil
}
