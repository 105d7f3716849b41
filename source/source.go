package source

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/nodewright/nodewright/source/mirror"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/revwalk"
	"github.com/nodewright/nodewright/source/trust"
)

// Source follows one branch of a fleet repository: it fetches into a
// bare mirror under StateDir, verifies what is new, and ratchets the last
// accepted commit forward only when the whole new range is accepted.
type Source struct {
	// Repo is a URL (https, ssh, file), a local path, or a git bundle file.
	Repo string
	// Branch is the branch to follow; "" means main.
	Branch string
	// StateDir holds the mirror, the state file and the verification cache.
	StateDir string
	// Root is the trust root.
	Root *trust.Policy
	// Auth authenticates fetches (nil for none or the transport default).
	Auth transport.AuthMethod
	// CABundle, when set, holds PEM certificate authorities trusted for
	// https remotes in addition to the system's.
	CABundle []byte
	// Progress, when set, receives transfer progress.
	Progress io.Writer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Floor, when set, is a commit accepted before and recorded outside
	// the state directory (in-cluster: the FleetSource status). When the
	// state directory is new (a restarted pod), the whole history is
	// verified again and the tip must still descend from Floor, so losing
	// the state directory never opens the door to a rollback.
	Floor plumbing.Hash
	// FloorPolicyVersion, when set, is the trust policy version in force
	// at Floor, recorded with it: whatever the state directory says, the
	// policy in force never drops below it.
	FloorPolicyVersion int
}

