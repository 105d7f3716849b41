package main

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/source"
)

func newApproveCommand() *cobra.Command {
	var message string
	cmd := &cobra.Command{
		Use:   "approve FILE... [--message TEXT]",
		Short: "Approve operation manifests with a signed, empty approval commit",
		Long: `approve makes an empty commit in the git working copy you are in, signed with your own
git signing setup (gpg, or gpg.format=ssh), whose message carries one trailer per file:

    Nodewright-Approve: <path>@<blob id of the file at HEAD>

The approval counts only for that exact content: editing the file voids it. Files must be
committed and clean, and nothing may be staged, so the approval commit changes no files.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return approve(args, message, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVarP(&message, "message", "m", "", "a note for the approval commit")
	return cmd
}

// gitOut runs git in the current directory and returns its trimmed output.
func gitOut(args ...string) (string, error) {
	var stderr bytes.Buffer
	cmd := exec.Command("git", args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %s", args[0], strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func approve(files []string, note string, out io.Writer) error {
	if _, err := exec.LookPath("git"); err != nil {
		return usageError("approve needs git on PATH")
	}
	if _, err := gitOut("rev-parse", "--show-toplevel"); err != nil {
		return usageError("approve runs inside a git working copy of the fleet repository: %v", err)
	}
	if staged, _ := gitOut("diff", "--cached", "--name-only"); staged != "" {
		return usageError("changes are staged (%s); an approval commit changes no files: commit or unstage them first", strings.ReplaceAll(staged, "\n", ", "))
	}
	var trailers []string
	for _, f := range files {
		full, err := gitOut("ls-files", "--full-name", "--error-unmatch", "--", f)
		if err != nil || full == "" {
			return usageError("%s is not a committed file of this repository", f)
		}
		if dirty, _ := gitOut("status", "--porcelain", "--", f); dirty != "" {
			return usageError("%s has uncommitted changes; commit them (signed) first, then approve what was committed", f)
		}
		blob, err := gitOut("rev-parse", "HEAD:"+full)
		if err != nil {
			return usageError("%s: %v", f, err)
		}
		trailers = append(trailers, fmt.Sprintf("%s: %s@%s", source.ApproveTrailer, full, blob))
	}
	subject := "Approve " + strings.Join(files, ", ")
	if len(subject) > 72 {
		subject = fmt.Sprintf("Approve %d operations", len(files))
	}
	msg := subject + "\n\n"
	if note != "" {
		msg += note + "\n\n"
	}
	msg += strings.Join(trailers, "\n") + "\n"
	cmd := exec.Command("git", "commit", "--allow-empty", "--quiet", "-S", "--cleanup=verbatim", "-F", "-")
	cmd.Stdin = strings.NewReader(msg)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("signing the approval commit failed (is git set up to sign? user.signingkey, gpg.format): %s", strings.TrimSpace(stderr.String()))}
	}
	head, err := gitOut("rev-parse", "HEAD")
	if err != nil {
		return err
	}
	for _, t := range trailers {
		fmt.Fprintf(out, "approved %s\n", strings.TrimPrefix(t, source.ApproveTrailer+": "))
	}
	fmt.Fprintf(out, "in signed commit %s; push it with the pull request\n", head)
	return nil
}
