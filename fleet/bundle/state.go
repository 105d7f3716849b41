package bundle

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/nodewright/nodewright/internal/atomicfile"
)

// StateFile is the name of the bundle state file: inside a repository's
// git directory (as nodewright/bundles.json) for Create and ImportStatus,
// and inside a source state directory for Import.
const StateFile = "bundles.json"

// maxStateFile bounds a state file.
const maxStateFile = 16 << 20

// State is what one side remembers about bundles: its own origin id and
// the sequence numbers it handed out, the last sequence imported per
// (origin, branch), and the status commits acknowledged per cluster. It is
// written atomically; while a Create or an import runs, a lock file next to
// it keeps other nodewright processes out.
type State struct {
	// Origin identifies this side as a bundle maker; it is made at random
	// on first use.
	Origin string `json:"origin"`
	// Created holds the last sequence made per branch.
	Created []CreatedRecord `json:"created,omitempty"`
	// Imported holds the last sequence imported per origin and branch.
	Imported []ImportedRecord `json:"imported,omitempty"`
	// Acknowledged holds, per cluster, the newest status commit of that
	// cluster the hub holds: at the hub, the status tip it imported last;
	// at a site, what the hub's last fleet bundle said it had.
	Acknowledged []Acknowledgement `json:"acknowledged,omitempty"`
}

// CreatedRecord is the last bundle made for one branch.
type CreatedRecord struct {
	// Branch is the branch bundled.
	Branch string `json:"branch"`
	// Sequence is the last sequence number handed out.
	Sequence uint64 `json:"sequence"`
	// Tip is the commit that bundle carried.
	Tip string `json:"tip"`
	// Time is when it was made.
	Time time.Time `json:"time"`
}

// ImportedRecord is the last bundle imported from one origin and branch.
type ImportedRecord struct {
	// Origin is the maker's origin id.
	Origin string `json:"origin"`
	// Branch is the branch it carried.
	Branch string `json:"branch"`
	// Sequence is its sequence number.
	Sequence uint64 `json:"sequence"`
	// Tip is the commit it carried.
	Tip string `json:"tip"`
	// Time is when it was imported.
	Time time.Time `json:"time"`
}

// Acknowledgement is the newest status commit of a cluster that the hub
// holds.
type Acknowledgement struct {
	// Cluster is the cluster's name.
	Cluster string `json:"cluster"`
	// Commit is the status commit.
	Commit string `json:"commit"`
	// Time is when this side learnt it.
	Time time.Time `json:"time"`
}

// openState locks and reads the state file at path; a missing file is a new
// state with a fresh origin. The returned unlock releases the lock.
func openState(path string) (*State, func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, nil, fmt.Errorf("bundle state: %w", err)
	}
	f, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle state: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, nil, fmt.Errorf("bundle state %s is in use by another nodewright process", path)
		}
		return nil, nil, fmt.Errorf("lock bundle state %s: %w", path, err)
	}
	unlock := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
	s, err := readState(path)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return s, unlock, nil
}

// ReadState reads the state file at path without locking it, for reports;
// a missing file is an empty state without an origin.
func ReadState(path string) (*State, error) {
	return readState(path)
}

func readState(path string) (*State, error) {
	s := &State{}
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bundle state: %w", err)
	}
	if fi.Size() > maxStateFile {
		return nil, fmt.Errorf("bundle state %s is %d bytes, more than the %d allowed", path, fi.Size(), maxStateFile)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("bundle state: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(s); err != nil {
		return nil, fmt.Errorf("bundle state %s is corrupt: %w", path, err)
	}
	if s.Origin != "" && !originPattern.MatchString(s.Origin) {
		return nil, fmt.Errorf("bundle state %s: origin %q is not valid", path, s.Origin)
	}
	return s, nil
}

// ensureOrigin gives the state an origin id if it has none.
func (s *State) ensureOrigin() error {
	if s.Origin != "" {
		return nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	s.Origin = hex.EncodeToString(b[:])
	return nil
}

// save writes the state to path atomically.
func (s *State) save(path string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o600)
}

// created returns the record for branch, or nil.
func (s *State) created(branch string) *CreatedRecord {
	for i := range s.Created {
		if s.Created[i].Branch == branch {
			return &s.Created[i]
		}
	}
	return nil
}

// imported returns the record for origin and branch, or nil.
func (s *State) imported(origin, branch string) *ImportedRecord {
	for i := range s.Imported {
		if s.Imported[i].Origin == origin && s.Imported[i].Branch == branch {
			return &s.Imported[i]
		}
	}
	return nil
}

// acknowledged returns the status commit acknowledged for cluster, or "".
func (s *State) acknowledged(cluster string) string {
	for _, a := range s.Acknowledged {
		if a.Cluster == cluster {
			return a.Commit
		}
	}
	return ""
}

// setImported records an imported bundle.
func (s *State) setImported(m *Manifest, now time.Time) {
	rec := ImportedRecord{Origin: m.Origin, Branch: m.Branch, Sequence: m.Sequence, Tip: m.Tip, Time: now.UTC()}
	if r := s.imported(m.Origin, m.Branch); r != nil {
		*r = rec
		return
	}
	s.Imported = append(s.Imported, rec)
}

// setAcknowledged records commit as acknowledged for cluster.
func (s *State) setAcknowledged(cluster, commit string, now time.Time) {
	for i := range s.Acknowledged {
		if s.Acknowledged[i].Cluster == cluster {
			s.Acknowledged[i] = Acknowledgement{Cluster: cluster, Commit: commit, Time: now.UTC()}
			return
		}
	}
	s.Acknowledged = append(s.Acknowledged, Acknowledgement{Cluster: cluster, Commit: commit, Time: now.UTC()})
}
