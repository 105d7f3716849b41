package source

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
	"github.com/nodewright/nodewright/test/harness"
)

// The commit-graph property: random commit graphs (children, merges of
// two or three parents, orphan roots; signers with and without a role,
// revoked and removed keys, unsigned commits; trust files kept, raised,
// rolled back, conflicting, dropped) are verified by the Verifier and by
// graphModel, a direct reading of the rules in a few lines each, and must
// get the same outcome: accepted or not, the policy in force when
// accepted, and the reason codes of the first commit the model refuses.
// Every graph is checked from scratch and, from an accepted commit of it,
// incrementally with the recorded floor.
//
// Keys are made by the real ssh-keygen; commits are written straight into
// an in-memory object store and signed in-process (signature.Key, the
// format git and ssh-keygen write), so that thousands of graphs fit in a
// test run. The attack tests cover the same rules with real git.

// Principals of the graphs, indexes into graphFixture.keys; keyCarol2 is
// carol's second key and keyMallory is in no policy.
const (
	keyAlice = iota
	keyBob
	keyCarol
	keyCarol2
	keyDave
	keyMallory
	numKeys
)

var keyPrincipal = [numKeys]string{"alice", "bob", "carol", "carol", "dave", "mallory"}

// modelPolicy is one trust policy of the family the graphs use, as data:
// the model reads it, the verifier reads its YAML.
type modelPolicy struct {
	version    int
	keys       map[int]bool // key -> revoked
	committers []string
	admins     []string
}

func (p modelPolicy) holds(key int) (principal string, revoked, ok bool) {
	revoked, ok = p.keys[key]
	return keyPrincipal[key], revoked, ok
}

func (p modelPolicy) committer(principal string) bool {
	return slices.Contains(p.committers, principal)
}

func (p modelPolicy) admin(principal string) bool { return slices.Contains(p.admins, principal) }

// policyFamily: version 1 is the trust root; two different versions 2 (a
// conflict when both are merged), versions 3 and 4 that drop keys.
var policyFamily = []modelPolicy{
	{1, map[int]bool{keyAlice: false, keyBob: false, keyCarol: false, keyDave: false}, []string{"alice", "bob", "carol"}, []string{"alice", "bob"}},
	// 2: carol's first key revoked, her second added.
	{2, map[int]bool{keyAlice: false, keyBob: false, keyCarol: true, keyCarol2: false, keyDave: false}, []string{"alice", "bob", "carol"}, []string{"alice", "bob"}},
	// 2b: bob removed (not revoked).
	{2, map[int]bool{keyAlice: false, keyCarol: false, keyDave: false}, []string{"alice", "carol"}, []string{"alice"}},
	// 3: alice removed; carol (second key) a trust admin.
	{3, map[int]bool{keyBob: false, keyCarol2: false, keyDave: false}, []string{"bob", "carol"}, []string{"bob", "carol"}},
	// 3b: dave a committer, bob's key revoked.
	{3, map[int]bool{keyAlice: false, keyBob: true, keyCarol: false, keyDave: false}, []string{"alice", "carol", "dave"}, []string{"alice"}},
	// 4: everyone's current keys, bob and carol admins.
	{4, map[int]bool{keyAlice: false, keyBob: false, keyCarol2: false, keyDave: false}, []string{"alice", "bob", "carol"}, []string{"bob", "carol"}},
}

// graphFixture holds the keys and the policies' YAML, made once per test
// binary.
type graphFixture struct {
	keys [numKeys]*signature.Key
	// yaml and policies by history mode (0: all, 1: first-parent), then
	// family index.
	yaml     [2][]string
	policies [2][]*trust.Policy
}

var (
	graphOnce sync.Once
	graphFix  *graphFixture
)

