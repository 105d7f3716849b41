package revwalk_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/source/revwalk"
)

// graph is a commit graph for tests: commit i's parents are earlier
// commits, so it is acyclic whatever the committer times say.
type graph struct {
	ids     []plumbing.Hash
	index   map[plumbing.Hash]int
	parents [][]int
	times   []time.Time
	// strict is set when every commit is dated strictly after its parents.
	strict bool
}

func newGraph(n int) *graph {
	g := &graph{index: map[plumbing.Hash]int{}, parents: make([][]int, n), times: make([]time.Time, n)}
	for i := range n {
		var h plumbing.Hash
		h[0] = 0xc0
		// Spread the ids so that their order is unrelated to i.
		h[1], h[2] = byte(i*151), byte(i)
		h[3] = byte(i >> 8)
		g.ids = append(g.ids, h)
		g.index[h] = i
	}
	return g
}

// loader returns a Loader over g that counts its calls per commit.
func (g *graph) loader(t testing.TB, calls map[plumbing.Hash]int) revwalk.Loader[plumbing.Hash] {
	return func(id plumbing.Hash) (revwalk.Commit[plumbing.Hash], error) {
		i, ok := g.index[id]
		if !ok {
			return revwalk.Commit[plumbing.Hash]{}, fmt.Errorf("no commit %s", id)
		}
		calls[id]++
		if calls[id] > 1 {
			t.Errorf("commit %d loaded %d times", i, calls[id])
		}
		c := revwalk.Commit[plumbing.Hash]{Object: id, Time: g.times[i]}
		for _, p := range g.parents[i] {
			c.Parents = append(c.Parents, g.ids[p])
		}
		return c, nil
	}
}

// reach is the naive reference: every commit reachable from starts.
func (g *graph) reach(starts []plumbing.Hash) map[plumbing.Hash]bool {
	seen := map[plumbing.Hash]bool{}
	var visit func(i int)
	visit = func(i int) {
		if seen[g.ids[i]] {
			return
		}
		seen[g.ids[i]] = true
		for _, p := range g.parents[i] {
			visit(p)
		}
	}
	for _, s := range starts {
		visit(g.index[s])
	}
	return seen
}

// Time modes of a generated graph.
const (
	strictTimes = iota // every commit strictly after its parents
	equalTimes         // every commit at the same second
	skewedTimes        // times at random
	someSkew           // mostly in order, some commits far off
	timeModes
)

// randomGraph builds a graph of n commits with merges (up to 3 parents),
// orphan roots and committer times in the given mode.
func randomGraph(r *rand.Rand, n, mode int) *graph {
	g := newGraph(n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 && r.IntN(12) != 0 { // else an orphan root
			k := 1
			if r.IntN(4) == 0 {
				k = 2 + r.IntN(2)
			}
			for range k {
				// Mostly recent commits, sometimes far back.
				back := 1 + r.IntN(min(i, 4))
				if r.IntN(5) == 0 {
					back = 1 + r.IntN(i)
				}
				if p := i - back; !slices.Contains(g.parents[i], p) {
					g.parents[i] = append(g.parents[i], p)
				}
			}
		}
		g.times[i] = g.timeOf(i, mode, r.IntN(1000), r.IntN(10) == 0, base)
	}
	g.strict = mode == strictTimes
	return g
}

// timeOf dates commit i in mode; its parents are dated already.
func (g *graph) timeOf(i, mode, random int, off bool, base time.Time) time.Time {
	after := base
	for _, p := range g.parents[i] {
		if g.times[p].After(after) {
			after = g.times[p]
		}
	}
	switch mode {
	case strictTimes:
		return after.Add(time.Duration(1+random%5) * time.Second)
	case equalTimes:
		return base
	case skewedTimes:
		return base.Add(time.Duration(random%50) * time.Second)
	default:
		if off {
			return base.Add(time.Duration(random) * time.Second)
		}
		return after.Add(time.Duration(random%3) * time.Second)
	}
}

// pick returns up to k distinct commits of g.
func pick(r *rand.Rand, g *graph, k int) []plumbing.Hash {
	var out []plumbing.Hash
	for range k {
		h := g.ids[r.IntN(len(g.ids))]
		if !slices.Contains(out, h) {
			out = append(out, h)
		}
	}
	return out
}

func set(hs []plumbing.Hash) map[plumbing.Hash]bool {
	m := make(map[plumbing.Hash]bool, len(hs))
	for _, h := range hs {
		m[h] = true
	}
	return m
}

