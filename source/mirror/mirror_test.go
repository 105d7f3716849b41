package mirror

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOpenCreatesBareRepository(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state", "mirror")
	m, err := Open(dir)
	require.NoError(t, err)
	defer m.Close()

	cfg, err := m.Repository().Config()
	require.NoError(t, err)
	assert.True(t, cfg.Core.IsBare, "core.bare")
	assert.FileExists(t, filepath.Join(dir, "HEAD"))
	assert.NoDirExists(t, filepath.Join(dir, ".git"))

	// The git CLI agrees that it is a bare repository.
	assert.Equal(t, "true", runGit(t, dir, "rev-parse", "--is-bare-repository"))
}

func TestOpenReopensAndKeepsRefs(t *testing.T) {
	src := newSourceRepo(t)
	head := src.commit("one", map[string]string{"a.txt": "a\n"})
	dir := filepath.Join(t.TempDir(), "mirror")

	m, err := Open(dir)
	require.NoError(t, err)
	_, err = m.Fetch(t.Context(), FetchOptions{URL: src.dir, Branch: "main"})
	require.NoError(t, err)
	require.NoError(t, m.Pin(head))
	require.NoError(t, m.Close())

	m, err = Open(dir)
	require.NoError(t, err)
	defer m.Close()
	tip, ok, err := m.Tip("main")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, head, tip)
	pinned, ok, err := m.Pinned()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, head, pinned)
}

func TestOpenRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T) string
		want  string
	}{
		{
			name: "non-empty directory without a repository",
			setup: func(t *testing.T) string {
				dir := t.TempDir()
				require.NoError(t, os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644))
				return dir
			},
			want: "holds no bare git repository",
		},
		{
			name: "working repository",
			setup: func(t *testing.T) string {
				return newSourceRepo(t).dir
			},
			want: "holds no bare git repository",
		},
		{
			name: "regular file",
			setup: func(t *testing.T) string {
				p := filepath.Join(t.TempDir(), "file")
				require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
				return p
			},
			want: "not a directory",
		},
		{
			name:  "empty path",
			setup: func(t *testing.T) string { return "" },
			want:  "no directory given",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Open(tt.setup(t))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestPin(t *testing.T) {
	src := newSourceRepo(t)
	first := src.commit("one", map[string]string{"a.txt": "a\n"})
	m := openMirror(t)

	_, ok, err := m.Pinned()
	require.NoError(t, err)
	assert.False(t, ok, "nothing pinned in a new mirror")

	err = m.Pin(first)
	require.Error(t, err, "pinning a commit the mirror lacks")

	_, err = m.Fetch(t.Context(), FetchOptions{URL: src.dir, Branch: "main"})
	require.NoError(t, err)
	require.NoError(t, m.Pin(first))
	pinned, ok, err := m.Pinned()
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, first, pinned)

	tree := plumbing.NewHash(src.git("rev-parse", "HEAD^{tree}"))
	assert.Error(t, m.Pin(tree), "a tree is not a commit")
	assert.Equal(t, first.String(), runGit(t, m.Dir(), "rev-parse", string(PinRef)))
}
