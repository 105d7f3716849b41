package gitobject

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/source/signature"
)

// Commit is the part of a raw commit object a history walk needs.
type Commit struct {
	// ID is the commit's id.
	ID plumbing.Hash
	// Tree is its root tree.
	Tree plumbing.Hash
	// Parents are its parents, first parent first.
	Parents []plumbing.Hash
	// Time is the committer time.
	Time time.Time
	// Message is everything after the headers.
	Message []byte
	// Payload is what git signed: the object without its signature header.
	Payload []byte
	// Signature is the signature, nil when unsigned.
	Signature []byte
}

// Short returns the first 12 hex digits of the id.
func (c *Commit) Short() string { return c.ID.String()[:12] }

// Subject returns the first line of the message.
func (c *Commit) Subject() string {
	subject, _, _ := bytes.Cut(bytes.TrimLeft(c.Message, "\n"), []byte{'\n'})
	return string(subject)
}

// ParseCommit parses the headers of the raw commit object id. It fails on
// a missing tree header or a malformed tree or parent id.
func ParseCommit(id plumbing.Hash, raw []byte) (*Commit, error) {
	c := &Commit{ID: id}
	c.Payload, c.Signature = signature.Split(raw)
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
			c.Message = rest
			break
		}
		key, val, _ := bytes.Cut(line, []byte{' '})
		switch string(key) {
		case "tree":
			h, ok := ParseHash(val)
			if !ok {
				return nil, fmt.Errorf("bad tree header %q", val)
			}
			c.Tree, sawTree = h, true
		case "parent":
			h, ok := ParseHash(val)
			if !ok {
				return nil, fmt.Errorf("bad parent header %q", val)
			}
			c.Parents = append(c.Parents, h)
		case "committer":
			c.Time = SignatureTime(val)
		}
	}
	if !sawTree {
		return nil, errors.New("no tree header")
	}
	return c, nil
}

// ParseHash parses a 40-digit hex object id.
func ParseHash(b []byte) (plumbing.Hash, bool) {
	if len(b) != 40 {
		return plumbing.ZeroHash, false
	}
	var h plumbing.Hash
	if _, err := hex.Decode(h[:], b); err != nil {
		return plumbing.ZeroHash, false
	}
	return h, true
}

// SignatureTime reads the time of "Name <email> 1700000000 +0100"; the
// zero time when there is none.
func SignatureTime(b []byte) time.Time {
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

// EachTreeEntry calls fn with each entry of a raw tree object ("<mode>
// <name>\0<20-byte id>" repeated) until fn returns false. It fails on a
// malformed tree.
func EachTreeEntry(raw []byte, fn func(mode, name []byte, h plumbing.Hash) bool) error {
	for len(raw) > 0 {
		sp := bytes.IndexByte(raw, ' ')
		nul := bytes.IndexByte(raw, 0)
		if sp < 0 || nul < sp || nul+21 > len(raw) {
			return errors.New("malformed tree entry")
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
