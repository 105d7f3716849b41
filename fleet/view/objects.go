package view

import (
	"fmt"
	"strconv"

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

// parseTree parses a raw tree object into its entries.
func parseTree(raw []byte) ([]entry, error) {
	var out []entry
	var bad error
	err := gitobject.EachTreeEntry(raw, func(mode, name []byte, h plumbing.Hash) bool {
		m, err := strconv.ParseUint(string(mode), 8, 32)
		if err != nil {
			bad = fmt.Errorf("malformed tree entry mode %q", mode)
			return false
		}
		out = append(out, entry{name: string(name), mode: filemode.FileMode(m), hash: h})
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

func find(entries []entry, name string) (entry, bool) {
	for _, e := range entries {
		if e.name == name {
			return e, true
		}
	}
	return entry{}, false
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
