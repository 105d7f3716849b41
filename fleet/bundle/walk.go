package bundle

import (
	"bytes"
	"container/heap"
	"errors"
	"fmt"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// slop is how many commits the walk looks at after only excluded ones are
// left, so that a commit dated before its parent (clock skew) does not end
// the walk early; git's revision walk uses the same margin.
const slop = 5

// Node flags of the walk.
const (
	flagExcluded = 1 << iota // reachable from an excluded commit
	flagQueued               // in the queue or popped
	flagPopped               // taken from the queue
)

type walkNode struct {
	c     *object.Commit
	flags uint8
}

// commitQueue is a max-heap of commits by committer time.
type commitQueue []*walkNode

func (q commitQueue) Len() int { return len(q) }
func (q commitQueue) Less(i, j int) bool {
	ti, tj := q[i].c.Committer.When, q[j].c.Committer.When
	if !ti.Equal(tj) {
		return ti.After(tj)
	}
	return bytes.Compare(q[i].c.Hash[:], q[j].c.Hash[:]) < 0
}
func (q commitQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)   { *q = append(*q, x.(*walkNode)) }
func (q *commitQueue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// walked is the outcome of walkRange.
type walked struct {
	// Commits are the commits reachable from the tips and not from the
	// excluded commits, newest first.
	Commits []*object.Commit
	// Boundary are the excluded commits that are parents of Commits: the
	// prerequisites of a bundle of Commits, sorted.
	Boundary []*object.Commit
}

// walkRange finds the commits reachable from tips but not from exclude,
// visiting commits newest first and stopping once only excluded ones are
// left (plus a small slop), as `git rev-list tips --not exclude` does. It
// reads only the commits near the range, not the whole history.
func walkRange(s storer.EncodedObjectStorer, tips, exclude []plumbing.Hash) (*walked, error) {
	nodes := map[plumbing.Hash]*walkNode{}
	get := func(h plumbing.Hash) (*walkNode, error) {
		if n, ok := nodes[h]; ok {
			return n, nil
		}
		c, err := object.GetCommit(s, h)
		if err != nil {
			if errors.Is(err, plumbing.ErrObjectNotFound) {
				return nil, fmt.Errorf("commit %s is missing from the repository", h)
			}
			return nil, fmt.Errorf("commit %s: %w", h, err)
		}
		n := &walkNode{c: c}
		nodes[h] = n
		return n, nil
	}
	var q commitQueue
	interesting := 0 // queued nodes not excluded
	push := func(n *walkNode) {
		if n.flags&flagQueued != 0 {
			return
		}
		n.flags |= flagQueued
		if n.flags&flagExcluded == 0 {
			interesting++
		}
		heap.Push(&q, n)
	}
	// markExcluded marks n and, through the parents already read,
	// everything known below it.
	markExcluded := func(n *walkNode) {
		stack := []*walkNode{n}
		for len(stack) > 0 {
			n := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if n.flags&flagExcluded != 0 {
				continue
			}
			n.flags |= flagExcluded
			if n.flags&flagQueued != 0 && n.flags&flagPopped == 0 {
				interesting--
			}
			if n.flags&flagPopped != 0 {
				for _, p := range n.c.ParentHashes {
					if pn, ok := nodes[p]; ok {
						stack = append(stack, pn)
					}
				}
			}
		}
	}
	for _, h := range exclude {
		n, err := get(h)
		if err != nil {
			return nil, err
		}
		markExcluded(n)
		push(n)
	}
	for _, h := range tips {
		n, err := get(h)
		if err != nil {
			return nil, err
		}
		push(n)
	}

	var popped []*walkNode
	left := slop
	for q.Len() > 0 {
		if interesting == 0 {
			if left == 0 {
				break
			}
			left--
		} else {
			left = slop
		}
		n := heap.Pop(&q).(*walkNode)
		n.flags |= flagPopped
		excluded := n.flags&flagExcluded != 0
		if !excluded {
			interesting--
			popped = append(popped, n)
		}
		for _, p := range n.c.ParentHashes {
			pn, err := get(p)
			if err != nil {
				return nil, err
			}
			if excluded {
				markExcluded(pn)
			}
			push(pn)
		}
	}

	out := &walked{}
	boundary := map[plumbing.Hash]*object.Commit{}
	for _, n := range popped {
		if n.flags&flagExcluded != 0 {
			continue
		}
		out.Commits = append(out.Commits, n.c)
		for _, p := range n.c.ParentHashes {
			if pn := nodes[p]; pn.flags&flagExcluded != 0 {
				boundary[p] = pn.c
			}
		}
	}
	for _, c := range boundary {
		out.Boundary = append(out.Boundary, c)
	}
	sort.Slice(out.Boundary, func(i, j int) bool {
		return bytes.Compare(out.Boundary[i].Hash[:], out.Boundary[j].Hash[:]) < 0
	})
	return out, nil
}

// isAncestor reports whether a is an ancestor of (or equal to) b.
func isAncestor(s storer.EncodedObjectStorer, a, b plumbing.Hash) (bool, error) {
	if a == b {
		return true, nil
	}
	w, err := walkRange(s, []plumbing.Hash{a}, []plumbing.Hash{b})
	if err != nil {
		return false, err
	}
	return len(w.Commits) == 0, nil
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
	for _, c := range w.Commits {
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
