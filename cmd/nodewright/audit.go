package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/fleet/view"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source/trust"
)

func newAuditCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit verify|log --repo R",
		Short: "Verify and read the audit trail on the status branch",
		Long: `audit works on the audit trail the clusters commit to the status branch (default
nodewright/status): clusters/<cluster>/audit.jsonl, one hash-chained record per phase
transition, in commits signed by the cluster's own key as listed in
.nodewright/clusters.yaml on the fleet branch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("name a subcommand: verify or log (see %s --help)", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newAuditVerifyCommand(), newAuditLogCommand())
	return cmd
}

type auditVerifyOptions struct {
	repo      statusRepoOptions
	cluster   string
	trustRoot string
	output    string
}

func newAuditVerifyCommand() *cobra.Command {
	o := &auditVerifyOptions{}
	cmd := &cobra.Command{
		Use:   "verify --repo R [--cluster C] [--branch nodewright/status] [--fleet-branch main] [--trust-root FILE]",
		Short: "Check every cluster's hash chain and the signature and scope of every status commit",
		Long: `verify checks the whole status branch, oldest commit first:

  - every commit that changes clusters/<c>/ is signed (OpenPGP or SSH, checked in-process)
    by a key that .nodewright/clusters.yaml on the fleet branch lists for cluster c;
  - such a commit changes nothing outside clusters/<c>/;
  - no commit rewrites or removes audit lines an earlier commit wrote;
  - each cluster's audit.jsonl at the tip is one hash chain from seq 1 whose records
    name the cluster.

