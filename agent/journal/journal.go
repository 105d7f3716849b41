package journal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The journal's errors, classified here.
var (
	// ErrCorrupt says an entry file cannot be read as an entry; the
	// message names the file and what is wrong.
	ErrCorrupt = errors.New("journal entry is not valid")
	// ErrExists says a task already has an entry: a change is journalled
	// once per task, so a resumed task never changes the bond twice.
	ErrExists = errors.New("the task already has a journal entry")
	// ErrChangedSince says the bond matches neither its state before the
	// change nor the state the change left: someone changed it since, and
	// a revert would undo their change. The Host wraps it.
	ErrChangedSince = errors.New("the bond was changed by someone else since")
	// ErrTooMany says the journal directory holds more entries than
	// MaxEntries.
	ErrTooMany = errors.New("the journal holds too many entries")
)

// MaxEntries bounds the entry files a journal reads: each task has one,
// and terminal ones are pruned after Retention.
const MaxEntries = 1000

// Retention is how long a terminal entry is kept for people to read.
const Retention = 7 * 24 * time.Hour

// lockPollInterval is how often a held lock is tried again.
const lockPollInterval = 5 * time.Millisecond

// Host makes and takes back the snapshots a journal keeps. Snapshots are
// JSON objects the Host alone understands.
type Host interface {
	// Snapshot returns the bond's whole state.
	Snapshot(ctx context.Context, bond string) (json.RawMessage, error)
	// Restore puts the bond back to pre exactly and reports whether it had
	// to change anything. With post (the state a finished change left) it
	// first checks the bond is still as post or as pre, and returns an
	// error wrapping ErrChangedSince, touching nothing, when it is
	// neither.
	Restore(ctx context.Context, pre, post json.RawMessage) (changed bool, err error)
}

// Journal is a journal directory. Its methods are safe for concurrent use
// within a process, and across processes through the directory's lock.
type Journal struct {
	dir   string
	clock func() time.Time
	// sem orders this process's holders of the lock file (flock excludes
	// open file descriptions, so it would exclude them too; the semaphore
	// makes them wait without polling, and honours a context).
	sem chan struct{}
}

// Open opens the journal in dir, making the directory (0700) when it is
// missing, and removes what a crash mid-write left (temporary files). A
// nil clock means time.Now.
func Open(dir string, clock func() time.Time) (*Journal, error) {
	if dir == "" {
		return nil, errors.New("journal: no directory given")
	}
	if clock == nil {
		clock = time.Now
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("journal: %s is not a directory", dir)
	}
	j := &Journal{dir: dir, clock: clock, sem: make(chan struct{}, 1)}
	unlock, err := j.lock(context.Background())
	if err != nil {
		return nil, err
	}
	defer unlock()
	tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*"))
	for _, t := range tmps {
		_ = os.Remove(t)
	}
	return j, nil
}

// Dir is the journal's directory.
func (j *Journal) Dir() string { return j.dir }

// lock takes the journal's lock, waiting until it is free or ctx ends.
func (j *Journal) lock(ctx context.Context) (unlock func(), err error) {
	select {
	case j.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("journal: waiting for the lock: %w", ctx.Err())
	}
	f, err := os.OpenFile(filepath.Join(j.dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		<-j.sem
		return nil, fmt.Errorf("journal: open the lock: %w", err)
	}
	release := func() { f.Close(); <-j.sem }
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return release, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) && !errors.Is(err, unix.EINTR) {
			release()
			return nil, fmt.Errorf("journal: lock: %w", err)
		}
		t := time.NewTimer(lockPollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			release()
			return nil, fmt.Errorf("journal: waiting for the lock: %w", ctx.Err())
		case <-t.C:
		}
	}
}

func (j *Journal) path(uid string) string { return filepath.Join(j.dir, uid+".json") }

// Get returns the task's entry, or nil when it has none.
func (j *Journal) Get(uid string) (*Entry, error) {
	if !uidPattern.MatchString(uid) {
		return nil, fmt.Errorf("journal: %q is not a task UID", uid)
	}
	return j.read(j.path(uid))
}

// read reads one entry file; a missing file is (nil, nil).
func (j *Journal) read(path string) (*Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	defer f.Close()
	e, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("journal: %s: %w", path, err)
	}
	if want := strings.TrimSuffix(filepath.Base(path), ".json"); e.Task.UID != want {
		return nil, fmt.Errorf("journal: %s: %w: task.uid %q does not match the file name", path, ErrCorrupt, e.Task.UID)
	}
	return e, nil
}

// List returns every entry, oldest first, and an error for each file that
// is not a valid entry (the valid ones are returned all the same).
func (j *Journal) List() ([]*Entry, []error) {
	des, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, []error{fmt.Errorf("journal: %w", err)}
	}
	var out []*Entry
	var errs []error
	n := 0
	for _, de := range des {
		name := de.Name()
		if !strings.HasSuffix(name, ".json") || strings.HasPrefix(name, ".") {
			continue
		}
		if n++; n > MaxEntries {
			errs = append(errs, fmt.Errorf("journal: %s: %w (more than %d)", j.dir, ErrTooMany, MaxEntries))
			break
		}
		if !de.Type().IsRegular() {
			errs = append(errs, fmt.Errorf("journal: %s: %w: not a regular file", filepath.Join(j.dir, name), ErrCorrupt))
			continue
		}
		e, err := j.read(filepath.Join(j.dir, name))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if e != nil {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *Entry) int { return a.Opened.Compare(b.Opened) })
	return out, errs
}

// write replaces the entry's file atomically and durably: a temporary
// file is written and fsynced, renamed over the entry, and the directory
// is fsynced. The caller holds the lock.
func (j *Journal) write(e *Entry) error {
	data, err := e.encode()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(j.dir, ".tmp-"+e.Task.UID+"-*")
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("journal: write %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("journal: fsync %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	if err := os.Rename(tmp.Name(), j.path(e.Task.UID)); err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	ok = true
	return syncDir(j.dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("journal: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("journal: fsync %s: %w", dir, err)
	}
	return nil
}

// prune removes terminal entries closed more than Retention ago. The
// caller holds the lock.
func (j *Journal) prune(entries []*Entry) {
	now := j.clock()
	for _, e := range entries {
		if e.State.Terminal() && e.Closed != nil && now.Sub(*e.Closed) > Retention {
			_ = os.Remove(j.path(e.Task.UID))
		}
	}
}
