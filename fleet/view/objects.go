package view

import (
	"fmt"
	"sort"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/nodewright/nodewright/source/gitobject"
)

// The files of a cluster's directory on the status branch.
const (
	// ClustersDir is the status branch's directory of cluster directories.
	ClustersDir = "clusters"
	// StatusFile is a cluster's ClusterStatus report.
	StatusFile = "status.yaml"
	// AuditFile is a cluster's hash-chained audit log.
	AuditFile = "audit.jsonl"
)

// entry is one entry of a tree object.
type entry struct {
	name string
	mode filemode.FileMode
	hash plumbing.Hash
}

func (e entry) isDir() bool { return e.mode == filemode.Dir }

// tree reads and parses tree h.
func (r *Repo) tree(h plumbing.Hash) ([]entry, error) {
	raw, err := r.read(plumbing.TreeObject, h)
	if err != nil {
		return nil, err
	}
	entries, err := parseTree(raw)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	return entries, nil
}

// maxTreeEntries bounds one tree of the status branch: its directory of
// clusters holds one entry per cluster.
const maxTreeEntries = 1_000_000

// parseTree parses a raw tree object into its entries with the verifier's
// canonical tree reader, so that a duplicate or disguised entry reads as
// an error here too rather than as whichever entry comes first.
func parseTree(raw []byte) ([]entry, error) {
	entries, err := gitobject.ParseTreeUpTo(raw, maxTreeEntries)
	if err != nil {
		return nil, err
	}
	out := make([]entry, len(entries))
	for i, e := range entries {
		out[i] = entry{name: e.Name, mode: modes[e.Mode], hash: e.Hash}
	}
	return out, nil
}

// modes maps the modes a canonical tree may hold (gitobject checks them)
// to go-git's.
var modes = map[string]filemode.FileMode{
	gitobject.ModeFile:       filemode.Regular,
	gitobject.ModeExecutable: filemode.Executable,
	gitobject.ModeSymlink:    filemode.Symlink,
	gitobject.ModeTree:       filemode.Dir,
	gitobject.ModeGitlink:    filemode.Submodule,
}

// find looks name up in entries, which parseTree keeps in git's order,
// as a file or as a directory.
func find(entries []entry, name string) (entry, bool) {
	for _, probe := range []entry{{name: name}, {name: name, mode: filemode.Dir}} {
		i := sort.Search(len(entries), func(i int) bool { return gitCompare(entries[i], probe) >= 0 })
		if i < len(entries) && entries[i].name == name {
			return entries[i], true
		}
	}
	return entry{}, false
}

// gitCompare orders tree entries as git sorts a tree.
func gitCompare(a, b entry) int {
	return gitobject.CompareNames(a.name, a.isDir(), b.name, b.isDir())
}

// commit is a parsed commit object (see source/gitobject).
type commit = gitobject.Commit

// commit reads and parses commit h.
func (r *Repo) commit(h plumbing.Hash) (*commit, error) {
	raw, err := r.read(plumbing.CommitObject, h)
	if err != nil {
		return nil, err
	}
	c, err := gitobject.ParseCommit(h, raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// clusterDir is one cluster's directory on the status branch.
type clusterDir struct {
	name   string
	tree   plumbing.Hash
	status plumbing.Hash // zero when the directory has no status.yaml
	audit  plumbing.Hash // zero when it has no audit.jsonl
}

// clusterDirs lists the cluster directories under clusters/ in the root
// tree of a commit, in tree order (sorted by name). Entries of clusters/
// that are not directories are ignored here; audit verification reports
// commits that add them.
func (r *Repo) clusterDirs(root plumbing.Hash) ([]entry, error) {
	top, err := r.tree(root)
	if err != nil {
		return nil, err
	}
	e, ok := find(top, ClustersDir)
	if !ok || !e.isDir() {
		return nil, nil
	}
	entries, err := r.tree(e.hash)
	if err != nil {
		return nil, err
	}
	dirs := entries[:0]
	for _, e := range entries {
		if e.isDir() {
			dirs = append(dirs, e)
		}
	}
	return dirs, nil
}

// clusterFiles reads the directory of one cluster.
func (r *Repo) clusterFiles(e entry) (clusterDir, error) {
	d := clusterDir{name: e.name, tree: e.hash}
	entries, err := r.tree(e.hash)
	if err != nil {
		return d, err
	}
	for _, f := range entries {
		if f.isDir() {
			continue
		}
		switch f.name {
		case StatusFile:
			d.status = f.hash
		case AuditFile:
			d.audit = f.hash
		}
	}
	return d, nil
}
