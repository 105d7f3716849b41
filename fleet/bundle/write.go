package bundle

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/internal/atomicfile"
)

// packWindow is how many neighbouring objects the pack encoder tries as
// delta bases, as git pack-objects' default --window.
const packWindow = 10

// written is what writeBundle wrote.
type written struct {
	Walk    *walked
	Objects int
	Digest  FileDigest
}

// countingWriter counts the bytes written through it.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// writeBundle writes to path a git bundle (v2) carrying ref at tip and the
// commits w holds, with w's boundary as prerequisites. The pack is complete
// (no deltas against objects outside it), so any receiver holding the
// prerequisites can index it, git's `index-pack --fix-thin` and the mirror
// alike. The file appears at path only once complete.
func writeBundle(s storer.EncodedObjectStorer, path string, ref plumbing.ReferenceName, tip plumbing.Hash, w *walked) (*written, error) {
	objects, err := packObjects(s, w)
	if err != nil {
		return nil, err
	}
	var hdr strings.Builder
	hdr.WriteString(v2Signature + "\n")
	for _, b := range w.Boundary {
		subject, _, _ := strings.Cut(strings.TrimSpace(b.Message), "\n")
		subject = strings.TrimSpace(subject)
		if subject != "" {
			fmt.Fprintf(&hdr, "-%s %s\n", b.Hash, subject)
		} else {
			fmt.Fprintf(&hdr, "-%s\n", b.Hash)
		}
	}
	fmt.Fprintf(&hdr, "%s %s\n\n", tip, ref)
	sum := sha256.New()
	out := &countingWriter{}
	err = atomicfile.Write(path, 0o600, func(f io.Writer) error {
		bw := bufio.NewWriterSize(f, 1<<16)
		out.w = io.MultiWriter(bw, sum)
		_, err := io.WriteString(out, hdr.String())
		if err == nil {
			_, err = packfile.NewEncoder(out, s, false).Encode(objects, packWindow)
		}
		if err == nil {
			err = bw.Flush()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("write bundle: %w", err)
	}
	return &written{
		Walk:    w,
		Objects: len(objects),
		Digest:  FileDigest{Size: out.n, SHA256: hex.EncodeToString(sum.Sum(nil))},
	}, nil
}
