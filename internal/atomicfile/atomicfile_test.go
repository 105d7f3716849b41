package atomicfile_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/nodewright/nodewright/internal/atomicfile"
)

// assertNoTemps fails when dir holds a temporary file.
func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range entries {
		assert.False(t, strings.HasPrefix(e.Name(), atomicfile.TempPrefix), "temporary file %s left behind", e.Name())
	}
}

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	require.NoError(t, err)
	return fi.Mode().Perm()
}

func TestWriteFileWritesContentAndPermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")

	require.NoError(t, atomicfile.WriteFile(path, []byte("one\n"), 0o640))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "one\n", string(got))
	if runtime.GOOS != "windows" {
		assert.Equal(t, fs.FileMode(0o640), mode(t, path))
	}

	// Replacing a file gives it the new permissions too, as they are given
	// (no umask), and its new content.
	require.NoError(t, atomicfile.WriteFile(path, []byte("two\n"), 0o604))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "two\n", string(got))
	if runtime.GOOS != "windows" {
		assert.Equal(t, fs.FileMode(0o604), mode(t, path))
	}

	require.NoError(t, atomicfile.WriteFile(path, nil, 0o600))
	got, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.Empty(t, got)
	assertNoTemps(t, dir)
}

func TestWriteStreamsContent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bundle")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16)
	require.NoError(t, atomicfile.Write(path, 0o600, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(big))
		return err
	}))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, big, got)
	assertNoTemps(t, dir)
}

func TestWriteKeepsTheOldFileWhenTheWriterFailsMidway(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "index.html")
	require.NoError(t, os.WriteFile(path, []byte("old page"), 0o644))

	injected := errors.New("disk on fire")
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if _, err := w.Write([]byte("half a ne")); err != nil {
			return err
		}
		return injected
	})
	require.ErrorIs(t, err, injected)
	assert.Contains(t, err.Error(), path, "the error names the target")

	got, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.Equal(t, "old page", string(got))
	assertNoTemps(t, dir)
}

func TestWriteFileKeepsTheOldFileInAReadOnlyDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("directory permissions do not stop file creation on Windows")
	}
	if os.Geteuid() == 0 {
		t.Skip("root writes into read-only directories; the writer-error test covers the failure")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "sent")
	require.NoError(t, os.WriteFile(path, []byte("7\n"), 0o600))
	require.NoError(t, os.Chmod(dir, 0o500))
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

	err := atomicfile.WriteFile(path, []byte("8\n"), 0o600)
	require.ErrorIs(t, err, fs.ErrPermission)
	assert.Contains(t, err.Error(), path)
	got, rerr := os.ReadFile(path)
	require.NoError(t, rerr)
	assert.Equal(t, "7\n", string(got))
	assertNoTemps(t, dir)
}

func TestWriteFileLeavesNoTempWhenTheRenameFails(t *testing.T) {
	dir := t.TempDir()
	// A non-empty directory cannot be replaced by a file.
	path := filepath.Join(dir, "target")
	require.NoError(t, os.MkdirAll(filepath.Join(path, "inside"), 0o755))

	err := atomicfile.WriteFile(path, []byte("x"), 0o600)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	fi, serr := os.Stat(filepath.Join(path, "inside"))
	require.NoError(t, serr)
	assert.True(t, fi.IsDir(), "the old target is untouched")
	assertNoTemps(t, dir)
}

func TestWriteFileFailsInAMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "state.json")
	err := atomicfile.WriteFile(path, []byte("x"), 0o600)
	require.ErrorIs(t, err, fs.ErrNotExist)
	assert.Contains(t, err.Error(), path)
}

func TestWriteFileTakesALongName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, strings.Repeat("n", 250))
	require.NoError(t, atomicfile.WriteFile(path, []byte("x"), 0o600))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "x", string(got))
	assertNoTemps(t, dir)
}

