package view

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/nodewright/nodewright/source/mirror"
)

// DefaultBranch is the status branch clusters report on.
const DefaultBranch = "nodewright/status"

// DefaultFleetBranch is the fleet branch that holds the cluster keys.
const DefaultFleetBranch = "main"

// objectCacheSize bounds go-git's cache of decoded objects: the view reads
// each object about once, so a small cache keeps the resident size low.
const objectCacheSize = 8 * cache.MiByte

// ErrNoStatusBranch is returned (wrapped) by Open when the repository has
// no status branch.
var ErrNoStatusBranch = errors.New("no status branch")

// Source says where the status branch is and how to reach it.
type Source struct {
	// Repo is the repository: a local path (a work tree or a bare
	// repository), a file:// URL, or a remote URL (https, http, ssh, or an
	// scp-like address). Local repositories are read in place, with no git
	// program; remote ones are fetched with go-git into a mirror.
	Repo string
	// Branch is the status branch; empty means DefaultBranch.
	Branch string
	// FleetBranch is the fleet branch holding the cluster keys and the
	// commits clusters apply; empty means DefaultFleetBranch.
	FleetBranch string
	// NeedFleet makes a missing fleet branch an error; otherwise Open
	// leaves Repo.FleetTip zero and records why in Repo.FleetErr.
	NeedFleet bool
	// MirrorDir is the bare mirror a remote repository is fetched into
	// (kept, and fetched incrementally next time); empty means a
	// temporary directory that Close removes.
	MirrorDir string
	// Auth authenticates to a remote; nil uses go-git's defaults.
	Auth transport.AuthMethod
	// CABundle holds extra PEM certificate authorities for https remotes.
	CABundle []byte
	// Progress receives a remote's progress messages when not nil.
	Progress io.Writer
}

// Repo is an opened repository with its status and fleet branch tips. It
// reads objects only; it never writes a ref or a work tree.
type Repo struct {
	// Name is the repository as given, with credentials removed.
	Name string
	// Branch is the status branch and Tip the commit it points to.
	Branch string
	Tip    plumbing.Hash
	// FleetBranch is the fleet branch and FleetTip its commit (zero when
	// the branch is missing and not needed; FleetErr says why).
	FleetBranch string
	FleetTip    plumbing.Hash
	FleetErr    error

	store   storer.EncodedObjectStorer
	gitDir  string // the directory of store, for more readers
	closers []func() error
}

// Open opens src's repository: in place for a local path, else by fetching
// both branches into a mirror. A missing status branch is an error wrapping
// ErrNoStatusBranch.
func Open(ctx context.Context, src Source) (*Repo, error) {
	if src.Repo == "" {
		return nil, errors.New("no repository given")
	}
	r := &Repo{Name: mirror.RedactURL(src.Repo), Branch: src.Branch, FleetBranch: src.FleetBranch}
	if r.Branch == "" {
		r.Branch = DefaultBranch
	}
	if r.FleetBranch == "" {
		r.FleetBranch = DefaultFleetBranch
	}
	for _, b := range []string{r.Branch, r.FleetBranch} {
		if plumbing.NewBranchReferenceName(b).Validate() != nil {
			return nil, fmt.Errorf("%q is not a valid branch name", b)
		}
	}
	var err error
	if path, ok := localPath(src.Repo); ok {
		err = r.openLocal(path, src.NeedFleet)
	} else {
		err = r.openRemote(ctx, src)
	}
	if err != nil {
		_ = r.Close()
		return nil, err
	}
	return r, nil
}

// Close releases open pack files and removes a temporary mirror.
func (r *Repo) Close() error {
	var errs []error
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i]())
	}
	r.closers = nil
	return errors.Join(errs...)
}

// localPath reports whether repo names a local repository and returns its
// path. As git decides it: a file:// URL, or no scheme and no colon before
// the first slash.
func localPath(repo string) (string, bool) {
	if i := strings.Index(repo, "://"); i > 0 && !strings.ContainsAny(repo[:i], "/:@") {
		if !strings.EqualFold(repo[:i], "file") {
			return "", false
		}
		u, err := url.Parse(repo)
		if err != nil || (u.Host != "" && u.Host != "localhost") {
			return "", false
		}
		return filepath.FromSlash(u.Path), true
	}
	if colon := strings.IndexByte(repo, ':'); colon > 0 && !strings.Contains(repo[:colon], "/") {
		return "", false // scp-like host:path
	}
	return repo, true
}

