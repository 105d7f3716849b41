// Package gitobject parses raw git objects: the headers of a commit (with
// the exact payload git signs split from its signature) and the entries of
// a tree. The verifier (package source) and the status-branch reader
// (fleet/view) walk histories with it, reading only the headers they need
// instead of go-git's full object decoding.
//
// It parses bytes only: it reads no store and verifies no signature.
package gitobject
