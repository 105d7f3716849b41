package mirror

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/nodewright/nodewright/source/reason"
)

// Bundle signatures: the first line of a git bundle, version 2 or 3.
const (
	bundleV2Signature = "# v2 git bundle\n"
	bundleV3Signature = "# v3 git bundle\n"
)

// Limits on a bundle header. A header is one line per ref and prerequisite,
// so these allow tens of thousands of refs while refusing a file that is
// not a bundle (or is hostile) before it costs much memory.
const (
	maxBundleHeaderBytes = 8 << 20
	maxBundleLineBytes   = 64 << 10
)

// packHeaderSize and packTrailerSize frame a pack: "PACK", version, object
// count; then the objects; then the SHA-1 of everything before it.
const (
	packHeaderSize  = 12
	packTrailerSize = sha1.Size
)

// bundleHeader is the parsed header of a git bundle.
type bundleHeader struct {
	// Version is 2 or 3.
	Version int
	// Prerequisites are the commits the bundle's pack assumes the
	// receiver has.
	Prerequisites []bundlePrerequisite
	// References are the refs the bundle carries, in file order.
	References []bundleReference
	// PackOffset is where the pack starts: the size of the header
	// including its terminating blank line.
	PackOffset int64
}

// bundlePrerequisite is a "-<id> [comment]" line of a bundle header.
type bundlePrerequisite struct {
	Hash    plumbing.Hash
	Comment string
}

// bundleReference is a "<id> <refname>" line of a bundle header.
type bundleReference struct {
	Hash plumbing.Hash
	Name plumbing.ReferenceName
}

// ref returns the bundle's reference called name, if it has one.
func (h *bundleHeader) ref(name plumbing.ReferenceName) (plumbing.Hash, bool) {
	for _, r := range h.References {
		if r.Name == name {
			return r.Hash, true
		}
	}
	return plumbing.ZeroHash, false
}

// refNames lists the bundle's references for a message.
func (h *bundleHeader) refNames() string {
	names := make([]string, len(h.References))
	for i, r := range h.References {
		names[i] = r.Name.String()
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// IsBundle reports whether path is a regular file that starts with a git
// bundle v2 or v3 signature line.
func IsBundle(path string) bool {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	buf := make([]byte, len(bundleV2Signature))
	if _, err := io.ReadFull(f, buf); err != nil {
		return false
	}
	s := string(buf)
	return s == bundleV2Signature || s == bundleV3Signature
}

// readBundleHeader parses a bundle header from r, reading at most
// maxBundleHeaderBytes. It may read past the header; PackOffset says where
// the pack starts. Errors describe what is wrong without naming the file.
func readBundleHeader(r io.Reader) (*bundleHeader, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxBundleHeaderBytes+1), maxBundleLineBytes)
	h := &bundleHeader{}
	var offset int64
	lineNo := 0
	seen := make(map[plumbing.ReferenceName]plumbing.Hash)

	for {
		raw, err := br.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			return nil, fmt.Errorf("header line %d is longer than %d bytes", lineNo+1, maxBundleLineBytes)
		case errors.Is(err, io.EOF):
			if offset+int64(len(raw)) > maxBundleHeaderBytes {
				return nil, fmt.Errorf("header is larger than %d bytes", maxBundleHeaderBytes)
			}
			if lineNo == 0 {
				return nil, errors.New("not a git bundle (no signature line)")
			}
			return nil, errors.New("header is truncated: the file ends before the blank line that starts the pack")
		case err != nil:
			return nil, err
		}
		lineNo++
		offset += int64(len(raw))
		if offset > maxBundleHeaderBytes {
			return nil, fmt.Errorf("header is larger than %d bytes", maxBundleHeaderBytes)
		}
		line := string(raw[:len(raw)-1])

		if lineNo == 1 {
			switch line + "\n" {
			case bundleV2Signature:
				h.Version = 2
			case bundleV3Signature:
				h.Version = 3
			default:
				if strings.HasPrefix(line, "# v") && strings.HasSuffix(line, " git bundle") {
					return nil, fmt.Errorf("unsupported bundle version %q (only v2 and v3 are supported)", line)
				}
				return nil, errors.New("not a git bundle (the first line is not \"# v2 git bundle\" or \"# v3 git bundle\")")
			}
			continue
		}

		switch {
		case line == "":
			if len(h.References) == 0 {
				return nil, errors.New("the header lists no references")
			}
			h.PackOffset = offset
			return h, nil

		case strings.HasPrefix(line, "@"):
			if h.Version < 3 {
				return nil, fmt.Errorf("header line %d: capability %q in a v2 bundle", lineNo, line)
			}
			if len(h.Prerequisites) > 0 || len(h.References) > 0 {
				return nil, fmt.Errorf("header line %d: capability %q after prerequisites or references", lineNo, line)
			}
			if err := checkCapability(line[1:]); err != nil {
				return nil, fmt.Errorf("header line %d: %w", lineNo, err)
			}

		case strings.HasPrefix(line, "-"):
			id, comment, _ := strings.Cut(line[1:], " ")
			hash, err := parseObjectID(id)
			if err != nil {
				return nil, fmt.Errorf("header line %d: prerequisite: %w", lineNo, err)
			}
			h.Prerequisites = append(h.Prerequisites, bundlePrerequisite{Hash: hash, Comment: comment})

		default:
			id, name, ok := strings.Cut(line, " ")
			if !ok {
				return nil, fmt.Errorf("header line %d: %q is neither a reference nor a prerequisite", lineNo, clip(line))
			}
			hash, err := parseObjectID(id)
			if err != nil {
				return nil, fmt.Errorf("header line %d: reference: %w", lineNo, err)
			}
			ref := plumbing.ReferenceName(name)
			if err := ref.Validate(); err != nil {
				return nil, fmt.Errorf("header line %d: %q is not a valid reference name", lineNo, clip(name))
			}
			if old, dup := seen[ref]; dup && old != hash {
				return nil, fmt.Errorf("header line %d: reference %s is listed twice with different objects", lineNo, ref)
			}
			seen[ref] = hash
			h.References = append(h.References, bundleReference{Hash: hash, Name: ref})
		}
	}
}

