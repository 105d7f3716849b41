package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/fleet/bundle"
	"github.com/nodewright/nodewright/source/trust"
)

func newBundleCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bundle create|import ...",
		Short: "Carry the fleet branch and the status branch across an air gap as signed git bundles",
		Long: `bundle moves git history where no network reaches: the fleet branch from the hub to a
site, and a cluster's status branch from its site back to the hub. A bundle is an ordinary
git bundle (git bundle verify accepts it); next to it, <bundle>.manifest names its sha256,
branch, tip, prerequisites and a sequence number, signed by the maker's key.

Hub to site:   nodewright bundle create --repo FLEET --cluster C --out F --sign-key KEY
               nodewright bundle import F --into STATE-DIR --trust-root ROOT
Site to hub:   nodewright bundle create --status --repo STATUS-REPO --cluster C --out F --sign-key CLUSTER-KEY
               nodewright bundle import --status F --into FLEET`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usageError("bundle needs a subcommand: create or import (see %s --help)", cmd.CommandPath())
		},
	}
	cmd.AddCommand(newBundleCreateCommand(), newBundleImportCommand())
	return cmd
}

type bundleCreateOptions struct {
	repo, out, branch, since, cluster, statusBranch, signKey, state, output string
	status                                                                  bool
}

func newBundleCreateCommand() *cobra.Command {
	o := &bundleCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create --repo R --out F --sign-key KEY [--cluster C] [--since REV] [--status]",
		Short: "Write an incremental bundle of the fleet branch (or, with --status, of the status branch) and its signed manifest",
		Long: `create writes F, a git bundle (v2) of the branch holding every commit the receiver lacks,
and F.manifest, its signed manifest with the next sequence number of this repository and
branch. The pack is written in-process (go-git), not by the git CLI.

Where the bundle starts:
  --since REV               at REV, whatever else is known;
  --cluster C               (fleet) at the appliedCommit of clusters/C/status.yaml on the
                            status branch: what the site last reported;
  --status --cluster C      (status) at the status commit the hub acknowledged (carried in
                            the hub's fleet bundles; share --state with 'bundle import' at the
                            site to use it), else at the previous status bundle's tip;
  otherwise                 a full bundle of the branch.

--sign-key is an unencrypted OpenSSH private key (manifests are signed in SSH namespace
"nodewright-bundle") or an armored OpenPGP secret key without passphrase. Sequence numbers
are kept in --state (default: nodewright/bundles.json in the repository's git directory).

Exit codes: 0 written; 2 bad usage, or nothing to bundle (the receiver has the tip).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.repo, "repo", "", "local git repository (work tree or bare) to bundle from")
	f.StringVar(&o.out, "out", "", "bundle file to write; the manifest goes to <out>.manifest")
	f.StringVar(&o.branch, "branch", bundle.DefaultBranch, "fleet branch")
	f.StringVar(&o.since, "since", "", "revision the receiver already holds (overrides what the status says)")
	f.StringVar(&o.cluster, "cluster", "", "cluster the bundle is for (fleet) or from (status)")
	f.BoolVar(&o.status, "status", false, "bundle the status branch of --cluster (at a site, for the hub)")
	f.StringVar(&o.statusBranch, "status-branch", bundle.DefaultStatusBranch, "status branch")
	f.StringVar(&o.signKey, "sign-key", "", "private key signing the manifest: OpenSSH, or armored OpenPGP secret key")
	f.StringVar(&o.state, "state", "", "bundle state file (default: nodewright/bundles.json in the repository's git directory)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

func (o *bundleCreateOptions) run(stdout, stderr io.Writer) error {
	switch {
	case o.repo == "":
		return usageError("--repo is required")
	case o.out == "":
		return usageError("--out is required")
	case o.signKey == "":
		return usageError("--sign-key is required")
	case o.status && o.cluster == "":
		return usageError("--status needs --cluster: the cluster whose status the bundle carries")
	case o.output != "text" && o.output != "json":
		return usageError("--output %q is not one of text, json", o.output)
	}
	key, err := bundle.LoadSigningKey(o.signKey)
	if err != nil {
		return usageError("--sign-key: %v", err)
	}
	c, err := bundle.Create(bundle.CreateOptions{
		Repo: o.repo, Out: o.out, Branch: o.branch, Status: o.status, StatusBranch: o.statusBranch,
		Cluster: o.cluster, Since: o.since, Key: key, StatePath: o.state,
	})
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	report := struct {
		Bundle   string          `json:"bundle"`
		Manifest string          `json:"manifestFile"`
		Objects  int             `json:"objects"`
		Since    string          `json:"since"`
		Content  bundle.Manifest `json:"manifest"`
	}{c.Path, c.ManifestPath, c.Objects, c.Since, c.Manifest}
	return finish(stdout, stderr, ending{Output: o.output, JSON: report, Text: func(w io.Writer) error {
		m := c.Manifest
		fmt.Fprintf(w, "WROTE %s bundle %s: sequence %d, %d %s, %d objects, %d bytes\n", m.Type, c.Path, m.Sequence, m.Commits, plural(m.Commits, "commit", "commits"), c.Objects, m.Bundle.Size)
		fmt.Fprintf(w, "  %s at %s", m.Branch, m.Tip)
		if len(m.Prerequisites) > 0 {
			fmt.Fprintf(w, ", prerequisites %s", strings.Join(m.Prerequisites, ", "))
		}
		fmt.Fprintf(w, "\n  starting from %s\n", c.Since)
		fmt.Fprintf(w, "  manifest %s signed by %s key %s\n", c.ManifestPath, key.Format(), key.ID())
		return nil
	}})
}

type bundleImportOptions struct {
	into, trustRoot, branch, statusBranch, clusterKeys, signKey, manifest, state, output string
	status                                                                               bool
}

func newBundleImportCommand() *cobra.Command {
	o := &bundleImportOptions{}
	cmd := &cobra.Command{
		Use:   "import BUNDLE --into DIR [--trust-root FILE] [--status]",
		Short: "Verify a bundle and its manifest and bring it into a source's mirror (or, with --status, into the hub's status branch)",
		Long: `import checks BUNDLE.manifest's signature, the bundle's sha256, that every prerequisite
commit is present (BundleInvalid names a missing one), and that the sequence number is newer
than the last one imported from the same maker and branch (BundleReplay otherwise; a jump is
imported and reported as a gap).

A fleet bundle (at a site): --into is the source state directory (as 'nodewright verify
--state-dir' uses it). The manifest must be signed by a committer of the policy in force
(the trust root, or the policy at the last accepted commit). The bundle is then fetched
into the mirror and every new commit verified exactly as 'nodewright verify' does.

A status bundle (--status, at the hub): --into is the fleet repository. The manifest must
be signed by the cluster's key from .nodewright/clusters.yaml on --branch (or
--cluster-keys), or by a committer of --trust-root if given; every new commit must be
signed by the cluster and touch only clusters/<cluster>/. The status branch is then
fast-forwarded, or gets a merge commit (signed with --sign-key if given) that takes only
that directory from the bundle.

Exit codes: 0 imported; 1 refused (a "REJECTED <ReasonCode>: <message>" line on stderr per
refusal); 2 bad usage, or files that cannot be read.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.into, "into", "", "source state directory (fleet bundle) or fleet repository (--status)")
	f.StringVar(&o.trustRoot, "trust-root", "", "TrustPolicy pinning the first policy accepted (required for a fleet bundle)")
	f.StringVar(&o.branch, "branch", bundle.DefaultBranch, "fleet branch")
	f.BoolVar(&o.status, "status", false, "the bundle carries a cluster's status branch: merge it at the hub")
	f.StringVar(&o.statusBranch, "status-branch", bundle.DefaultStatusBranch, "status branch")
	f.StringVar(&o.clusterKeys, "cluster-keys", "", "ClusterKeys file to read instead of .nodewright/clusters.yaml on --branch (--status)")
	f.StringVar(&o.signKey, "sign-key", "", "private key signing merge commits on the status branch (--status)")
	f.StringVar(&o.manifest, "manifest", "", "manifest file (default: BUNDLE.manifest)")
	f.StringVar(&o.state, "state", "", "bundle state file (default: bundles.json in --into, or nodewright/bundles.json in its git directory with --status)")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	return cmd
}