func graphKeys(t testing.TB) *graphFixture {
	graphOnce.Do(func() {
		fx := &graphFixture{}
		var ssh [numKeys]*harness.SSHKey
		for i := range numKeys {
			ssh[i] = harness.NewSSHKey(processTB{}, fmt.Sprintf("%s%d", keyPrincipal[i], i))
			k, err := signature.LoadKey(ssh[i].PrivatePath)
			if err != nil {
				panic(err)
			}
			fx.keys[i] = k
		}
		for mode, history := range []string{"", string(trust.HistoryFirstParent)} {
			for _, mp := range policyFamily {
				hp := harness.Policy{Version: mp.version, History: history, Roles: map[string]harness.Role{
					trust.RoleCommitters:  {Principals: mp.committers, Threshold: 1},
					trust.RoleTrustAdmins: {Principals: mp.admins, Threshold: 1},
				}}
				byPrincipal := map[string]*harness.Principal{}
				var order []string
				for key := range numKeys {
					revoked, ok := mp.keys[key]
					if !ok {
						continue
					}
					name := keyPrincipal[key]
					if byPrincipal[name] == nil {
						byPrincipal[name] = &harness.Principal{Name: name}
						order = append(order, name)
					}
					byPrincipal[name].Keys = append(byPrincipal[name].Keys, harness.Key{Signer: ssh[key], Revoked: revoked})
				}
				for _, name := range order {
					hp.Principals = append(hp.Principals, *byPrincipal[name])
				}
				y := hp.YAML()
				pol, err := trust.Parse("family", []byte(y))
				if err != nil {
					panic(fmt.Sprintf("policy family: %v\n%s", err, y))
				}
				fx.yaml[mode] = append(fx.yaml[mode], y)
				fx.policies[mode] = append(fx.policies[mode], pol)
			}
		}
		graphFix = fx
	})
	if graphFix == nil {
		t.Fatal("graph fixture failed")
	}
	return graphFix
}

// noFile marks a commit without .nodewright/trust.yaml; noSigner an
// unsigned commit.
const (
	noFile   = -1
	noSigner = -1
)

// graphCommit is one commit of a generated graph.
type graphCommit struct {
	parents []int
	signer  int // a key, or noSigner
	file    int // a policyFamily index, or noFile
	data    int // the content of the file "data"
}

func (c graphCommit) String() string {
	return fmt.Sprintf("parents %v signer %d file %d data %d", c.parents, c.signer, c.file, c.data)
}

// bytesSource reads a fuzzer's bytes as small numbers, then zeros.
type bytesSource struct{ b []byte }

func (s *bytesSource) next(n int) int {
	if len(s.b) == 0 {
		return 0
	}
	v := int(s.b[0])
	s.b = s.b[1:]
	return v % n
}

// generate turns bytes into a graph: commit 0 is the root, signed by
// alice with policy version 1; each later commit has parents among the
// earlier ones, so index order is a topological order.
func generate(src *bytesSource) (commits []graphCommit, tip, last int) {
	commits = []graphCommit{{signer: keyAlice, file: 0, data: 0}}
	n := 1 + src.next(11)
	for i := 1; i <= n; i++ {
		c := graphCommit{data: i}
		switch op := src.next(10); {
		case op < 6 || i < 2:
			c.parents = []int{src.next(i)}
		case op < 9:
			a, b := src.next(i), src.next(i)
			if a == b {
				b = (a + 1) % i
			}
			c.parents = []int{a, b}
			if op == 8 && i > 2 {
				if x := src.next(i); x != a && x != b {
					c.parents = append(c.parents, x)
				}
			}
		default: // an orphan root
		}
		if src.next(4) > 0 { // mostly someone who may commit, at some version
			c.signer = []int{keyAlice, keyBob, keyCarol, keyCarol2}[src.next(4)]
		} else {
			c.signer = src.next(numKeys+1) - 1
		}
		first := noFile
		if len(c.parents) > 0 {
			first = commits[c.parents[0]].file
		}
		switch op := src.next(8); {
		case op < 4:
			c.file = first
		case op == 4: // the next version after the first parent's
			v := 1
			if first != noFile {
				v = policyFamily[first].version
			}
			var next []int
			for j, p := range policyFamily {
				if p.version == v+1 {
					next = append(next, j)
				}
			}
			c.file = first
			if len(next) > 0 {
				c.file = next[src.next(len(next))]
			}
		case op == 5:
			c.file = src.next(len(policyFamily))
		case op == 6:
			c.file = noFile
		default: // another parent's file
			c.file = first
			if len(c.parents) > 1 {
				c.file = commits[c.parents[1+src.next(len(c.parents)-1)]].file
			}
		}
		if len(c.parents) > 0 && src.next(4) == 0 {
			c.data = commits[c.parents[0]].data // an empty commit when the file is kept too
		}
		commits = append(commits, c)
	}
	tip = len(commits) - 1
	last = src.next(len(commits)+1) - 1 // -1: verify from scratch only
	return commits, tip, last
}