// TestConcurrentWritersNeverTearTheFile has writers replace one file with
// contents of different lengths while readers read it: every read sees
// one writer's whole content.
func TestConcurrentWritersNeverTearTheFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cursor.json")
	content := func(w, i int) []byte {
		// A header naming the writer and round, then filler of a length
		// that differs between rounds, then a trailer: a torn file lacks
		// the trailer or has the wrong length.
		head := fmt.Sprintf("%d/%d:", w, i)
		return []byte(head + strings.Repeat(string(rune('a'+w)), 1+(w*7919+i*104729)%(64<<10)) + "$" + head)
	}
	whole := func(b []byte) bool {
		head, _, ok := bytes.Cut(b, []byte(":"))
		if !ok {
			return false
		}
		var w, i int
		if _, err := fmt.Sscanf(string(head), "%d/%d", &w, &i); err != nil {
			return false
		}
		return bytes.Equal(b, content(w, i))
	}
	require.NoError(t, atomicfile.WriteFile(path, content(0, 0), 0o600))

	const writers, rounds = 6, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*rounds)
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				if err := atomicfile.WriteFile(path, content(w, i), 0o600); err != nil {
					errs <- err
				}
			}
		})
	}
	stop := make(chan struct{})
	var readers sync.WaitGroup
	torn := make(chan string, 1)
	for range 3 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				b, err := os.ReadFile(path)
				if err != nil || !whole(b) {
					select {
					case torn <- fmt.Sprintf("read %d bytes (err %v): %.40q", len(b), err, b):
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("write: %v", err)
	}
	select {
	case msg := <-torn:
		t.Fatalf("a reader saw a torn file: %s", msg)
	default:
	}
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, whole(b), "the final file is one writer's whole content")
	assertNoTemps(t, dir)
}

func TestAppendFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "approvals.jsonl")

	require.NoError(t, atomicfile.AppendFile(path, []byte("a\n"), 0o600))
	require.NoError(t, atomicfile.AppendFile(path, []byte("b\n"), 0o600))
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, "a\nb\n", string(got))
	if runtime.GOOS != "windows" {
		assert.Equal(t, fs.FileMode(0o600), mode(t, path))
	}
	assertNoTemps(t, dir)
}

func TestAppendFileKeepsTheOldFileWhenItCannotBeRead(t *testing.T) {
	dir := t.TempDir()
	// The target is a directory: opening it works, reading it fails.
	path := filepath.Join(dir, "verified.cache")
	require.NoError(t, os.Mkdir(path, 0o755))
	err := atomicfile.AppendFile(path, []byte("x\n"), 0o600)
	require.Error(t, err)
	assert.Contains(t, err.Error(), path)
	fi, serr := os.Stat(path)
	require.NoError(t, serr)
	assert.True(t, fi.IsDir())
	assertNoTemps(t, dir)
}

func TestRemoveTempsRemovesOnlyTheTargetsTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "cursor.json")
	// Learn the names temporary files get by failing two writes, then
	// put files back under those names, as a process that died before its
	// rename would have left them.
	var left []string
	for range 2 {
		stuck := errors.New("crash")
		err := atomicfile.Write(path, 0o600, func(w io.Writer) error {
			f, ok := w.(*os.File)
			require.True(t, ok)
			left = append(left, f.Name())
			return stuck
		})
		require.ErrorIs(t, err, stuck)
	}
	for _, name := range left {
		require.NoError(t, os.WriteFile(name, []byte("partial"), 0o600))
	}
	other := filepath.Join(dir, atomicfile.TempPrefix+"cursor.json-x-0123456789abcdef")
	require.NoError(t, os.WriteFile(other, nil, 0o600))
	require.NoError(t, os.WriteFile(path, []byte("keep"), 0o600))

	require.NoError(t, atomicfile.RemoveTemps(path))
	for _, name := range left {
		assert.NoFileExists(t, name)
	}
	assert.FileExists(t, other, "a temporary file of another target stays")
	assert.FileExists(t, path)
	require.NoError(t, atomicfile.RemoveTemps(filepath.Join(dir, "missing", "x")), "a missing directory holds no temps")
}

func TestSyncDir(t *testing.T) {
	require.NoError(t, atomicfile.SyncDir(t.TempDir()))
	if runtime.GOOS != "windows" {
		require.ErrorIs(t, atomicfile.SyncDir(filepath.Join(t.TempDir(), "missing")), fs.ErrNotExist)
	}
}
