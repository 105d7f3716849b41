package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// TempPrefix begins the name of every temporary file this package creates
// beside a target; a file whose name starts with it is an unfinished write
// and never a target.
const TempPrefix = ".tmp-"

// maxTempBase bounds how much of the target's name goes into a temporary
// file's name, so that a long target name still leaves room for the
// prefix and the random suffix within a file system's name limit.
const maxTempBase = 200

// tempSuffixLen is the length of the random hexadecimal end of a
// temporary file's name.
const tempSuffixLen = 16

// tempBase is the start of the names of the temporary files written for
// a target called base.
func tempBase(base string) string {
	if len(base) > maxTempBase {
		base = base[:maxTempBase]
	}
	return TempPrefix + base + "-"
}

// isTempOf reports whether name is a temporary file written for a target
// called base.
func isTempOf(name, base string) bool {
	rest, ok := strings.CutPrefix(name, tempBase(base))
	if !ok || len(rest) != tempSuffixLen {
		return false
	}
	for _, c := range rest {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

// createTemp creates a new temporary file for the target path, beside it,
// readable and writable by the owner only until Write gives it its
// permissions.
func createTemp(path string) (*os.File, error) {
	prefix := filepath.Join(filepath.Dir(path), tempBase(filepath.Base(path)))
	for range 100 {
		name := fmt.Sprintf("%s%0*x", prefix, tempSuffixLen, rand.Uint64())
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if !errors.Is(err, fs.ErrExist) {
			return f, err
		}
	}
	return nil, fmt.Errorf("create a temporary file beside %s: too many names taken", path)
}

// WriteFile replaces the file at path with data, atomically and durably:
// after it returns nil the file holds data and survives a crash; after it
// returns an error the file holds what it held before (except when only
// the final directory sync failed, see Write). The file gets exactly the
// permissions perm (the umask does not apply), whether or not it existed.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write replaces the file at path with what fill writes to w, atomically
// and durably, for content too large or too costly to hold in memory.
// fill must not keep w after it returns. If fill returns an error,
// nothing is renamed and Write returns that error wrapped with the path.
//
// Like WriteFile, the file gets exactly the permissions perm. If every
// step succeeds but the directory cannot be synced, the new content is
// in place but may not survive a crash, and Write reports the error.
func Write(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	if err := write(path, perm, fill); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func write(path string, perm fs.FileMode, fill func(w io.Writer) error) error {
	tmp, err := createTemp(path)
	if err != nil {
		return err
	}
	name := tmp.Name()
	err = fill(tmp)
	if err == nil {
		err = tmp.Chmod(perm)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return err
	}
	return SyncDir(filepath.Dir(path))
}

// AppendFile adds data to the end of the file at path (creating it), by
// writing the old content followed by data into a replacement with Write:
// a crash leaves the old file or the longer one, never a torn last line.
// The file gets exactly the permissions perm. It costs a copy of the old
// content, so it suits files of modest size, and two concurrent
// AppendFile calls on one path can lose one addition: callers hold their
// own lock.
func AppendFile(path string, data []byte, perm fs.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		old, err := os.Open(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return err
		default:
			_, err = io.Copy(w, old)
			if cerr := old.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
		_, err = w.Write(data)
		return err
	})
}

// SyncDir fsyncs the directory dir, so that files created, renamed or
// removed in it stay so after a crash. File systems and platforms that
// cannot sync a directory (Windows among them) are not an error.
func SyncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // directories cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil && !errors.Is(err, os.ErrInvalid) && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// RemoveTemps removes the temporary files that interrupted writes to path
// left in its directory, and returns the first error other than a file
// already gone. A process calls it at start, when no write to path can be
// running; temporary files of other targets are left alone.
func RemoveTemps(path string) error {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	base := filepath.Base(path)
	var first error
	for _, e := range entries {
		if !isTempOf(e.Name(), base) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}
