package volsum

import (
	"context"
	"fmt"
)

// Compare digests a source volume and its target in the given mode and
// reports whether they match. An error (a volume that cannot be read, a
// mount point in a tree, a cancelled context) is no verdict: the caller
// must not treat it as a match or as a mismatch.
func Compare(ctx context.Context, mode Mode, source, target string, opts Options) (Result, error) {
	switch mode {
	case Block:
		return compareBlocks(ctx, source, target, opts)
	case Filesystem:
		return compareTrees(ctx, source, target, opts)
	}
	return Result{}, fmt.Errorf("mode %q is not one of block, filesystem", mode)
}
