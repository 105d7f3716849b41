package bundle

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source/revwalk"
)

// walked is the range of commits a bundle carries: Commits oldest first,
// parents before children, and Boundary, its prerequisites.
type walked = revwalk.Range[*object.Commit]

// commitLoader reads commits from s for a revision walk.
func commitLoader(s storer.EncodedObjectStorer) revwalk.Loader[*object.Commit] {
	return func(h plumbing.Hash) (revwalk.Commit[*object.Commit], error) {
		c, err := object.GetCommit(s, h)
		if err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return revwalk.Commit[*object.Commit]{}, fmt.Errorf("commit %s is missing from the repository", h)
			}
			return revwalk.Commit[*object.Commit]{}, fmt.Errorf("commit %s: %w", h, err)
		}
		return revwalk.Commit[*object.Commit]{Object: c, Parents: c.ParentHashes, Time: c.Committer.When}, nil
	}
}

// walkRange finds the commits reachable from tips but not from exclude,
// as `git rev-list tips --not exclude` does, reading only the commits
// near the range (see package revwalk).
func walkRange(s storer.EncodedObjectStorer, tips, exclude []plumbing.Hash) (*walked, error) {
	return revwalk.Walk(commitLoader(s), tips, exclude)
}

// isAncestor reports whether a is an ancestor of (or equal to) b.
func isAncestor(s storer.EncodedObjectStorer, a, b plumbing.Hash) (bool, error) {
	return revwalk.IsAncestor(commitLoader(s), a, b)
}

// objectSet collects the objects of a bundle's pack.
type objectSet struct {
	s        storer.EncodedObjectStorer
	excluded map[plumbing.Hash]bool
	added    map[plumbing.Hash]bool
	list     []plumbing.Hash
}

// packObjects lists the commits, trees and blobs a bundle of w must carry:
// the commits, and the trees and blobs they reach that the boundary
// commits' trees do not hold (those the receiver has, since it has the
// boundary commits).
func packObjects(s storer.EncodedObjectStorer, w *walked) ([]plumbing.Hash, error) {
	o := &objectSet{s: s, excluded: map[plumbing.Hash]bool{}, added: map[plumbing.Hash]bool{}}
	for _, b := range w.Boundary {
		if err := o.exclude(b.TreeHash); err != nil {
			return nil, err
		}
	}
	for i := len(w.Commits) - 1; i >= 0; i-- { // newest first, as git packs commits
		c := w.Commits[i]
		o.list = append(o.list, c.Hash)
		if err := o.addTree(c.TreeHash); err != nil {
			return nil, err
		}
	}
	return o.list, nil
}

// exclude marks the tree h and everything below it as held by the receiver.
func (o *objectSet) exclude(h plumbing.Hash) error {
	if o.excluded[h] {
		return nil
	}
	o.excluded[h] = true
	t, err := object.GetTree(o.s, h)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Dir:
			if err := o.exclude(e.Hash); err != nil {
				return err
			}
		case filemode.Submodule:
		default:
			o.excluded[e.Hash] = true
		}
	}
	return nil
}

// addTree adds the tree h and the objects below it the receiver lacks.
func (o *objectSet) addTree(h plumbing.Hash) error {
	if o.excluded[h] || o.added[h] {
		return nil
	}
	o.added[h] = true
	o.list = append(o.list, h)
	t, err := object.GetTree(o.s, h)
	if err != nil {
		return fmt.Errorf("tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Dir:
			if err := o.addTree(e.Hash); err != nil {
				return err
			}
		case filemode.Submodule:
		default:
			if !o.excluded[e.Hash] && !o.added[e.Hash] {
				o.added[e.Hash] = true
				o.list = append(o.list, e.Hash)
			}
		}
	}
	return nil
}