// checkCapability accepts the v3 capabilities a mirror can honour: a SHA-1
// object format. Filtered (partial) bundles lack objects the verifier
// needs, and an unknown capability may change the meaning of the rest.
func checkCapability(c string) error {
	key, value, _ := strings.Cut(c, "=")
	switch key {
	case "object-format":
		if value != "sha1" {
			return fmt.Errorf("object format %q is not supported (only sha1)", clip(value))
		}
		return nil
	case "filter":
		return fmt.Errorf("filtered (partial) bundles are not supported (filter %q)", clip(value))
	default:
		return fmt.Errorf("unknown capability %q", clip(c))
	}
}

// parseObjectID parses a 40-digit hexadecimal SHA-1 object id.
func parseObjectID(s string) (plumbing.Hash, error) {
	if len(s) != 2*len(plumbing.ZeroHash) {
		return plumbing.ZeroHash, fmt.Errorf("object id %q is not 40 hexadecimal digits", clip(s))
	}
	var h plumbing.Hash
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("object id %q is not 40 hexadecimal digits", clip(s))
	}
	if h.IsZero() {
		return plumbing.ZeroHash, errors.New("object id is all zeros")
	}
	return h, nil
}

// clip shortens s for a message.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}

// ImportBundle imports the git bundle at path into the mirror and sets
// refs/heads/<branch> to the bundle's refs/heads/<branch>, whose commit it
// returns. Every prerequisite commit of the bundle must already be in the
// mirror, so incremental bundles are imported in order.
//
// A bundle that is not well formed, lacks the branch, needs a missing
// prerequisite or carries a corrupt pack yields a *reason.Error with code
// reason.BundleInvalid, and no ref moves. Objects written before such a
// failure stay in the object store, unreferenced.
func (m *Mirror) ImportBundle(path string, branch string) (plumbing.Hash, error) {
	invalid := func(format string, args ...any) error {
		return reason.Errorf(reason.BundleInvalid, "", "bundle %s: %s", path, fmt.Sprintf(format, args...))
	}
	branchRef := plumbing.NewBranchReferenceName(branch)
	if branch == "" || branchRef.Validate() != nil {
		return plumbing.ZeroHash, invalid("%q is not a valid branch name", branch)
	}

	f, err := os.Open(path)
	if err != nil {
		return plumbing.ZeroHash, invalid("%v", pathless(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return plumbing.ZeroHash, invalid("%v", pathless(err))
	}
	if !fi.Mode().IsRegular() {
		return plumbing.ZeroHash, invalid("not a regular file")
	}

	h, err := readBundleHeader(f)
	if err != nil {
		return plumbing.ZeroHash, invalid("%v", err)
	}
	tip, ok := h.ref(branchRef)
	if !ok {
		return plumbing.ZeroHash, invalid("it has no %s; its references are: %s", branchRef, h.refNames())
	}

	m.mu.Lock()
	defer m.mu.Unlock()

	prerequisites := make(map[plumbing.Hash]bool, len(h.Prerequisites))
	for _, p := range h.Prerequisites {
		_, err := object.GetCommit(m.storer, p.Hash)
		switch {
		case errors.Is(err, plumbing.ErrObjectNotFound):
			return plumbing.ZeroHash, invalid("prerequisite %s is missing from the mirror; import the earlier bundle first", p.Hash)
		case errors.Is(err, plumbing.ErrInvalidType):
			return plumbing.ZeroHash, invalid("prerequisite %s is not a commit", p.Hash)
		case err != nil:
			return plumbing.ZeroHash, fmt.Errorf("bundle %s: read prerequisite %s from the mirror: %w", path, p.Hash, err)
		}
		prerequisites[p.Hash] = true
	}

	pack := io.NewSectionReader(f, h.PackOffset, fi.Size()-h.PackOffset)
	if err := m.writeBundlePack(pack, len(h.Prerequisites) > 0); err != nil {
		var re *reason.Error
		if errors.As(err, &re) {
			return plumbing.ZeroHash, err
		}
		return plumbing.ZeroHash, invalid("pack: %v", err)
	}

	for _, r := range h.References {
		if err := m.storer.HasEncodedObject(r.Hash); err != nil {
			return plumbing.ZeroHash, invalid("reference %s names %s, which is neither in the bundle's pack nor in the mirror", r.Name, r.Hash)
		}
	}
	if err := m.checkHistory(tip, prerequisites); err != nil {
		return plumbing.ZeroHash, invalid("%s: %v", branchRef, err)
	}

	if err := m.storer.SetReference(plumbing.NewHashReference(branchRef, tip)); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("bundle %s: set %s in mirror %s: %w", path, branchRef, m.dir, err)
	}
	return tip, nil
}

// pathless drops the path from a file system error, which the message
// around it already names.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// checkHistory walks the commits from tip back to the prerequisites (or the
// root) and checks that each commit and its root tree are present, so that a
// bundle whose pack omits part of the history it claims is refused before a
// ref points into it. It reads commits only, not whole trees.
func (m *Mirror) checkHistory(tip plumbing.Hash, stop map[plumbing.Hash]bool) error {
	seen := map[plumbing.Hash]bool{tip: true}
	queue := []plumbing.Hash{tip}
	for len(queue) > 0 {
		h := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		c, err := object.GetCommit(m.storer, h)
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return fmt.Errorf("commit %s is missing (or is not a commit)", h)
		}
		if err != nil {
			return fmt.Errorf("commit %s: %w", h, err)
		}
		if err := m.storer.HasEncodedObject(c.TreeHash); err != nil {
			return fmt.Errorf("tree %s of commit %s is missing", c.TreeHash, h)
		}
		for _, p := range c.ParentHashes {
			if !seen[p] && !stop[p] {
				seen[p] = true
				queue = append(queue, p)
			}
		}
	}
	return nil
}