// reachable returns the commits reachable from i (itself included).
func reachable(commits []graphCommit, i int) map[int]bool {
	seen := map[int]bool{}
	stack := []int{i}
	for len(stack) > 0 {
		c := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if !seen[c] {
			seen[c] = true
			stack = append(stack, commits[c].parents...)
		}
	}
	return seen
}

// modelOutcome is what the model predicts.
type modelOutcome struct {
	accepted bool
	policy   int // the family index in force after the tip, when accepted
	// first is the first commit (by index) the model refuses, and codes
	// its reason codes.
	first int
	codes []reason.Code
	// after is the policy in force after each judged commit.
	after map[int]int
}

// graphModel judges the commits reachable from tip and not from last (-1:
// none) with floor in force at last, by the rules as written in the
// README, one at a time in index order:
//
//   - the policy in force at a commit is the newest of the floor and the
//     policies after its parents (a parent outside the range: the floor);
//     two different ones of the same newest version are a conflict;
//   - it must be signed by a key of that policy, not revoked; a commit
//     whose tree differs from its first parent's needs a committer;
//   - its trust file is its parents' newest (kept from one parent, with no
//     other parent newer or as new and different), the policy in force
//     again, or the next version signed by a trust admin; never missing
//     where a parent had one;
//   - the tip carries the policy in force after it, unless that is the
//     trust root;
//   - with first-parent history, only the tip's first-parent chain is
//     judged, as if each commit had its first parent alone.
func graphModel(commits []graphCommit, tip, last, floor int, firstParent bool) modelOutcome {
	inRange := reachable(commits, tip)
	if last >= 0 {
		for c := range reachable(commits, last) {
			delete(inRange, c)
		}
	}
	if firstParent { // only the first-parent chain is judged, only first parents vouch
		chain := map[int]bool{}
		for c := tip; inRange[c]; c = commits[c].parents[0] {
			chain[c] = true
			if len(commits[c].parents) == 0 {
				break
			}
		}
		inRange = chain
	}
	out := modelOutcome{first: -1, after: map[int]int{}}
	refuse := func(i int, code reason.Code) {
		if out.first < 0 {
			out.first = i
		}
		if out.first == i {
			out.codes = append(out.codes, code)
		}
	}
	after := func(p int) int {
		if inRange[p] {
			return out.after[p]
		}
		return floor
	}
	for i, c := range commits {
		if !inRange[i] {
			continue
		}
		if firstParent && len(c.parents) > 1 {
			c.parents = c.parents[:1]
		}
		in := floor
		conflict := false
		for _, p := range c.parents {
			a := after(p)
			switch pa, pi := policyFamily[a], policyFamily[in]; {
			case pa.version > pi.version:
				in = a
			case pa.version == pi.version && a != in:
				conflict = true
			}
		}
		out.after[i] = in
		if conflict {
			refuse(i, reason.PolicyRollback)
			out.after[i] = floor
			continue
		}
		pol := policyFamily[in]
		if c.signer == noSigner {
			refuse(i, reason.Unsigned)
			continue
		}
		principal, revoked, ok := pol.holds(c.signer)
		switch {
		case !ok:
			refuse(i, reason.UnknownKey)
			continue
		case revoked:
			refuse(i, reason.KeyRevoked)
			continue
		}
		changes := len(c.parents) == 0 || c.file != commits[c.parents[0]].file || c.data != commits[c.parents[0]].data
		if changes && !pol.committer(principal) {
			refuse(i, reason.NotAuthorized)
		}
		var had []int
		for _, p := range c.parents {
			if f := commits[p].file; f != noFile {
				had = append(had, f)
			}
		}
		switch {
		case c.file == noFile:
			if len(had) > 0 {
				refuse(i, reason.PolicyMissing)
			}
		case slices.Contains(had, c.file):
			for _, f := range had {
				if f != c.file && policyFamily[f].version >= policyFamily[c.file].version {
					refuse(i, reason.PolicyRollback)
					break
				}
			}
		case c.file == in:
		case policyFamily[c.file].version == pol.version+1:
			out.after[i] = c.file
			if !pol.admin(principal) {
				refuse(i, reason.PolicyChangeNotApproved)
			}
		default:
			refuse(i, reason.PolicyRollback)
		}
	}
	final := floor
	if inRange[tip] {
		final = out.after[tip]
	}
	if out.first < 0 && final != 0 && commits[tip].file != final {
		if commits[tip].file == noFile {
			refuse(tip, reason.PolicyMissing)
		} else {
			refuse(tip, reason.PolicyRollback)
		}
	}
	out.accepted = out.first < 0
	out.policy = final
	return out
}

