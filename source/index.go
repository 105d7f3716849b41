package source

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/internal/atomicfile"
	"github.com/nodewright/nodewright/source/gitobject"
)

// FileVersion names a file at one blob id.
type FileVersion struct {
	Path string `json:"path"`
	Blob string `json:"blob"`
}

// IndexEntry is what one verified commit contributes to approvals: its
// Nodewright-Approve trailers and the operation files it set or removed.
// Indexing during verification means counting approvals never walks
// history again. Entries are in the order commits were verified, which
// puts every commit after its parents.
type IndexEntry struct {
	Commit    string `json:"commit"`
	Principal string `json:"principal"`
	Key       string `json:"key"`
	// Approves are the commit's well-formed approval trailers.
	Approves []FileVersion `json:"approves,omitempty"`
	// Changes are the files under sites/*/operations/ the commit set,
	// which makes its signer their author and starts a new lifetime of
	// the file: approvals made before it no longer count.
	Changes []FileVersion `json:"changes,omitempty"`
	// Removes are the files under sites/*/operations/ the commit removed:
	// the file's lifetime ends, and approvals made before it never count
	// again, even for the same content re-added later.
	Removes []string `json:"removes,omitempty"`
	// Invalid are approval trailers that could not be read, as written.
	Invalid []string `json:"invalid,omitempty"`
}

// indexFile is the approvals index in a state directory.
const indexFile = "approvals.jsonl"

// indexFormat is the first line of an index in the current format. An
// index without it was written by an older release that did not record
// removals; the source then rebuilds it from the whole history.
const indexFormat = `{"format":2}`

// appendIndex adds entries to the index in dir, durably, before the state
// moves on: a crash in between re-verifies the range and appends the same
// entries again, which LoadIndex folds. The index is replaced as a whole
// (atomicfile.AppendFile), so a crash never leaves a torn last entry that
// LoadIndex would refuse; the state directory's lock serializes callers.
func appendIndex(dir string, entries []IndexEntry) error {
	path := filepath.Join(dir, indexFile)
	fi, err := os.Stat(path)
	buf, err := encodeIndex(entries, err != nil || fi.Size() == 0)
	if err != nil || buf.Len() == 0 {
		return err
	}
	if err := atomicfile.AppendFile(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("approvals index: %w", err)
	}
	return nil
}

// encodeIndex encodes the entries that contribute something, one JSON
// line each, after the format line when withFormat is set.
func encodeIndex(entries []IndexEntry, withFormat bool) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	if withFormat {
		buf.WriteString(indexFormat + "\n")
	}
	enc := json.NewEncoder(&buf)
	for _, e := range entries {
		if len(e.Approves) == 0 && len(e.Changes) == 0 && len(e.Removes) == 0 && len(e.Invalid) == 0 {
			continue
		}
		if err := enc.Encode(e); err != nil {
			return nil, err
		}
	}
	return &buf, nil
}

// writeIndex replaces the index in dir with entries, atomically.
func writeIndex(dir string, entries []IndexEntry) error {
	buf, err := encodeIndex(entries, true)
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, indexFile), buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("approvals index: %w", err)
	}
	return nil
}

// indexCurrent reports whether the index in dir is missing or in the
// current format.
func indexCurrent(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, indexFile))
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("approvals index: %w", err)
	}
	defer f.Close()
	head := make([]byte, len(indexFormat)+1)
	n, _ := io.ReadFull(f, head)
	return n == 0 || string(head[:n]) == indexFormat+"\n", nil
}

// LoadIndex reads the approvals index of a state directory, in the order
// commits were verified, each commit once. Entries have no size bound of
// their own (the verifier bounds what a commit may bring), so the index
// reads any accepted commit's entry.
func LoadIndex(dir string) ([]IndexEntry, error) {
	path := filepath.Join(dir, indexFile)
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("approvals index: %w", err)
	}
	defer f.Close()
	var out []IndexEntry
	seen := map[string]bool{}
	dec := json.NewDecoder(bufio.NewReader(f))
	for n := 1; ; n++ {
		var e IndexEntry
		err := dec.Decode(&e)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("approvals index %s: entry %d is corrupt: %w", path, n, err)
		}
		if e.Commit == "" {
			continue // the format line
		}
		if !seen[e.Commit] {
			seen[e.Commit] = true
			out = append(out, e)
		}
	}
}

