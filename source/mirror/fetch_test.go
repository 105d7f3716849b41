package mirror

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fileAt reads path from the tree of commit h in the mirror.
func fileAt(t *testing.T, m *Mirror, h plumbing.Hash, path string) string {
	t.Helper()
	c, err := object.GetCommit(m.Storer(), h)
	require.NoError(t, err)
	f, err := c.File(path)
	require.NoError(t, err)
	s, err := f.Contents()
	require.NoError(t, err)
	return s
}

func TestFetchTransports(t *testing.T) {
	src := newSourceRepo(t)
	head := src.commit("one", map[string]string{"sites/a/kustomization.yaml": "resources: []\n"})
	bare := filepath.Join(t.TempDir(), "fleet.git")
	runGit(t, src.dir, "clone", "--quiet", "--bare", src.dir, bare)
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, src.dir)
	require.NoError(t, err)
	base := serveGit(t, filepath.Dir(src.dir))

	tests := []struct {
		name string
		url  string
	}{
		{"absolute path of a working repository", src.dir},
		{"relative path", rel},
		{"absolute path of a bare repository", bare},
		{"file URL", "file://" + filepath.ToSlash(bare)},
		{"smart HTTP", base + "/" + filepath.Base(src.dir)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := openMirror(t)
			got, err := m.Fetch(t.Context(), FetchOptions{URL: tt.url, Branch: "main"})
			require.NoError(t, err)
			assert.Equal(t, head, got)
			assert.Equal(t, "resources: []\n", fileAt(t, m, got, "sites/a/kustomization.yaml"))
			tip, ok, err := m.Tip("main")
			require.NoError(t, err)
			assert.True(t, ok)
			assert.Equal(t, head, tip)
		})
	}
}

// packObjectCount reads the object count from a pack file's header.
func packObjectCount(t *testing.T, path string) uint32 {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var header [12]byte
	_, err = f.ReadAt(header[:], 0)
	require.NoError(t, err)
	return binary.BigEndian.Uint32(header[8:])
}

func TestFetchIsIncremental(t *testing.T) {
	src := newSourceRepo(t)
	files := map[string]string{}
	for i := range 50 {
		files[filepath.Join("sites", "s", string(rune('a'+i%26))+strings.Repeat("x", i)+".yaml")] = strings.Repeat("line\n", i+1)
	}
	src.commit("many files", files)
	src.commit("second", map[string]string{"root.txt": "1\n"})
	base := serveGit(t, filepath.Dir(src.dir))

	for _, tt := range []struct{ name, url string }{
		{"local path", src.dir},
		{"smart HTTP", base + "/" + filepath.Base(src.dir)},
	} {
		url := tt.url
		t.Run(tt.name, func(t *testing.T) {
			m := openMirror(t)
			_, err := m.Fetch(t.Context(), FetchOptions{URL: url, Branch: "main"})
			require.NoError(t, err)
			before := packFiles(t, m)
			require.Len(t, before, 1)

			next := src.commit("third", map[string]string{"root.txt": tt.name + "\n"})
			got, err := m.Fetch(t.Context(), FetchOptions{URL: url, Branch: "main"})
			require.NoError(t, err)
			assert.Equal(t, next, got)
			assert.Equal(t, tt.name+"\n", fileAt(t, m, got, "root.txt"))

			after := packFiles(t, m)
			require.Len(t, after, 2)
			added := slices.DeleteFunc(after, func(p string) bool { return slices.Contains(before, p) })
			require.Len(t, added, 1)
			// Only the new commit, its root tree and the changed blob.
			assert.Equal(t, uint32(3), packObjectCount(t, added[0]))
		})
	}
}

func TestFetchAlreadyUpToDate(t *testing.T) {
	src := newSourceRepo(t)
	head := src.commit("one", map[string]string{"a.txt": "a\n"})
	m := openMirror(t)

	first, err := m.Fetch(t.Context(), FetchOptions{URL: src.dir, Branch: "main"})
	require.NoError(t, err)
	packs := packFiles(t, m)

	again, err := m.Fetch(t.Context(), FetchOptions{URL: src.dir, Branch: "main"})
	require.NoError(t, err, "an up-to-date fetch is a success")
	assert.Equal(t, head, first)
	assert.Equal(t, first, again)
	assert.Equal(t, packs, packFiles(t, m), "nothing downloaded")
}