// writeGraph stores the graph's objects and returns each commit's id.
func writeGraph(t testing.TB, fx *graphFixture, mode int, st *memory.Storage, commits []graphCommit) []plumbing.Hash {
	t.Helper()
	put := func(typ plumbing.ObjectType, data []byte) plumbing.Hash {
		obj := st.NewEncodedObject()
		obj.SetType(typ)
		w, err := obj.Writer()
		if err == nil {
			_, err = w.Write(data)
		}
		if err == nil {
			err = w.Close()
		}
		if err != nil {
			t.Fatalf("write object: %v", err)
		}
		h, err := st.SetEncodedObject(obj)
		if err != nil {
			t.Fatalf("store object: %v", err)
		}
		return h
	}
	entry := func(mode, name string, h plumbing.Hash) string { return mode + " " + name + "\x00" + string(h[:]) }
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	ids := make([]plumbing.Hash, len(commits))
	for i, c := range commits {
		var tree strings.Builder
		if c.file != noFile {
			trustDir := put(plumbing.TreeObject, []byte(entry("100644", "trust.yaml", put(plumbing.BlobObject, []byte(fx.yaml[mode][c.file])))))
			tree.WriteString(entry("40000", ".nodewright", trustDir))
		}
		tree.WriteString(entry("100644", "data", put(plumbing.BlobObject, fmt.Appendf(nil, "%d\n", c.data))))
		var b strings.Builder
		fmt.Fprintf(&b, "tree %s\n", put(plumbing.TreeObject, []byte(tree.String())))
		for _, p := range c.parents {
			fmt.Fprintf(&b, "parent %s\n", ids[p])
		}
		at := base.Add(time.Duration(i) * time.Second)
		fmt.Fprintf(&b, "author Graph <graph@example.test> %d +0000\ncommitter Graph <graph@example.test> %d +0000\n", at.Unix(), at.Unix())
		headers, msg := b.String(), fmt.Sprintf("\ncommit %d\n", i)
		raw := headers + msg
		if c.signer != noSigner {
			sig, err := fx.keys[c.signer].Sign([]byte(raw), signature.Namespace, at)
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			raw = headers + "gpgsig " + strings.ReplaceAll(strings.TrimRight(string(sig), "\n"), "\n", "\n ") + "\n" + msg
		}
		ids[i] = put(plumbing.CommitObject, []byte(raw))
	}
	return ids
}

// checkGraph verifies one generated graph against the model, in both
// history modes, from scratch and, when last names an accepted commit,
// incrementally.
func checkGraph(t testing.TB, seed []byte) {
	commits, tip, last := generate(&bytesSource{b: seed})
	for mode := range 2 {
		checkGraphIn(t, mode, commits, tip, last)
	}
}

