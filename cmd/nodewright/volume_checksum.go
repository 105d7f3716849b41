package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/nodewright/nodewright/internal/volsum"
	"github.com/nodewright/nodewright/reconciler/vmmigration"
)

// terminationMessageLimit is what Kubernetes keeps of a container's
// termination message.
const terminationMessageLimit = 4096

type volumeChecksumOptions struct {
	mode           string
	source         string
	target         string
	output         string
	terminationLog string
	ignoreOwner    bool
}

func newVolumeChecksumCommand() *cobra.Command {
	o := &volumeChecksumOptions{}
	cmd := &cobra.Command{
		Use:   "volume-checksum --mode block|filesystem --source PATH --target PATH [-o json]",
		Short: "Compare checksums of a source volume and its copy (what the checksum Job's pod runs)",
		Long: `volume-checksum digests a source volume and its copy and says whether they match:
in block mode the SHA-256 of each whole device (what sha256sum prints), in filesystem
mode a digest of each mounted tree (paths, types, permission bits, owners, contents,
symlink targets, hard links and device numbers; never times; lost+found at the root
skipped; a mount point below the root refused). It is what the pod of VMVolumeMigration's
checksum Job runs, with both volumes mounted read-only.

The result is printed, and written as JSON (at most 4096 bytes) to --termination-log for
the reconciler to read. Exit codes: 0 the volumes match; 1 they differ (a line
"REJECTED ChecksumMismatch: ..." on stderr); 2 bad usage or a volume that cannot be read.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.mode, "mode", "", "how both volumes are read: block (raw devices) or filesystem (mounted trees)")
	f.StringVar(&o.source, "source", "", "the source volume: a block device or a directory")
	f.StringVar(&o.target, "target", "", "the target volume, read the same way")
	f.StringVarP(&o.output, "output", "o", "text", "output format: text or json")
	f.StringVar(&o.terminationLog, "termination-log", "/dev/termination-log", `file the JSON result is written to ("" for none)`)
	f.BoolVar(&o.ignoreOwner, "ignore-owner", false, "leave uid and gid out of filesystem digests")
	return cmd
}

func (o *volumeChecksumOptions) run(cmd *cobra.Command, stdout, stderr io.Writer) error {
	mode, err := volsum.ParseMode(o.mode)
	switch {
	case o.mode == "":
		err = usageError("--mode is required (block or filesystem)")
	case err != nil:
		err = usageError("--mode: %v", err)
	case o.source == "":
		err = usageError("--source is required")
	case o.target == "":
		err = usageError("--target is required")
	case o.output != "text" && o.output != "json":
		err = usageError("--output %q is not one of text, json", o.output)
	}
	if err != nil {
		return o.fail(mode, err)
	}
	opts := volsum.Options{IgnoreOwner: o.ignoreOwner}
	if isTerminal(stderr) {
		opts.Progress = progressPrinter(stderr)
	}
	res, err := volsum.Compare(cmd.Context(), mode, o.source, o.target, opts)
	if err != nil {
		code := exitUsage
		if errors.Is(err, context.Canceled) {
			code = exitInterrupted // SIGINT or SIGTERM: the pod is being stopped
		}
		return o.fail(mode, &exitError{code: code, err: err})
	}
	if err := o.writeTerminationLog(res); err != nil {
		return err
	}
	if o.output == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(stdout, res.Summary())
	}
	if !res.Match() {
		fmt.Fprintf(stderr, "REJECTED %s: %s\n", vmmigration.ReasonChecksumMismatch, res.Summary())
		return &exitError{code: exitRefused, silent: true}
	}
	return nil
}

// fail records a comparison that was not made in the termination log, so
// that the reader learns why rather than finding nothing, and returns err.
func (o *volumeChecksumOptions) fail(mode volsum.Mode, err error) error {
	res := volsum.Result{Mode: mode, Verdict: volsum.Failed, Error: err.Error(),
		Source: volsum.Digest{Path: o.source}, Target: volsum.Digest{Path: o.target}}
	if werr := o.writeTerminationLog(res); werr != nil {
		// The exit code is the termination log's (the one with a code
		// attached); the first error is the news.
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (and %w)", err, werr)}
	}
	return err
}

// writeTerminationLog writes the result in place: the kubelet bind-mounts
// the file into the container, so it is truncated and written, not
// replaced by a rename.
func (o *volumeChecksumOptions) writeTerminationLog(res volsum.Result) error {
	if o.terminationLog == "" {
		return nil
	}
	data, err := res.Marshal(terminationMessageLimit)
	if err == nil {
		err = os.WriteFile(o.terminationLog, data, 0o644)
	}
	if err != nil {
		return &exitError{code: exitUsage, err: fmt.Errorf("termination log: %w (a result nobody reads proves nothing; --termination-log \"\" writes none)", err)}
	}
	return nil
}

// progressPrinter reports every tenth of a known total, and every GiB of
// an unknown one.
func progressPrinter(w io.Writer) func(done, total int64) {
	var step int64
	return func(done, total int64) {
		var s int64
		if total > 0 {
			s = done * 10 / total
		} else {
			s = done >> 30
		}
		if s == step {
			return
		}
		step = s
		if total > 0 {
			fmt.Fprintf(w, "checksum: %d%% (%d of %d bytes)\n", s*10, done, total)
		} else {
			fmt.Fprintf(w, "checksum: %d GiB read\n", s)
		}
	}
}
