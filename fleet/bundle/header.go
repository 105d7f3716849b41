package bundle

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// Bundle signature lines: the first line of a git bundle.
const (
	v2Signature = "# v2 git bundle"
	v3Signature = "# v3 git bundle"
)

// Limits on a bundle header, which lists one line per prerequisite and ref.
const (
	maxHeaderBytes = 8 << 20
	maxHeaderLine  = 64 << 10
)

// Header is the parsed header of a git bundle: the commits its pack assumes
// the receiver has, and the refs it carries.
type Header struct {
	// Version is 2 or 3.
	Version int
	// Prerequisites are the commits the receiver must already hold.
	Prerequisites []plumbing.Hash
	// Refs maps each reference the bundle carries to its object.
	Refs map[plumbing.ReferenceName]plumbing.Hash
	// PackOffset is where the pack starts in the file.
	PackOffset int64
}

// ReadHeader parses the header of a git bundle from r. It reads at most
// 8 MiB and may read past the header.
func ReadHeader(r io.Reader) (*Header, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxHeaderBytes), maxHeaderLine)
	h := &Header{Refs: map[plumbing.ReferenceName]plumbing.Hash{}}
	for n := 1; ; n++ {
		raw, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return nil, fmt.Errorf("bundle header line %d is longer than %d bytes", n, maxHeaderLine)
		case errors.Is(err, io.EOF):
			if n == 1 {
				return nil, errors.New("not a git bundle: the file is empty or has no signature line")
			}
			return nil, errors.New("bundle header is truncated: no blank line before the pack")
		case err != nil:
			return nil, err
		}
		h.PackOffset += int64(len(raw))
		line := string(raw[:len(raw)-1])
		if n == 1 {
			switch line {
			case v2Signature:
				h.Version = 2
			case v3Signature:
				h.Version = 3
			default:
				return nil, errors.New(`not a git bundle: the first line is not "# v2 git bundle" or "# v3 git bundle"`)
			}
			continue
		}
		switch {
		case line == "":
			if len(h.Refs) == 0 {
				return nil, errors.New("bundle header lists no references")
			}
			return h, nil
		case strings.HasPrefix(line, "@"):
			if h.Version < 3 || len(h.Refs) > 0 || len(h.Prerequisites) > 0 {
				return nil, fmt.Errorf("bundle header line %d: misplaced capability %q", n, clip(line))
			}
			if line != "@object-format=sha1" {
				return nil, fmt.Errorf("bundle header line %d: capability %q is not supported", n, clip(line))
			}
		case strings.HasPrefix(line, "-"):
			id, _, _ := strings.Cut(line[1:], " ")
			hash, ok := parseID(id)
			if !ok {
				return nil, fmt.Errorf("bundle header line %d: prerequisite %q is not a 40-hex object id", n, clip(id))
			}
			h.Prerequisites = append(h.Prerequisites, hash)
		default:
			id, name, ok := strings.Cut(line, " ")
			hash, okID := parseID(id)
			ref := plumbing.ReferenceName(name)
			if !ok || !okID || ref.Validate() != nil {
				return nil, fmt.Errorf("bundle header line %d: %q is neither a reference nor a prerequisite", n, clip(line))
			}
			if old, dup := h.Refs[ref]; dup && old != hash {
				return nil, fmt.Errorf("bundle header line %d: reference %s is listed twice", n, ref)
			}
			h.Refs[ref] = hash
		}
	}
}

// parseID parses a lower-case 40-hex SHA-1 object id other than all zeros.
func parseID(s string) (plumbing.Hash, bool) {
	if !isHexID(s, 40) {
		return plumbing.ZeroHash, false
	}
	h := plumbing.NewHash(s)
	return h, !h.IsZero()
}

// isHexID reports whether s is n lower-case hexadecimal digits.
func isHexID(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// clip shortens s for a message.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
