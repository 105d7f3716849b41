package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/schema/lint"
	"github.com/nodewright/nodewright/schema/manifest"
	"github.com/nodewright/nodewright/schema/render"
	"github.com/nodewright/nodewright/source/mirror"
)

type lintOptions struct {
	repo   string
	site   string
	rev    string
	branch string
	output string
}

func newLintCommand() *cobra.Command {
	o := &lintOptions{}
	cmd := &cobra.Command{
		Use:   "lint --repo URL|PATH [--site SITE] [--rev REV]",
		Short: "Render and validate every site's profile and operations, printing every problem",
		Long: `lint renders each site's EdgeProfile with kustomize, decodes every operation manifest
strictly and validates it against its site, and prints every problem at once as
"file:line:column: field: message". A local path is linted as its working tree (so lint
serves as a pre-commit hook) unless --rev names a commit; a URL is fetched and its branch
(or --rev) linted. Linting never needs a cluster. Exit 1 when any error is found.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "fleet repository: local path (working tree) or URL")
	f.StringVar(&o.site, "site", "", "lint only this site")
	f.StringVar(&o.rev, "rev", "", "lint this revision instead of the working tree (or the fetched branch)")
	f.StringVar(&o.branch, "branch", "main", "branch to fetch when --repo is a URL")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (o *lintOptions) tree(ctx context.Context) (*render.Tree, error) {
	if fi, err := os.Stat(o.repo); err == nil && fi.IsDir() {
		if o.rev == "" {
			return render.FromDir(o.repo)
		}
		repo, err := git.PlainOpenWithOptions(o.repo, &git.PlainOpenOptions{DetectDotGit: true})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.repo, err)
		}
		return render.FromCommit(repo, o.rev)
	}
	tmp, err := os.MkdirTemp("", "nodewright-lint-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	m, err := mirror.Open(filepath.Join(tmp, "mirror"))
	if err != nil {
		return nil, err
	}
	defer m.Close()
	tip, err := m.Fetch(ctx, mirror.FetchOptions{URL: o.repo, Branch: o.branch})
	if err != nil {
		return nil, err
	}
	rev := tip.String()
	if o.rev != "" {
		rev = o.rev
	}
	return render.FromCommit(m.Repository(), rev)
}

// lintReport is the -o json document.
type lintReport struct {
	Errors   int               `json:"errors"`
	Notices  int               `json:"notices"`
	Sites    []*lint.Site      `json:"sites"`
	Problems manifest.Problems `json:"problems"`
}

func (o *lintOptions) run(ctx context.Context, stdout, stderr io.Writer) error {
	if o.repo == "" {
		return usageError("--repo is required")
	}
	if o.output != "text" && o.output != "json" {
		return usageError("--output %q is not one of text, json", o.output)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	tree, err := o.tree(ctx)
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	var sites []string
	if o.site != "" {
		sites = []string{o.site}
	}
	rep := lint.Lint(tree, sites...)
	out := lintReport{Errors: rep.Errors(), Notices: len(rep.Problems) - rep.Errors(), Sites: rep.Sites, Problems: rep.Problems}
	if out.Sites == nil {
		out.Sites = []*lint.Site{}
	}
	if out.Problems == nil {
		out.Problems = manifest.Problems{}
	}
	return finish(stdout, stderr, ending{Output: o.output, JSON: out, Failed: out.Errors > 0, Text: func(w io.Writer) error {
		ops := 0
		for _, s := range rep.Sites {
			ops += s.OperationFiles
		}
		for _, p := range rep.Problems {
			fmt.Fprintln(w, p.String())
		}
		_, err := fmt.Fprintf(w, "%d %s, %d %s in %d %s (%d operation %s)\n", out.Errors, plural(out.Errors, "error", "errors"),
			out.Notices, plural(out.Notices, "notice", "notices"), len(rep.Sites), plural(len(rep.Sites), "site", "sites"), ops, plural(ops, "file", "files"))
		return err
	}})
}
