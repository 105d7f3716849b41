package source

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/source/gitobject"
)

func TestParseCommit(t *testing.T) {
	raw := "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n" +
		"parent 1111111111111111111111111111111111111111\n" +
		"parent 2222222222222222222222222222222222222222\n" +
		"author A <a@example.test> 1700000000 +0100\n" +
		"committer C <c@example.test> 1700000060 -0500\n" +
		"\nMerge\n\nNodewright-Approve: sites/a/operations/x.yaml@3333333333333333333333333333333333333333\n"
	c, err := parseCommit(plumbing.ZeroHash, []byte(raw))
	require.NoError(t, err)
	assert.Equal(t, emptyTree, c.Tree)
	assert.Len(t, c.Parents, 2)
	assert.Equal(t, int64(1700000060), c.Time.Unix())
	assert.Nil(t, c.Signature)
	a := approveTrailers(c.Message)
	require.Len(t, a, 1)
	assert.Equal(t, "sites/a/operations/x.yaml", a[0].path)

	for name, bad := range map[string]string{
		"no tree":      "author A <a> 1 +0000\n\nmsg",
		"bad tree":     "tree 4b82\n\nmsg",
		"bad parent":   "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent zz\n\nm",
		"headers open": "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904",
		"non-hex tree": "tree 4b825dc642cb6eb9a060e54bf8d69288fbee490g\n\nm",
	} {
		_, err := parseCommit(plumbing.ZeroHash, []byte(bad))
		assert.Error(t, err, name)
	}
}

func FuzzParseCommit(f *testing.F) {
	f.Add([]byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nparent 1111111111111111111111111111111111111111\ncommitter C <c> 1 +0000\ngpgsig -----BEGIN PGP SIGNATURE-----\n x\n -----END PGP SIGNATURE-----\n\nmsg\nNodewright-Approve: a@3333333333333333333333333333333333333333\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		c, err := parseCommit(plumbing.ZeroHash, raw)
		if err != nil {
			return
		}
		_ = approveTrailers(c.Message)
		if len(c.Payload) > len(raw) {
			t.Fatal("payload larger than the object")
		}
	})
}

func FuzzParseTree(f *testing.F) {
	f.Add([]byte("40000 .nodewright\x00aaaaaaaaaaaaaaaaaaaa100644 x\x00bbbbbbbbbbbbbbbbbbbb"))
	f.Add([]byte("040000 a\x00aaaaaaaaaaaaaaaaaaaa100644 a\x00bbbbbbbbbbbbbbbbbbbb"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		entries, err := gitobject.ParseTree(raw)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, e := range entries {
			if seen[e.Name] || e.Name == "" || gitobject.IsDotGit(e.Name) {
				t.Fatalf("accepted a tree with entry %q", e.Name)
			}
			seen[e.Name] = true
		}
	})
}

func FuzzCheckCommit(f *testing.F) {
	f.Add([]byte("tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\nauthor A <a> 1 +0000\ncommitter C <c> 1 +0000\n\nmsg\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if gitobject.CheckCommit(raw) != nil {
			return
		}
		if _, err := parseCommit(plumbing.ZeroHash, raw); err != nil {
			t.Fatalf("a canonical commit does not parse: %v", err)
		}
	})
}
