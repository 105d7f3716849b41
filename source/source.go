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
	v := &Verifier{Root: s.Root, Store: m.Storer(), Cache: cache, Now: s.Now}
	if state.Last().IsZero() && !s.Floor.IsZero() {
		if res := floorCheck(v, s.Floor, tip); res != nil {
			return res, nil
		}
	}
	if isBundle && !state.Last().IsZero() {
		if res := replayCheck(v, state.Last(), tip, repo); res != nil {
			return res, nil
		}
	}
	res, err := v.Verify(state.Last(), tip)
	if err != nil {
		return nil, err
	}
	if !res.Accepted() {
		return res, nil
	}
	if err := appendIndex(s.StateDir, res.Index); err != nil {
		return nil, err
	}
	if err := m.Pin(tip); err != nil {
		return nil, err
	}
	next := State{
		Repo: mirror.RedactURL(s.Repo), Branch: branch, LastAccepted: tip.String(),
		PolicyVersion: res.Policy.Version, PolicyDigest: res.Policy.Digest(),
		CommitTime: res.TipTime, AcceptedAt: v.now().UTC(),
	}
	if tip == state.Last() {
		next.AcceptedAt = state.AcceptedAt
	}
	if err := next.Save(s.StateDir); err != nil {
		return nil, err
	}
	return res, nil
}

// floorCheck refuses a tip that does not descend from floor.
func floorCheck(v *Verifier, floor, tip plumbing.Hash) *Result {
	o := newObjects(v.Store)
	if _, err := o.commit(floor); err == nil {
		if w, err := walkRange(o, tip, []plumbing.Hash{floor}); err == nil && w.descends {
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
	w, err := walkRange(o, last, []plumbing.Hash{tip})
	if err != nil || !w.descends {
		return nil
	}
	res := &Result{Tip: tip, Previous: last}
	res.refuse(reason.BundleReplay, tip, "bundle %s brings %s, which the last accepted commit %s already contains; nothing newer to import", filepath.Base(path), short(tip), short(last))
	return res
}