It names each broken cluster's first broken link (the commit, or the audit file and line)
on stderr as "REJECTED <Code>: <message>", with code AuditBroken (the chain or the log's
history), StatusSignature (a commit not validly signed by the cluster's key) or
StatusScope (a cluster's commit reaching outside its directory), and exits 1. With
--trust-root, the fleet branch is first verified against that trust policy, as
nodewright verify does, so that the cluster keys it lists are believed only when
signed by committers.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.repo.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.cluster, "cluster", "", "check only this cluster")
	f.StringVar(&o.trustRoot, "trust-root", "", "TrustPolicy file to verify the fleet branch against before believing its cluster keys")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (o *auditVerifyOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if o.output != "text" && o.output != "json" {
		return usageError("--output %q is not one of text, json", o.output)
	}
	var root *trust.Policy
	if o.trustRoot != "" {
		data, err := os.ReadFile(o.trustRoot)
		if err != nil {
			return usageError("trust root: %v", err)
		}
		if root, err = trust.Parse(o.trustRoot, data); err != nil {
			return usageError("trust root is invalid:\n%v", err)
		}
	}
	ctx, stop := commandContext(ctx)
	defer stop()
	r, err := o.repo.open(ctx, stderr, true)
	if err != nil {
		return err
	}
	defer r.Close()
	rep, err := view.Verify(r, view.VerifyOptions{Cluster: o.cluster, TrustRoot: root})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if o.cluster != "" && len(rep.Clusters) == 0 && rep.Intact() {
		return usageError("cluster %q is not listed in %s, has no directory on %s and no commit ever wrote one", o.cluster, r.KeysFile(), r.Branch)
	}
	return finish(stdout, stderr, ending{
		Output: o.output, JSON: rep, Refusals: problemRefusals(rep.Problems),
		Text: func(w io.Writer) error { return printVerifyReport(w, rep) },
	})
}

// problemRefusals returns the REJECTED lines of problems found on the
// status branch.
func problemRefusals(problems []view.Problem) []refusal {
	out := make([]refusal, len(problems))
	for i, p := range problems {
		out[i] = refusal{Code: p.Code, Message: p.Message}
	}
	return out
}

func printVerifyReport(w io.Writer, rep *view.Report) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	broken := 0
	for _, c := range rep.Clusters {
		state := "INTACT"
		if !c.Intact {
			state = "BROKEN"
			broken++
		}
		detail := fmt.Sprintf("%d %s, %d %s", c.Records, plural(c.Records, "record", "records"), c.Commits, plural(c.Commits, "commit", "commits"))
		if c.Head != "" {
			detail += ", head " + shortID(c.Head)
		}
		if !c.Listed {
			detail += ", not listed in the cluster keys"
		}
		if c.Broken != nil {
			detail += ": " + string(c.Broken.Code)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", state, c.Name, detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	where := fmt.Sprintf("%s at %s, %d %s", rep.Branch, shortID(rep.Commit), rep.Commits, plural(rep.Commits, "commit", "commits"))
	var err error
	switch {
	case rep.Intact():
		_, err = fmt.Fprintf(w, "audit trail intact: %d %s (%s)\n", len(rep.Clusters), plural(len(rep.Clusters), "cluster", "clusters"), where)
	case broken == 0:
		_, err = fmt.Fprintf(w, "audit trail broken outside any cluster's chain (%s)\n", where)
	default:
		_, err = fmt.Fprintf(w, "audit trail broken for %d of %d %s (%s)\n", broken, len(rep.Clusters), plural(len(rep.Clusters), "cluster", "clusters"), where)
	}
	return err
}

type auditLogOptions struct {
	repo      statusRepoOptions
	cluster   string
	site      string
	operation string
	since     string
	until     string
	reverse   bool
	maxCount  int
	output    string
}

func newAuditLogCommand() *cobra.Command {
	o := &auditLogOptions{}
	cmd := &cobra.Command{
		Use:   "log --repo R [--cluster C] [--site S] [--operation KIND/NAME] [--since T] [--until T] [--reverse] [-n N] [-o json]",
		Short: "Print audit records, newest first, filtered like git log",
		Long: `log prints the audit records of every cluster on the status branch, newest first (oldest
first with --reverse), one per line: time, cluster, site, operation, phase transition,
reason, actor and message. Filters combine: --cluster, --site, --operation KIND/NAME
(or only KIND, or only NAME), --since and --until (inclusive; an RFC 3339 time such as
2025-03-01T12:00:00Z, a date such as 2025-03-01, or a duration back from now such as 24h).
log reads records without verifying them; nodewright audit verify checks the chains.
An audit file that cannot be parsed is left out with a REJECTED AuditBroken line on
stderr, and the exit code is 1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.repo.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.cluster, "cluster", "", "only this cluster's records")
	f.StringVar(&o.site, "site", "", "only records of clusters serving this site")
	f.StringVar(&o.operation, "operation", "", "only this operation: KIND/NAME, KIND or NAME")
	f.StringVar(&o.since, "since", "", "only records at or after this time (RFC 3339, date, or a duration ago)")
	f.StringVar(&o.until, "until", "", "only records at or before this time (RFC 3339, date, or a duration ago)")
	f.BoolVar(&o.reverse, "reverse", false, "oldest first")
	f.IntVarP(&o.maxCount, "max-count", "n", 0, "print at most this many records (0: all)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// parseWhen reads a --since or --until value: an RFC 3339 time, a date
// (midnight UTC) or a duration back from now.
func parseWhen(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, usageError("--%s %q is not an RFC 3339 time (2025-03-01T12:00:00Z), a date (2025-03-01) or a duration ago (24h)", flag, s)
}

func (o *auditLogOptions) filter(now time.Time) (view.Filter, error) {
	f := view.Filter{Cluster: o.cluster, Site: o.site, OldestFirst: o.reverse, Limit: o.maxCount}
	if o.maxCount < 0 {
		return f, usageError("--max-count must not be negative")
	}
	if op := o.operation; op != "" {
		if kind, name, ok := strings.Cut(op, "/"); ok {
			f.Kind, f.Name = kind, name
		} else if slices.Contains(v1.OperationKinds, op) {
			f.Kind = op
		} else {
			f.Name = op
		}
	}
	var err error
	if f.Since, err = parseWhen("since", o.since, now); err != nil {
		return f, err
	}
	if f.Until, err = parseWhen("until", o.until, now); err != nil {
		return f, err
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return f, usageError("--until %s is before --since %s", o.until, o.since)
	}
	return f, nil
}

func (o *auditLogOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if o.output != "text" && o.output != "json" {
		return usageError("--output %q is not one of text, json", o.output)
	}
	filter, err := o.filter(time.Now())
	if err != nil {
		return err
	}
	ctx, stop := commandContext(ctx)
	defer stop()
	r, err := o.repo.open(ctx, stderr, false)
	if err != nil {
		return err
	}
	defer r.Close()
	recs, problems, err := view.Log(r, filter)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	if recs == nil {
		recs = []v1.AuditRecord{}
	}
	return finish(stdout, stderr, ending{
		Output: o.output, JSON: recs, Refusals: problemRefusals(problems),
		Text: func(w io.Writer) error { return printAuditLog(w, recs) },
	})
}

func printAuditLog(w io.Writer, recs []v1.AuditRecord) error {
	if len(recs) == 0 {
		_, err := fmt.Fprintln(w, "no audit records match")
		return err
	}
	bw := bufio.NewWriterSize(w, 64<<10) // tabwriter writes cell by cell
	tw := tabwriter.NewWriter(bw, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tCLUSTER\tSITE\tOPERATION\tTRANSITION\tREASON\tACTOR\tSEQ\tMESSAGE")
	for _, r := range recs {
		stamp := "-"
		if !r.Time.IsZero() {
			stamp = r.Time.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s/%s\t%s -> %s\t%s\t%s\t%d\t%s\n", stamp, oneLine(r.Cluster), oneLine(r.Site),
			oneLine(r.Kind), oneLine(r.Name), oneLine(r.From), oneLine(r.To), oneLine(r.Reason), oneLine(r.Actor), r.Seq, oneLine(r.Message))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return bw.Flush()
}