// bundleImportReport is the -o json document of bundle import.
type bundleImportReport struct {
	Accepted        bool            `json:"accepted"`
	Type            string          `json:"type,omitempty"`
	Origin          string          `json:"origin,omitempty"`
	Branch          string          `json:"branch,omitempty"`
	Cluster         string          `json:"cluster,omitempty"`
	Sequence        uint64          `json:"sequence,omitempty"`
	Tip             string          `json:"tip,omitempty"`
	Signer          string          `json:"signer,omitempty"`
	Gap             string          `json:"gap,omitempty"`
	CommitsVerified int             `json:"commitsVerified"`
	Merge           string          `json:"merge,omitempty"`
	StatusBranch    string          `json:"statusBranchTip,omitempty"`
	Refusals        []refusalReport `json:"refusals"`
}

func (o *bundleImportOptions) run(ctx context.Context, file string, stdout, stderr io.Writer) error {
	switch {
	case o.into == "":
		return usageError("--into is required")
	case !o.status && o.trustRoot == "":
		return usageError("--trust-root is required to import a fleet bundle")
	case !o.status && (o.clusterKeys != "" || o.signKey != ""):
		return usageError("--cluster-keys and --sign-key go with --status")
	case o.output != "text" && o.output != "json":
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
	if ctx == nil {
		ctx = context.Background()
	}

	var res *bundle.Imported
	var err error
	if o.status {
		var key *bundle.SigningKey
		if o.signKey != "" {
			if key, err = bundle.LoadSigningKey(o.signKey); err != nil {
				return usageError("--sign-key: %v", err)
			}
		}
		res, err = bundle.ImportStatus(bundle.StatusImportOptions{
			Bundle: file, Manifest: o.manifest, Into: o.into, StatusBranch: o.statusBranch, FleetBranch: o.branch,
			ClusterKeys: o.clusterKeys, Root: root, SignKey: key, StatePath: o.state,
		})
	} else {
		res, err = bundle.Import(ctx, bundle.ImportOptions{
			Bundle: file, Manifest: o.manifest, Into: o.into, Branch: o.branch, Root: root, StatePath: o.state,
		})
	}
	if err != nil {
		return &exitError{code: exitUsage, err: err}
	}
	rep := newBundleImportReport(res)
	var warnings []string
	if rep.Gap != "" {
		warnings = append(warnings, "sequence gap: "+rep.Gap)
	}
	if res.Result != nil && res.Result.Stale != nil {
		warnings = append(warnings, fmt.Sprintf("%s: %s", res.Result.Stale.Code, res.Result.Stale.Message))
	}
	return finish(stdout, stderr, ending{
		Output: o.output, JSON: rep, Refusals: refusals(rep.Refusals), Warnings: warnings,
		Text: func(w io.Writer) error { printBundleImport(w, res, rep); return nil },
	})
}

func newBundleImportReport(res *bundle.Imported) bundleImportReport {
	rep := bundleImportReport{Accepted: res.Accepted(), Refusals: []refusalReport{}}
	if m := res.Manifest; m != nil {
		rep.Type, rep.Origin, rep.Branch, rep.Cluster, rep.Sequence, rep.Tip = string(m.Type), m.Origin, m.Branch, m.Cluster, m.Sequence, m.Tip
	}
	if res.Signer.Key != "" {
		rep.Signer = fmt.Sprintf("%s (%s key %s)", res.Signer.Principal, res.Signer.Format, res.Signer.Key)
	}
	if res.Gap != nil {
		rep.Gap = res.Gap.String()
	}
	if res.Result != nil {
		rep.CommitsVerified = len(res.Result.Commits)
	}
	if s := res.Status; s != nil {
		rep.CommitsVerified = s.Commits
		rep.Merge = string(s.Kind)
		rep.StatusBranch = s.Branch.String()
	}
	for _, r := range res.Refusals {
		rep.Refusals = append(rep.Refusals, refusalReport{Code: r.Code, Commit: r.Commit, Message: r.Message})
	}
	return rep
}

func printBundleImport(w io.Writer, res *bundle.Imported, rep bundleImportReport) {
	if !rep.Accepted {
		fmt.Fprintln(w, "nothing imported")
		return
	}
	fmt.Fprintf(w, "IMPORTED %s bundle sequence %d of %s: %s\n", rep.Type, rep.Sequence, rep.Branch, rep.Tip)
	fmt.Fprintf(w, "  manifest signed by %s\n", rep.Signer)
	switch s := res.Status; {
	case s != nil && s.Kind == bundle.MergeCommit:
		fmt.Fprintf(w, "  status of cluster %s: %d new %s checked; merged into %s as %s\n", s.Cluster, s.Commits, plural(s.Commits, "commit", "commits"), rep.Branch, s.Branch)
	case s != nil && s.Kind == bundle.UpToDate:
		fmt.Fprintf(w, "  status of cluster %s: %s already holds it\n", s.Cluster, rep.Branch)
	case s != nil:
		fmt.Fprintf(w, "  status of cluster %s: %d new %s checked; %s fast-forwarded to %s\n", s.Cluster, s.Commits, plural(s.Commits, "commit", "commits"), rep.Branch, s.Branch)
	case res.Result != nil:
		line := fmt.Sprintf("  ACCEPTED %s: verified %d new %s", res.Result.Tip, rep.CommitsVerified, plural(rep.CommitsVerified, "commit", "commits"))
		if signers := res.Result.Signers(); len(signers) > 0 {
			line += ", signed by " + strings.Join(signers, ", ")
		}
		fmt.Fprintln(w, line)
	}
}
