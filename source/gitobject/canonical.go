package gitobject

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
)

// The bounds on what a commit or tree may hold before it is read further.
// They are far above what a fleet repository needs and low enough that no
// signer can make verification, the approvals index or rendering cost more
// than a bounded amount or fail for everyone after them.
const (
	// MaxCommitSize bounds a commit object, message and signature included.
	MaxCommitSize = 1 << 20
	// MaxParents bounds the parents of one commit (an octopus merge).
	MaxParents = 64
	// MaxTreeSize bounds one tree object.
	MaxTreeSize = 4 << 20
	// MaxTreeEntries bounds the entries of one tree object.
	MaxTreeEntries = 10_000
	// MaxTreeDepth bounds how deep trees nest below the root tree, well
	// under what go-git walks (1024), so that every reader of an accepted
	// tree reaches all of it.
	MaxTreeDepth = 64
	// MaxNameLength bounds one tree entry name.
	MaxNameLength = 255
)

// ErrTooManyEntries is returned for a tree with more entries than allowed.
var ErrTooManyEntries = errors.New("tree has more entries than allowed")

// The modes a canonical tree entry may have, as git writes them.
const (
	ModeFile       = "100644"
	ModeExecutable = "100755"
	ModeSymlink    = "120000"
	ModeTree       = "40000"
	ModeGitlink    = "160000"
)

// Entry is one entry of a tree object.
type Entry struct {
	// Mode is the entry's mode as written in the tree.
	Mode string
	// Name is the entry's name.
	Name string
	// Hash is the id of the object it names.
	Hash plumbing.Hash
}

// IsTree reports whether the entry names a subtree.
func (e Entry) IsTree() bool { return e.Mode == ModeTree }

// IsRegular reports whether the entry names a regular (possibly
// executable) file.
func (e Entry) IsRegular() bool { return e.Mode == ModeFile || e.Mode == ModeExecutable }

// ParseTree parses a tree object and checks that it is canonical, as
// `git fsck --strict` would: known modes written without zero padding,
// names that are not empty, ".", "..", ".git" (nor a variant that a case-
// or Unicode-folding file system reads as .git) and hold no '/', entries
// in git's order and no name twice. Only a canonical tree is read the same
// way by every reader (the verifier, the approvals index, go-git and the
// git CLI), so anything else is refused rather than interpreted.
func ParseTree(raw []byte) ([]Entry, error) {
	if len(raw) > MaxTreeSize {
		return nil, fmt.Errorf("tree object of %d bytes is larger than %d", len(raw), MaxTreeSize)
	}
	return ParseTreeUpTo(raw, MaxTreeEntries)
}

