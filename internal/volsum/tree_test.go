package volsum

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// writeTree makes the tree every filesystem case starts from: files,
// nested directories, a symlink, a hard link, an empty directory, a fifo,
// a socket, and a lost+found at the root and below it.
func writeTree(t *testing.T, root string) {
	t.Helper()
	files := map[string]string{
		"a.txt":                "alpha\n",
		"a/b.txt":              "bravo\n",
		"a/c/d.bin":            string(make([]byte, 70000)),
		"z":                    "",
		"lost+found/#1234":     "what fsck found on " + root,
		"sub/lost+found/keep":  "an ordinary directory here",
		"sub/hard/original.db": "linked content",
	}
	for name, content := range files {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	require.NoError(t, os.Link(filepath.Join(root, "sub/hard/original.db"), filepath.Join(root, "sub/hard/link.db")))
	require.NoError(t, os.Symlink("../a.txt", filepath.Join(root, "a/to-a")))
	require.NoError(t, os.Symlink("/etc", filepath.Join(root, "etc")))
	require.NoError(t, os.Mkdir(filepath.Join(root, "empty"), 0o700))
	require.NoError(t, unix.Mkfifo(filepath.Join(root, "a/pipe"), 0o600))
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(root, "sock"), Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	require.NoError(t, os.Chmod(filepath.Join(root, "a/b.txt"), 0o600))
}

func twoTrees(t *testing.T) (string, string) {
	t.Helper()
	src, dst := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "dst")
	for _, d := range []string{src, dst} {
		require.NoError(t, os.Mkdir(d, 0o755))
		writeTree(t, d)
	}
	return src, dst
}

func TestTreesEqual(t *testing.T) {
	src, dst := twoTrees(t)
	// Times are not in the digest: a copy sets them anew.
	old := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	require.NoError(t, os.Chtimes(filepath.Join(dst, "a.txt"), old, old))
	r, err := Compare(context.Background(), Filesystem, src, dst, Options{})
	require.NoError(t, err)
	assert.Equal(t, Match, r.Verdict, r.Summary())
	assert.Nil(t, r.FirstDifference)
	assert.Equal(t, r.Source.SHA256, r.Target.SHA256)
	// Entries: the root and every path but lost+found at the root and what it holds.
	assert.EqualValues(t, 18, r.Source.Entries)
	// Contents: each inode once, so the hard link's bytes count once.
	assert.EqualValues(t, len("alpha\nbravo\n")+70000+len("an ordinary directory here")+len("linked content"), r.Source.Size)

	d, err := TreeDigest(context.Background(), src, Options{})
	require.NoError(t, err)
	assert.Equal(t, r.Source, d, "TreeDigest and Compare agree")
	other, err := TreeDigest(context.Background(), src, Options{IgnoreOwner: true})
	require.NoError(t, err)
	assert.NotEqual(t, d.SHA256, other.SHA256, "a digest without owners never equals one with them")
}

