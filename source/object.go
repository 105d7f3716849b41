package source

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source/signature"
)

// commit is the part of a raw commit object the verifier needs.
type commit struct {
	id        plumbing.Hash
	tree      plumbing.Hash
	parents   []plumbing.Hash
	time      time.Time // committer time
	message   []byte
	payload   []byte // what git signed: the object without its signature header
	signature []byte // nil when unsigned
}

func (c *commit) short() string { return c.id.String()[:12] }

// objects reads raw git objects from a store, with the small caches that
// make walking a long history cheap.
type objects struct {
	store storer.EncodedObjectStorer
	// trustBlob caches, per root tree and per .nodewright tree, the blob
	// id of trust.yaml (zero when there is none).
	trustBlob map[plumbing.Hash]plumbing.Hash
}

func newObjects(s storer.EncodedObjectStorer) *objects {
	return &objects{store: s, trustBlob: map[plumbing.Hash]plumbing.Hash{}}
}

func (o *objects) read(t plumbing.ObjectType, h plumbing.Hash) ([]byte, error) {
	obj, err := o.store.EncodedObject(t, h)
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	defer r.Close()
	data := make([]byte, 0, obj.Size())
	buf := bytes.NewBuffer(data)
	if _, err := io.Copy(buf, r); err != nil {
		return nil, fmt.Errorf("read %s %s: %w", t, h, err)
	}
	return buf.Bytes(), nil
}

// commit reads and parses commit h.
func (o *objects) commit(h plumbing.Hash) (*commit, error) {
	raw, err := o.read(plumbing.CommitObject, h)
	if err != nil {
		return nil, err
	}
	c, err := parseCommit(h, raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", h, err)
	}
	return c, nil
}

// parseCommit parses the headers of a raw commit object.
func parseCommit(id plumbing.Hash, raw []byte) (*commit, error) {
	c := &commit{id: id}
	c.payload, c.signature = signature.Split(raw)
	rest := raw
	sawTree := false
	for len(rest) > 0 {
		nl := bytes.IndexByte(rest, '\n')
		if nl < 0 {
			return nil, fmt.Errorf("headers do not end")
		}
		line := rest[:nl]
		rest = rest[nl+1:]
		if len(line) == 0 {
			c.message = rest
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
		return nil, fmt.Errorf("no tree header")
	}
	return c, nil
}

func parseHash(b []byte) (plumbing.Hash, bool) {
	if len(b) != 40 {
		return plumbing.ZeroHash, false
	}
	var h plumbing.Hash
	if _, err := hex.Decode(h[:], b); err != nil {
		return plumbing.ZeroHash, false
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

// treeEntry finds name in the raw tree object and returns its id.
func treeEntry(raw []byte, name string) (plumbing.Hash, bool) {
	var found plumbing.Hash
	ok := false
	_ = eachTreeEntry(raw, func(mode, n []byte, h plumbing.Hash) bool {
		if string(n) == name {
			found, ok = h, true
			return false
		}
		return true
	})
	return found, ok
}

// eachTreeEntry calls fn with each entry of a raw tree object ("<mode>
// <name>\0<20-byte id>" repeated) until fn returns false. It fails on a
// malformed tree.
func eachTreeEntry(raw []byte, fn func(mode, name []byte, h plumbing.Hash) bool) error {
	for len(raw) > 0 {
		sp := bytes.IndexByte(raw, ' ')
		nul := bytes.IndexByte(raw, 0)
		if sp < 0 || nul < sp || nul+21 > len(raw) {
			return fmt.Errorf("malformed tree entry")
		}
		var h plumbing.Hash
		copy(h[:], raw[nul+1:nul+21])
		if !fn(raw[:sp], raw[sp+1:nul], h) {
			return nil
		}
		raw = raw[nul+21:]
	}
	return nil
}

// trustBlobAt returns the blob id of .nodewright/trust.yaml in tree, or
// the zero hash when there is none.
func (o *objects) trustBlobAt(tree plumbing.Hash) (plumbing.Hash, error) {
	if b, ok := o.trustBlob[tree]; ok {
		return b, nil
	}
	b, err := o.lookupTrustBlob(tree)
	if err == nil {
		o.trustBlob[tree] = b
	}
	return b, err
}

func (o *objects) lookupTrustBlob(tree plumbing.Hash) (plumbing.Hash, error) {
	raw, err := o.read(plumbing.TreeObject, tree)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	dir, ok := treeEntry(raw, ".nodewright")
	if !ok {
		return plumbing.ZeroHash, nil
	}
	if b, ok := o.trustBlob[dir]; ok {
		return b, nil
	}
	sub, err := o.read(plumbing.TreeObject, dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	b, _ := treeEntry(sub, "trust.yaml")
	o.trustBlob[dir] = b
	return b, nil
}

// emptyTree is the id of the tree with no entries.
var emptyTree = plumbing.NewHash("4b825dc642cb6eb9a060e54bf8d69288fbee4904")
