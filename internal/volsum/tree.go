package volsum

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// TreeDigest is the digest of the directory tree at root (see the
// package documentation for what it covers).
func TreeDigest(ctx context.Context, root string, opts Options) (Digest, error) {
	w := newWalker(root, opts, newProgress(opts.Progress, -1).add)
	for {
		e, err := w.next(ctx)
		if err != nil {
			return Digest{}, err
		}
		if e == nil {
			return w.digest(), nil
		}
	}
}

// kind is an entry's type as its record spells it.
type kind byte

const (
	kindDir      kind = 'd'
	kindFile     kind = 'f'
	kindHardLink kind = 'h' // a regular file's second or later path
	kindSymlink  kind = 'l'
	kindChar     kind = 'c'
	kindBlock    kind = 'b'
	kindFifo     kind = 'p'
	kindSocket   kind = 's'
)

var kindNames = map[kind]string{
	kindDir: "directory", kindFile: "file", kindHardLink: "hard link", kindSymlink: "symlink",
	kindChar: "character device", kindBlock: "block device", kindFifo: "fifo", kindSocket: "socket",
}

// entry is one path of a tree as its record holds it.
type entry struct {
	path     string // relative to the root, "/"-separated; "." is the root
	kind     kind
	perm     uint32 // the 07777 bits
	uid, gid uint32
	size     int64    // regular files
	sum      [32]byte // regular files
	target   string   // a symlink's target; a hard link's first path
	rdev     uint64   // device nodes
}