// ParseTreeUpTo is ParseTree for trees that legitimately hold more
// entries than a fleet repository's (a status branch's directory of
// clusters): it checks the same canonical form, allows up to maxEntries
// entries (returning ErrTooManyEntries past them) and leaves the object's
// size to the caller.
func ParseTreeUpTo(raw []byte, maxEntries int) ([]Entry, error) {
	out := make([]Entry, 0, min(len(raw)/minEntrySize, maxEntries)+1)
	// Strict order rules out a name listed twice as the same type; a
	// file and a directory of one name sort apart ("x" < "x-y" < "x/"),
	// so the files that a later directory could still collide with are
	// kept on a stack: while entries are named with a file's name and a
	// byte below '/' after it, that file is pending.
	var pending []string
	var err error
	walkErr := EachTreeEntry(raw, func(mode, name []byte, h plumbing.Hash) bool {
		if len(out) == maxEntries {
			err = ErrTooManyEntries
			return false
		}
		e := Entry{Mode: string(mode), Name: string(name), Hash: h}
		if err = checkEntry(e); err != nil {
			return false
		}
		if n := len(out); n > 0 && compareEntries(out[n-1], e) >= 0 {
			if out[n-1].Name == e.Name {
				err = fmt.Errorf("entry %q is listed twice", e.Name)
			} else {
				err = fmt.Errorf("entries %q and %q are not in git's order", out[n-1].Name, e.Name)
			}
			return false
		}
		for len(pending) > 0 {
			p := pending[len(pending)-1]
			if e.Name == p {
				err = fmt.Errorf("entry %q is listed twice", e.Name)
				return false
			}
			if len(e.Name) > len(p) && e.Name[len(p)] < '/' && strings.HasPrefix(e.Name, p) {
				break
			}
			pending = pending[:len(pending)-1]
		}
		if !e.IsTree() {
			pending = append(pending, e.Name)
		}
		out = append(out, e)
		return true
	})
	if walkErr != nil {
		return nil, walkErr
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// minEntrySize is the size of the smallest tree entry ("1 x\0" and a
// 20-byte id): a bound on the entries of a tree of a given size.
const minEntrySize = 24

func checkEntry(e Entry) error {
	switch e.Mode {
	case ModeFile, ModeExecutable, ModeSymlink, ModeTree, ModeGitlink:
	default:
		if strings.HasPrefix(e.Mode, "0") {
			return fmt.Errorf("entry %q has the zero-padded mode %s", e.Name, e.Mode)
		}
		return fmt.Errorf("entry %q has the mode %q, which git does not write", e.Name, e.Mode)
	}
	switch {
	case e.Name == "":
		return fmt.Errorf("an entry has an empty name")
	case len(e.Name) > MaxNameLength:
		return fmt.Errorf("entry name %.40q... is longer than %d bytes", e.Name, MaxNameLength)
	case e.Name == "." || e.Name == "..":
		return fmt.Errorf("entry %q is not a file name", e.Name)
	case strings.ContainsRune(e.Name, '/'):
		return fmt.Errorf("entry %q holds a '/'", e.Name)
	case IsDotGit(e.Name):
		return fmt.Errorf("entry %q names a .git directory", e.Name)
	}
	return nil
}

// IsDotGit reports whether a tree entry name is ".git" or a name that some
// file system reads as .git: any case (.GIT), trailing dots or spaces
// (NTFS), the 8.3 short name git~1, or .git with ignorable Unicode code
// points (HFS+).
func IsDotGit(name string) bool {
	if n := len(strings.TrimRight(name, ". ")); n != 4 && n != 5 && isASCII(name) {
		return false // too long or short for .git or git~1, and no ignorable code point
	}
	folded := strings.ToLower(stripHFSIgnorable(name))
	if folded == ".git" || folded == "git~1" {
		return true
	}
	trimmed := strings.TrimRight(strings.ToLower(name), ". ")
	return trimmed == ".git" || trimmed == "git~1"
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// stripHFSIgnorable removes the code points HFS+ ignores when it compares
// names (zero-width joiners, direction marks and the like).
func stripHFSIgnorable(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0x200c && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x206a && r <= 0x206f, r == 0xfeff:
			return -1
		}
		return r
	}, s)
}

// compareEntries orders tree entries as git does: by name, a subtree's
// name compared as if it ended in '/'.
func compareEntries(a, b Entry) int {
	return CompareNames(a.Name, a.IsTree(), b.Name, b.IsTree())
}

// CompareNames orders two tree entries, named a and b and directories
// when aDir and bDir, as git sorts a tree: bytewise by name, a
// directory's name compared as if it ended in '/'. It allocates nothing.
func CompareNames(a string, aDir bool, b string, bDir bool) int {
	n := min(len(a), len(b))
	if c := strings.Compare(a[:n], b[:n]); c != 0 {
		return c
	}
	return cmp.Compare(sortByte(a, aDir, n), sortByte(b, bDir, n))
}

// sortByte is byte i of an entry's sort key: its name, then '/' for a
// directory, then 0 past the end.
func sortByte(name string, dir bool, i int) int {
	switch {
	case i < len(name):
		return int(name[i])
	case i == len(name) && dir:
		return '/'
	}
	return 0
}

