package volsum

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Mode says how a volume is read: as a raw device or as a mounted tree.
type Mode string

const (
	// Block reads a volume as one raw device (volumeMode: Block).
	Block Mode = "block"
	// Filesystem reads a volume as a mounted directory tree
	// (volumeMode: Filesystem).
	Filesystem Mode = "filesystem"
)

// ParseMode reads a mode as the command line and the JSON result spell
// it.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Block, Filesystem:
		return m, nil
	}
	return "", fmt.Errorf("mode %s is not one of block, filesystem", quoted(s, 66))
}

// Verdict is the outcome of a comparison.
type Verdict string

const (
	// Match is two volumes with equal digests and sizes.
	Match Verdict = "match"
	// Mismatch is two volumes whose digests or sizes differ.
	Mismatch Verdict = "mismatch"
	// Failed is a comparison that could not be made (a volume that
	// cannot be read, a mount point in a tree, a cancelled context); the
	// Result's Error says why. Compare never returns it: the command line
	// writes it for the reader of the termination message.
	Failed Verdict = "error"
)

// ErrMountPoint is the error of a tree with a directory below its root on
// another file system.
var ErrMountPoint = errors.New("is a mount point (another file system below the root); refusing to cross it")

// Options tune a digest. The zero value is the default.
type Options struct {
	// IgnoreOwner leaves the uid and gid of every entry out of a
	// filesystem digest (they are in by default). Block mode ignores it.
	IgnoreOwner bool
	// BufferSize is the size of each read (default DefaultBufferSize).
	BufferSize int
	// Progress, when set, is called after each buffer read with the bytes
	// done so far and the total; total is -1 when it is not known ahead
	// (filesystem mode). Compare reports the sum over both volumes. Calls
	// never overlap.
	Progress func(done, total int64)
}

// DefaultBufferSize is the size of each read: large enough that a device
// is read at the speed of SHA-256, not of system calls.
const DefaultBufferSize = 1 << 20

func (o Options) bufferSize() int {
	if o.BufferSize > 0 {
		return o.BufferSize
	}
	return DefaultBufferSize
}

// Digest is the checksum of one volume.
type Digest struct {
	// Path is the device or the tree's root as given.
	Path string `json:"path"`
	// SHA256 is the hex digest: of the device's content in block mode
	// (what sha256sum prints), of the stream of entry records in
	// filesystem mode.
	SHA256 string `json:"sha256"`
	// Size is the device's size in bytes in block mode, and the bytes of
	// regular file content (each inode once) in filesystem mode.
	Size int64 `json:"size"`
	// Entries is the number of entries of a tree, its root included
	// (filesystem mode only).
	Entries int64 `json:"entries,omitempty"`
}

// Same reports whether two digests are of the same content.
func (d Digest) Same(o Digest) bool {
	return d.SHA256 == o.SHA256 && d.Size == o.Size && d.Entries == o.Entries
}

// String is the digest as a status message shows it.
func (d Digest) String() string {
	if d.Entries > 0 {
		return fmt.Sprintf("sha256:%s (%d entries, %d bytes)", d.SHA256, d.Entries, d.Size)
	}
	return fmt.Sprintf("sha256:%s (%d bytes)", d.SHA256, d.Size)
}

// Difference is the first entry, in walk order, where two trees differ.
type Difference struct {
	// Path is relative to both roots ("." for the roots themselves).
	Path string `json:"path"`
	// Source and Target describe the entry on each side, or say
	// "absent".
	Source string `json:"source"`
	Target string `json:"target"`
}

// Result is the comparison of a source volume with its copy.
type Result struct {
	Mode    Mode    `json:"mode"`
	Verdict Verdict `json:"verdict"`
	Source  Digest  `json:"source"`
	Target  Digest  `json:"target"`
	// FirstDifference names the first differing path of a filesystem
	// mismatch.
	FirstDifference *Difference `json:"firstDifference,omitempty"`
	// Error says why a comparison failed (Verdict Failed).
	Error string `json:"error,omitempty"`
	// Truncated is set when Marshal shortened paths or descriptions to
	// fit its limit.
	Truncated bool `json:"truncated,omitempty"`
}

// Match reports whether the target is a proven copy of the source.
func (r Result) Match() bool {
	return r.Verdict == Match
}

// Summary is one line saying what the comparison found.
func (r Result) Summary() string {
	switch r.Verdict {
	case Match:
		return fmt.Sprintf("%s and %s match: %s", r.Source.Path, r.Target.Path, r.Source)
	case Mismatch:
		s := fmt.Sprintf("%s and %s differ: source %s, target %s", r.Source.Path, r.Target.Path, r.Source, r.Target)
		if d := r.FirstDifference; d != nil {
			s += fmt.Sprintf("; first at %q: source %s, target %s", d.Path, d.Source, d.Target)
		}
		return s
	}
	return "checksums not compared: " + r.Error
}

func verdict(r *Result) {
	r.Verdict = Match
	if !r.Source.Same(r.Target) || r.FirstDifference != nil {
		r.Verdict = Mismatch
	}
}

// truncate shortens s to at most n bytes, marking the cut, without
// splitting a UTF-8 sequence.
// quoted is s quoted as Go quotes it (escapes and all), cut to at most n
// bytes: a value in an error stays bounded whatever it holds, since an
// escape can take ten bytes for one byte of s.
func quoted(s string, n int) string { return truncate(strconv.Quote(s), n) }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "..."
	cut := max(n-len(mark), 0)
	for cut > 0 && cut < len(s) && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return strings.ToValidUTF8(s[:cut], "") + mark
}
