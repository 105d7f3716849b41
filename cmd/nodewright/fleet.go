package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/fleet/dashboard"
	"github.com/nodewright/nodewright/fleet/view"
)

// statusRepoOptions are the flags that say where a status branch is; the
// fleet and audit commands share them.
type statusRepoOptions struct {
	repo        string
	branch      string
	fleetBranch string
	mirrorDir   string
	sshKey      string
	knownHosts  string
	caFile      string
}

func (o *statusRepoOptions) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "fleet repository holding the status branch: local path (work tree or bare), file://, https:// or ssh:// URL")
	f.StringVar(&o.branch, "branch", view.DefaultBranch, "status branch")
	f.StringVar(&o.fleetBranch, "fleet-branch", view.DefaultFleetBranch, "fleet branch holding .nodewright/clusters.yaml and the commits clusters apply")
	f.StringVar(&o.mirrorDir, "mirror", "", "for a remote --repo: bare mirror to fetch into and keep (default: a temporary one)")
	f.StringVar(&o.sshKey, "ssh-key", "", "private key for ssh:// repositories (default: the SSH agent)")
	f.StringVar(&o.knownHosts, "ssh-known-hosts", "", "known_hosts file for ssh:// repositories (default: ~/.ssh/known_hosts)")
	f.StringVar(&o.caFile, "ca-file", "", "PEM bundle of certificate authorities for https:// repositories (default: the system's)")
}

// open checks the flags and opens the repository. Every failure is exit 2:
// bad usage, or a repository that cannot be read.
func (o *statusRepoOptions) open(ctx context.Context, stderr io.Writer, needFleet bool) (*view.Repo, error) {
	if o.repo == "" {
		return nil, usageError("--repo is required")
	}
	src := view.Source{Repo: o.repo, Branch: o.branch, FleetBranch: o.fleetBranch, NeedFleet: needFleet, MirrorDir: o.mirrorDir}
	if isTerminal(stderr) {
		src.Progress = stderr
	}
	if o.sshKey != "" {
		auth, err := gitssh.NewPublicKeysFromFile("git", o.sshKey, "")
		if err != nil {
			return nil, usageError("--ssh-key: %v", err)
		}
		if o.knownHosts != "" {
			if auth.HostKeyCallback, err = gitssh.NewKnownHostsCallback(o.knownHosts); err != nil {
				return nil, usageError("--ssh-known-hosts: %v", err)
			}
		}
		src.Auth = auth
	} else if o.knownHosts != "" {
		return nil, usageError("--ssh-known-hosts goes with --ssh-key")
	}
	if o.caFile != "" {
		ca, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, usageError("--ca-file: %v", err)
		}
		src.CABundle = ca
	}
	if ctx == nil {
		ctx = context.Background()
	}
	r, err := view.Open(ctx, src)
	if err != nil {
		return nil, &exitError{code: exitUsage, err: err}
	}
	return r, nil
}

// commandContext returns ctx (a background context when nil) with a cancel
// function of its own. Signals arrive through ctx: main cancels it on
// SIGINT or SIGTERM.
func commandContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx == nil {
		ctx = context.Background()
	}
	return context.WithCancel(ctx)
}

func newFleetCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet status|dashboard --repo R",
		Short: "Show every cluster's last report from the status branch",
		Long: `fleet reads the status branch (default nodewright/status) of a fleet repository, where
each cluster commits clusters/<cluster>/status.yaml and audit.jsonl signed by its own key.
A local repository is read in place; a URL is fetched into a mirror first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("name a subcommand: status or dashboard (see %s --help)", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newFleetStatusCommand(), newFleetDashboardCommand())
	return cmd
}

type fleetStatusOptions struct {
	repo       statusRepoOptions
	output     string
	staleAfter time.Duration
}

func newFleetStatusCommand() *cobra.Command {
	o := &fleetStatusOptions{}
	cmd := &cobra.Command{
		Use:   "status --repo R [-o table|json] [--stale-after 1h]",
		Short: "Print every cluster: site, applied commit, policy, operations in flight, health",
		Long: `status prints one line per cluster, sorted by site and then name: the fleet commit it
applies and that commit's age, the trust policy version in force, its operations in flight
(and failed ones) with phase and progress, node health, and when it last reported. A
cluster silent for longer than --stale-after shows as "Unknown (last report 3h ago)".
A status.yaml that cannot be read shows as Invalid and, with a line
"REJECTED StatusInvalid: ..." on stderr, makes the exit code 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.repo.addFlags(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "output format: table or json")
	cmd.Flags().DurationVar(&o.staleAfter, "stale-after", view.DefaultStaleAfter, "a cluster silent for longer is shown as Unknown")
	return cmd
}

