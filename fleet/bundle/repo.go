package bundle

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/nodewright/nodewright/internal/atomicfile"
)

// repository is a local git repository (with a work tree or bare) opened
// with go-git's storage on its git directory.
type repository struct {
	path   string
	gitDir string
	bare   bool
	st     *filesystem.Storage
	repo   *git.Repository
}

// openRepository opens the repository at path: a work tree with a .git
// directory, or a bare repository.
func openRepository(path string) (*repository, error) {
	gitDir, bare, err := findGitDir(path)
	if err != nil {
		return nil, err
	}
	st := filesystem.NewStorageWithOptions(osfs.New(gitDir), cache.NewObjectLRU(32*cache.MiByte), filesystem.Options{KeepDescriptors: true})
	repo, err := git.Open(st, nil)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("repository %s: %w", path, err)
	}
	return &repository{path: path, gitDir: gitDir, bare: bare, st: st, repo: repo}, nil
}

// findGitDir returns the git directory of the repository at path and
// whether it is bare.
func findGitDir(path string) (string, bool, error) {
	if path == "" {
		return "", false, errors.New("no repository given")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", false, fmt.Errorf("repository: %w", err)
	}
	if !fi.IsDir() {
		return "", false, fmt.Errorf("repository %s is not a directory", path)
	}
	dotGit := filepath.Join(path, ".git")
	switch fi, err := os.Stat(dotGit); {
	case err == nil && fi.IsDir():
		return dotGit, false, nil
	case err == nil:
		return "", false, fmt.Errorf("repository %s: .git is a file (a linked work tree or submodule); pass the main repository", path)
	case !errors.Is(err, fs.ErrNotExist):
		return "", false, fmt.Errorf("repository %s: %w", path, err)
	}
	head, err1 := os.Stat(filepath.Join(path, "HEAD"))
	objects, err2 := os.Stat(filepath.Join(path, "objects"))
	if err1 != nil || err2 != nil || head.IsDir() || !objects.IsDir() {
		return "", false, fmt.Errorf("%s is not a git repository", path)
	}
	return path, true, nil
}

// Close releases the storage's open pack files.
func (r *repository) Close() { _ = r.st.Close() }

// statePath is the default bundle state file of the repository.
func (r *repository) statePath() string {
	return filepath.Join(r.gitDir, "nodewright", StateFile)
}

// branchTip returns the commit refs/heads/<branch> points to, and false
// when there is no such branch.
func (r *repository) branchTip(branch string) (plumbing.Hash, bool, error) {
	ref, err := r.st.Reference(plumbing.NewBranchReferenceName(branch))
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("repository %s: branch %s: %w", r.path, branch, err)
	}
	if ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, false, fmt.Errorf("repository %s: branch %s is a symbolic reference", r.path, branch)
	}
	return ref.Hash(), true, nil
}

// resolve turns a revision (a commit id, a branch, a tag, rev~n) into a
// commit id.
func (r *repository) resolve(rev string) (plumbing.Hash, error) {
	if h, ok := parseID(strings.ToLower(rev)); ok {
		if _, err := r.st.EncodedObject(plumbing.CommitObject, h); err != nil {
			return plumbing.ZeroHash, fmt.Errorf("commit %s is not in %s", rev, r.path)
		}
		return h, nil
	}
	h, err := r.repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("revision %q: %w", rev, err)
	}
	return *h, nil
}

// checkedOut reports whether a work tree's HEAD is the branch, which
// ImportStatus must not move under the work tree.
func (r *repository) checkedOut(branch string) bool {
	if r.bare {
		return false
	}
	head, err := r.st.Reference(plumbing.HEAD)
	return err == nil && head.Type() == plumbing.SymbolicReference && head.Target() == plumbing.NewBranchReferenceName(branch)
}

// errRefChanged says a reference moved while an import computed its new
// value; the import starts over from the new value.
var errRefChanged = errors.New("the reference moved")

// updateRef moves name from old (zero: it must not exist) to new with git's
// own lock-file protocol ("<ref>.lock" created exclusively, checked, renamed
// over the ref), so that it never races a git push into the same
// repository.
func (r *repository) updateRef(name plumbing.ReferenceName, newHash, old plumbing.Hash) error {
	file := filepath.Join(r.gitDir, filepath.FromSlash(name.String()))
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	lock := file + ".lock"
	f, err := os.OpenFile(lock, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("update %s: %s exists: another git process is updating it (remove the file if none is)", name, lock)
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	done := false
	defer func() {
		if !done {
			f.Close()
			os.Remove(lock)
		}
	}()
	ref, err := r.st.Reference(name)
	cur := plumbing.ZeroHash
	switch {
	case err == nil:
		cur = ref.Hash()
	case !errors.Is(err, plumbing.ErrReferenceNotFound):
		return fmt.Errorf("update %s: %w", name, err)
	}
	if cur != old {
		return errRefChanged
	}
	if _, err := f.WriteString(newHash.String() + "\n"); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	if err := os.Rename(lock, file); err != nil {
		os.Remove(lock)
		done = true
		return fmt.Errorf("update %s: %w", name, err)
	}
	done = true
	// The ref is in place whatever the directory sync says, so a failed
	// sync does not fail the update.
	_ = atomicfile.SyncDir(filepath.Dir(file))
	return nil
}
