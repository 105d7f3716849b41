package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/trust"
)

type verifyOptions struct {
	repo      string
	branch    string
	trustRoot string
	stateDir  string
	sshKey    string
	knownHost string
	caFile    string
	output    string
}

func newVerifyCommand() *cobra.Command {
	o := &verifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify --repo URL|PATH|BUNDLE --trust-root FILE [--state-dir DIR] [--branch main]",
		Short: "Fetch a fleet repository and verify every new commit against the trust policy",
		Long: `verify fetches the branch of a fleet repository (a URL, a local path, or a git bundle
file) into a mirror under the state directory and verifies every commit added since the
last accepted one: its signature (OpenPGP or SSH, checked in-process), the signer's role,
that the new tip descends from the last accepted commit, and that any trust policy change
raises the version by exactly one with the trust-admins' approval. The range is accepted
whole or not at all; a refusal keeps the last accepted commit.

Without --state-dir a temporary one is used, so the whole history is verified each time.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.addFlags(cmd)
	return cmd
}

// addFlags registers the flags that say where the source is and how to
// trust and reach it; verify and plan share them.
func (o *verifyOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "fleet repository: URL (https, ssh, file), local path, or git bundle file")
	f.StringVar(&o.branch, "branch", "main", "branch to follow")
	f.StringVar(&o.trustRoot, "trust-root", "", "TrustPolicy file pinning the first policy this cluster accepts")
	f.StringVar(&o.stateDir, "state-dir", "", "directory for the mirror, the last accepted commit, the verification cache and the approvals index")
	f.StringVar(&o.sshKey, "ssh-key", "", "private key for ssh:// repositories (default: the SSH agent)")
	f.StringVar(&o.knownHost, "ssh-known-hosts", "", "known_hosts file for ssh:// repositories (default: ~/.ssh/known_hosts)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM bundle of certificate authorities for https:// repositories (default: the system's)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
}

// newSource checks the shared flags and builds the Source they describe.
// Without --state-dir the state lives in a temporary folder that cleanup
// removes.
func (o *verifyOptions) newSource(stderr io.Writer) (src *source.Source, cleanup func(), err error) {
	cleanup = func() {}
	switch {
	case o.repo == "":
		return nil, cleanup, usageError("--repo is required")
	case o.trustRoot == "":
		return nil, cleanup, usageError("--trust-root is required")
	case o.output != "text" && o.output != "json":
		return nil, cleanup, usageError("--output %q is not one of text, json", o.output)
	}
	data, err := os.ReadFile(o.trustRoot)
	if err != nil {
		return nil, cleanup, usageError("trust root: %v", err)
	}
	root, err := trust.Parse(o.trustRoot, data)
	if err != nil {
		return nil, cleanup, usageError("trust root is invalid:\n%v", err)
	}
	src = &source.Source{Repo: o.repo, Branch: o.branch, StateDir: o.stateDir, Root: root}
	if isTerminal(stderr) {
		src.Progress = stderr // the remote's "Counting objects" lines on long fetches
	}
	if o.sshKey != "" {
		auth, err := gitssh.NewPublicKeysFromFile("git", o.sshKey, "")
		if err != nil {
			return nil, cleanup, usageError("--ssh-key: %v", err)
		}
		if o.knownHost != "" {
			if auth.HostKeyCallback, err = gitssh.NewKnownHostsCallback(o.knownHost); err != nil {
				return nil, cleanup, usageError("--ssh-known-hosts: %v", err)
			}
		}
		src.Auth = auth
	} else if o.knownHost != "" {
		return nil, cleanup, usageError("--ssh-known-hosts goes with --ssh-key")
	}
	if o.caFile != "" {
		if src.CABundle, err = os.ReadFile(o.caFile); err != nil {
			return nil, cleanup, usageError("--ca-file: %v", err)
		}
	}
	if src.StateDir == "" {
		tmp, err := os.MkdirTemp("", "nodewright-state-")
		if err != nil {
			return nil, cleanup, usageError("temporary state dir: %v", err)
		}
		src.StateDir, cleanup = tmp, func() { os.RemoveAll(tmp) }
	}
	return src, cleanup, nil
}

// verifyReport is the -o json document.
type verifyReport struct {
	Accepted        bool             `json:"accepted"`
	Commit          string           `json:"commit,omitempty"`
	Previous        string           `json:"previous,omitempty"`
	PolicyVersion   int              `json:"policyVersion,omitempty"`
	PolicyDigest    string           `json:"policyDigest,omitempty"`
	CommitsVerified int              `json:"commitsVerified"`
	Signers         []string         `json:"signers"`
	Commits         []source.Verdict `json:"commits"`
	Stale           *refusalReport   `json:"stale,omitempty"`
	Refusals        []refusalReport  `json:"refusals"`
}

type refusalReport struct {
	Code    reason.Code `json:"code"`
	Commit  string      `json:"commit,omitempty"`
	Message string      `json:"message"`
}

func (o *verifyOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	src, cleanup, err := o.newSource(stderr)
	defer cleanup()
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	res, err := src.Sync(ctx)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	report := newVerifyReport(res)
	var warnings []string
	if report.Stale != nil {
		warnings = append(warnings, fmt.Sprintf("%s: %s", report.Stale.Code, report.Stale.Message))
	}
	return finish(stdout, stderr, ending{
		Output: o.output, JSON: report, Refusals: refusals(report.Refusals), Warnings: warnings,
		Text: func(w io.Writer) error { printVerifyText(w, res, report); return nil },
	})
}

// refusals returns the REJECTED lines of a report's refusals.
func refusals(rs []refusalReport) []refusal {
	out := make([]refusal, len(rs))
	for i, r := range rs {
		out[i] = refusal{Code: r.Code, Message: r.Message}
	}
	return out
}

func newVerifyReport(res *source.Result) verifyReport {
	rep := verifyReport{Accepted: res.Accepted(), CommitsVerified: len(res.Commits), Signers: res.Signers(), Commits: res.Commits, Refusals: []refusalReport{}}
	if rep.Signers == nil {
		rep.Signers = []string{}
	}
	if rep.Commits == nil {
		rep.Commits = []source.Verdict{}
	}
	if !res.Previous.IsZero() {
		rep.Previous = res.Previous.String()
	}
	if res.Accepted() {
		rep.Commit = res.Tip.String()
		rep.PolicyVersion = res.Policy.Version
		rep.PolicyDigest = res.Policy.Digest()
	}
	for _, r := range res.Refusals {
		rep.Refusals = append(rep.Refusals, refusalReport{Code: r.Code, Commit: r.Commit, Message: r.Message})
	}
	if res.Stale != nil {
		rep.Stale = &refusalReport{Code: res.Stale.Code, Commit: res.Stale.Commit, Message: res.Stale.Message}
	}
	return rep
}

func printVerifyText(w io.Writer, res *source.Result, rep verifyReport) {
	if !rep.Accepted {
		if rep.Previous != "" {
			fmt.Fprintf(w, "kept last accepted commit %s\n", rep.Previous)
		} else {
			fmt.Fprintln(w, "nothing accepted")
		}
		return
	}
	fmt.Fprintf(w, "ACCEPTED %s (trust policy version %d)\n", rep.Commit, rep.PolicyVersion)
	cached := 0
	for _, c := range res.Commits {
		if c.Cached {
			cached++
		}
	}
	since := "from the start of history"
	if rep.Previous != "" {
		since = "since " + rep.Previous[:12]
	}
	line := fmt.Sprintf("  verified %d new %s %s", rep.CommitsVerified, plural(rep.CommitsVerified, "commit", "commits"), since)
	if cached > 0 {
		line += fmt.Sprintf(" (%d from cache)", cached)
	}
	if len(rep.Signers) > 0 {
		line += ", signed by " + strings.Join(rep.Signers, ", ")
	}
	fmt.Fprintln(w, line)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