// writeBundlePack checks the bundle's pack and writes it into the object
// storage. Before anything is written the pack's trailing checksum is
// verified, so a truncated or damaged file is refused without touching the
// store. A bundle with prerequisites carries a thin pack (git bundle create
// passes --thin to pack-objects): deltas against objects the receiver
// already has. The mirror stores complete packs only, so such bases are
// appended to the pack from the mirror, as git index-pack --fix-thin does.
func (m *Mirror) writeBundlePack(pack *io.SectionReader, mayBeThin bool) error {
	size := pack.Size()
	if size < packHeaderSize+packTrailerSize {
		return fmt.Errorf("truncated: %d bytes where a pack needs at least %d", size, packHeaderSize+packTrailerSize)
	}
	var header [packHeaderSize]byte
	if _, err := pack.ReadAt(header[:], 0); err != nil {
		return err
	}
	if string(header[:4]) != "PACK" {
		return errors.New("no pack signature after the header")
	}
	if v := binary.BigEndian.Uint32(header[4:8]); v != packfile.VersionSupported {
		return fmt.Errorf("pack version %d is not supported", v)
	}
	count := binary.BigEndian.Uint32(header[8:12])
	if err := verifyPackChecksum(pack); err != nil {
		return err
	}

	var bases []plumbing.Hash
	if mayBeThin {
		var err error
		bases, err = m.thinBases(pack)
		if err != nil {
			return err
		}
	}
	if count == 0 && len(bases) == 0 {
		return nil
	}
	if uint64(count)+uint64(len(bases)) > math.MaxUint32 {
		return errors.New("too many objects")
	}

	before := m.tempPacks()
	w, err := m.storer.PackfileWriter()
	if err != nil {
		return fmt.Errorf("mirror %s: %w", m.dir, err)
	}
	err = m.copyPack(w, pack, header, count, bases)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		m.removeNewTempPacks(before)
		if errors.Is(err, packfile.ErrReferenceDeltaNotFound) {
			return errors.New("a delta's base object is neither in the pack nor in the mirror")
		}
		return err
	}
	return nil
}

