package source

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/internal/atomicfile"
)

// State is what a source remembers between runs: the last accepted commit
// and where it came from. It is written atomically after each accepted
// range, so a crash leaves either the old or the new state, never half.
type State struct {
	// Repo is the repository the state belongs to.
	Repo string `json:"repo"`
	// Branch is the branch followed.
	Branch string `json:"branch"`
	// LastAccepted is the last commit accepted, or "" before the first.
	LastAccepted string `json:"lastAccepted,omitempty"`
	// PolicyVersion is the version of the policy in force at LastAccepted.
	PolicyVersion int `json:"policyVersion,omitempty"`
	// PolicyDigest is the digest of that policy.
	PolicyDigest string `json:"policyDigest,omitempty"`
	// PolicyBlob is the blob id of that policy's trust.yaml in the
	// repository; "" when the trust root is in force.
	PolicyBlob string `json:"policyBlob,omitempty"`
	// CommitTime is LastAccepted's committer time.
	CommitTime time.Time `json:"commitTime,omitzero"`
	// AcceptedAt is when LastAccepted was accepted.
	AcceptedAt time.Time `json:"acceptedAt,omitzero"`
}

// stateFile is the name of the state file inside a state directory.
const stateFile = "state.json"

// LoadState reads the state in dir; a missing file is the empty state.
func LoadState(dir string) (State, error) {
	var s State
	data, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("read state: %w", err)
	}
	if err := json.Unmarshal(data, &s); err != nil {
		return s, fmt.Errorf("state %s is corrupt: %w", filepath.Join(dir, stateFile), err)
	}
	if s.LastAccepted != "" {
		if _, ok := parseHash([]byte(s.LastAccepted)); !ok {
			return s, fmt.Errorf("state %s: lastAccepted %q is not a commit id", filepath.Join(dir, stateFile), s.LastAccepted)
		}
	}
	if s.PolicyBlob != "" {
		if _, ok := parseHash([]byte(s.PolicyBlob)); !ok {
			return s, fmt.Errorf("state %s: policyBlob %q is not a blob id", filepath.Join(dir, stateFile), s.PolicyBlob)
		}
	}
	return s, nil
}

// Last returns the last accepted commit, zero when there is none.
func (s State) Last() plumbing.Hash {
	if s.LastAccepted == "" {
		return plumbing.ZeroHash
	}
	return plumbing.NewHash(s.LastAccepted)
}

// Save writes the state into dir atomically: a temporary file, fsync,
// rename, fsync of the directory.
func (s State) Save(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(dir, stateFile), append(data, '\n'), 0o600)
}
