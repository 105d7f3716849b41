package view

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"

	"github.com/nodewright/nodewright/source/signature"
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

// parseTree parses a raw tree object: "<mode> <name>\0<20-byte id>" repeated.
func parseTree(raw []byte) ([]entry, error) {
	var out []entry
	for len(raw) > 0 {
		sp := bytes.IndexByte(raw, ' ')
		nul := bytes.IndexByte(raw, 0)
		if sp < 0 || nul < sp || nul+21 > len(raw) {
			return nil, errors.New("malformed tree entry")
		}
		mode, err := strconv.ParseUint(string(raw[:sp]), 8, 32)
		if err != nil {
			return nil, fmt.Errorf("malformed tree entry mode %q", raw[:sp])
		}
		var h plumbing.Hash
		copy(h[:], raw[nul+1:nul+21])
		out = append(out, entry{name: string(raw[sp+1 : nul]), mode: filemode.FileMode(mode), hash: h})
		raw = raw[nul+21:]
	}
	return out, nil
}

func find(entries []entry, name string) (entry, bool) {
	for _, e := range entries {
		if e.name == name {
			return e, true
		}
	}
	return entry{}, false
}

// commit is the part of a raw commit object the view needs.
type commit struct {
	id        plumbing.Hash
	tree      plumbing.Hash
	parents   []plumbing.Hash
	time      time.Time // committer time
	subject   string
	payload   []byte // what git signed
	signature []byte // nil when unsigned
}

func (c *commit) short() string { return c.id.String()[:12] }

// commit reads and parses commit h.
func (r *Repo) commit(h plumbing.Hash) (*commit, error) {
	raw, err := r.read(plumbing.CommitObject, h)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(h, raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// parseCommit parses the headers and subject of a raw commit object.
func parseCommit(id plumbing.Hash, raw []byte) (*commit, error) {
	c := &commit{id: id}
	c.payload, c.signature = signature.Split(raw)
	rest := raw
	sawTree := false
	for len(rest) > 0 {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, errors.New("headers do not end")
		}
		line := rest[:nl]
		rest = rest[nl+1:]
		if len(line) == 0 {
			subject, _, _ := bytes.Cut(bytes.TrimLeft(rest, "\n"), []byte{'\n'})
			c.subject = string(subject)
			break
		}
		key, val, _ := bytes.Cut(line, []byte{' '})
		switch string(key) {
		case "tree":
			h, ok := parseHash(val)
			if !ok {
				return nil, fmt.Errorf("bad tree header %q", val)
			}
			c.tree, sawTree = h, true
		case "parent":
			h, ok := parseHash(val)
			if !ok {
				return nil, fmt.Errorf("bad parent header %q", val)
			}
			c.parents = append(c.parents, h)
		case "committer":
			c.time = signatureTime(val)
		}
	}
	if !sawTree {
		return nil, errors.New("no tree header")
	}
	return c, nil
}

func parseHash(b []byte) (plumbing.Hash, bool) {
	var h plumbing.Hash
	if len(b) != 40 {
		return h, false
	}
	if _, err := hex.Decode(h[:], b); err != nil {
		return h, false
	}
	return h, true
}

// signatureTime reads the time of "Name <email> 1700000000 +0100".
func signatureTime(b []byte) time.Time {
	gt := bytes.LastIndexByte(b, '>')
	if gt < 0 {
		return time.Time{}
	}
	fields := bytes.Fields(b[gt+1:])
	if len(fields) < 1 {
		return time.Time{}
	}
	sec, err := strconv.ParseInt(string(fields[0]), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
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
