package source

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/internal/atomicfile"
	"github.com/nodewright/nodewright/source/signature"
)

// Cache remembers which principal's key signed a commit, per policy
// digest, so that re-verifying a range (for instance while it waits for
// approvals) repeats no cryptography, and a changed key set forces a fresh
// check. Only successful checks are cached. A nil *Cache caches nothing.
type Cache struct {
	path    string
	entries map[cacheKey]signature.Signer
	pending []string
}

type cacheKey struct {
	commit plumbing.Hash
	digest string
}

// OpenCache loads the cache file at path (missing is empty); path "" keeps
// the cache in memory only. Lines it cannot read are ignored: the cache
// only ever saves work.
func OpenCache(path string) (*Cache, error) {
	c := &Cache{path: path, entries: map[cacheKey]signature.Signer{}}
	if path == "" {
		return c, nil
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open verification cache: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) != 5 {
			continue
		}
		h, ok := parseHash([]byte(fields[0]))
		if !ok {
			continue
		}
		c.entries[cacheKey{h, fields[1]}] = signature.Signer{Format: signature.Format(fields[2]), Key: fields[3], Principal: fields[4]}
	}
	return c, nil
}

// Len returns the number of cached verifications.
func (c *Cache) Len() int {
	if c == nil {
		return 0
	}
	return len(c.entries)
}

func (c *Cache) get(commit plumbing.Hash, digest string) (signature.Signer, bool) {
	if c == nil {
		return signature.Signer{}, false
	}
	s, ok := c.entries[cacheKey{commit, digest}]
	return s, ok
}

func (c *Cache) put(commit plumbing.Hash, digest string, s signature.Signer) {
	if c == nil {
		return
	}
	c.entries[cacheKey{commit, digest}] = s
	if c.path != "" {
		c.pending = append(c.pending, fmt.Sprintf("%s %s %s %s %s\n", commit, digest, s.Format, s.Key, s.Principal))
	}
}

// Flush appends the new entries to the cache file, durably and as a
// whole (atomicfile.AppendFile): a crash never leaves a torn last line,
// which could read back as a shorter principal's name.
func (c *Cache) Flush() error {
	if c == nil || len(c.pending) == 0 {
		return nil
	}
	if err := atomicfile.AppendFile(c.path, []byte(strings.Join(c.pending, "")), 0o600); err != nil {
		return fmt.Errorf("write verification cache: %w", err)
	}
	c.pending = nil
	return nil
}