// CheckCommit checks that a raw commit object is canonical, as `git fsck
// --strict` would, so that every reader agrees on its tree, parents and
// signature: a tree header first, then parent headers, then exactly one
// author and one committer with well-formed identities, then any other
// headers (at most one signature), no NUL byte in the headers, a bounded
// size and at most MaxParents parents.
func CheckCommit(raw []byte) error {
	if len(raw) > MaxCommitSize {
		return fmt.Errorf("commit object of %d bytes is larger than %d", len(raw), MaxCommitSize)
	}
	end := bytes.Index(raw, []byte("\n\n"))
	headers := raw
	if end >= 0 {
		headers = raw[:end+1]
	} else if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		// No body is allowed, but the last header line must end, as
		// fsck's verify_headers has it (unterminated header).
		return fmt.Errorf("the last header line does not end with a newline")
	}
	if bytes.IndexByte(headers, 0) >= 0 {
		return fmt.Errorf("a NUL byte in the headers")
	}
	lines := strings.SplitAfter(string(headers), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	i := 0
	next := func(key string) (string, bool) {
		if i < len(lines) && strings.HasPrefix(lines[i], key+" ") && strings.HasSuffix(lines[i], "\n") {
			v := strings.TrimSuffix(lines[i][len(key)+1:], "\n")
			i++
			return v, true
		}
		return "", false
	}
	v, ok := next("tree")
	if !ok {
		return fmt.Errorf("the first header is not tree")
	}
	if _, ok := ParseHash([]byte(v)); !ok || strings.ToLower(v) != v {
		return fmt.Errorf("bad tree header %q", v)
	}
	parents := 0
	for {
		v, ok := next("parent")
		if !ok {
			break
		}
		if _, ok := ParseHash([]byte(v)); !ok || strings.ToLower(v) != v {
			return fmt.Errorf("bad parent header %q", v)
		}
		if parents++; parents > MaxParents {
			return fmt.Errorf("more than %d parents", MaxParents)
		}
	}
	for _, who := range []string{"author", "committer"} {
		v, ok := next(who)
		if !ok {
			return fmt.Errorf("no %s header where git writes it", who)
		}
		if err := checkIdent(v); err != nil {
			return fmt.Errorf("%s %q: %w", who, truncate(v, 80), err)
		}
	}
	signatures := 0
	for ; i < len(lines); i++ {
		l := lines[i]
		if strings.HasPrefix(l, " ") {
			if i == 0 {
				return fmt.Errorf("a continuation line without a header")
			}
			continue
		}
		key, _, _ := strings.Cut(strings.TrimSuffix(l, "\n"), " ")
		switch key {
		case "tree", "parent", "author", "committer":
			return fmt.Errorf("a second or misplaced %s header", key)
		case "gpgsig", "gpgsig-sha256":
			if signatures++; signatures > 1 {
				return fmt.Errorf("more than one signature header")
			}
		}
	}
	return nil
}

// checkIdent checks "Name <email> 1700000000 +0100" as fsck does.
func checkIdent(v string) error {
	lt := strings.IndexByte(v, '<')
	gt := strings.IndexByte(v, '>')
	switch {
	case lt < 0 || gt < lt:
		return fmt.Errorf("no <email>")
	case lt == 0 || v[lt-1] != ' ':
		return fmt.Errorf("no space before the email")
	case strings.ContainsAny(v[:lt-1], "<>"):
		return fmt.Errorf("bad name")
	case strings.ContainsAny(v[lt+1:gt], "<"):
		return fmt.Errorf("bad email")
	}
	rest := v[gt+1:]
	if !strings.HasPrefix(rest, " ") {
		return fmt.Errorf("no space before the date")
	}
	date, tz, ok := strings.Cut(rest[1:], " ")
	if !ok || date == "" || !allDigits(date) {
		return fmt.Errorf("bad date")
	}
	if len(date) > 1 && date[0] == '0' {
		return fmt.Errorf("zero-padded date")
	}
	if len(date) > 19 {
		return fmt.Errorf("date out of range")
	}
	if len(tz) != 5 || (tz[0] != '+' && tz[0] != '-') || !allDigits(tz[1:]) {
		return fmt.Errorf("bad time zone %q", tz)
	}
	return nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