// record appends the entry's canonical encoding: length-prefixed fields
// in a fixed order, so that no two different entries encode alike.
func (e *entry) record(b []byte, owner bool) []byte {
	b = appendString(b, e.path)
	b = append(b, byte(e.kind))
	b = binary.AppendUvarint(b, uint64(e.perm))
	if owner {
		b = binary.AppendUvarint(b, uint64(e.uid))
		b = binary.AppendUvarint(b, uint64(e.gid))
	}
	switch e.kind {
	case kindFile:
		b = binary.AppendUvarint(b, uint64(e.size))
		b = append(b, e.sum[:]...)
	case kindSymlink, kindHardLink:
		b = appendString(b, e.target)
	case kindChar, kindBlock:
		b = binary.AppendUvarint(b, uint64(unix.Major(e.rdev)))
		b = binary.AppendUvarint(b, uint64(unix.Minor(e.rdev)))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// describe is the entry as a mismatch reports it.
func (e *entry) describe(owner bool) string {
	if e == nil {
		return "absent"
	}
	if e.kind == kindHardLink {
		return fmt.Sprintf("hard link to %q", e.target)
	}
	s := fmt.Sprintf("%s %04o", kindNames[e.kind], e.perm)
	if owner {
		s += fmt.Sprintf(" uid %d gid %d", e.uid, e.gid)
	}
	switch e.kind {
	case kindFile:
		s += fmt.Sprintf(", %d bytes, sha256 %s", e.size, hex.EncodeToString(e.sum[:]))
	case kindSymlink:
		s += fmt.Sprintf(" -> %q", e.target)
	case kindChar, kindBlock:
		s += fmt.Sprintf(", rdev %d:%d", unix.Major(e.rdev), unix.Minor(e.rdev))
	}
	return s
}

// walkKey orders paths as the walk meets them: component by component,
// each in byte order. Replacing "/" by NUL (which no name holds) makes
// that a plain byte comparison; the root, "", comes first.
func walkKey(path string) string {
	if path == "." {
		return ""
	}
	return strings.ReplaceAll(path, "/", "\x00")
}

// inode names a file across its paths.
type inode struct{ dev, ino uint64 }

// firstLink is a hard-linked file's first path and how many of its
// links the walk has not met yet.
type firstLink struct {
	path string
	left uint64
}

// frame is a directory being walked.
type frame struct {
	rel   string
	names []string
	i     int
}

// walker yields a tree's entries in walk order and hashes their records.
type walker struct {
	root    string
	owner   bool
	bufSize int
	add     func(int64)

	started bool
	dev     uint64
	stack   []frame
	links   map[inode]firstLink
	buf     []byte
	rec     []byte
	h       hash.Hash
	entries int64
	bytes   int64
}

// treeHeader starts every tree's stream, so a digest made without owners
// never equals one made with them.
const treeHeader = "nodewright volsum filesystem v1\n"

func newWalker(root string, opts Options, add func(int64)) *walker {
	w := &walker{root: root, owner: !opts.IgnoreOwner, bufSize: opts.bufferSize(), add: add,
		links: map[inode]firstLink{}, h: sha256.New()}
	w.h.Write([]byte(treeHeader))
	if w.owner {
		w.h.Write([]byte("owner\n"))
	} else {
		w.h.Write([]byte("no-owner\n"))
	}
	return w
}

func (w *walker) digest() Digest {
	return Digest{Path: w.root, SHA256: hex.EncodeToString(w.h.Sum(nil)), Size: w.bytes, Entries: w.entries}
}

func (w *walker) errorf(rel, format string, args ...any) error {
	return fmt.Errorf("filesystem volume %s: %s: %w", w.root, rel, fmt.Errorf(format, args...))
}

// next returns the next entry, or nil after the last.
func (w *walker) next(ctx context.Context) (*entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("filesystem volume %s: stopped after %d entries: %w", w.root, w.entries, err)
	}
	var e *entry
	var err error
	if !w.started {
		w.started = true
		e, err = w.visit(ctx, ".", true)
	} else {
		for e == nil && err == nil {
			if len(w.stack) == 0 {
				return nil, nil
			}
			top := &w.stack[len(w.stack)-1]
			if top.i == len(top.names) {
				w.stack = w.stack[:len(w.stack)-1]
				continue
			}
			name := top.names[top.i]
			top.i++
			if top.rel == "." && name == "lost+found" {
				continue
			}
			rel := name
			if top.rel != "." {
				rel = top.rel + "/" + name
			}
			e, err = w.visit(ctx, rel, false)
		}
	}
	if err != nil {
		return nil, err
	}
	w.rec = e.record(w.rec[:0], w.owner)
	var n [binary.MaxVarintLen64]byte
	w.h.Write(n[:binary.PutUvarint(n[:], uint64(len(w.rec)))])
	w.h.Write(w.rec)
	w.entries++
	return e, nil
}

// visit reads one path: its metadata, and a regular file's content or a
// directory's names.
func (w *walker) visit(ctx context.Context, rel string, isRoot bool) (*entry, error) {
	full := filepath.Join(w.root, filepath.FromSlash(rel))
	var st unix.Stat_t
	if err := unix.Lstat(full, &st); err != nil {
		return nil, w.errorf(rel, "lstat: %w", err)
	}
	e := &entry{path: rel, perm: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid}
	if isRoot {
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return nil, w.errorf(rel, "the root is a %s, not a directory (a raw device is read with mode block)", fileType(st.Mode))
		}
		w.dev = st.Dev
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		e.kind = kindDir
		if st.Dev != w.dev {
			return nil, fmt.Errorf("filesystem volume %s: %s (device %d:%d, the root's %d:%d) %w",
				w.root, rel, unix.Major(st.Dev), unix.Minor(st.Dev), unix.Major(w.dev), unix.Minor(w.dev), ErrMountPoint)
		}
		names, err := w.readNames(full, rel, &st)
		if err != nil {
			return nil, err
		}
		w.stack = append(w.stack, frame{rel: rel, names: names})
	case unix.S_IFREG:
		key := inode{uint64(st.Dev), st.Ino}
		if st.Nlink > 1 {
			if first, ok := w.links[key]; ok {
				e.kind, e.target, e.perm, e.uid, e.gid = kindHardLink, first.path, 0, 0, 0
				if first.left--; first.left == 0 {
					delete(w.links, key)
				} else {
					w.links[key] = first
				}
				return e, nil
			}
		}
		e.kind, e.size = kindFile, st.Size
		if err := w.hashFile(ctx, full, rel, &st, e); err != nil {
			return nil, err
		}
		if st.Nlink > 1 {
			w.links[key] = firstLink{path: rel, left: uint64(st.Nlink) - 1}
		}
	case unix.S_IFLNK:
		e.kind = kindSymlink
		target, err := os.Readlink(full)
		if err != nil {
			return nil, w.errorf(rel, "readlink: %w", err)
		}
		e.target = target
	case unix.S_IFCHR:
		e.kind, e.rdev = kindChar, uint64(st.Rdev)
	case unix.S_IFBLK:
		e.kind, e.rdev = kindBlock, uint64(st.Rdev)
	case unix.S_IFIFO:
		e.kind = kindFifo
	case unix.S_IFSOCK:
		e.kind = kindSocket
	default:
		return nil, w.errorf(rel, "unknown file type %#o", st.Mode&unix.S_IFMT)
	}
	return e, nil
}

// sameFile reports whether an open file is the one lstat saw, so that a
// path swapped between the two is noticed rather than read.
func sameFile(f *os.File, st *unix.Stat_t) (bool, error) {
	var fst unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &fst); err != nil {
		return false, err
	}
	return fst.Dev == st.Dev && fst.Ino == st.Ino && fst.Mode&unix.S_IFMT == st.Mode&unix.S_IFMT, nil
}

