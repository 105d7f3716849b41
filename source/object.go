package source

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source/gitobject"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/revwalk"
	"github.com/nodewright/nodewright/source/trust"
)

// commit is a parsed commit object (see package gitobject).
type commit = gitobject.Commit

// objects reads raw git objects from a store, with the small caches that
// make walking a long history cheap. It is the one reader of commits and
// trees for the verifier and the approvals index: every tree it hands out
// is canonical (gitobject.ParseTree), so both see the same files as go-git
// and the git CLI.
type objects struct {
	store storer.EncodedObjectStorer
	// trustFiles caches, per root tree, what it holds at
	// .nodewright/trust.yaml.
	trustFiles map[plumbing.Hash]trustFile
	// checked holds the trees whose whole content was found canonical,
	// with the depth of their deepest subtree.
	checked map[plumbing.Hash]int
}

func newObjects(s storer.EncodedObjectStorer) *objects {
	return &objects{store: s, trustFiles: map[plumbing.Hash]trustFile{}, checked: map[plumbing.Hash]int{}}
}

// objectError is an object in the range that is not canonical or exceeds
// a bound: a refusal of the commit that brings it, not a read error.
type objectError struct {
	code reason.Code
	msg  string
}

func (e *objectError) Error() string { return e.msg }

func malformed(format string, args ...any) error {
	return &objectError{code: reason.MalformedObject, msg: fmt.Sprintf(format, args...)}
}

func overLimit(format string, args ...any) error {
	return &objectError{code: reason.LimitExceeded, msg: fmt.Sprintf(format, args...)}
}

// asObjectError reports whether err is an objectError.
func asObjectError(err error) (*objectError, bool) {
	var oe *objectError
	ok := errors.As(err, &oe)
	return oe, ok
}