func TestTreesDiffer(t *testing.T) {
	cases := []struct {
		name   string
		change func(t *testing.T, dst string)
		path   string
		source string // a fragment of each side's description
		target string
	}{
		{"changed byte", func(t *testing.T, dst string) {
			writeFile(t, filepath.Join(dst, "a/c/d.bin"), append(make([]byte, 69999), 1), 0o644)
		}, "a/c/d.bin", "70000 bytes", "70000 bytes"},
		{"renamed file", func(t *testing.T, dst string) {
			require.NoError(t, os.Rename(filepath.Join(dst, "a/b.txt"), filepath.Join(dst, "a/b2.txt")))
		}, "a/b.txt", "file 0600", "absent"},
		{"changed mode", func(t *testing.T, dst string) {
			require.NoError(t, os.Chmod(filepath.Join(dst, "a.txt"), 0o664))
		}, "a.txt", "file 0644", "file 0664"},
		{"setgid bit", func(t *testing.T, dst string) {
			require.NoError(t, unix.Chmod(filepath.Join(dst, "empty"), 0o2700))
		}, "empty", "directory 0700", "directory 2700"},
		{"symlink retargeted", func(t *testing.T, dst string) {
			require.NoError(t, os.Remove(filepath.Join(dst, "a/to-a")))
			require.NoError(t, os.Symlink("../z", filepath.Join(dst, "a/to-a")))
		}, "a/to-a", `-> "../a.txt"`, `-> "../z"`},
		{"extra empty directory", func(t *testing.T, dst string) {
			require.NoError(t, os.Mkdir(filepath.Join(dst, "a/c/new"), 0o755))
		}, "a/c/new", "absent", "directory 0755"},
		{"hard link made a copy", func(t *testing.T, dst string) {
			p := filepath.Join(dst, "sub/hard/link.db")
			require.NoError(t, os.Remove(p))
			writeFile(t, p, []byte("linked content"), 0o644)
			// link.db walks first, so it holds the content in both
			// trees and is equal; original.db is where they differ.
		}, "sub/hard/original.db", `hard link to "sub/hard/link.db"`, "file 0644"},
		{"fifo made a file", func(t *testing.T, dst string) {
			p := filepath.Join(dst, "a/pipe")
			require.NoError(t, os.Remove(p))
			writeFile(t, p, nil, 0o600)
		}, "a/pipe", "fifo 0600", "file 0600"},
		{"lost+found below the root counts", func(t *testing.T, dst string) {
			writeFile(t, filepath.Join(dst, "sub/lost+found/keep"), []byte("changed"), 0o644)
		}, "sub/lost+found/keep", "26 bytes", "7 bytes"},
		{"file made a directory", func(t *testing.T, dst string) {
			require.NoError(t, os.Remove(filepath.Join(dst, "z")))
			require.NoError(t, os.MkdirAll(filepath.Join(dst, "z/inner"), 0o644))
		}, "z", "file 0644", "directory 0644"},
		{"missing last entry", func(t *testing.T, dst string) {
			require.NoError(t, os.Remove(filepath.Join(dst, "z")))
		}, "z", "file", "absent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src, dst := twoTrees(t)
			tc.change(t, dst)
			r, err := Compare(context.Background(), Filesystem, src, dst, Options{})
			require.NoError(t, err)
			assert.Equal(t, Mismatch, r.Verdict)
			assert.NotEqual(t, r.Source.SHA256, r.Target.SHA256)
			require.NotNil(t, r.FirstDifference, r.Summary())
			assert.Equal(t, tc.path, r.FirstDifference.Path)
			assert.Contains(t, r.FirstDifference.Source, tc.source)
			assert.Contains(t, r.FirstDifference.Target, tc.target)
			assert.Contains(t, r.Summary(), tc.path)

			// The digest of the changed tree alone is the one Compare reported.
			d, err := TreeDigest(context.Background(), dst, Options{})
			require.NoError(t, err)
			assert.Equal(t, r.Target, d)
		})
	}
}

func writeFile(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, data, mode))
	require.NoError(t, os.Chmod(path, mode))
}

func TestWalkOrderIsByComponent(t *testing.T) {
	// "a.b" sorts before "a/..." as a string but after the directory "a"
	// in walk order; both trees lack a different one, and the first
	// reported must be the first walked.
	src, dst := t.TempDir(), t.TempDir()
	for _, d := range []string{src, dst} {
		require.NoError(t, os.MkdirAll(filepath.Join(d, "a"), 0o755))
		writeFile(t, filepath.Join(d, "-"), nil, 0o644)
	}
	writeFile(t, filepath.Join(src, "a.b"), nil, 0o644)
	writeFile(t, filepath.Join(dst, "a/x"), nil, 0o644)
	r, err := Compare(context.Background(), Filesystem, src, dst, Options{})
	require.NoError(t, err)
	require.NotNil(t, r.FirstDifference)
	assert.Equal(t, "a/x", r.FirstDifference.Path)
	assert.Equal(t, "absent", r.FirstDifference.Source)
}

func TestOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	src, dst := twoTrees(t)
	require.NoError(t, os.Lchown(filepath.Join(dst, "a/to-a"), 1234, 5678))
	r, err := Compare(context.Background(), Filesystem, src, dst, Options{})
	require.NoError(t, err)
	assert.Equal(t, Mismatch, r.Verdict)
	require.NotNil(t, r.FirstDifference)
	assert.Equal(t, "a/to-a", r.FirstDifference.Path)
	assert.Contains(t, r.FirstDifference.Target, "uid 1234 gid 5678")

	r, err = Compare(context.Background(), Filesystem, src, dst, Options{IgnoreOwner: true})
	require.NoError(t, err)
	assert.Equal(t, Match, r.Verdict, r.Summary())
}