// open opens a path without following a symlink or blocking on a fifo
// that took its place.
func (w *walker) open(full, rel string, flags int, st *unix.Stat_t) (*os.File, error) {
	fd, err := unix.Open(full, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return nil, w.errorf(rel, "open: %w", err)
	}
	f := os.NewFile(uintptr(fd), full)
	same, err := sameFile(f, st)
	if err != nil || !same {
		f.Close()
		if err == nil {
			err = errors.New("it changed between lstat and open")
		}
		return nil, w.errorf(rel, "fstat: %w", err)
	}
	return f, nil
}

func (w *walker) readNames(full, rel string, st *unix.Stat_t) ([]string, error) {
	f, err := w.open(full, rel, unix.O_DIRECTORY, st)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, w.errorf(rel, "read directory: %w", err)
	}
	slices.Sort(names)
	return names, nil
}

func (w *walker) hashFile(ctx context.Context, full, rel string, st *unix.Stat_t, e *entry) error {
	f, err := w.open(full, rel, 0, st)
	if err != nil {
		return err
	}
	defer f.Close()
	if w.buf == nil {
		w.buf = make([]byte, w.bufSize)
	}
	h := sha256.New()
	var done int64
	for {
		if err := ctx.Err(); err != nil {
			return w.errorf(rel, "stopped after %d of %d bytes: %w", done, e.size, err)
		}
		n, err := f.Read(w.buf)
		h.Write(w.buf[:n])
		done += int64(n)
		w.bytes += int64(n)
		w.add(int64(n))
		if err == io.EOF {
			break
		}
		if err != nil {
			return w.errorf(rel, "read at offset %d: %w", done, err)
		}
	}
	if done != e.size {
		return w.errorf(rel, "read %d bytes of the %d lstat reported: it changed while being read", done, e.size)
	}
	h.Sum(e.sum[:0])
	return nil
}

// fileType names a file type for an error message.
func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFCHR:
		return "character device"
	case unix.S_IFBLK:
		return "block device"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return fmt.Sprintf("file of type %#o", mode&unix.S_IFMT)
}

// streamed is one entry, or the error that ended a walk, or (both nil)
// its end.
type streamed struct {
	e   *entry
	rec []byte
	err error
}

// stream walks a tree in its own goroutine, so that the two trees of a
// comparison are read at once; the channel's buffer bounds what it runs
// ahead.
func stream(ctx context.Context, wg *sync.WaitGroup, w *walker) <-chan streamed {
	ch := make(chan streamed, 64)
	wg.Go(func() {
		defer close(ch)
		for {
			e, err := w.next(ctx)
			item := streamed{e: e, err: err}
			if e != nil {
				item.rec = bytes.Clone(w.rec)
			}
			select {
			case ch <- item:
			case <-ctx.Done():
				return
			}
			if e == nil || err != nil {
				return
			}
		}
	})
	return ch
}

// compareTrees walks both trees in lockstep, merging their entries by
// walk order, and notes the first path where they differ.
func compareTrees(ctx context.Context, source, target string, opts Options) (Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	p := newProgress(opts.Progress, -1)
	sw, tw := newWalker(source, opts, p.add), newWalker(target, opts, p.add)
	sc, tc := stream(ctx, &wg, sw), stream(ctx, &wg, tw)
	recv := func(ch <-chan streamed) (streamed, error) {
		select {
		case it, ok := <-ch:
			if !ok { // the walker saw ctx end before it could send
				return streamed{}, context.Cause(ctx)
			}
			return it, it.err
		case <-ctx.Done():
			return streamed{}, ctx.Err()
		}
	}
	s, serr := recv(sc)
	t, terr := recv(tc)
	var diff *Difference
	owner := !opts.IgnoreOwner
	for {
		if err := firstCause(serr, terr); err != nil {
			return Result{}, err
		}
		if s.e == nil && t.e == nil {
			break
		}
		c := 0
		switch {
		case s.e == nil:
			c = 1
		case t.e == nil:
			c = -1
		default:
			c = strings.Compare(walkKey(s.e.path), walkKey(t.e.path))
		}
		switch {
		case c == 0:
			if diff == nil && !bytes.Equal(s.rec, t.rec) {
				diff = &Difference{Path: s.e.path, Source: s.e.describe(owner), Target: t.e.describe(owner)}
			}
			s, serr = recv(sc)
			t, terr = recv(tc)
		case c < 0:
			if diff == nil {
				diff = &Difference{Path: s.e.path, Source: s.e.describe(owner), Target: "absent"}
			}
			s, serr = recv(sc)
		default:
			if diff == nil {
				diff = &Difference{Path: t.e.path, Source: "absent", Target: t.e.describe(owner)}
			}
			t, terr = recv(tc)
		}
	}
	r := Result{Mode: Filesystem, Source: sw.digest(), Target: tw.digest(), FirstDifference: diff}
	verdict(&r)
	return r, nil
}
