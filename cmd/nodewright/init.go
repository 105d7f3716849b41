package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/schema/example"
	"github.com/nodewright/nodewright/source/trust"
)

type initOptions struct {
	example   bool
	principal string
	keyFile   string
}

func newInitCommand() *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init DIR [--example] [--principal NAME --key FILE]",
		Short: "Start a new fleet repository: git, a trust policy template, sites/ and bases/",
		Long: `init makes DIR (which must not exist or be empty) a new git repository with a commented
trust policy template in .nodewright/trust.yaml and the sites/ and bases/ folders. With
--principal and --key (an SSH .pub file or an ASCII-armored OpenPGP public key), the policy
names that principal in every role, ready to sign the first commit. With --example, it
also writes two sample sites and one operation of each kind, valid under "nodewright lint".
Nothing is committed: the first commit is yours to sign.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(args[0], cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&o.example, "example", false, "add two sample sites and one operation of each kind")
	cmd.Flags().StringVar(&o.principal, "principal", "", "name of the first principal (with --key)")
	cmd.Flags().StringVar(&o.keyFile, "key", "", "public key file of the first principal: SSH .pub or armored OpenPGP")
	return cmd
}

const trustTemplate = `# The trust policy of this fleet repository. Every commit is verified against
# the policy in force at its parent; a change of this file must raise version
# by exactly 1 and be approved by the trust-admins of the old policy.
apiVersion: nodewright.io/v1alpha1
kind: TrustPolicy
version: 1
# history: all           # all (default) | first-parent: which commits of a new range must be signed
# freshness: {maxAge: 72h}   # report Stale when the newest commit is older than this
principals:
%s
roles:
  committers:   {principals: [%s], threshold: 1}   # may sign commits that change files
  approvers:    {principals: [%s], threshold: 1}   # may approve operations
  trust-admins: {principals: [%s], threshold: 1}   # authorize changes of this file
operations:                  # approvals each operation kind needs before it may start
  BondModeFlipPlan:   {role: approvers, threshold: 1}
  ReplicationUpgrade: {role: approvers, threshold: 1}
  VMVolumeMigration:  {role: approvers, threshold: 1}
`

func (o *initOptions) policy() (string, error) {
	if (o.principal == "") != (o.keyFile == "") {
		return "", usageError("--principal and --key go together")
	}
	if o.principal == "" {
		entry := `  # Add each person or system that signs, with its public keys, e.g.:
  - name: REPLACE-ME
    keys:
      - ssh: "ssh-ed25519 AAAA... you@laptop"       # the .pub of your git signing key
      # - openpgp: |                                 # or: gpg --armor --export YOUR-KEY-ID
      #     -----BEGIN PGP PUBLIC KEY BLOCK-----`
		return fmt.Sprintf(trustTemplate, entry, "REPLACE-ME", "REPLACE-ME", "REPLACE-ME"), nil
	}
	data, err := os.ReadFile(o.keyFile)
	if err != nil {
		return "", usageError("--key: %v", err)
	}
	key := strings.TrimSpace(string(data))
	var entry string
	if strings.HasPrefix(key, "-----BEGIN PGP PUBLIC KEY BLOCK-----") {
		entry = fmt.Sprintf("  - name: %s\n    keys:\n      - openpgp: |\n          %s", o.principal, strings.ReplaceAll(key, "\n", "\n          "))
	} else {
		entry = fmt.Sprintf("  - name: %s\n    keys:\n      - ssh: %q", o.principal, key)
	}
	doc := fmt.Sprintf(trustTemplate, entry, o.principal, o.principal, o.principal)
	if _, err := trust.Parse(trust.Path, []byte(doc)); err != nil {
		return "", usageError("the policy made from --principal and --key is invalid:\n%v", err)
	}
	return doc, nil
}

func (o *initOptions) run(dir string, out io.Writer) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		return usageError("%s is not empty; init starts a new repository", dir)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return usageError("%s: %v", dir, err)
	}
	policy, err := o.policy()
	if err != nil {
		return err
	}
	repo, err := git.PlainInitWithOptions(dir, &git.PlainInitOptions{InitOptions: git.InitOptions{DefaultBranch: plumbing.Main}})
	if err != nil {
		return fmt.Errorf("git init %s: %w", dir, err)
	}
	_ = repo
	files := map[string]string{
		trust.Path:       policy,
		"sites/.gitkeep": "",
		"bases/.gitkeep": "",
		"README.md":      fleetReadme,
	}
	for p, content := range files {
		path := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	if o.example {
		if err := example.Write(dir); err != nil {
			return fmt.Errorf("write example: %w", err)
		}
	}
	fmt.Fprintf(out, "initialised fleet repository %s\n", dir)
	if o.principal == "" {
		fmt.Fprintf(out, "next: add your public key to %s (replace REPLACE-ME), then\n", filepath.Join(dir, ".nodewright", "trust.yaml"))
	} else {
		fmt.Fprintln(out, "next:")
	}
	fmt.Fprintf(out, "  cp %s trust-root.yaml     # the trust root your clusters pin\n", filepath.Join(dir, ".nodewright", "trust.yaml"))
	fmt.Fprintf(out, "  nodewright lint --repo %s\n", dir)
	fmt.Fprintf(out, "  git -C %s add -A && git -C %s commit -S -m \"Start the fleet\"\n", dir, dir)
	return nil
}

const fleetReadme = `# Fleet repository

Desired state for a fleet of edge clusters, verified and applied by Nodewright.

- .nodewright/trust.yaml: who may commit, approve and change trust. Every commit must be signed.
- sites/<site>/kustomization.yaml: renders the site's one EdgeProfile (usually from bases/).
- sites/<site>/operations/<name>.yaml: one operation manifest per file.
- bases/: shared kustomize bases.

Check changes before you push: nodewright lint --repo .
`