func (o *fleetStatusOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if o.output != "table" && o.output != "json" {
		return usageError("--output %q is not one of table, json", o.output)
	}
	if o.staleAfter <= 0 {
		return usageError("--stale-after must be positive, got %s", o.staleAfter)
	}
	ctx, stop := commandContext(ctx)
	defer stop()
	r, err := o.repo.open(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := view.Load(r, view.Options{StaleAfter: o.staleAfter})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	return finish(stdout, stderr, ending{
		Output: o.output, JSON: f, Refusals: invalidReports(f),
		Text: func(w io.Writer) error { return printFleetTable(w, f) },
	})
}

// invalidReports returns a refusal per cluster whose status report cannot
// be read.
func invalidReports(f *view.Fleet) []refusal {
	var out []refusal
	for _, c := range f.Clusters {
		if c.Health == view.Invalid {
			out = append(out, refusal{Code: view.StatusInvalid, Message: fmt.Sprintf("cluster %s: %s", c.Name, c.Problem)})
		}
	}
	return out
}

// writeJSON encodes v on w as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printFleetTable writes the fleet as an aligned table and a summary line.
func printFleetTable(out io.Writer, f *view.Fleet) error {
	w := bufio.NewWriterSize(out, 64<<10) // tabwriter writes cell by cell
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLUSTER\tSITE\tAPPLIED\tPOLICY\tOPERATIONS\tHEALTH\tLAST REPORT")
	counts := map[view.Health]int{}
	for _, c := range f.Clusters {
		counts[c.Health]++
		applied := "-"
		if c.AppliedCommit != "" {
			applied = shortID(c.AppliedCommit)
			if c.AppliedCommitTime != nil {
				applied += " (" + view.Age(f.GeneratedAt.Sub(*c.AppliedCommitTime)) + ")"
			}
		}
		policy := "-"
		if c.PolicyVersion > 0 {
			policy = fmt.Sprintf("v%d", c.PolicyVersion)
		}
		ops := "-"
		if active := c.Active(); len(active) > 0 {
			parts := make([]string, len(active))
			for i, op := range active {
				parts[i] = op.String()
				if op.State == view.Failed {
					parts[i] += " FAILED"
				}
			}
			ops = strings.Join(parts, ", ")
		}
		if c.Truncated {
			ops += fmt.Sprintf(" (summary of %d operations: %d in flight, %d failed)", c.TotalOperations, c.InFlight, c.FailedOperations)
		}
		last := "never"
		if c.LastReport != nil {
			last = view.Age(f.GeneratedAt.Sub(*c.LastReport)) + " ago"
		}
		site := c.Site
		if site == "" {
			site = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", c.Name, site, applied, policy, oneLine(ops), oneLine(c.Summary), last)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	var parts []string
	for _, h := range []view.Health{view.Healthy, view.Degraded, view.Unknown, view.Invalid} {
		if counts[h] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[h], h))
		}
	}
	summary := fmt.Sprintf("%d %s", len(f.Clusters), plural(len(f.Clusters), "cluster", "clusters"))
	if len(parts) > 0 {
		summary += ": " + strings.Join(parts, ", ")
	}
	fmt.Fprintf(w, "%s (%s at %s)\n", summary, f.Branch, shortID(f.Commit))
	return w.Flush()
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// oneLine keeps a table cell on one line: control characters (such as the
// newlines of a message) are escaped.
func oneLine(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return s
	}
	q := fmt.Sprintf("%q", s)
	return q[1 : len(q)-1]
}

type fleetDashboardOptions struct {
	repo       statusRepoOptions
	out        string
	staleAfter time.Duration
}

func newFleetDashboardCommand() *cobra.Command {
	o := &fleetDashboardOptions{}
	cmd := &cobra.Command{
		Use:   "dashboard --repo R --out DIR [--stale-after 1h]",
		Short: "Write a static, self-contained HTML dashboard of the fleet and its audit log",
		Long: `dashboard writes DIR/index.html: the fleet table, a section per cluster (its
operations, failed ones marked, and newest audit records) and the audit log, newest first.
The page loads nothing from elsewhere, so it opens from a file or any static host, offline.
It prints the page's path on stdout. Unreadable reports or audit files are shown on the
page, reported as REJECTED lines on stderr, and make the exit code 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.repo.addFlags(cmd)
	cmd.Flags().StringVar(&o.out, "out", "", "directory to write index.html into (created when missing)")
	cmd.Flags().DurationVar(&o.staleAfter, "stale-after", view.DefaultStaleAfter, "a cluster silent for longer is shown as Unknown")
	return cmd
}

func (o *fleetDashboardOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if o.out == "" {
		return usageError("--out is required")
	}
	if o.staleAfter <= 0 {
		return usageError("--stale-after must be positive, got %s", o.staleAfter)
	}
	ctx, stop := commandContext(ctx)
	defer stop()
	r, err := o.repo.open(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer r.Close()
	f, err := view.Load(r, view.Options{StaleAfter: o.staleAfter})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	recs, problems, err := view.Log(r, view.Filter{})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if err := dashboard.Write(o.out, f, recs); err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	fmt.Fprintf(stderr, "wrote the dashboard of %d %s and %d audit %s\n", len(f.Clusters), plural(len(f.Clusters), "cluster", "clusters"), len(recs), plural(len(recs), "record", "records"))
	return finish(stdout, stderr, ending{
		Output: "text", Refusals: append(invalidReports(f), problemRefusals(problems)...),
		Text: func(w io.Writer) error {
			_, err := fmt.Fprintln(w, filepath.Join(o.out, dashboard.FileName))
			return err
		},
	})
}