// checkWalk runs Walk and checks it against the naive reference.
func checkWalk(t testing.TB, g *graph, tips, exclude []plumbing.Hash) {
	t.Helper()
	calls := map[plumbing.Hash]int{}
	r, err := revwalk.Walk(g.loader(t, calls), tips, exclude)
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	fromTips, fromExcluded := g.reach(tips), g.reach(exclude)
	exact := map[plumbing.Hash]bool{}
	for h := range fromTips {
		if !fromExcluded[h] {
			exact[h] = true
		}
	}
	got := set(r.Commits)
	if len(got) != len(r.Commits) {
		t.Fatalf("a commit is listed twice: %v", r.Commits)
	}
	for h := range exact {
		if !got[h] {
			t.Fatalf("commit %d of the range is missing", g.index[h])
		}
	}
	for h := range got {
		if !fromTips[h] {
			t.Fatalf("commit %d is listed but no tip reaches it", g.index[h])
		}
		if g.strict && !exact[h] {
			t.Fatalf("commit %d is listed but an excluded commit reaches it, with strictly ordered times", g.index[h])
		}
	}

	// Parents before children.
	pos := map[plumbing.Hash]int{}
	for i, h := range r.Commits {
		pos[h] = i
	}
	for i, h := range r.Commits {
		for _, p := range g.parents[g.index[h]] {
			if j, ok := pos[g.ids[p]]; ok && j > i {
				t.Fatalf("commit %d is listed before its parent %d", g.index[h], p)
			}
		}
	}

	// The boundary: reachable from an excluded commit, a parent of the
	// range, and with the range closed under parents.
	bound := set(r.Boundary)
	if len(bound) != len(r.Boundary) || !slices.IsSortedFunc(r.Boundary, func(a, b plumbing.Hash) int { return bytes.Compare(a[:], b[:]) }) {
		t.Fatalf("boundary not sorted and distinct: %v", r.Boundary)
	}
	want := map[plumbing.Hash]bool{}
	for h := range got {
		for _, p := range g.parents[g.index[h]] {
			ph := g.ids[p]
			if !got[ph] && !bound[ph] {
				t.Fatalf("parent %d of listed commit %d is neither listed nor in the boundary", p, g.index[h])
			}
			if !got[ph] && fromExcluded[ph] {
				want[ph] = true
			}
		}
	}
	for h := range bound {
		if !want[h] {
			t.Fatalf("boundary commit %d is not an excluded parent of the range", g.index[h])
		}
	}
	if len(want) != len(bound) {
		t.Fatalf("boundary has %d commits, want %d", len(bound), len(want))
	}

	// Descends: never a false yes; exact when no excluded commit is an
	// ancestor of another.
	all := true
	for _, e := range exclude {
		all = all && fromTips[e]
	}
	if r.Descends && !all {
		t.Fatalf("Descends is true but an excluded commit is not an ancestor of the tips")
	}
	if antichain(g, exclude) && r.Descends != all {
		t.Fatalf("Descends = %v, want %v", r.Descends, all)
	}

	// The first-parent chain of each tip, against a naive one.
	for _, tip := range tips {
		var chain []plumbing.Hash
		for i := g.index[tip]; got[g.ids[i]]; {
			chain = append(chain, g.ids[i])
			if len(g.parents[i]) == 0 {
				break
			}
			i = g.parents[i][0]
		}
		slices.Reverse(chain)
		if fp := r.FirstParentChain(tip); !slices.Equal(fp, chain) {
			t.Fatalf("first-parent chain of %d: got %v, want %v", g.index[tip], fp, chain)
		}
	}

	// Everything handed back was loaded, once, and is what was loaded.
	for _, h := range slices.Concat(r.Commits, r.Boundary, tips, exclude) {
		if c, ok := r.Loaded(h); !ok || c != h || calls[h] != 1 {
			t.Fatalf("commit %d: Loaded = %v, %v after %d loads", g.index[h], c, ok, calls[h])
		}
	}
}

// antichain reports whether no commit of hs is an ancestor of another.
func antichain(g *graph, hs []plumbing.Hash) bool {
	for _, a := range hs {
		below := g.reach([]plumbing.Hash{a})
		for _, b := range hs {
			if a != b && below[b] {
				return false
			}
		}
	}
	return true
}