// gitDir finds the git directory of a work tree or bare repository.
func gitDir(path string) (string, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("local repository: %w", err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("local repository %s is not a directory", path)
	}
	dotGit := filepath.Join(path, ".git")
	if fi, err := os.Stat(dotGit); err == nil {
		if fi.IsDir() {
			return dotGit, nil
		}
		// A linked work tree or submodule: ".git" is a file naming the
		// git directory.
		data, err := os.ReadFile(dotGit)
		if err != nil {
			return "", err
		}
		target, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "gitdir:")
		if !ok {
			return "", fmt.Errorf("%s is neither a directory nor a gitdir file", dotGit)
		}
		target = strings.TrimSpace(target)
		if !filepath.IsAbs(target) {
			target = filepath.Join(path, target)
		}
		return target, nil
	}
	for _, need := range []string{"HEAD", "objects", "refs"} {
		if _, err := os.Stat(filepath.Join(path, need)); err != nil {
			return "", fmt.Errorf("%s is not a git repository (no .git and no bare repository)", path)
		}
	}
	return path, nil
}

func (r *Repo) openLocal(path string, needFleet bool) error {
	dir, err := gitDir(path)
	if err != nil {
		return err
	}
	// A linked work tree keeps its objects and most refs in the common
	// directory.
	if data, err := os.ReadFile(filepath.Join(dir, "commondir")); err == nil {
		common := strings.TrimSpace(string(data))
		if !filepath.IsAbs(common) {
			common = filepath.Join(dir, common)
		}
		dir = common
	}
	st := newStorage(dir)
	r.store, r.gitDir = st, dir
	r.closers = append(r.closers, st.Close)
	find := func(branch string) (plumbing.Hash, error) {
		// A clone that only fetched the branch has it as a remote-tracking
		// ref; an operator's "git fetch" is enough to read the fleet.
		for _, name := range []plumbing.ReferenceName{
			plumbing.NewBranchReferenceName(branch),
			plumbing.NewRemoteReferenceName("origin", branch),
		} {
			ref, err := storer.ResolveReference(st, name)
			if err == nil {
				return ref.Hash(), nil
			}
			if !errors.Is(err, plumbing.ErrReferenceNotFound) {
				return plumbing.ZeroHash, fmt.Errorf("%s: read %s: %w", path, name, err)
			}
		}
		return plumbing.ZeroHash, plumbing.ErrReferenceNotFound
	}
	if r.Tip, err = find(r.Branch); err != nil {
		if errors.Is(err, plumbing.ErrReferenceNotFound) {
			return fmt.Errorf("%s has no branch %s: %w", path, r.Branch, ErrNoStatusBranch)
		}
		return err
	}
	if r.FleetTip, err = find(r.FleetBranch); err != nil {
		r.FleetErr = fmt.Errorf("%s has no branch %s", path, r.FleetBranch)
		if !errors.Is(err, plumbing.ErrReferenceNotFound) {
			r.FleetErr = err
		}
		if needFleet {
			return r.FleetErr
		}
	}
	return nil
}

func (r *Repo) openRemote(ctx context.Context, src Source) error {
	dir := src.MirrorDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "nodewright-status-")
		if err != nil {
			return err
		}
		r.closers = append(r.closers, func() error { return os.RemoveAll(tmp) })
		dir = filepath.Join(tmp, "mirror")
	}
	m, err := mirror.Open(dir)
	if err != nil {
		return err
	}
	r.closers = append(r.closers, m.Close)
	r.store, r.gitDir = m.Storer(), m.Dir()
	opts := mirror.FetchOptions{URL: src.Repo, Branch: r.Branch, Auth: src.Auth, CABundle: src.CABundle, Progress: src.Progress}
	if r.Tip, err = m.Fetch(ctx, opts); err != nil {
		if strings.Contains(err.Error(), "the remote has no branch") {
			return fmt.Errorf("%w: %w", ErrNoStatusBranch, err)
		}
		return err
	}
	opts.Branch = r.FleetBranch
	if r.FleetTip, err = m.Fetch(ctx, opts); err != nil {
		r.FleetErr = err
		if src.NeedFleet {
			return err
		}
	}
	return nil
}

// newStorage opens the objects and refs of the git directory dir for
// reading.
func newStorage(dir string) *filesystem.Storage {
	return filesystem.NewStorageWithOptions(withMappedPacks(osfs.New(dir), dir), cache.NewObjectLRU(objectCacheSize),
		filesystem.Options{KeepDescriptors: true})
}

// reader returns a Repo reading the same objects through its own storage,
// for a goroutine of its own (go-git's storage is not safe for concurrent
// readers), and the function that releases it.
func (r *Repo) reader() (*Repo, func()) {
	st := newStorage(r.gitDir)
	rr := *r
	rr.store, rr.closers = st, nil
	return &rr, func() { _ = st.Close() }
}

// read returns the content of object h of type t.
func (r *Repo) read(t plumbing.ObjectType, h plumbing.Hash) ([]byte, error) {
	obj, err := r.store.EncodedObject(t, h)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	defer rd.Close()
	buf := bytes.NewBuffer(make([]byte, 0, obj.Size()))
	if _, err := io.Copy(buf, rd); err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	return buf.Bytes(), nil
}
