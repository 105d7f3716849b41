package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/internal/sandbox"
	"github.com/nodewright/nodewright/internal/sandbox/samplefleet"
	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/schema/render"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

func newDemoCommand() *cobra.Command {
	var keep, hold bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "The whole story on embedded defaults: a signed fleet, its verifier, and a cluster flipping a bond",
		Long: `demo needs git, gpg and ssh-keygen, and kube-apiserver and etcd in $KUBEBUILDER_ASSETS
(or in k8s/ beside the binary, as bin/k8s beside bin/nodewright; "make demo" builds them).
It makes throwaway keys, builds a sample fleet
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

// demoHolding is the line the demo prints when --hold keeps its cluster
// running; everything has started by then.
const demoHolding = "Press Ctrl-C to stop it and remove everything."

// errDemoInterrupted ends the demo once its context is cancelled.
var errDemoInterrupted = errors.New("interrupted")

// runDemo runs the demo until it ends or ctx is cancelled (main cancels
// it on SIGINT or SIGTERM). Whatever it started is stopped, and its
// folders removed, by the demo's closers, which run in a defer: on
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
	d := &demo{ctx: ctx, out: out, base: base}
	if !keep {
		d.onClose(func() error { return os.RemoveAll(base) })
	}
	defer func() {
		if ctx.Err() != nil {
			fmt.Fprintln(out, "\nStopping: the cluster's processes are stopped and the demo's folders removed.")
		}
		closeErr := d.close()
		switch {
		case err != nil && ctx.Err() != nil:
			// Cut short by a signal (a held cluster stopped by one is the
			// demo ending as it should); main prints this after the
			// closers above have run.
			err = &exitError{code: exitInterrupted, err: fmt.Errorf("demo interrupted (%w); what it started was stopped and removed", context.Cause(ctx))}
		case err != nil:
			err = fmt.Errorf("demo failed: %w", errors.Join(err, closeErr))
		case closeErr != nil:
			err = fmt.Errorf("demo: stopping what it started: %w", closeErr)
		}
	}()
	if err := d.run(); err != nil {
		return err
	}
	if err := d.cluster(hold); err != nil {
		return err
	}
	if keep {
		fmt.Fprintf(out, "\nkept the demo folder %s\n", base)
	}
	return nil
}

type demo struct {
	// ctx ends the demo early: every step and every wait checks it.
	ctx     context.Context
	out     io.Writer
	base    string
	step    int
	closers []func() error
}

// onClose registers f to run when the demo ends, after every closer
// registered later.
func (d *demo) onClose(f func() error) { d.closers = append(d.closers, f) }

// close runs the closers, newest first.
func (d *demo) close() error {
	var err error
	for i := len(d.closers) - 1; i >= 0; i-- {
		err = errors.Join(err, d.closers[i]())
	}
	d.closers = nil
	return err
}

// interrupted is errDemoInterrupted once the demo's context is cancelled.
func (d *demo) interrupted() error {
	if d.ctx.Err() != nil {
		return errDemoInterrupted
	}
	return nil
}

func (d *demo) say(format string, args ...any) { fmt.Fprintf(d.out, format+"\n", args...) }

func (d *demo) heading(format string, args ...any) {
	d.step++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.step, fmt.Sprintf(format, args...))
}

// expect runs the real command line, as "nodewright args...", and fails
// the demo unless it exits with want.
func (d *demo) expect(want int, args ...string) error {
	if err := d.interrupted(); err != nil {
		return err
	}
	shown := make([]string, len(args))
	for i, a := range args {
		shown[i] = strings.ReplaceAll(a, d.base+"/", "")
	}
	d.say("   $ nodewright %s", strings.Join(shown, " "))
	w := &indentWriter{w: d.out, prefix: "   "}
	code := runContext(d.ctx, args, w, w)
	if err := d.interrupted(); err != nil {
		return err
	}
	d.say("   (exit %d)", code)
	if code != want {
		return fmt.Errorf("nodewright %s exited %d, expected %d", args[0], code, want)
	}
	return nil
}

// keys makes the demo's throwaway keys, each in its own folder below the
// demo's; the gpg agents stop when the demo ends.
func (d *demo) keys() (alice, mallory *sandbox.GPGKey, bob, carol *sandbox.SSHKey, err error) {
	gpgKey := func(name string) (*sandbox.GPGKey, error) {
		k, err := sandbox.NewGPGKey(filepath.Join(d.base, "gpg-"+name), name)
		if err != nil {
			return nil, err
		}
		d.onClose(k.Close)
		return k, nil
	}
	if alice, err = gpgKey("alice"); err != nil {
		return
	}
	if mallory, err = gpgKey("mallory"); err != nil {
		return
	}
	if bob, err = sandbox.NewSSHKey(filepath.Join(d.base, "ssh-bob"), "bob"); err != nil {
		return
	}
	carol, err = sandbox.NewSSHKey(filepath.Join(d.base, "ssh-carol"), "carol")
	return
}

// demoPolicy is the first act's trust policy: the sample fleet's, whose
// commits are fresh for three days.
func demoPolicy(alice, bob, carol sandbox.Signer) sandbox.Policy {
	p := samplefleet.Policy(alice, bob, carol)
	p.MaxAge = "72h"
	return p
}

// run is the demo's first act: a signed fleet repository and the
// verifier that guards it, attacked three ways.
func (d *demo) run() error {
	d.say("Nodewright demo: a signed fleet repository and the verifier that guards it.")
	d.say("Everything below uses throwaway keys in %s.", d.base)

	d.heading("Throwaway keys, made by the real gpg and ssh-keygen")
	alice, mallory, bob, carol, err := d.keys()
	if err != nil {
		return err
	}
	d.say("   alice   OpenPGP %s  (committer, trust-admin)", alice.Fingerprint)
	d.say("   bob     SSH     %s  (committer, trust-admin)", bob.Fingerprint())
	d.say("   carol   SSH     %s  (approver, trust-admin)", carol.Fingerprint())
	d.say("   mallory OpenPGP %s  (in no policy)", mallory.Fingerprint)
	policy := demoPolicy(alice, bob, carol)
	root := filepath.Join(d.base, "trust-root.yaml")
	if err := os.WriteFile(root, []byte(policy.YAML()), 0o644); err != nil {
		return fmt.Errorf("write trust root: %w", err)
	}

	d.heading("A fleet repository with signed commits, served over smart HTTP by git http-backend")
	serverRoot := filepath.Join(d.base, "server")
	if err := os.MkdirAll(serverRoot, 0o755); err != nil {
		return err
	}
	bare := filepath.Join(serverRoot, "fleet.git")
	srv, err := sandbox.ServeGit(serverRoot)
	if err != nil {
		return err
	}
	d.onClose(srv.Close)
	url := srv.URL + "/fleet.git"
	work, err := sandbox.InitRepo(filepath.Join(d.base, "work"))
	if err != nil {
		return err
	}
	files := example.Files()
	var operations []string
	for p, data := range files {
		if strings.Contains(p, "/operations/") {
			operations = append(operations, p)
			continue
		}
		if err := work.Write(p, string(data)); err != nil {
			return err
		}
	}
	if err := work.Write(".nodewright/trust.yaml", policy.YAML()); err != nil {
		return err
	}
	if err := d.commit(work, "Start the fleet: trust policy version 1, a shared base and sites edge-001, edge-002", alice); err != nil {
		return err
	}
	for _, p := range operations {
		if err := work.Write(p, string(files[p])); err != nil {
			return err
		}
	}
	if err := d.commit(work, "Plan a bond flip, a replication upgrade and a VM volume migration", bob); err != nil {
		return err
	}
	if err := work.Publish(bare); err != nil {
		return err
	}
	d.say("   served at %s", url)

	d.heading("Lint the fleet as a pull-request check would: render every site, validate every operation")
	if err := d.expect(exitOK, "lint", "--repo", work.Dir); err != nil {
		return err
	}
	flip := "sites/edge-001/operations/bond-flip.yaml"
	d.say("   A typo in a bond mode is caught with its file, line and field:")
	if err := work.Write(flip, strings.Replace(string(files[flip]), "toMode: 802.3ad", "toMode: 8023ad", 1)); err != nil {
		return err
	}
	if err := d.expect(exitRefused, "lint", "--repo", work.Dir, "--site", "edge-001"); err != nil {
		return err
	}
	if _, err := work.Git("checkout", "--", flip); err != nil {
		return err
	}

	d.heading("First verification: the whole history against the trust root")
	state := filepath.Join(d.base, "state")
	verify := func(want int, more ...string) error {
		return d.expect(want, append([]string{"verify", "--repo", url, "--trust-root", root, "--state-dir", state}, more...)...)
	}
	if err := verify(exitOK); err != nil {
		return err
	}

	d.heading("Plan: the bond flip waits for two approvals from role approvers")
	health := filepath.Join(d.base, "health.yaml")
	if err := os.WriteFile(health, []byte(demoHealth), 0o644); err != nil {
		return fmt.Errorf("write health report: %w", err)
	}
	at, err := windowTime(files)
	if err != nil {
		return err
	}
	plan := func() error {
		return d.expect(exitOK, "plan", "--repo", url, "--site", "edge-001", "--trust-root", root, "--state-dir", state, "--health", health, "--at", at)
	}
	if err := plan(); err != nil {
		return err
	}

	d.heading("Two approvers approve with nodewright approve: alice with gpg, carol with an SSH key")
	if err := d.approve(work, alice, flip); err != nil {
		return err
	}
	if err := d.approve(work, carol, flip); err != nil {
		return err
	}
	goodTip, err := work.Head()
	if err != nil {
		return err
	}
	if err := work.Publish(bare); err != nil {
		return err
	}
	d.say("   After the push, plan verifies just the two approval commits; the bond flip is allowed:")
	if err := plan(); err != nil {
		return err
	}

	d.heading("Editing the operation voids its approvals")
	if err := work.Write(flip, strings.Replace(string(files[flip]), "revertAfter: 2m", "revertAfter: 90s", 1)); err != nil {
		return err
	}
	if err := d.commit(work, "Revert automatically after 90s without contact", bob); err != nil {
		return err
	}
	if err := work.Publish(bare); err != nil {
		return err
	}
	if err := plan(); err != nil {
		return err
	}
	accepted, err := work.Head()
	if err != nil {
		return err
	}

	attacks := []struct {
		heading string
		// change makes the attacker's history in work, from accepted.
		change func() error
	}{
		{"Attack: the branch is force-pushed back to an older, validly signed commit", func() error {
			return work.Reset(goodTip)
		}},
		{"Attack: an unsigned commit slipped in between two signed ones", func() error {
			if err := work.Write(flip, strings.Replace(string(files[flip]), "toMode: 802.3ad", "toMode: balance-rr", 1)); err != nil {
				return err
			}
			if err := d.commit(work, "Quietly change the target mode", nil); err != nil {
				return err
			}
			return d.commit(work, "Looks innocent", alice)
		}},
		{"Attack: a commit signed by a key no principal holds", func() error {
			if err := work.Write("sites/edge-001/kustomization.yaml", string(files["sites/edge-001/kustomization.yaml"])+"# mallory was here\n"); err != nil {
				return err
			}
			return d.commit(work, "Helpful change", mallory)
		}},
	}
	for _, a := range attacks {
		d.heading("%s", a.heading)
		if err := work.Reset(accepted); err != nil {
			return err
		}
		if err := a.change(); err != nil {
			return err
		}
		if err := work.Publish(bare); err != nil {
			return err
		}
		if err := verify(exitRefused); err != nil {
			return err
		}
	}

	d.heading("The honest history comes back and is accepted again; nothing was lost")
	if err := work.Reset(accepted); err != nil {
		return err
	}
	if err := work.Publish(bare); err != nil {
		return err
	}
	if err := verify(exitOK, "-o", "json"); err != nil {
		return err
	}
	d.say("\nDone: every refusal kept the last accepted commit %s.", accepted[:12])
	return nil
}

// approve runs "nodewright approve" in the working copy as a person with
// signer as their git signing key would.
func (d *demo) approve(r *sandbox.Repo, signer sandbox.Signer, path string) error {
	if err := r.ConfigureSigner(signer); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	d.say("   $ nodewright approve %s   (as %s, %s)", path, signerName(signer), signer.Format())
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
		if ierr := d.interrupted(); ierr != nil {
			return ierr
		}
		return fmt.Errorf("nodewright approve: %w", err)
	}
	return nil
}

// pause waits for wait, or ends the demo when its context is cancelled
// first. It paces the demo's polls of the API server and status branch.
func (d *demo) pause(wait time.Duration) error {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-d.ctx.Done():
		return errDemoInterrupted
	case <-t.C:
		return nil
	}
}

func signerName(s sandbox.Signer) string {
	switch k := s.(type) {
	case *sandbox.GPGKey:
		return k.Name
	case *sandbox.SSHKey:
		return k.Name
	}
	return "someone"
}

// windowTime returns a time inside edge-001's next maintenance window, so
// the demo's plan does not depend on when it runs.
func windowTime(files map[string][]byte) (string, error) {
	doc, problems := render.NewTree(files).Profile("edge-001")
	if doc == nil {
		return "", fmt.Errorf("render edge-001: %w", problems)
	}
	profile, ok := doc.Object.(*v1.EdgeProfile)
	if !ok {
		return "", fmt.Errorf("render edge-001: a %T, not an EdgeProfile", doc.Object)
	}
	next, _, ok := gates.NextWindow(profile.Spec.MaintenanceWindows, time.Now())
	if !ok {
		return "", errors.New("edge-001 has no maintenance window")
	}
	return next.Add(30 * time.Minute).Format(time.RFC3339), nil
}

const demoHealth = `nodes:
  - {name: node-a, ready: true}
  - {name: node-b, ready: true}
  - {name: node-c, ready: true}
drbd:
  - {name: pvc-db-0, replicas: 2, upToDate: 2}
`

// commit commits everything in r signed by s (unsigned when nil) and
// prints the new commit.
func (d *demo) commit(r *sandbox.Repo, msg string, s sandbox.Signer) error {
	id, err := r.Commit(msg, s)
	if err != nil {
		return err
	}
	who := "UNSIGNED"
	if s != nil {
		who = s.Format()
	}
	subject, _, _ := strings.Cut(msg, "\n")
	d.say("   %s %-9s %s", id[:12], who, subject)
	return nil
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