// checkOthers checks IsAncestor and All against the reference.
func checkOthers(t testing.TB, g *graph, r *rand.Rand) {
	t.Helper()
	for range 4 {
		a, b := g.ids[r.IntN(len(g.ids))], g.ids[r.IntN(len(g.ids))]
		got, err := revwalk.IsAncestor(g.loader(t, map[plumbing.Hash]int{}), a, b)
		if err != nil {
			t.Fatal(err)
		}
		if want := g.reach([]plumbing.Hash{b})[a]; got != want {
			t.Fatalf("IsAncestor(%d, %d) = %v, want %v", g.index[a], g.index[b], got, want)
		}
	}
	tips := pick(r, g, 3)
	calls := map[plumbing.Hash]int{}
	all, err := revwalk.All(g.loader(t, calls), tips)
	if err != nil {
		t.Fatal(err)
	}
	want := g.reach(tips)
	if len(all) != len(want) || len(set(all)) != len(all) {
		t.Fatalf("All listed %d commits, want %d", len(all), len(want))
	}
	seen := map[plumbing.Hash]bool{}
	for _, h := range all {
		if !want[h] {
			t.Fatalf("All listed commit %d, which no tip reaches", g.index[h])
		}
		for _, p := range g.parents[g.index[h]] {
			if !seen[g.ids[p]] {
				t.Fatalf("All listed commit %d before its parent %d", g.index[h], p)
			}
		}
		seen[h] = true
	}
}

// TestWalkRandomGraphs checks Walk, IsAncestor and All on random graphs
// with merges, orphan roots, and strictly ordered, equal, skewed and
// partly skewed committer times against full reachability sets.
func TestWalkRandomGraphs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 3000 {
		mode := round % timeModes
		g := randomGraph(r, 1+r.IntN(60), mode)
		tips, exclude := pick(r, g, 1+r.IntN(3)), pick(r, g, r.IntN(4))
		t.Run(fmt.Sprintf("%d", round), func(t *testing.T) {
			checkWalk(t, g, tips, exclude)
			checkOthers(t, g, r)
		})
	}
}

// TestWalkLongHistory checks that a walk over a few new commits on a long
// history reads only the commits near the range.
func TestWalkLongHistory(t *testing.T) {
	const n = 10000
	g := newGraph(n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		if i > 0 {
			g.parents[i] = []int{i - 1}
		}
		g.times[i] = base.Add(time.Duration(i) * time.Second)
	}
	calls := map[plumbing.Hash]int{}
	r, err := revwalk.Walk(g.loader(t, calls), []plumbing.Hash{g.ids[n-1]}, []plumbing.Hash{g.ids[n-11]})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Commits) != 10 || r.Commits[0] != g.ids[n-10] || !r.Descends {
		t.Fatalf("got %d commits from %v, descends %v", len(r.Commits), r.Commits[0], r.Descends)
	}
	if len(calls) > 10+1+6 {
		t.Fatalf("read %d commits for a range of 10", len(calls))
	}
}

