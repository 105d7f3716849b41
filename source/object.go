package source

import (
	"bytes"
	"fmt"
	"io"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source/gitobject"
)

// commit is a parsed commit object (see package gitobject).
type commit = gitobject.Commit

// objects reads raw git objects from a store, with the small caches that
// make walking a long history cheap.
type objects struct {
	store storer.EncodedObjectStorer
	// trustBlob caches, per root tree and per .nodewright tree, the blob
	// id of trust.yaml (zero when there is none).
	trustBlob map[plumbing.Hash]plumbing.Hash
}

func newObjects(s storer.EncodedObjectStorer) *objects {
	return &objects{store: s, trustBlob: map[plumbing.Hash]plumbing.Hash{}}
}

func (o *objects) read(t plumbing.ObjectType, h plumbing.Hash) ([]byte, error) {
	obj, err := o.store.EncodedObject(t, h)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	defer r.Close()
	data := make([]byte, 0, obj.Size())
	buf := bytes.NewBuffer(data)
	if _, err := io.Copy(buf, r); err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	return buf.Bytes(), nil
}

// commit reads and parses commit h.
func (o *objects) commit(h plumbing.Hash) (*commit, error) {
	raw, err := o.read(plumbing.CommitObject, h)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(h, raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// The raw object parsers the verifier shares with fleet/view.
var (
	parseCommit   = gitobject.ParseCommit
	parseHash     = gitobject.ParseHash
	eachTreeEntry = gitobject.EachTreeEntry
)

// treeEntry finds name in the raw tree object and returns its id.
func treeEntry(raw []byte, name string) (plumbing.Hash, bool) {
	var found plumbing.Hash
	ok := false
	_ = eachTreeEntry(raw, func(mode, n []byte, h plumbing.Hash) bool {
		if string(n) == name {
			found, ok = h, true
			return false
		}
		return true
	})
	return found, ok
}

// trustBlobAt returns the blob id of .nodewright/trust.yaml in tree, or
// the zero hash when there is none.
func (o *objects) trustBlobAt(tree plumbing.Hash) (plumbing.Hash, error) {
	if b, ok := o.trustBlob[tree]; ok {
		return b, nil
	}
	b, err := o.lookupTrustBlob(tree)
	if err == nil {
		o.trustBlob[tree] = b
	}
	return b, err
}

func (o *objects) lookupTrustBlob(tree plumbing.Hash) (plumbing.Hash, error) {
	raw, err := o.read(plumbing.TreeObject, tree)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	dir, ok := treeEntry(raw, ".nodewright")
	if !ok {
		return plumbing.ZeroHash, nil
	}
	if b, ok := o.trustBlob[dir]; ok {
		return b, nil
	}
	sub, err := o.read(plumbing.TreeObject, dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	b, _ := treeEntry(sub, "trust.yaml")
	o.trustBlob[dir] = b
	return b, nil
}

// emptyTree is the id of the tree with no entries.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
