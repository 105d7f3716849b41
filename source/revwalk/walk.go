package revwalk

import (
	"bytes"
	"container/heap"
	"slices"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
)

// slop is how many more commits Walk visits once every queued commit is
// reachable from an excluded one (see the package documentation).
const slop = 5

// Commit is a commit as the walk sees it.
type Commit[C any] struct {
	// Object is the caller's parsed commit, handed back untouched.
	Object C
	// Parents are the ids of its parents, first parent first.
	Parents []plumbing.Hash
	// Time is its committer time. It decides only which commit the walk
	// visits next (newest first), never what the walk returns.
	Time time.Time
}

// Loader reads commit id. A walk calls it at most once per commit; an
// error it returns ends the walk with that error.
type Loader[C any] func(id plumbing.Hash) (Commit[C], error)

// Node flags.
const (
	fromTip      uint8 = 1 << iota // reachable from a tip
	fromExcluded                   // reachable from an excluded commit
	queued                         // pushed onto the queue (and maybe taken off)
	visited                        // taken off the queue; its parents are loaded
	inRange                        // one of Range.Commits
	placed                         // already in the topological order
	bounds                         // already in Range.Boundary
)

type node[C any] struct {
	Commit[C]
	id    plumbing.Hash
	seq   uint64 // push order: equally dated commits leave the queue first in, first out
	flags uint8
}

// queue is a max-heap of nodes by committer time.
type queue[C any] []*node[C]

func (q queue[C]) Len() int { return len(q) }
func (q queue[C]) Less(i, j int) bool {
	if c := q[i].Time.Compare(q[j].Time); c != 0 {
		return c > 0
	}
	return q[i].seq < q[j].seq
}
func (q queue[C]) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue[C]) Push(x any)   { *q = append(*q, x.(*node[C])) }
func (q *queue[C]) Pop() any {
	old := *q
	n := old[len(old)-1]
	old[len(old)-1] = nil
	*q = old[:len(old)-1]
	return n
}

// Range is what Walk found.
type Range[C any] struct {
	// Commits are the commits reachable from a tip and from no excluded
	// commit, each after its parents among them, oldest first where the
	// graph leaves a choice. Clock skew can add commits that an excluded
	// commit reaches; it never leaves one out.
	Commits []C
	// Boundary are the parents of Commits that an excluded commit
	// reaches (excluded commits or their ancestors), sorted by id. Every
	// parent of a commit in Commits is in Commits or in Boundary: they are
	// what a receiver must already hold to take Commits, such as the
	// prerequisites of a bundle.
	Boundary []C
	// Descends reports whether every excluded commit is an ancestor of
	// (or equal to) a tip. True is always right; false is exact unless
	// one excluded commit is an ancestor of another (see the package
	// documentation).
	Descends bool

	nodes map[plumbing.Hash]*node[C]
	chain int // an upper bound on a first-parent chain: the commits in range
}

// walker is the state of one Walk.
type walker[C any] struct {
	load        Loader[C]
	nodes       map[plumbing.Hash]*node[C]
	queue       queue[C]
	seq         uint64
	interesting int // queued, unvisited commits reached from a tip alone
	stack       []*node[C]
}

// Walk finds the commits reachable from tips and from none of exclude,
// reading commits through load. It visits them newest first by committer
// time and stops once every queued commit is reachable from an excluded
// one (plus a small slop), so its cost follows the range rather than the
// history below it. Only what it loads is read; no commit is loaded twice.
func Walk[C any](load Loader[C], tips, exclude []plumbing.Hash) (*Range[C], error) {
	w := &walker[C]{load: load, nodes: map[plumbing.Hash]*node[C]{}}
	for _, h := range exclude {
		n, err := w.get(h)
		if err != nil {
			return nil, err
		}
		w.paint(n, fromExcluded)
	}
	for _, h := range tips {
		n, err := w.get(h)
		if err != nil {
			return nil, err
		}
		w.paint(n, fromTip)
	}
	var reached []*node[C] // commits visited as reached from a tip alone, newest first
	left := slop
	for w.queue.Len() > 0 {
		if w.interesting == 0 {
			// Visiting a commit no tip alone reaches never makes
			// another one interesting: the count stays at zero.
			if left == 0 {
				break
			}
			left--
		}
		n := heap.Pop(&w.queue).(*node[C])
		if interesting(n.flags) {
			w.interesting--
		}
		for _, p := range n.Parents {
			if _, err := w.get(p); err != nil {
				return nil, err
			}
		}
		n.flags |= visited
		marks := n.flags & (fromTip | fromExcluded)
		if marks == fromTip {
			reached = append(reached, n)
		}
		for _, p := range n.Parents {
			w.paint(w.nodes[p], marks)
		}
	}
	return w.finish(reached, exclude), nil
}

// get returns the node of commit id, loading it the first time.
func (w *walker[C]) get(id plumbing.Hash) (*node[C], error) {
	if n, ok := w.nodes[id]; ok {
		return n, nil
	}
	c, err := w.load(id)
	if err != nil {
		return nil, err
	}
	n := &node[C]{Commit: c, id: id}
	w.nodes[id] = n
	return n, nil
}

// interesting reports whether a node with flags keeps the walk going:
// queued and not visited yet, reached from a tip and from no excluded
// commit.
func interesting(flags uint8) bool {
	return flags&(queued|visited|fromTip|fromExcluded) == queued|fromTip
}

