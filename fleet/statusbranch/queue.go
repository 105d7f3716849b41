package statusbranch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nodewright/nodewright/internal/atomicfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Queue directory layout:
//
//	lock                  held (flock) by the one Writer using the directory
//	sent                  the highest update seq the branch is known to hold
//	updates/<seq>.json    one queued update, seq in 20 decimal digits
//
// Files are written with atomicfile (a temporary name, fsynced, renamed into
// place and the directory fsynced), so an update is either wholly there or
// absent.
const (
	updatesDir  = "updates"
	sentFile    = "sent"
	lockFile    = "lock"
	tmpPrefix   = atomicfile.TempPrefix
	entrySuffix = ".json"
)

// update is one queued Write: what a person would need to redo it.
type update struct {
	// Seq orders updates in the queue; it never repeats within a queue
	// directory.
	Seq uint64 `json:"seq"`
	// Queued is when Write accepted the update; it becomes the author
	// date of its commit.
	Queued time.Time `json:"queued"`
	// Status is the cluster's report.
	Status v1.ClusterStatus `json:"status"`
	// Records are the audit records to append, oldest first.
	Records []v1.AuditRecord `json:"records,omitempty"`
}

// queue is the on-disk queue of updates not yet on the branch.
type queue struct {
	dir     string
	unlock  func() error
	pending []uint64 // sorted
	next    uint64
}

// openQueue opens (creating) the queue in dir and takes its lock. Updates
// at or below the sent mark (pushed, but the process stopped before
// removing them) are removed.
func openQueue(dir string) (*queue, error) {
	if err := os.MkdirAll(filepath.Join(dir, updatesDir), 0o750); err != nil {
		return nil, fmt.Errorf("queue %s: %w", dir, err)
	}
	unlock, err := lockDir(filepath.Join(dir, lockFile))
	if err != nil {
		return nil, fmt.Errorf("queue %s: %w", dir, err)
	}
	q := &queue{dir: dir, unlock: unlock}
	if err := q.load(); err != nil {
		_ = unlock()
		return nil, err
	}
	return q, nil
}

func (q *queue) load() error {
	sent, err := q.readSent()
	if err != nil {
		return err
	}
	dir := filepath.Join(q.dir, updatesDir)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("queue %s: %w", q.dir, err)
	}
	maxSeq := sent
	removed := false
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			// A write that never finished: Write did not return for it.
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("queue %s: %w", q.dir, err)
			}
			removed = true
			continue
		}
		seq, ok := parseEntryName(name)
		if !ok {
			return fmt.Errorf("queue %s: unexpected file %s in %s", q.dir, name, updatesDir)
		}
		if seq <= sent {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return fmt.Errorf("queue %s: %w", q.dir, err)
			}
			removed = true
			continue
		}
		q.pending = append(q.pending, seq)
		maxSeq = max(maxSeq, seq)
	}
	slices.Sort(q.pending)
	q.next = maxSeq + 1
	if removed {
		return atomicfile.SyncDir(dir)
	}
	return nil
}

func parseEntryName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, entrySuffix)
	if !ok || len(digits) != 20 {
		return 0, false
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil && seq > 0
}

func entryName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, entrySuffix) }

func (q *queue) readSent() (uint64, error) {
	b, err := os.ReadFile(filepath.Join(q.dir, sentFile))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", q.dir, err)
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("queue %s: %s holds %q, not a sequence number", q.dir, sentFile, truncate(string(b), 40))
	}
	return seq, nil
}

// add stores u durably under the next seq and returns that seq.
func (q *queue) add(u update) (uint64, error) {
	u.Seq = q.next
	data, err := json.Marshal(u)
	if err != nil {
		return 0, fmt.Errorf("queue: encode update: %w", err)
	}
	dir := filepath.Join(q.dir, updatesDir)
	if err := atomicfile.WriteFile(filepath.Join(dir, entryName(u.Seq)), data, 0o600); err != nil {
		return 0, fmt.Errorf("queue %s: %w", q.dir, err)
	}
	q.next++
	q.pending = append(q.pending, u.Seq)
	return u.Seq, nil
}

// get reads the update with the given seq.
func (q *queue) get(seq uint64) (update, error) {
	path := filepath.Join(q.dir, updatesDir, entryName(seq))
	data, err := os.ReadFile(path)
	if err != nil {
		return update{}, fmt.Errorf("queue: %w", err)
	}
	var u update
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&u); err != nil {
		return update{}, fmt.Errorf("queue: %s is not a queued update: %w", path, err)
	}
	if u.Seq != seq {
		return update{}, fmt.Errorf("queue: %s holds seq %d", path, u.Seq)
	}
	return u, nil
}

// done records that the branch holds every update up to seq and removes
// them. The sent mark is written first, so that a restart in between does
// not send them again.
func (q *queue) done(seq uint64) error {
	if err := atomicfile.WriteFile(filepath.Join(q.dir, sentFile), []byte(strconv.FormatUint(seq, 10)+"\n"), 0o600); err != nil {
		return fmt.Errorf("queue %s: %w", q.dir, err)
	}
	dir := filepath.Join(q.dir, updatesDir)
	i := 0
	for ; i < len(q.pending) && q.pending[i] <= seq; i++ {
		if err := os.Remove(filepath.Join(dir, entryName(q.pending[i]))); err != nil && !errors.Is(err, fs.ErrNotExist) {
			q.pending = q.pending[i:]
			return fmt.Errorf("queue %s: %w", q.dir, err)
		}
	}
	q.pending = q.pending[i:]
	return atomicfile.SyncDir(dir)
}

func (q *queue) close() error {
	if q.unlock == nil {
		return nil
	}
	err := q.unlock()
	q.unlock = nil
	return err
}
