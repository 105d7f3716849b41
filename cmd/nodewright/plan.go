package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/gates"
	"github.com/nodewright/nodewright/gates/gather"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/mirror"
	"github.com/nodewright/nodewright/source/reason"
)

type planOptions struct {
	verify verifyOptions
	site   string
	health string
	at     string
}

func newPlanCommand() *cobra.Command {
	o := &planOptions{}
	cmd := &cobra.Command{
		Use:   "plan --repo URL|PATH --site SITE --trust-root FILE [--state-dir DIR] [--health FILE]",
		Short: "Verify the source, render the site and show each operation's gate verdicts",
		Long: `plan verifies the fleet repository as verify does, renders the site at the accepted
commit, and prints every operation with the verdict of each gate (approvals, freshness,
pause, maintenance window, health, blast radius) and what is missing. The reconciler
evaluates the same chain. Without --health the health gate blocks: it has nothing to judge.
If the newest commits are refused, plan shows the last accepted commit, which is what a
cluster acts on. Exit 1 when the source is refused with nothing accepted, or the site has
manifest errors.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.verify.addFlags(cmd)
	f := cmd.Flags()
	f.StringVar(&o.site, "site", "", "site to plan")
	f.StringVar(&o.health, "health", "", "health report (YAML): nodes, drbd, inFlight")
	f.StringVar(&o.at, "at", "", "evaluate the gates at this time (RFC 3339) instead of now, e.g. to check a maintenance window")
	return cmd
}

func (o *planOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	v := &o.verify
	if o.site == "" {
		return usageError("--site is required")
	}
	now := time.Now()
	if o.at != "" {
		t, err := time.Parse(time.RFC3339, o.at)
		if err != nil {
			return usageError("--at %q is not an RFC 3339 time such as 2026-12-01T02:30:00+01:00", o.at)
		}
		now = t
	}
	health := gates.Health{}
	if o.health != "" {
		data, err := os.ReadFile(o.health)
		if err != nil {
			return usageError("--health: %v", err)
		}
		if health, err = gather.ParseHealth(o.health, data); err != nil {
			return usageError("health report is invalid: %v", err)
		}
	}
	src, cleanup, err := v.newSource(stderr)
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
	stateDir, root := src.StateDir, src.Root
	rejected := make([]refusal, len(res.Refusals))
	for i, r := range res.Refusals {
		rejected[i] = refusal{Code: r.Code, Message: r.Message}
	}
	printRefusals(stderr, rejected) // before the lines below say what plan does about them
	state, err := source.LoadState(stateDir)
	if err != nil {
		return err
	}
	if state.LastAccepted == "" {
		fmt.Fprintln(stderr, "nothing accepted: no plan")
		return &exitError{code: exitRefused, silent: true}
	}
	m, err := mirror.Open(filepath.Join(stateDir, "mirror"))
	if err != nil {
		return err
	}
	defer m.Close()
	index, err := source.LoadIndex(stateDir)
	if err != nil {
		return err
	}
	policy := res.Policy
	if policy == nil { // refused: plan against the last accepted commit and its policy
		if policy, err = source.PolicyInForce(m.Storer(), state, root); err != nil {
			if reason.CodeOf(err) != "" { // refused above, with its REJECTED line
				return &exitError{code: exitRefused, silent: true}
			}
			return err
		}
		fmt.Fprintf(stderr, "planning against the last accepted commit %s\n", state.LastAccepted[:12])
	}
	stale := ""
	if res.Stale != nil {
		stale = res.Stale.Message
	}
	plan, err := gather.Build(gather.Inputs{
		Repo: m.Repository(), Commit: plumbing.NewHash(state.LastAccepted), Site: o.site, Policy: policy,
		Index: index, Stale: stale, Health: health, Now: now, Chain: gates.All,
	})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	// The refusals were printed above; manifest errors are in the plan.
	return finish(stdout, stderr, ending{
		Output: v.output, JSON: plan, Failed: plan.Problems.Errors() > 0,
		Text: func(w io.Writer) error { printPlan(w, plan); return nil },
	})
}

func printPlan(w io.Writer, p *gather.Plan) {
	fmt.Fprintf(w, "site %s at %s (trust policy version %d)\n", p.Site, p.Commit[:12], p.PolicyVersion)
	for _, pr := range p.Problems {
		fmt.Fprintln(w, "  "+pr.String())
	}
	for _, op := range p.Operations {
		state := "BLOCKED"
		if op.Decision.Allowed {
			state = "ALLOWED"
		}
		author := op.Author
		if author == "" {
			author = "unknown"
		}
		fmt.Fprintf(w, "\n%s %s: %s\n  %s@%s, author %s\n", op.Kind, op.Name, state, op.Path, op.Blob[:12], author)
		for _, v := range op.Decision.Verdicts {
			mark, reason := "ok ", ""
			if !v.Allowed {
				mark, reason = "NO ", string(v.Reason)+": "
			}
			fmt.Fprintf(w, "  %s %-13s %s%s\n", mark, v.Gate, reason, v.Message)
		}
	}
	for _, a := range p.IgnoredApprovals {
		fmt.Fprintf(w, "\nignored approval trailer %s\n", a)
	}
}
