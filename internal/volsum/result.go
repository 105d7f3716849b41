package volsum

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// Marshal encodes the result as one line of JSON of at most limit bytes
// (no limit when limit <= 0): Kubernetes keeps only the first 4096 bytes
// of a termination message, and a cut JSON document reads as nothing.
// When the whole result is longer, the paths, the descriptions of the
// first difference and the error are shortened (marked "...") and
// Truncated is set; the digests, sizes and verdict are never cut.
func (r Result) Marshal(limit int) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil || limit <= 0 || len(b) <= limit {
		return b, err
	}
	// Each free-text field gets an equal share of what is left after the
	// fixed part; halve the shares until it fits.
	for share := limit / 4; share >= 0; share /= 2 {
		s := r
		s.Truncated = true
		s.Source.Path = truncate(r.Source.Path, share)
		s.Target.Path = truncate(r.Target.Path, share)
		s.Error = truncate(r.Error, share)
		if d := r.FirstDifference; d != nil {
			s.FirstDifference = &Difference{Path: truncate(d.Path, share), Source: truncate(d.Source, share), Target: truncate(d.Target, share)}
		}
		if b, err = json.Marshal(s); err != nil || len(b) <= limit {
			return b, err
		}
		if share == 0 {
			break
		}
	}
	return nil, fmt.Errorf("the result does not fit in %d bytes even with its paths cut", limit)
}

// MaxResultSize bounds the JSON ParseResult reads.
const MaxResultSize = 1 << 20

// ParseResult reads a result as Marshal wrote it, typically from a
// checksum pod's termination message, and checks that it is consistent:
// a known mode and verdict, hex SHA-256 digests, and a verdict that agrees
// with the digests (a "match" whose digests differ is refused, so a reader
// can trust Match()).
func ParseResult(data []byte) (Result, error) {
	if len(data) > MaxResultSize {
		return Result{}, fmt.Errorf("checksum result: %d bytes, more than the %d allowed", len(data), MaxResultSize)
	}
	var r Result
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Result{}, fmt.Errorf("checksum result: %w", err)
	}
	if dec.More() {
		return Result{}, errors.New("checksum result: data after the JSON object")
	}
	if r.Verdict == Failed {
		// A command line refused before it knew the mode records none.
		if r.Error == "" {
			return Result{}, errors.New(`checksum result: verdict "error" without an error`)
		}
		if r.Mode != "" {
			if _, err := ParseMode(string(r.Mode)); err != nil {
				return Result{}, fmt.Errorf("checksum result: %w", err)
			}
		}
		return r, nil
	}
	if _, err := ParseMode(string(r.Mode)); err != nil {
		return Result{}, fmt.Errorf("checksum result: %w", err)
	}
	switch r.Verdict {
	case Match, Mismatch:
	default:
		return Result{}, fmt.Errorf("checksum result: verdict %s is not one of match, mismatch, error", quoted(string(r.Verdict), 66))
	}
	if r.Error != "" {
		return Result{}, fmt.Errorf("checksum result: verdict %q with an error", r.Verdict)
	}
	for _, d := range []Digest{r.Source, r.Target} {
		if !isSHA256(d.SHA256) {
			return Result{}, fmt.Errorf("checksum result: digest %s is not 64 lower-case hex digits", quoted(d.SHA256, 82))
		}
		if d.Size < 0 || d.Entries < 0 {
			return Result{}, errors.New("checksum result: a negative size or entry count")
		}
	}
	same := r.Source.Same(r.Target) && r.FirstDifference == nil
	if same != (r.Verdict == Match) {
		return Result{}, fmt.Errorf("checksum result: verdict %q disagrees with the digests", r.Verdict)
	}
	if r.FirstDifference != nil && r.Mode != Filesystem {
		return Result{}, errors.New("checksum result: a first differing path in block mode")
	}
	return r, nil
}

func isSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
