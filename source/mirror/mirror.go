package mirror

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// PinRef is the reference Pin sets to the last accepted commit. It lives
// outside refs/heads so that neither a fetch nor a bundle import moves it.
const PinRef plumbing.ReferenceName = "refs/nodewright/accepted"

// objectCacheSize bounds go-git's cache of decoded objects. The mirror reads
// objects mostly once (a fetch looks at a hundred commits for its haves; the
// verifier walks a range), so a small cache keeps the resident size low
// without costing re-reads worth mentioning.
const objectCacheSize = 16 * cache.MiByte

// Mirror is a bare repository under a state directory holding fetched fleet
// objects. Its methods serialise their writes, so one Mirror may be shared by
// goroutines; two processes must not write the same directory at once.
type Mirror struct {
	dir    string
	storer *filesystem.Storage
	repo   *git.Repository

	// mu serialises Fetch, ImportBundle and Pin: go-git's filesystem
	// storage does not guard concurrent writers.
	mu sync.Mutex
}

// Open opens the bare mirror at dir, creating dir and an empty bare
// repository in it when dir is missing or empty. A non-empty directory that
// holds no bare repository is refused rather than written into. The Mirror
// keeps pack files open between reads; Close releases them.
func Open(dir string) (*Mirror, error) {
	if dir == "" {
		return nil, errors.New("mirror: no directory given")
	}
	empty, err := isEmptyOrMissing(dir)
	if err != nil {
		return nil, fmt.Errorf("mirror %s: %w", dir, err)
	}
	if empty {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("mirror %s: %w", dir, err)
		}
	}

	st := filesystem.NewStorageWithOptions(
		osfs.New(dir),
		cache.NewObjectLRU(objectCacheSize),
		// Keeping pack descriptors open avoids an open and close of the
		// pack for every object read; Close releases them.
		filesystem.Options{KeepDescriptors: true},
	)

	var repo *git.Repository
	if empty {
		repo, err = git.InitWithOptions(st, nil, git.InitOptions{DefaultBranch: plumbing.Main})
	} else {
		repo, err = git.Open(st, nil)
		if errors.Is(err, git.ErrRepositoryNotExists) {
			err = errors.New("the directory is not empty and holds no bare git repository")
		}
	}
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("mirror %s: %w", dir, err)
	}
	return &Mirror{dir: dir, storer: st, repo: repo}, nil
}

// isEmptyOrMissing reports whether dir does not exist or is an empty
// directory; it fails when dir names something other than a directory.
func isEmptyOrMissing(dir string) (bool, error) {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if !fi.IsDir() {
		return false, errors.New("not a directory")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	return len(entries) == 0, nil
}

// Dir returns the directory the mirror lives in.
func (m *Mirror) Dir() string { return m.dir }

// Repository returns the go-git repository of the mirror, for readers such as
// the verifier. Writers should go through the Mirror's methods.
func (m *Mirror) Repository() *git.Repository { return m.repo }

// Storer returns the object and reference storage of the mirror.
func (m *Mirror) Storer() storage.Storer { return m.storer }

// Close releases the pack file descriptors the mirror keeps open. The Mirror
// must not be used afterwards.
func (m *Mirror) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.storer.Close()
}

// Tip returns the commit refs/heads/<branch> points to in the mirror, and
// false when the mirror has no such branch yet.
func (m *Mirror) Tip(branch string) (plumbing.Hash, bool, error) {
	return m.hashRef(plumbing.NewBranchReferenceName(branch))
}

// Pin sets refs/nodewright/accepted to the commit h, so that the accepted
// commit and everything it reaches stay in the mirror when the branch is
// force-pushed away from it. h must be a commit the mirror holds.
func (m *Mirror) Pin(h plumbing.Hash) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, err := object.GetCommit(m.storer, h); err != nil {
		return fmt.Errorf("mirror %s: pin %s: %w", m.dir, h, err)
	}
	if err := m.storer.SetReference(plumbing.NewHashReference(PinRef, h)); err != nil {
		return fmt.Errorf("mirror %s: pin %s: %w", m.dir, h, err)
	}
	return nil
}

// Pinned returns the commit refs/nodewright/accepted points to, and false
// when nothing has been pinned yet.
func (m *Mirror) Pinned() (plumbing.Hash, bool, error) {
	return m.hashRef(PinRef)
}

func (m *Mirror) hashRef(name plumbing.ReferenceName) (plumbing.Hash, bool, error) {
	ref, err := m.storer.Reference(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, false, fmt.Errorf("mirror %s: read %s: %w", m.dir, name, err)
	}
	if ref.Type() != plumbing.HashReference {
		return plumbing.ZeroHash, false, fmt.Errorf("mirror %s: %s is a symbolic reference", m.dir, name)
	}
	return ref.Hash(), true, nil
}

// packDir is where the storage writes pack files, and where go-git leaves
// its temporary pack when a pack fails to parse.
func (m *Mirror) packDir() string { return filepath.Join(m.dir, "objects", "pack") }

// tempPacks lists the temporary pack files in the pack directory.
func (m *Mirror) tempPacks() map[string]bool {
	entries, err := os.ReadDir(m.packDir())
	if err != nil {
		return nil
	}
	names := make(map[string]bool)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "tmp_pack_") {
			names[e.Name()] = true
		}
	}
	return names
}

// removeNewTempPacks removes the temporary pack files that are not in
// before. go-git's pack writer leaves its temporary file behind when the
// incoming pack fails to parse; the caller holds m.mu, so no other write of
// this Mirror owns such a file.
func (m *Mirror) removeNewTempPacks(before map[string]bool) {
	for name := range m.tempPacks() {
		if !before[name] {
			_ = os.Remove(filepath.Join(m.packDir(), name))
		}
	}
}