// indexEntry builds the entry of a verified commit; verified are the
// parents whose content the verifier checked (all of them, or only the
// first with first-parent history).
func indexEntry(o *objects, c *commit, verified []*commit, principal, key string) (IndexEntry, error) {
	e := IndexEntry{Commit: c.ID.String(), Principal: principal, Key: key}
	for _, a := range approveTrailers(c.Message) {
		if a.invalid != "" {
			e.Invalid = append(e.Invalid, a.invalid)
			continue
		}
		e.Approves = append(e.Approves, FileVersion{Path: a.path, Blob: a.blob.String()})
	}
	parentTree := emptyTree
	if len(c.Parents) > 0 {
		first, err := o.commit(c.Parents[0])
		if err != nil {
			return e, err
		}
		parentTree = first.Tree
	}
	changes, removed, err := o.changedOperations(parentTree, c.Tree)
	if err != nil {
		return e, err
	}
	// With every parent verified, a merge authors only what none of its
	// parents had: merging a pull request does not make the merger the
	// author of its operations. With first-parent history the side
	// branch is not verified, so the merger answers for what it brings.
	// A file any parent had and the merge lacks is removed: its lifetime
	// ends here either way.
	for _, p := range verified[min(1, len(verified)):] {
		other, gone, err := o.changedOperations(p.Tree, c.Tree)
		if err != nil {
			return e, err
		}
		changes = slices.DeleteFunc(changes, func(fv FileVersion) bool { return !slices.Contains(other, fv) })
		for _, g := range gone {
			if !slices.Contains(removed, g) {
				removed = append(removed, g)
			}
		}
	}
	slices.Sort(removed)
	e.Changes, e.Removes = changes, removed
	return e, nil
}

// changedOperations lists the files under sites/*/operations/ that tree
// sets differently from parent, and those parent has that tree lacks,
// descending only into trees that differ.
func (o *objects) changedOperations(parent, tree plumbing.Hash) (set []FileVersion, removed []string, err error) {
	if parent == tree {
		return nil, nil, nil
	}
	newSites, err := o.subtreeEntries(tree, "sites")
	if err != nil {
		return nil, nil, err
	}
	oldSites, err := o.subtreeEntries(parent, "sites")
	if err != nil {
		return nil, nil, err
	}
	for _, name := range unionNames(newSites, oldSites) {
		ns, nok := find(newSites, name)
		os, ook := find(oldSites, name)
		if nok && ook && ns.Hash == os.Hash && ns.Mode == os.Mode {
			continue
		}
		newOps, err := o.operationsOf(ns, nok)
		if err != nil {
			return nil, nil, err
		}
		oldOps, err := o.operationsOf(os, ook)
		if err != nil {
			return nil, nil, err
		}
		prefix := "sites/" + name + "/operations/"
		for _, f := range newOps {
			if old, ok := find(oldOps, f.Name); !ok || old.Hash != f.Hash || old.IsTree() {
				set = append(set, FileVersion{Path: prefix + f.Name, Blob: f.Hash.String()})
			}
		}
		for _, f := range oldOps {
			if _, ok := find(newOps, f.Name); !ok {
				removed = append(removed, prefix+f.Name)
			}
		}
	}
	return set, removed, nil
}

// subtreeEntries returns the entries of the subtree name of tree (none
// when there is no such subtree).
func (o *objects) subtreeEntries(tree plumbing.Hash, name string) ([]gitobject.Entry, error) {
	root, err := o.tree(tree)
	if err != nil {
		return nil, err
	}
	e, ok := find(root, name)
	if !ok || !e.IsTree() {
		return nil, nil
	}
	return o.tree(e.Hash)
}

// operationsOf returns the files (not subtrees) of a site's operations
// folder; site is the site's entry under sites/, present says whether it
// exists.
func (o *objects) operationsOf(site gitobject.Entry, present bool) ([]gitobject.Entry, error) {
	if !present || !site.IsTree() {
		return nil, nil
	}
	files, err := o.subtreeEntries(site.Hash, "operations")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(slices.Clone(files), func(e gitobject.Entry) bool { return e.IsTree() }), nil
}

// unionNames lists the names of a and b, sorted, each once.
func unionNames(a, b []gitobject.Entry) []string {
	var names []string
	for _, e := range a {
		names = append(names, e.Name)
	}
	for _, e := range b {
		names = append(names, e.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}
