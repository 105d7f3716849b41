package gitobject

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSubjectAndTime(t *testing.T) {
	raw := "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\ncommitter C <c@x> 1700000060 -0500\n\nFirst line\n\nbody\n"
	c, err := ParseCommit(plumbing.ZeroHash, []byte(raw))
	require.NoError(t, err)
	assert.Equal(t, "First line", c.Subject())
	assert.Equal(t, int64(1700000060), c.Time.Unix())
	assert.Equal(t, "000000000000", c.Short())
}

func TestEachTreeEntryStopsAndRefusesMalformed(t *testing.T) {
	raw := []byte("40000 a\x00aaaaaaaaaaaaaaaaaaaa100644 b\x00bbbbbbbbbbbbbbbbbbbb")
	var names []string
	require.NoError(t, EachTreeEntry(raw, func(_, name []byte, _ plumbing.Hash) bool {
		names = append(names, string(name))
		return false
	}))
	assert.Equal(t, []string{"a"}, names, "stops when fn returns false")
	assert.Error(t, EachTreeEntry(raw[:10], func(_, _ []byte, _ plumbing.Hash) bool { return true }))
}

func TestCheckCommit(t *testing.T) {
	const tree = "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
	const who = "author A <a@x> 1700000000 +0100\ncommitter C <c@x> 1700000060 -0500\n"
	require.NoError(t, CheckCommit([]byte(tree+"parent 1111111111111111111111111111111111111111\n"+who+"gpgsig -----BEGIN SSH SIGNATURE-----\n x\n -----END SSH SIGNATURE-----\n\nmsg\n")))
	require.NoError(t, CheckCommit([]byte(tree+who)), "no body is allowed when the last header ends")
	for name, raw := range map[string]string{
		"tree not first":      "parent 1111111111111111111111111111111111111111\n" + tree + who + "\nmsg\n",
		"upper-case tree id":  "tree 4B825DC642CB6EB9A060E54BF8D69288FBEE4904\n" + who + "\nmsg\n",
		"two trees":           tree + tree + who + "\nmsg\n",
		"no author":           tree + "committer C <c@x> 1 +0000\n\nmsg\n",
		"no committer":        tree + "author A <a@x> 1 +0000\n\nmsg\n",
		"zero-padded date":    tree + "author A <a@x> 01 +0000\ncommitter C <c@x> 1 +0000\n\nmsg\n",
		"bad time zone":       tree + "author A <a@x> 1 0000\ncommitter C <c@x> 1 +0000\n\nmsg\n",
		"no space before <":   tree + "author A<a@x> 1 +0000\ncommitter C <c@x> 1 +0000\n\nmsg\n",
		"NUL in a header":     tree + "author A <a@x> 1 +0000\ncommitter C <c\x00@x> 1 +0000\n\nmsg\n",
		"two signatures":      tree + who + "gpgsig a\ngpgsig-sha256 b\n\nmsg\n",
		"late parent":         tree + who + "parent 1111111111111111111111111111111111111111\n\nmsg\n",
		"too large":           tree + who + "\n" + string(make([]byte, MaxCommitSize)),
		"unterminated header": tree + who + "\xab",
	} {
		assert.Error(t, CheckCommit([]byte(raw)), name)
	}
}

func TestParseTreeRefusesWhatFsckFlags(t *testing.T) {
	id := "aaaaaaaaaaaaaaaaaaaa"
	ok := "100644 a\x00" + id + "40000 b\x00" + id
	_, err := ParseTree([]byte(ok))
	require.NoError(t, err)
	for name, raw := range map[string]string{
		"duplicate name":       "100644 a\x00" + id + "100644 a\x00" + id,
		"file and tree alike":  "100644 a\x00" + id + "100644 a-b\x00" + id + "40000 a\x00" + id,
		"unsorted":             "100644 b\x00" + id + "100644 a\x00" + id,
		"zero-padded mode":     "040000 a\x00" + id,
		"unknown mode":         "100664 a\x00" + id,
		"dot dot":              "40000 ..\x00" + id,
		".git in another case": "40000 .Git\x00" + id,
		"NTFS .git":            "40000 .git. \x00" + id,
		"8.3 short name":       "40000 GIT~1\x00" + id,
		"HFS .git":             "40000 .g\u200cit\x00" + id,
		"empty name":           "100644 \x00" + id,
	} {
		_, err := ParseTree([]byte(raw))
		assert.Error(t, err, name)
	}
}

// TestParseTreeFindsEveryFileAndTreeAlike checks the duplicate rule
// against a plain set of names on random trees in git's order, where a
// file and a directory of one name sort apart with other names between
// them (over an alphabet whose bytes sort below and above '/').
func TestParseTreeFindsEveryFileAndTreeAlike(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("a-.b")
	for range 20000 {
		type ent struct {
			name string
			dir  bool
		}
		keys := map[string]bool{}
		var ents []ent
		for range 1 + rng.IntN(8) {
			n := make([]byte, 1+rng.IntN(3))
			for i := range n {
				n[i] = alphabet[rng.IntN(len(alphabet))]
			}
			e := ent{string(n), rng.IntN(2) == 0}
			key := e.name
			if e.dir {
				key += "/"
			}
			if !keys[key] && e.name != "." && e.name != ".." {
				keys[key] = true
				ents = append(ents, e)
			}
		}
		slices.SortFunc(ents, func(a, b ent) int { return CompareNames(a.name, a.dir, b.name, b.dir) })
		var raw strings.Builder
		names := map[string]bool{}
		twice := false
		for _, e := range ents {
			mode := "100644"
			if e.dir {
				mode = "40000"
			}
			raw.WriteString(mode + " " + e.name + "\x00aaaaaaaaaaaaaaaaaaaa")
			twice = twice || names[e.name]
			names[e.name] = true
		}
		_, err := ParseTree([]byte(raw.String()))
		if twice {
			require.ErrorContains(t, err, "is listed twice", "%q", raw.String())
		} else {
			require.NoError(t, err, "%q", raw.String())
		}
	}
}
