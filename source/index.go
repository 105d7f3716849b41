package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"
)

// FileVersion names a file at one blob id.
type FileVersion struct {
	Path string `json:"path"`
	Blob string `json:"blob"`
}

// IndexEntry is what one verified commit contributes to approvals: its
// Nodewright-Approve trailers and the operation files it set. Indexing
// during verification means counting approvals never walks history again.
type IndexEntry struct {
	Commit    string `json:"commit"`
	Principal string `json:"principal"`
	Key       string `json:"key"`
	// Approves are the commit's well-formed approval trailers.
	Approves []FileVersion `json:"approves,omitempty"`
	// Changes are the files under sites/*/operations/ the commit set,
	// which makes its signer their author.
	Changes []FileVersion `json:"changes,omitempty"`
	// Invalid are approval trailers that could not be read, as written.
	Invalid []string `json:"invalid,omitempty"`
}

// indexFile is the approvals index in a state directory.
const indexFile = "approvals.jsonl"

// appendIndex adds entries to the index in dir and syncs it, before the
// state moves on: a crash in between re-verifies the range and appends
// the same entries again, which LoadIndex folds.
func appendIndex(dir string, entries []IndexEntry) error {
	if len(entries) == 0 {
		return nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, e := range entries {
		if len(e.Approves) == 0 && len(e.Changes) == 0 && len(e.Invalid) == 0 {
			continue
		}
		if err := enc.Encode(e); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(filepath.Join(dir, indexFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("approvals index: %w", err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		f.Close()
		return fmt.Errorf("approvals index: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("approvals index: %w", err)
	}
	return f.Close()
}

// LoadIndex reads the approvals index of a state directory, oldest first,
// each commit once.
func LoadIndex(dir string) ([]IndexEntry, error) {
	f, err := os.Open(filepath.Join(dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("approvals index: %w", err)
	}
	defer f.Close()
	var out []IndexEntry
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	line := 0
	for sc.Scan() {
		line++
		var e IndexEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("approvals index %s:%d is corrupt: %v", filepath.Join(dir, indexFile), line, err)
		}
		if !seen[e.Commit] {
			seen[e.Commit] = true
			out = append(out, e)
		}
	}
	return out, sc.Err()
}

// indexEntry builds the entry of a verified commit.
func indexEntry(o *objects, c *commit, parentTree plumbing.Hash, principal, key string, allHistory bool) (IndexEntry, error) {
	e := IndexEntry{Commit: c.ID.String(), Principal: principal, Key: key}
	for _, a := range approveTrailers(c.Message) {
		if a.invalid != "" {
			e.Invalid = append(e.Invalid, a.invalid)
			continue
		}
		e.Approves = append(e.Approves, FileVersion{Path: a.path, Blob: a.blob.String()})
	}
	changes, err := o.changedOperations(parentTree, c.Tree)
	if err != nil {
		return e, err
	}
	// With every commit verified, a merge authors only what none of its
	// parents had: merging a pull request does not make the merger the
	// author of its operations. With first-parent history the side
	// branch is not verified, so the merger answers for what it brings.
	for _, p := range c.Parents[min(1, len(c.Parents)):] {
		if !allHistory {
			break
		}
		pc, err := o.commit(p)
		if err != nil {
			return e, err
		}
		other, err := o.changedOperations(pc.Tree, c.Tree)
		if err != nil {
			return e, err
		}
		changes = slices.DeleteFunc(changes, func(fv FileVersion) bool { return !slices.Contains(other, fv) })
	}
	e.Changes = changes
	return e, nil
}

// changedOperations lists the files under sites/*/operations/ that tree
// sets differently from parent, descending only into trees that differ.
func (o *objects) changedOperations(parent, tree plumbing.Hash) ([]FileVersion, error) {
	sitesNew, err := o.subtree(tree, "sites")
	if err != nil {
		return nil, err
	}
	sitesOld, err := o.subtree(parent, "sites")
	if err != nil || sitesNew == sitesOld || sitesNew.IsZero() {
		return nil, err
	}
	newSites, err := o.entries(sitesNew)
	if err != nil {
		return nil, err
	}
	oldSites, err := o.entries(sitesOld)
	if err != nil {
		return nil, err
	}
	var out []FileVersion
	for _, site := range newSites {
		if !site.tree || oldSites.hash(site.name) == site.hash {
			continue
		}
		opsNew, err := o.subtree(site.hash, "operations")
		if err != nil {
			return nil, err
		}
		var opsOld plumbing.Hash
		if h := oldSites.hash(site.name); !h.IsZero() && oldSites.isTree(site.name) {
			if opsOld, err = o.subtree(h, "operations"); err != nil {
				return nil, err
			}
		}
		if opsNew == opsOld || opsNew.IsZero() {
			continue
		}
		newOps, err := o.entries(opsNew)
		if err != nil {
			return nil, err
		}
		oldOps, err := o.entries(opsOld)
		if err != nil {
			return nil, err
		}
		for _, op := range newOps {
			if oldOps.hash(op.name) != op.hash && !op.tree {
				out = append(out, FileVersion{Path: "sites/" + site.name + "/operations/" + op.name, Blob: op.hash.String()})
			}
		}
	}
	return out, nil
}

type treeEntryInfo struct {
	name string
	hash plumbing.Hash
	tree bool
}

type treeEntries []treeEntryInfo

func (es treeEntries) isTree(name string) bool {
	for _, e := range es {
		if e.name == name {
			return e.tree
		}
	}
	return false
}

func (es treeEntries) hash(name string) plumbing.Hash {
	for _, e := range es {
		if e.name == name {
			return e.hash
		}
	}
	return plumbing.ZeroHash
}

// subtree returns the id of entry name in tree (zero when tree is zero or
// has no such entry).
func (o *objects) subtree(tree plumbing.Hash, name string) (plumbing.Hash, error) {
	if tree.IsZero() || tree == emptyTree {
		return plumbing.ZeroHash, nil
	}
	raw, err := o.read(plumbing.TreeObject, tree)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h, _ := treeEntry(raw, name)
	return h, nil
}

// entries lists a tree's entries (none for the zero id).
func (o *objects) entries(tree plumbing.Hash) (treeEntries, error) {
	if tree.IsZero() || tree == emptyTree {
		return nil, nil
	}
	raw, err := o.read(plumbing.TreeObject, tree)
	if err != nil {
		return nil, err
	}
	var out treeEntries
	err = eachTreeEntry(raw, func(mode, name []byte, h plumbing.Hash) bool {
		out = append(out, treeEntryInfo{name: string(name), hash: h, tree: string(mode) == "40000"})
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", tree, err)
	}
	return out, nil
}