// TestWalkSkewedChild shows a commit dated before the commits it builds
// on: the range is still complete and in parent order.
func TestWalkSkewedChild(t *testing.T) {
	// 0 <- 1 <- 2 <- 3 <- 4: 1 is accepted, 4 the new tip; 3 claims to be
	// older than everything.
	g := newGraph(5)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 5 {
		if i > 0 {
			g.parents[i] = []int{i - 1}
		}
		g.times[i] = base.Add(time.Duration(i) * time.Hour)
	}
	g.times[3] = base.Add(-time.Hour)
	r, err := revwalk.Walk(g.loader(t, map[plumbing.Hash]int{}), []plumbing.Hash{g.ids[4]}, []plumbing.Hash{g.ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if want := []plumbing.Hash{g.ids[2], g.ids[3], g.ids[4]}; !slices.Equal(r.Commits, want) {
		t.Fatalf("got %v, want %v", r.Commits, want)
	}
	if !r.Descends || !slices.Equal(r.Boundary, []plumbing.Hash{g.ids[1]}) {
		t.Fatalf("descends %v, boundary %v", r.Descends, r.Boundary)
	}
}

// skewedMerge is a tip 4 on a commit 2 that the excluded commit 1 also
// reaches (through 0), with 2 dated after 1 and 0: the walk visits 2 as
// reached from the tip alone before the excluded mark gets there.
//
//	3 <- 2 <- 4 (tip)
//	     ^
//	     0 <- 1 (excluded)
func skewedMerge(withBase bool) *graph {
	g := newGraph(5)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	g.parents[4], g.parents[0], g.parents[1] = []int{2}, []int{2}, []int{0}
	if withBase {
		g.parents[2] = []int{3}
	}
	for i, at := range []int{7, 8, 9, 1, 10} {
		g.times[i] = base.Add(time.Duration(at) * time.Second)
	}
	return g
}

// TestWalkLateMark checks that an excluded mark reaching a commit after
// it was visited is passed on to the commits below it: commit 3 is not
// listed although the tip's mark got there first.
func TestWalkLateMark(t *testing.T) {
	g := skewedMerge(true)
	r, err := revwalk.Walk(g.loader(t, map[plumbing.Hash]int{}), []plumbing.Hash{g.ids[4]}, []plumbing.Hash{g.ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if want := []plumbing.Hash{g.ids[4]}; !slices.Equal(r.Commits, want) {
		t.Fatalf("got %v, want %v", r.Commits, want)
	}
}

// TestWalkSlop checks that the walk goes on a little once only excluded
// commits are queued, so that the excluded mark still reaches commit 2,
// visited too early through skew.
func TestWalkSlop(t *testing.T) {
	g := skewedMerge(false)
	r, err := revwalk.Walk(g.loader(t, map[plumbing.Hash]int{}), []plumbing.Hash{g.ids[4]}, []plumbing.Hash{g.ids[1]})
	if err != nil {
		t.Fatal(err)
	}
	if want := []plumbing.Hash{g.ids[4]}; !slices.Equal(r.Commits, want) {
		t.Fatalf("got %v, want %v", r.Commits, want)
	}
	if !slices.Equal(r.Boundary, []plumbing.Hash{g.ids[2]}) {
		t.Fatalf("boundary %v, want commit 2", r.Boundary)
	}
}

// TestWalkLoadError checks that a commit that cannot be read ends the
// walk with the loader's error.
func TestWalkLoadError(t *testing.T) {
	g := newGraph(3)
	g.parents[1], g.parents[2] = []int{0}, []int{1}
	boom := errors.New("boom")
	load := func(id plumbing.Hash) (revwalk.Commit[plumbing.Hash], error) {
		if id == g.ids[0] {
			return revwalk.Commit[plumbing.Hash]{}, boom
		}
		return g.loader(t, map[plumbing.Hash]int{})(id)
	}
	if _, err := revwalk.Walk(load, []plumbing.Hash{g.ids[2]}, nil); !errors.Is(err, boom) {
		t.Fatalf("Walk: %v, want %v", err, boom)
	}
	if _, err := revwalk.All(load, []plumbing.Hash{g.ids[2]}); !errors.Is(err, boom) {
		t.Fatalf("All: %v, want %v", err, boom)
	}
}

// byteReader hands out the fuzzer's bytes, then zeros.
type byteReader []byte

func (b *byteReader) next() int {
	if len(*b) == 0 {
		return 0
	}
	v := (*b)[0]
	*b = (*b)[1:]
	return int(v)
}

// graphFromBytes builds a graph, tips and excluded commits from data.
func graphFromBytes(data []byte) (*graph, []plumbing.Hash, []plumbing.Hash) {
	b := byteReader(data)
	n := 1 + b.next()%48
	mode := b.next() % timeModes
	g := newGraph(n)
	base := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		k := b.next()
		if i > 0 && k%8 != 0 { // else an orphan root
			for range 1 + k%3 {
				if p := i - 1 - b.next()%i; !slices.Contains(g.parents[i], p) {
					g.parents[i] = append(g.parents[i], p)
				}
			}
		}
		v := b.next()
		g.times[i] = g.timeOf(i, mode, v*7, v%9 == 0, base)
	}
	g.strict = mode == strictTimes
	var tips, exclude []plumbing.Hash
	for range 1 + b.next()%3 {
		if h := g.ids[b.next()%n]; !slices.Contains(tips, h) {
			tips = append(tips, h)
		}
	}
	for range b.next() % 4 {
		if h := g.ids[b.next()%n]; !slices.Contains(exclude, h) {
			exclude = append(exclude, h)
		}
	}
	return g, tips, exclude
}

// FuzzWalk checks Walk, IsAncestor and All on graphs the fuzzer builds
// against full reachability sets.
func FuzzWalk(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{10, strictTimes, 1, 0, 1, 0, 1, 0, 9, 1, 2, 1})
	f.Add([]byte{30, equalTimes, 3, 0, 1, 2, 5, 7, 1, 0, 2, 3, 4, 6, 6, 2, 9, 1, 1, 3, 2, 5, 8})
	f.Add([]byte{47, skewedTimes, 9, 9, 9, 3, 3, 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 2, 30, 3, 1, 2, 3})
	f.Add([]byte{20, someSkew, 1, 0, 9, 1, 0, 9, 2, 1, 3, 1, 0, 0, 1, 0, 200, 2, 19, 3, 4, 2, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		g, tips, exclude := graphFromBytes(data)
		checkWalk(t, g, tips, exclude)
		checkOthers(t, g, rand.New(rand.NewPCG(uint64(len(data)), 7)))
	})
}