// read reads an object of at most limit bytes; a larger one is refused
// unread.
func (o *objects) read(t plumbing.ObjectType, h plumbing.Hash, limit int64) ([]byte, error) {
	obj, err := o.store.EncodedObject(t, h)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	if obj.Size() > limit {
		return nil, overLimit("%s %s has %d bytes, more than the %d the verifier reads", t, short(h), obj.Size(), limit)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	defer r.Close()
	buf := bytes.NewBuffer(make([]byte, 0, obj.Size()))
	if _, err := io.Copy(buf, io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	if int64(buf.Len()) > limit {
		return nil, overLimit("%s %s has more than the %d bytes the verifier reads", t, short(h), limit)
	}
	return buf.Bytes(), nil
}

// commit reads and parses commit h. Its headers are checked for canonical
// form separately (see commitProblem); the walk needs the parents of
// accepted history even where an older release accepted a commit that is
// not canonical.
func (o *objects) commit(h plumbing.Hash) (*commit, error) {
	raw, err := o.read(plumbing.CommitObject, h, gitobject.MaxCommitSize)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(h, raw)
	if err != nil {
		return nil, malformed("commit %s: %v", short(h), err)
	}
	return c, nil
}

// load reads commit h for a revision walk (see package revwalk), which
// hands back the commit parsed here.
func (o *objects) load(h plumbing.Hash) (revwalk.Commit[*commit], error) {
	c, err := o.commit(h)
	if err != nil {
		return revwalk.Commit[*commit]{}, err
	}
	return revwalk.Commit[*commit]{Object: c, Parents: c.Parents, Time: c.Time}, nil
}

// commitProblem returns the refusal of a commit that is not canonical.
func (o *objects) commitProblem(h plumbing.Hash) error {
	raw, err := o.read(plumbing.CommitObject, h, gitobject.MaxCommitSize)
	if err != nil {
		return err
	}
	if err := gitobject.CheckCommit(raw); err != nil {
		return malformed("commit %s is not canonical: %v", short(h), err)
	}
	return nil
}

// The raw object parsers the verifier shares with fleet/view.
var (
	parseCommit = gitobject.ParseCommit
	parseHash   = gitobject.ParseHash
)

// tree reads tree h and checks that it is canonical.
func (o *objects) tree(h plumbing.Hash) ([]gitobject.Entry, error) {
	if h.IsZero() || h == emptyTree {
		return nil, nil
	}
	raw, err := o.read(plumbing.TreeObject, h, gitobject.MaxTreeSize)
	if err != nil {
		return nil, err
	}
	entries, err := gitobject.ParseTree(raw)
	if err != nil {
		if len(raw) > gitobject.MaxTreeSize || errors.Is(err, gitobject.ErrTooManyEntries) {
			return nil, overLimit("tree %s: %v", short(h), err)
		}
		return nil, malformed("tree %s is not canonical: %v", short(h), err)
	}
	return entries, nil
}

// find returns the entry called name, if any.
func find(entries []gitobject.Entry, name string) (gitobject.Entry, bool) {
	for _, e := range entries {
		if e.Name == name {
			return e, true
		}
	}
	return gitobject.Entry{}, false
}

// checkTrees checks that every tree reachable from root that none of the
// known trees holds at the same path is canonical and within the bounds.
// known are the root trees of the commit's verified parents: what they hold
// was checked when they were verified, so the cost follows what changed.
func (o *objects) checkTrees(root plumbing.Hash, known []plumbing.Hash) error {
	_, err := o.checkTree(root, known, 0, "")
	return err
}

func (o *objects) checkTree(h plumbing.Hash, known []plumbing.Hash, depth int, path string) (int, error) {
	if height, ok := o.checked[h]; ok {
		if depth+height > gitobject.MaxTreeDepth {
			return 0, overLimit("trees nest deeper than %d levels at %s", gitobject.MaxTreeDepth, orRoot(path))
		}
		return height, nil
	}
	for _, k := range known {
		if k == h {
			return 0, nil // checked with its parent, at the same path and depth
		}
	}
	if depth > gitobject.MaxTreeDepth {
		return 0, overLimit("trees nest deeper than %d levels at %s", gitobject.MaxTreeDepth, orRoot(path))
	}
	entries, err := o.tree(h)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", orRoot(path), err)
	}
	var knownEntries [][]gitobject.Entry
	for _, k := range known {
		es, err := o.tree(k)
		if err != nil {
			if _, bad := asObjectError(err); bad {
				continue // an older release accepted it; it vouches for nothing
			}
			return 0, err
		}
		knownEntries = append(knownEntries, es)
	}
	height, reusable := 0, true
	for _, e := range entries {
		if !e.IsTree() {
			continue
		}
		var sub []plumbing.Hash
		for _, ke := range knownEntries {
			if k, ok := find(ke, e.Name); ok && k.IsTree() {
				sub = append(sub, k.Hash)
			}
		}
		hgt, err := o.checkTree(e.Hash, sub, depth+1, path+e.Name+"/")
		if err != nil {
			return 0, err
		}
		if _, ok := o.checked[e.Hash]; !ok {
			reusable = false // vouched for by a parent, height not measured
		}
		height = max(height, hgt+1)
	}
	if reusable {
		o.checked[h] = height
	}
	return height, nil
}

func orRoot(path string) string {
	if path == "" {
		return "the root tree"
	}
	return path
}

// trustFile is what a root tree holds at .nodewright/trust.yaml.
type trustFile struct {
	// blob is the file's blob id; zero when there is none.
	blob plumbing.Hash
	// bad says why the path is not a regular file where one should be
	// (.nodewright is a file, trust.yaml a directory or a symlink).
	bad string
}

// trustFileAt returns what tree holds at .nodewright/trust.yaml.
func (o *objects) trustFileAt(tree plumbing.Hash) (trustFile, error) {
	if f, ok := o.trustFiles[tree]; ok {
		return f, nil
	}
	f, err := o.lookupTrustFile(tree)
	if err == nil {
		o.trustFiles[tree] = f
	}
	return f, err
}

func (o *objects) lookupTrustFile(tree plumbing.Hash) (trustFile, error) {
	root, err := o.tree(tree)
	if err != nil {
		return trustFile{}, err
	}
	dir, ok := find(root, ".nodewright")
	if !ok {
		return trustFile{}, nil
	}
	if !dir.IsTree() {
		return trustFile{bad: fmt.Sprintf(".nodewright is not a directory (mode %s)", dir.Mode)}, nil
	}
	sub, err := o.tree(dir.Hash)
	if err != nil {
		return trustFile{}, err
	}
	e, ok := find(sub, "trust.yaml")
	if !ok {
		return trustFile{}, nil
	}
	if e.Mode != gitobject.ModeFile {
		return trustFile{bad: fmt.Sprintf("%s is not a regular file (mode %s)", trust.Path, e.Mode)}, nil
	}
	return trustFile{blob: e.Hash}, nil
}

// trustBlobAt returns the blob id of .nodewright/trust.yaml in tree, or
// the zero hash when there is none (or it is not a regular file).
func (o *objects) trustBlobAt(tree plumbing.Hash) (plumbing.Hash, error) {
	f, err := o.trustFileAt(tree)
	return f.blob, err
}

// emptyTree is the id of the tree with no entries.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