func TestFetchMissingBranch(t *testing.T) {
	src := newSourceRepo(t)
	src.commit("one", map[string]string{"a.txt": "a\n"})
	empty := newSourceRepo(t)
	m := openMirror(t)

	tests := []struct {
		name   string
		url    string
		branch string
		want   []string
	}{
		{"branch absent", src.dir, "release", []string{src.dir, `no branch "release"`}},
		{"empty repository", empty.dir, "main", []string{empty.dir, `no branch "main"`}},
		{"path that does not exist", filepath.Join(src.dir, "nope"), "main", []string{filepath.Join(src.dir, "nope"), "no such file"}},
		{"invalid branch name", src.dir, "a..b", []string{src.dir, "not a valid branch name"}},
		{"no branch", src.dir, "", []string{src.dir, "no branch given"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Fetch(t.Context(), FetchOptions{URL: tt.url, Branch: tt.branch})
			require.Error(t, err)
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestFetchForcePushKeepsPinnedObjects(t *testing.T) {
	src := newSourceRepo(t)
	src.commit("base", map[string]string{"a.txt": "base\n"})
	accepted := src.commit("accepted", map[string]string{"a.txt": "accepted\n"})
	base := serveGit(t, filepath.Dir(src.dir))
	url := base + "/" + filepath.Base(src.dir)
	m := openMirror(t)

	got, err := m.Fetch(t.Context(), FetchOptions{URL: url, Branch: "main"})
	require.NoError(t, err)
	require.Equal(t, accepted, got)
	require.NoError(t, m.Pin(accepted))

	// Rewrite history on the remote and drop the old commit there.
	src.git("reset", "--quiet", "--hard", "HEAD~1")
	rewritten := src.commit("rewritten", map[string]string{"a.txt": "rewritten\n"})
	src.git("reflog", "expire", "--expire=now", "--all")
	src.git("gc", "--quiet", "--prune=now")
	require.NotEqual(t, accepted, rewritten)

	got, err = m.Fetch(t.Context(), FetchOptions{URL: url, Branch: "main"})
	require.NoError(t, err, "the mirror follows a force-push; the verifier refuses it")
	assert.Equal(t, rewritten, got)

	newTip, err := object.GetCommit(m.Storer(), got)
	require.NoError(t, err)
	old, err := object.GetCommit(m.Storer(), accepted)
	require.NoError(t, err, "the pinned commit stays readable")
	isAncestor, err := old.IsAncestor(newTip)
	require.NoError(t, err)
	assert.False(t, isAncestor, "the new tip does not descend from the pinned commit")
	assert.Equal(t, "accepted\n", fileAt(t, m, accepted, "a.txt"))
	pinned, ok, err := m.Pinned()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, accepted, pinned)
}

func TestFetchErrorHidesCredentials(t *testing.T) {
	src := newSourceRepo(t)
	src.commit("one", map[string]string{"a.txt": "a\n"})
	base := serveGit(t, filepath.Dir(src.dir))
	withCreds := strings.Replace(base, "http://", "http://fleetbot:s3cr3t-t0ken@", 1) + "/missing"

	m := openMirror(t)
	_, err := m.Fetch(t.Context(), FetchOptions{URL: withCreds, Branch: "main"})
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "s3cr3t-t0ken")
	assert.NotContains(t, err.Error(), "fleetbot")
	assert.Contains(t, err.Error(), "<redacted>@")
	assert.Contains(t, err.Error(), "/missing")
	var fe *FetchError
	assert.ErrorAs(t, err, &fe)
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"https://user:pass@git.example.test/fleet.git", "https://<redacted>@git.example.test/fleet.git"},
		{"https://ghp_token1234@git.example.test/fleet.git", "https://<redacted>@git.example.test/fleet.git"},
		{"http://git.example.test/fleet.git", "http://git.example.test/fleet.git"},
		{"ssh://git@git.example.test/fleet.git", "ssh://git@git.example.test/fleet.git"},
		{"ssh://git:pw@git.example.test/fleet.git", "ssh://<redacted>@git.example.test/fleet.git"},
		{"git@git.example.test:fleet.git", "git@git.example.test:fleet.git"},
		{"/srv/fleet", "/srv/fleet"},
		{"https://user:p%zz@git.example.test/x", "https://<redacted>@git.example.test/x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			assert.Equal(t, tt.want, RedactURL(tt.in))
		})
	}
}

func TestEndpointURL(t *testing.T) {
	dir := t.TempDir()
	colon := filepath.Join(dir, "a:b")
	require.NoError(t, os.Mkdir(colon, 0o755))
	wd, err := os.Getwd()
	require.NoError(t, err)
	rel, err := filepath.Rel(wd, dir)
	require.NoError(t, err)

	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "https", in: "https://git.example.test/fleet.git", want: "https://git.example.test/fleet.git"},
		{name: "ssh", in: "ssh://git@git.example.test:2222/fleet.git", want: "ssh://git@git.example.test:2222/fleet.git"},
		{name: "scp-like", in: "git@git.example.test:fleet.git", want: "git@git.example.test:fleet.git"},
		{name: "file URL", in: "file:///srv/fleet.git", want: "file:///srv/fleet.git"},
		{name: "absolute path", in: dir, want: dir},
		{name: "relative path", in: rel, want: dir},
		{name: "path with a colon", in: colon, want: "file://" + filepath.ToSlash(colon)},
		{name: "missing path", in: filepath.Join(dir, "missing"), wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := endpointURL(tt.in)
			if tt.wantErr {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestFetchFromPathWithColon(t *testing.T) {
	parent := filepath.Join(t.TempDir(), "site:edge")
	require.NoError(t, os.MkdirAll(parent, 0o755))
	dir := filepath.Join(parent, "fleet")
	runGit(t, parent, "init", "--quiet", "-b", "main", dir)
	src := &sourceRepo{t: t, dir: dir}
	head := src.commit("one", map[string]string{"a.txt": "a\n"})

	m := openMirror(t)
	got, err := m.Fetch(t.Context(), FetchOptions{URL: dir, Branch: "main"})
	require.NoError(t, err)
	assert.Equal(t, head, got)
}