func checkGraphIn(t testing.TB, mode int, commits []graphCommit, tip, last int) {
	fx := graphKeys(t)
	firstParent := mode == 1
	describe := func() string {
		var b strings.Builder
		for i, c := range commits {
			fmt.Fprintf(&b, "\n  %d: %s", i, c)
		}
		return fmt.Sprintf("graph (tip %d, last %d, first-parent %v):%s", tip, last, firstParent, b.String())
	}
	st := memory.NewStorage()
	ids := writeGraph(t, fx, mode, st, commits)
	policies := fx.policies[mode]

	check := func(what string, lastID plumbing.Hash, v *Verifier, want modelOutcome) {
		res, err := v.Verify(lastID, ids[tip])
		if err != nil {
			t.Fatalf("%s: %v\n%s", what, err, describe())
		}
		if res.Accepted() != want.accepted {
			t.Fatalf("%s: verifier accepted=%v, model accepted=%v (model refuses commit %d with %v)\nrefusals: %v\n%s",
				what, res.Accepted(), want.accepted, want.first, want.codes, res.Refusals, describe())
		}
		if want.accepted {
			if res.Policy.Digest() != policies[want.policy].Digest() {
				t.Fatalf("%s: policy in force is version %d, the model's is family[%d] (version %d)\n%s",
					what, res.Policy.Version, want.policy, policyFamily[want.policy].version, describe())
			}
			return
		}
		var got []reason.Code
		for _, r := range res.Refusals {
			if r.Commit == ids[want.first].String() {
				got = append(got, r.Code)
			}
		}
		slices.Sort(got)
		codes := slices.Clone(want.codes)
		slices.Sort(codes)
		if !slices.Equal(slices.Compact(got), slices.Compact(codes)) {
			t.Fatalf("%s: commit %d refused with %v, the model says %v\nrefusals: %v\n%s", what, want.first, got, codes, res.Refusals, describe())
		}
	}

	check("from scratch", plumbing.ZeroHash, &Verifier{Root: policies[0], Store: st}, graphModel(commits, tip, -1, 0, firstParent))

	if last < 0 || last == tip || !reachable(commits, tip)[last] {
		return
	}
	upTo := graphModel(commits, last, -1, 0, firstParent)
	if !upTo.accepted {
		return
	}
	v := &Verifier{Root: policies[0], Store: st}
	if upTo.policy != 0 {
		v.Floor = policies[upTo.policy]
		v.FloorBlob = plumbing.ComputeHash(plumbing.BlobObject, []byte(fx.yaml[mode][upTo.policy]))
	}
	check(fmt.Sprintf("from accepted commit %d", last), ids[last], v, graphModel(commits, tip, last, upTo.policy, firstParent))
}

// TestCommitGraphProperty checks two thousand random graphs; the fuzz
// target below explores further (make fuzz-long).
func TestCommitGraphProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 0))
	accepted := 0
	const graphs = 2000
	for range graphs {
		seed := make([]byte, 64)
		for i := range seed {
			seed[i] = byte(rng.UintN(256))
		}
		checkGraph(t, seed)
		commits, tip, _ := generate(&bytesSource{b: seed})
		if graphModel(commits, tip, -1, 0, false).accepted {
			accepted++
		}
	}
	// The generator must reach both outcomes often enough to mean something.
	if accepted < graphs/20 || accepted > graphs-graphs/20 {
		t.Fatalf("%d of %d graphs accepted: the generator is lopsided", accepted, graphs)
	}
}

func FuzzCommitGraph(f *testing.F) {
	for _, s := range [][]byte{
		{},
		{3, 0, 0, 0, 4, 0, 0, 0, 1, 0},
		bytes.Repeat([]byte{7, 1, 2, 3}, 16),
		bytes.Repeat([]byte{8, 0, 1, 2, 5, 4}, 12),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, seed []byte) {
		checkGraph(t, seed)
	})
}