// Sync fetches the branch, verifies the commits it adds since the last
// accepted commit, and on acceptance records the new tip. Refusals are in
// the Result (and leave the state as it was); an error means the source
// could not be read or the state not written.
func (s *Source) Sync(ctx context.Context) (*Result, error) {
	branch := s.Branch
	if branch == "" {
		branch = "main"
	}
	if err := os.MkdirAll(s.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	unlock, err := lockStateDir(s.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()
	state, err := LoadState(s.StateDir)
	if err != nil {
		return nil, err
	}
	repo, isBundle := s.Repo, mirror.IsBundle(s.Repo)
	if abs, err := filepath.Abs(repo); err == nil && isBundle {
		repo = abs
	}
	if state.LastAccepted != "" && (state.Branch != branch) {
		return nil, fmt.Errorf("state dir %s follows branch %q, not %q; use another --state-dir", s.StateDir, state.Branch, branch)
	}
	m, err := mirror.Open(filepath.Join(s.StateDir, "mirror"))
	if err != nil {
		return nil, err
	}
	defer m.Close()

	var tip plumbing.Hash
	if isBundle {
		tip, err = m.ImportBundle(repo, branch)
	} else {
		tip, err = m.Fetch(ctx, mirror.FetchOptions{URL: repo, Branch: branch, Auth: s.Auth, Progress: s.Progress, CABundle: s.CABundle})
	}
	if err != nil {
		if reason.CodeOf(err) != "" {
			return &Result{Previous: state.Last(), Refusals: reason.Refusals(err)}, nil
		}
		return nil, err
	}
	cache, err := OpenCache(filepath.Join(s.StateDir, "verified.cache"))
	if err != nil {
		return nil, err
	}
	current, err := indexCurrent(s.StateDir)
	if err != nil {
		return nil, err
	}
	last, floor, acceptedAt := state.Last(), s.Floor, state.AcceptedAt
	minVersion := max(s.FloorPolicyVersion, state.PolicyVersion)
	if !current && !last.IsZero() {
		// An index from an older release: verify the whole history again
		// (the cache spares the cryptography) with the last accepted
		// commit as the floor, and write the index anew.
		floor, last = last, plumbing.ZeroHash
	}
	var res *Result
	if last.IsZero() && !floor.IsZero() {
		res, err = s.verifyFromFloor(m, cache, floor, tip, acceptedAt)
	} else {
		floorPolicy, blob, perr := policyInForce(m.Storer(), state, s.Root)
		if perr != nil {
			if reason.CodeOf(perr) != "" {
				return &Result{Tip: tip, Previous: last, Refusals: reason.Refusals(perr)}, nil
			}
			return nil, perr
		}
		v := &Verifier{Root: s.Root, Floor: floorPolicy, FloorBlob: blob, AcceptedAt: acceptedAt, Store: m.Storer(), Cache: cache, Now: s.Now}
		if isBundle && !last.IsZero() {
			if res := replayCheck(v, last, tip, repo); res != nil {
				return res, nil
			}
		}
		res, err = v.Verify(last, tip)
	}
	if err != nil {
		return nil, err
	}
	if res.Accepted() && res.Policy.Version < minVersion {
		res.refuse(reason.PolicyRollback, tip, "commit %s puts trust policy version %d in force, older than version %d, which this cluster accepted before; the trust policy can only move forward", short(tip), res.Policy.Version, minVersion)
	}
	if !res.Accepted() {
		res.Policy, res.PolicyBlob = nil, plumbing.ZeroHash
		return res, nil
	}
	if current && !state.Last().IsZero() {
		err = appendIndex(s.StateDir, res.Index)
	} else {
		err = writeIndex(s.StateDir, res.Index)
	}
	if err != nil {
		return nil, err
	}
	if err := m.Pin(tip); err != nil {
		return nil, err
	}
	next := State{
		Repo: mirror.RedactURL(s.Repo), Branch: branch, LastAccepted: tip.String(),
		PolicyVersion: res.Policy.Version, PolicyDigest: res.Policy.Digest(),
		CommitTime: res.TipTime, AcceptedAt: time.Now().UTC(),
	}
	if s.Now != nil {
		next.AcceptedAt = s.Now().UTC()
	}
	if !res.PolicyBlob.IsZero() {
		next.PolicyBlob = res.PolicyBlob.String()
	}
	if tip == state.Last() {
		next.AcceptedAt = state.AcceptedAt
	}
	if err := next.Save(s.StateDir); err != nil {
		return nil, err
	}
	return res, nil
}

// verifyFromFloor verifies a source whose state directory is new (or whose
// index is rebuilt) but whose last accepted commit is known from outside:
// the history up to floor as history, judged at the times it was signed,
// and what tip adds to floor as new commits, judged no earlier than floor
// was signed (or acceptedAt, when the state still knows it). The tip must
// descend from floor.
func (s *Source) verifyFromFloor(m *mirror.Mirror, cache *Cache, floor, tip plumbing.Hash, acceptedAt time.Time) (*Result, error) {
	v := &Verifier{Root: s.Root, Store: m.Storer(), Cache: cache, Now: s.Now}
	if res := floorCheck(v, floor, tip); res != nil {
		return res, nil
	}
	history, err := v.Verify(plumbing.ZeroHash, floor)
	if err != nil || !history.Accepted() {
		return history, err
	}
	fc, err := newObjects(v.Store).commit(floor)
	if err != nil {
		return nil, err
	}
	if at := claimedTime(fc); at.After(acceptedAt) {
		acceptedAt = at
	}
	v.Floor, v.FloorBlob, v.AcceptedAt = history.Policy, history.PolicyBlob, acceptedAt
	res, err := v.Verify(floor, tip)
	if err != nil || !res.Accepted() {
		return res, err
	}
	res.Previous = plumbing.ZeroHash
	res.Commits = append(history.Commits, res.Commits...)
	res.Index = append(history.Index, res.Index...)
	return res, nil
}

// floorCheck refuses a tip that does not descend from floor.
func floorCheck(v *Verifier, floor, tip plumbing.Hash) *Result {
	o := newObjects(v.Store)
	if _, err := o.commit(floor); err == nil {
		if ok, err := revwalk.IsAncestor(o.load, floor, tip); err == nil && ok {
			return nil
		}
	}
	res := &Result{Tip: tip, Previous: floor}
	res.refuse(reason.NotFastForward, tip, "tip %s does not descend from %s, the commit this cluster accepted last (a rollback or a force-push); keeping %s", short(tip), short(floor), short(floor))
	return res
}

// replayCheck refuses a bundle whose tip is the last accepted commit or
// one of its ancestors: it was, or something newer was, imported already.
func replayCheck(v *Verifier, last, tip plumbing.Hash, path string) *Result {
	o := newObjects(v.Store)
	if ok, err := revwalk.IsAncestor(o.load, tip, last); err != nil || !ok {
		return nil
	}
	res := &Result{Tip: tip, Previous: last}
	res.refuse(reason.BundleReplay, tip, "bundle %s brings %s, which the last accepted commit %s already contains; nothing newer to import", filepath.Base(path), short(tip), short(last))
	return res
}