// verifyPackChecksum checks the SHA-1 trailer of a whole pack.
func verifyPackChecksum(pack *io.SectionReader) error {
	body := pack.Size() - packTrailerSize
	sum := sha1.New()
	if _, err := io.Copy(sum, io.NewSectionReader(pack, 0, body)); err != nil {
		return err
	}
	var trailer [packTrailerSize]byte
	if _, err := pack.ReadAt(trailer[:], body); err != nil {
		return err
	}
	if !bytes.Equal(sum.Sum(nil), trailer[:]) {
		return errors.New("checksum mismatch: the pack is truncated or damaged")
	}
	return nil
}

// thinBases scans the pack and returns the base objects of its reference
// deltas that the pack does not itself hold as whole objects but the mirror
// does. Bases missing from both are left for the pack parser to refuse.
func (m *Mirror) thinBases(pack *io.SectionReader) ([]plumbing.Hash, error) {
	s := packfile.NewScanner(io.NewSectionReader(pack, 0, pack.Size()))
	_, count, err := s.Header()
	if err != nil {
		return nil, err
	}
	whole := make(map[plumbing.Hash]bool)
	wanted := make(map[plumbing.Hash]bool)
	for i := uint32(0); i < count; i++ {
		oh, err := s.NextObjectHeader()
		if err != nil {
			return nil, fmt.Errorf("object %d of %d: %w", i+1, count, err)
		}
		switch oh.Type {
		case plumbing.REFDeltaObject:
			wanted[oh.Reference] = true
			_, _, err = s.NextObject(io.Discard)
		case plumbing.OFSDeltaObject:
			_, _, err = s.NextObject(io.Discard)
		default:
			hasher := plumbing.NewHasher(oh.Type, oh.Length)
			_, _, err = s.NextObject(hasher)
			whole[hasher.Sum()] = true
		}
		if err != nil {
			return nil, fmt.Errorf("object %d of %d: %w", i+1, count, err)
		}
	}
	if _, err := s.Checksum(); err != nil {
		return nil, err
	}
	var bases []plumbing.Hash
	for h := range wanted {
		if whole[h] {
			continue
		}
		if m.storer.HasEncodedObject(h) == nil {
			bases = append(bases, h)
		}
	}
	sort.Slice(bases, func(i, j int) bool { return bytes.Compare(bases[i][:], bases[j][:]) < 0 })
	return bases, nil
}

// copyPack writes the pack to w with the given base objects appended as
// whole objects: the object count in the header grows by len(bases) and the
// trailer is recomputed. With no bases it writes the pack unchanged.
func (m *Mirror) copyPack(w io.Writer, pack *io.SectionReader, header [packHeaderSize]byte, count uint32, bases []plumbing.Hash) error {
	if len(bases) == 0 {
		_, err := io.Copy(w, io.NewSectionReader(pack, 0, pack.Size()))
		return err
	}
	sum := sha1.New()
	out := io.MultiWriter(w, sum)
	binary.BigEndian.PutUint32(header[8:12], count+uint32(len(bases)))
	if _, err := out.Write(header[:]); err != nil {
		return err
	}
	body := io.NewSectionReader(pack, packHeaderSize, pack.Size()-packHeaderSize-packTrailerSize)
	if _, err := io.Copy(out, body); err != nil {
		return err
	}
	for _, h := range bases {
		if err := m.writeWholeObject(out, h); err != nil {
			return err
		}
	}
	_, err := w.Write(sum.Sum(nil))
	return err
}

// writeWholeObject appends the mirror's object h to a pack stream as an
// undeltified entry: a type-and-size header, then the zlib-compressed body.
func (m *Mirror) writeWholeObject(w io.Writer, h plumbing.Hash) error {
	obj, err := m.storer.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return fmt.Errorf("read delta base %s from the mirror: %w", h, err)
	}
	if _, err := w.Write(packObjectHeader(obj.Type(), obj.Size())); err != nil {
		return err
	}
	r, err := obj.Reader()
	if err != nil {
		return err
	}
	defer r.Close()
	zw := zlib.NewWriter(w)
	if _, err := io.Copy(zw, r); err != nil {
		return err
	}
	return zw.Close()
}

// packObjectHeader encodes a pack entry header: the type in bits 4-6 of the
// first byte, the size in 4 bits there and 7 bits in each following byte,
// with the high bit saying another byte follows.
func packObjectHeader(t plumbing.ObjectType, size int64) []byte {
	b := byte(t)<<4 | byte(size&0x0f)
	size >>= 4
	var out []byte
	for size > 0 {
		out = append(out, b|0x80)
		b = byte(size & 0x7f)
		size >>= 7
	}
	return append(out, b)
}
