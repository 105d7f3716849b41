package render

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// MaxFileSize bounds one file read into a Tree.
const MaxFileSize = 4 << 20

// Tree is the files of a fleet repository that sites render from:
// everything under sites/ and bases/, by slash-separated path.
type Tree struct {
	files map[string][]byte
}

// NewTree makes a tree from a path -> content map (for tests and tools).
func NewTree(files map[string][]byte) *Tree {
	t := &Tree{files: map[string][]byte{}}
	for p, data := range files {
		if inScope(p) {
			t.files[p] = data
		}
	}
	return t
}

func inScope(p string) bool {
	return strings.HasPrefix(p, "sites/") || strings.HasPrefix(p, "bases/")
}

// FromDir reads the working tree at dir (its .git folder aside).
func FromDir(dir string) (*Tree, error) {
	t := &Tree{files: map[string][]byte{}}
	for _, top := range []string{"sites", "bases"} {
		root := filepath.Join(dir, top)
		err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) && p == root {
					return nil
				}
				return err
			}
			if e.IsDir() || !e.Type().IsRegular() {
				return nil
			}
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			if info.Size() > MaxFileSize {
				return fmt.Errorf("%s is %d bytes, more than the %d a fleet file may have", filepath.ToSlash(rel), info.Size(), MaxFileSize)
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			t.files[filepath.ToSlash(rel)] = data
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dir, err)
		}
	}
	return t, nil
}

// FromCommit reads the tree of commit rev (any revision git accepts:
// a branch, a tag, a commit id) from repo, in memory.
func FromCommit(repo *git.Repository, rev string) (*Tree, error) {
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	c, err := repo.CommitObject(*h)
	if err != nil {
		return nil, fmt.Errorf("revision %q: %w", rev, err)
	}
	root, err := c.Tree()
	if err != nil {
		return nil, err
	}
	t := &Tree{files: map[string][]byte{}}
	for _, top := range []string{"sites", "bases"} {
		sub, err := root.Tree(top)
		if errors.Is(err, object.ErrDirectoryNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s at %s: %w", top, rev, err)
		}
		walker := object.NewTreeWalker(sub, true, nil)
		for {
			name, entry, err := walker.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				walker.Close()
				return nil, err
			}
			if entry.Mode != filemode.Regular && entry.Mode != filemode.Executable {
				continue
			}
			blob, err := repo.BlobObject(entry.Hash)
			if err != nil {
				walker.Close()
				return nil, err
			}
			if blob.Size > MaxFileSize {
				walker.Close()
				return nil, fmt.Errorf("%s/%s is %d bytes, more than the %d a fleet file may have", top, name, blob.Size, MaxFileSize)
			}
			r, err := blob.Reader()
			if err != nil {
				walker.Close()
				return nil, err
			}
			data, err := io.ReadAll(r)
			r.Close()
			if err != nil {
				walker.Close()
				return nil, err
			}
			t.files[top+"/"+name] = data
		}
		walker.Close()
	}
	return t, nil
}

// Sites lists the site folders under sites/, sorted.
func (t *Tree) Sites() []string {
	seen := map[string]bool{}
	for p := range t.files {
		if rest, ok := strings.CutPrefix(p, "sites/"); ok {
			if site, _, ok := strings.Cut(rest, "/"); ok {
				seen[site] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Files lists the paths under dir (slash-separated, no trailing slash), sorted.
func (t *Tree) Files(dir string) []string {
	prefix := dir + "/"
	var out []string
	for p := range t.files {
		if strings.HasPrefix(p, prefix) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// File returns the content of path.
func (t *Tree) File(p string) ([]byte, bool) {
	data, ok := t.files[path.Clean(p)]
	return data, ok
}
