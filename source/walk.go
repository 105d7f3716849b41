package source

import (
	"container/heap"

	"github.com/go-git/go-git/v5/plumbing"
)

const (
	fromTip      uint8 = 1 << iota // reachable from the new tip
	fromAccepted                   // reachable from an accepted commit
)

// walkNode is one commit met by the range walk.
type walkNode struct {
	c     *commit
	flags uint8
}

// commitQueue orders commits newest first by committer time, so that a
// commit is normally seen after every commit that descends from it.
type commitQueue []*walkNode

func (q commitQueue) Len() int           { return len(q) }
func (q commitQueue) Less(i, j int) bool { return q[i].c.Time.After(q[j].c.Time) }
func (q commitQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *commitQueue) Push(x any)        { *q = append(*q, x.(*walkNode)) }
func (q *commitQueue) Pop() any {
	old := *q
	n := old[len(old)-1]
	*q = old[:len(old)-1]
	return n
}

// rangeWalk is the outcome of walking from a tip down to accepted commits.
type rangeWalk struct {
	// commits are the commits reachable from the tip but from no accepted
	// commit, oldest first.
	commits []*commit
	// descends is false when some accepted commit is not an ancestor of (or
	// equal to) the tip.
	descends bool
	nodes    map[plumbing.Hash]*walkNode
}

// walkRange finds the commits of tip that no accepted commit reaches, the
// way "git rev-list tip ^accepted..." does: both sides are painted in one
// walk ordered by commit time, and the walk stops as soon as every commit
// still queued is reachable from an accepted one. Its cost follows the new
// commits, not the length of the history. Were clock skew to make it stop
// early, it could only report too many commits (more verification, never
// less).
func walkRange(o *objects, tip plumbing.Hash, accepted []plumbing.Hash) (*rangeWalk, error) {
	w := &rangeWalk{nodes: map[plumbing.Hash]*walkNode{}}
	q := &commitQueue{}
	interesting := 0 // queued nodes that are not reachable from an accepted commit
	mark := func(h plumbing.Hash, flags uint8) error {
		n, ok := w.nodes[h]
		if !ok {
			c, err := o.commit(h)
			if err != nil {
				return err
			}
			n = &walkNode{c: c}
			w.nodes[h] = n
		}
		if n.flags|flags == n.flags {
			return nil
		}
		n.flags |= flags
		heap.Push(q, &walkNode{c: n.c, flags: n.flags})
		if n.flags&fromAccepted == 0 {
			interesting++
		}
		return nil
	}
	for _, a := range accepted {
		if err := mark(a, fromAccepted); err != nil {
			return nil, err
		}
	}
	if err := mark(tip, fromTip); err != nil {
		return nil, err
	}
	var order []*commit
	for q.Len() > 0 && interesting > 0 {
		e := heap.Pop(q).(*walkNode)
		if e.flags&fromAccepted == 0 {
			interesting--
		}
		n := w.nodes[e.c.ID]
		if n.flags != e.flags {
			continue // a later entry carries more flags
		}
		if n.flags == fromTip {
			order = append(order, n.c)
		}
		for _, p := range n.c.Parents {
			if err := mark(p, n.flags); err != nil {
				return nil, err
			}
		}
	}
	w.descends = true
	for _, a := range accepted {
		if w.nodes[a].flags&fromTip == 0 {
			w.descends = false
		}
	}
	// Newest first became oldest first; drop any commit that turned out to
	// be reachable from an accepted one after it was listed.
	var byTime []*commit
	for i := len(order) - 1; i >= 0; i-- {
		if w.nodes[order[i].ID].flags == fromTip {
			byTime = append(byTime, order[i])
		}
	}
	w.commits = w.topological(byTime)
	return w, nil
}

// topological orders the range so that every commit follows its parents
// in the range, whatever their committer times claim (they are the
// committer's to set), keeping the time order where the graph allows it.
// Rules that carry state from parent to child (the policy in force, the
// lifetime of an operation file) rely on it.
func (w *rangeWalk) topological(byTime []*commit) []*commit {
	out := make([]*commit, 0, len(byTime))
	done := make(map[plumbing.Hash]bool, len(byTime))
	type frame struct {
		c    *commit
		next int
	}
	for _, start := range byTime {
		if done[start.ID] {
			continue
		}
		stack := []frame{{c: start}}
		done[start.ID] = true
		for len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.next < len(top.c.Parents) {
				p := top.c.Parents[top.next]
				top.next++
				if n, ok := w.nodes[p]; ok && n.flags == fromTip && !done[p] {
					done[p] = true
					stack = append(stack, frame{c: n.c})
				}
				continue
			}
			out = append(out, top.c)
			stack = stack[:len(stack)-1]
		}
	}
	return out
}

// firstParentChain keeps only the commits of the range on tip's
// first-parent chain.
func (w *rangeWalk) firstParentChain(tip plumbing.Hash) []*commit {
	in := map[plumbing.Hash]bool{}
	for _, c := range w.commits {
		in[c.ID] = true
	}
	var chain []*commit
	for h := tip; in[h]; {
		c := w.nodes[h].c
		chain = append(chain, c)
		if len(c.Parents) == 0 {
			break
		}
		h = c.Parents[0]
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain
}