func TestDeviceNodes(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	// /dev/zero's numbers (1:5) against /dev/null's (1:3); neither is
	// opened (reading /dev/zero would never end).
	if err := unix.Mknod(filepath.Join(src, "zero"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 5))); err != nil {
		t.Skipf("mknod needs CAP_MKNOD: %v", err)
	}
	require.NoError(t, unix.Mknod(filepath.Join(dst, "zero"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	for _, d := range []string{src, dst} {
		require.NoError(t, unix.Chmod(filepath.Join(d, "zero"), 0o666)) // past the umask
	}
	r, err := Compare(context.Background(), Filesystem, src, dst, Options{})
	require.NoError(t, err)
	require.NotNil(t, r.FirstDifference)
	assert.Equal(t, "zero", r.FirstDifference.Path)
	assert.Contains(t, r.FirstDifference.Source, "character device 0666")
	assert.Contains(t, r.FirstDifference.Source, "rdev 1:5")
	assert.Contains(t, r.FirstDifference.Target, "rdev 1:3")
}

func TestMountPointRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs below the tree needs root")
	}
	root := t.TempDir()
	mnt := filepath.Join(root, "data", "mnt")
	require.NoError(t, os.MkdirAll(mnt, 0o755))
	if err := unix.Mount("volsum-test", mnt, "tmpfs", 0, "size=1m"); err != nil {
		t.Skipf("cannot mount a tmpfs here: %v", err)
	}
	t.Cleanup(func() { assert.NoError(t, unix.Unmount(mnt, 0)) })
	_, err := TreeDigest(context.Background(), root, Options{})
	require.ErrorIs(t, err, ErrMountPoint)
	assert.Contains(t, err.Error(), root)
	assert.Contains(t, err.Error(), "data/mnt")

	_, err = Compare(context.Background(), Filesystem, root, t.TempDir(), Options{})
	require.ErrorIs(t, err, ErrMountPoint)
}

func TestTreeErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	writeFile(t, file, []byte("x"), 0o644)
	link := filepath.Join(dir, "l")
	require.NoError(t, os.Symlink(dir, link))

	_, err := TreeDigest(context.Background(), filepath.Join(dir, "missing"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Contains(t, err.Error(), filepath.Join(dir, "missing"))

	_, err = TreeDigest(context.Background(), file, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the root is a regular file, not a directory")

	_, err = TreeDigest(context.Background(), link, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the root is a symlink", "not even the root is followed")

	_, err = Compare(context.Background(), Filesystem, dir, filepath.Join(dir, "missing"), Options{})
	require.ErrorIs(t, err, os.ErrNotExist)

	_, err = Compare(context.Background(), Mode("tape"), dir, dir, Options{})
	require.ErrorContains(t, err, `mode "tape"`)
}

func TestUnreadableFile(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads a file of mode 0000")
	}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "secret"), []byte("x"), 0)
	_, err := TreeDigest(context.Background(), dir, Options{})
	require.ErrorIs(t, err, os.ErrPermission)
	assert.Contains(t, err.Error(), "secret")
}

func TestTreeCancelled(t *testing.T) {
	src, dst := twoTrees(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := TreeDigest(ctx, src, Options{})
	require.ErrorIs(t, err, context.Canceled)
	_, err = Compare(ctx, Filesystem, src, dst, Options{})
	require.ErrorIs(t, err, context.Canceled)

	// Cancelled in the middle of a file, from the progress callback.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, err = Compare(ctx, Filesystem, src, dst, Options{BufferSize: 1024, Progress: func(done, total int64) {
		assert.EqualValues(t, -1, total)
		if done > 4096 {
			cancel()
		}
	}})
	require.ErrorIs(t, err, context.Canceled)
	assert.False(t, errors.Is(err, ErrMountPoint))
}

func TestTreeProgress(t *testing.T) {
	src, dst := twoTrees(t)
	var last int64
	r, err := Compare(context.Background(), Filesystem, src, dst, Options{BufferSize: 4096, Progress: func(done, total int64) {
		assert.Greater(t, done, last)
		last = done
	}})
	require.NoError(t, err)
	assert.Equal(t, r.Source.Size+r.Target.Size, last)
}