// paint adds marks to n, queueing it the first time it is marked, and to
// every commit below it that the walk already visited (a mark that comes
// late, through clock skew, still reaches all of them).
func (w *walker[C]) paint(n *node[C], marks uint8) {
	w.stack = append(w.stack[:0], n)
	for len(w.stack) > 0 {
		n := w.stack[len(w.stack)-1]
		w.stack = w.stack[:len(w.stack)-1]
		if n.flags|marks == n.flags {
			continue
		}
		was := interesting(n.flags)
		n.flags |= marks
		switch {
		case n.flags&queued == 0:
			n.flags |= queued
			n.seq = w.seq
			w.seq++
			heap.Push(&w.queue, n)
		case n.flags&visited != 0:
			for _, p := range n.Parents {
				w.stack = append(w.stack, w.nodes[p])
			}
		}
		if is := interesting(n.flags); is != was {
			if is {
				w.interesting++
			} else {
				w.interesting--
			}
		}
	}
}

// finish orders the range, collects its boundary and checks descent.
func (w *walker[C]) finish(reached []*node[C], exclude []plumbing.Hash) *Range[C] {
	r := &Range[C]{nodes: w.nodes, Descends: true}
	for _, h := range exclude {
		if w.nodes[h].flags&fromTip == 0 {
			r.Descends = false
		}
	}
	// Newest first becomes oldest first; a commit the excluded mark
	// reached after it was visited is left out.
	starts := make([]plumbing.Hash, 0, len(reached))
	for i := len(reached) - 1; i >= 0; i-- {
		if n := reached[i]; n.flags&fromExcluded == 0 {
			n.flags |= inRange
			starts = append(starts, n.id)
		}
	}
	r.chain = len(starts)
	r.Commits, _ = postOrder(starts, func(id plumbing.Hash) (*node[C], error) {
		n := w.nodes[id]
		if n == nil || n.flags&(inRange|placed) != inRange {
			return nil, nil
		}
		n.flags |= placed
		return n, nil
	}, make([]C, 0, len(starts)))

	var boundary []*node[C]
	for _, h := range starts {
		for _, p := range w.nodes[h].Parents {
			if pn := w.nodes[p]; pn.flags&(fromExcluded|bounds) == fromExcluded {
				pn.flags |= bounds
				boundary = append(boundary, pn)
			}
		}
	}
	slices.SortFunc(boundary, func(a, b *node[C]) int { return bytes.Compare(a.id[:], b.id[:]) })
	r.Boundary = make([]C, len(boundary))
	for i, n := range boundary {
		r.Boundary[i] = n.Object
	}
	return r
}

// postOrder appends to out the commits below each start in turn, parents
// before children: a depth-first post-order over parents in order. enter
// returns the node to descend into, or nil to skip the commit (seen
// already, or outside the set walked); it is called once per edge.
func postOrder[C any](starts []plumbing.Hash, enter func(plumbing.Hash) (*node[C], error), out []C) ([]C, error) {
	type frame struct {
		n    *node[C]
		next int
	}
	var stack []frame
	for _, s := range starts {
		n, err := enter(s)
		if err != nil {
			return nil, err
		}
		if n == nil {
			continue
		}
		stack = append(stack[:0], frame{n: n})
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next < len(top.n.Parents) {
				p := top.n.Parents[top.next]
				top.next++
				pn, err := enter(p)
				if err != nil {
					return nil, err
				}
				if pn != nil {
					stack = append(stack, frame{n: pn})
				}
				continue
			}
			out = append(out, top.n.Object)
			stack = stack[:len(stack)-1]
		}
	}
	return out, nil
}

// Loaded returns commit id if the walk read it: every tip, excluded
// commit and commit of the range, and the parents of every commit it
// visited (the boundary among them).
func (r *Range[C]) Loaded(id plumbing.Hash) (C, bool) {
	if n, ok := r.nodes[id]; ok {
		return n.Object, true
	}
	var zero C
	return zero, false
}

// FirstParentChain returns the commits of the range on tip's first-parent
// chain, oldest first: tip, its first parent, and so on, while they are in
// the range.
func (r *Range[C]) FirstParentChain(tip plumbing.Hash) []C {
	var chain []C
	for n := r.nodes[tip]; n != nil && n.flags&inRange != 0 && len(chain) < r.chain; {
		chain = append(chain, n.Object)
		if len(n.Parents) == 0 {
			break
		}
		n = r.nodes[n.Parents[0]]
	}
	slices.Reverse(chain)
	return chain
}

// IsAncestor reports whether a is an ancestor of (or equal to) b. The
// answer is exact whatever the committer times: it walks the commits of b
// that a does not reach, as Walk(load, [b], [a]) does.
func IsAncestor[C any](load Loader[C], a, b plumbing.Hash) (bool, error) {
	if a == b {
		return true, nil
	}
	r, err := Walk(load, []plumbing.Hash{b}, []plumbing.Hash{a})
	if err != nil {
		return false, err
	}
	return r.Descends, nil
}

// All returns every commit reachable from tips, the tips included, each
// once and after its parents: a depth-first post-order over parents in
// order (the first parent's history first), which needs no committer time
// and no queue. It loads each commit once.
func All[C any](load Loader[C], tips []plumbing.Hash) ([]C, error) {
	seen := map[plumbing.Hash]bool{}
	return postOrder(tips, func(id plumbing.Hash) (*node[C], error) {
		if seen[id] {
			return nil, nil
		}
		seen[id] = true
		c, err := load(id)
		if err != nil {
			return nil, err
		}
		return &node[C]{Commit: c, id: id}, nil
	}, nil)
}
