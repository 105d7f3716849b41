package bundle

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/fleet/clusters"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// maxMergeAttempts bounds how often ImportStatus recomputes its merge when
// a cluster pushes to the status branch meanwhile.
const maxMergeAttempts = 5

// StatusImportOptions says which status bundle ImportStatus merges into
// which repository.
type StatusImportOptions struct {
	// Bundle is the bundle file.
	Bundle string
	// Manifest is its manifest; "" means Bundle+".manifest".
	Manifest string
	// Into is the hub's fleet repository (with a work tree or bare).
	Into string
	// StatusBranch is the status branch; "" means nodewright/status.
	StatusBranch string
	// FleetBranch is the branch whose .nodewright/clusters.yaml lists the
	// cluster keys; "" means main.
	FleetBranch string
	// ClusterKeys, when set, is a ClusterKeys file read instead.
	ClusterKeys string
	// Root, when set, lets its committers sign status manifests too (an
	// operator carrying a report by hand); the cluster's own key always
	// may. The status commits themselves must be signed by the cluster.
	Root *trust.Policy
	// SignKey, when set, signs the merge commits ImportStatus makes.
	SignKey *SigningKey
	// Committer is the author and committer of merge commits; a zero
	// Name means "Nodewright" <nodewright@localhost>.
	Committer object.Signature
	// StatePath is the bundle state file; "" means nodewright/bundles.json
	// in the repository's git directory.
	StatePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// MergeKind says how ImportStatus moved the status branch.
type MergeKind string

const (
	// FastForward moved the branch to the bundle's tip.
	FastForward MergeKind = "fast-forward"
	// MergeCommit made a commit taking the cluster's directory from the
	// bundle and everything else from the branch.
	MergeCommit MergeKind = "merge"
	// UpToDate left the branch: it already held the bundle's tip.
	UpToDate MergeKind = "up-to-date"
)

// StatusMerge reports how a status bundle reached the status branch.
type StatusMerge struct {
	// Cluster is the reporting cluster.
	Cluster string
	// Kind is how the branch moved.
	Kind MergeKind
	// Tip is the bundle's tip, the cluster's newest status commit.
	Tip plumbing.Hash
	// Branch is the status branch's new tip (the merge commit, or Tip).
	Branch plumbing.Hash
	// Commits is how many new cluster commits were checked.
	Commits int
}

// ImportStatus merges a cluster's status bundle into the hub's status
// branch. It checks the manifest's signature (the cluster's key from
// .nodewright/clusters.yaml, or a committer of Root), the bundle's digest,
// prerequisites and sequence as Import does; then that every new commit is
// signed by the cluster and changes nothing outside clusters/<cluster>/
// (NotAuthorized otherwise), and that it descends from the status the
// cluster sent before (NotFastForward). The branch is fast-forwarded when
// it has not moved since, and otherwise gets a merge commit whose tree is
// the branch's with clusters/<cluster>/ taken from the bundle, so the
// cluster's signed commits stay in history as its second parent. Refused
// bundles leave the branch as it was.
func ImportStatus(o StatusImportOptions) (*Imported, error) {
	now := clock(o.Now)
	statusBranch := orDefault(o.StatusBranch, DefaultStatusBranch)
	fleetBranch := orDefault(o.FleetBranch, DefaultBranch)
	r, err := openRepository(o.Into)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if r.checkedOut(statusBranch) {
		return nil, fmt.Errorf("repository %s has %s checked out; import status into a bare repository or one on another branch", o.Into, statusBranch)
	}
	keys, err := r.loadClusterKeys(o.ClusterKeys, fleetBranch)
	if err != nil {
		return nil, err
	}
	statePath := o.StatePath
	if statePath == "" {
		statePath = r.statePath()
	}
	state, unlock, err := openState(statePath)
	if err != nil {
		return nil, err
	}
	defer unlock()

	out := &Imported{}
	var cluster *clusters.Cluster
	verify := func(sm *SignedManifest) (signature.Signer, *reason.Error) {
		c, ok := keys.Cluster(sm.Cluster)
		if !ok {
			return signature.Signer{}, reason.Errorf(reason.UnknownKey, "", "cluster %s is not listed in %s, so no key may sign its status", sm.Cluster, clusters.Path)
		}
		cluster = c
		signer, err := sm.Verify(c.Keyring(), now())
		if reason.CodeOf(err) == reason.UnknownKey && o.Root != nil {
			return verifyAgainst(sm, now(), o.Root, trust.RoleCommitters, "")
		}
		if err != nil {
			return signer, asReason(err)
		}
		return signer, nil
	}
	c, err := precheck(out, o.Bundle, o.Manifest, Status, statusBranch, filepath.Dir(statePath), verify)
	if err != nil || c == nil {
		return out, err
	}
	defer c.cleanup()
	sm, h := c.sm, c.header
	checkPrerequisites(out, r.st, sm, "repository "+filepath.Base(o.Into))
	gap := checkSequence(out, state, &sm.Manifest)
	if !out.Accepted() {
		return out, nil
	}

	tip := plumbing.NewHash(sm.Tip)
	if _, err := r.st.EncodedObject(plumbing.CommitObject, tip); err != nil {
		if err := r.writePack(c.path, h); err != nil {
			out.refuse(reason.BundleInvalid, tip, "%s: pack: %v", filepath.Base(o.Bundle), err)
			return out, nil
		}
	}
	if err := r.checkHistory(tip, h.Prerequisites); err != nil {
		out.refuse(reason.BundleInvalid, tip, "%s: %v", filepath.Base(o.Bundle), err)
		return out, nil
	}
	exclude := append([]plumbing.Hash(nil), h.Prerequisites...)
	if cur, ok, err := r.branchTip(statusBranch); err != nil {
		return out, err
	} else if ok {
		exclude = append(exclude, cur)
	}
	if prev := state.imported(sm.Origin, sm.Branch); prev != nil {
		if p, ok := parseID(prev.Tip); ok {
			descends, err := isAncestor(r.st, p, tip)
			if err != nil {
				return out, err
			}
			if !descends {
				out.refuse(reason.NotFastForward, tip, "the status of cluster %s in bundle sequence %d does not descend from %s, which its sequence %d brought here; the site's status branch was rewritten", sm.Cluster, sm.Sequence, short(p), prev.Sequence)
				return out, nil
			}
			exclude = append(exclude, p)
		}
	}
	w, err := walkRange(r.st, []plumbing.Hash{tip}, exclude)
	if err != nil {
		return out, err
	}
	for _, c := range w.Commits {
		r.checkStatusCommit(out, c, sm.Cluster, cluster, now())
	}
	if !out.Accepted() {
		return out, nil
	}

	merge, err := r.mergeStatus(o, statusBranch, sm.Cluster, tip, sm, now())
	if err != nil {
		return out, err
	}
	merge.Commits = len(w.Commits)
	out.Status = merge
	out.Gap = gap
	state.setImported(&sm.Manifest, now())
	state.setAcknowledged(sm.Cluster, sm.Tip, now())
	if err := state.save(statePath); err != nil {
		return out, err
	}
	return out, nil
}

// loadClusterKeys reads the cluster keys from file, or else from
// .nodewright/clusters.yaml at the fleet branch.
func (r *repository) loadClusterKeys(file, fleetBranch string) (*clusters.Keys, error) {
	if file != "" {
		data, err := readLimited(file, clusters.MaxSize)
		if err != nil {
			return nil, fmt.Errorf("cluster keys: %w", err)
		}
		return clusters.Parse(file, data)
	}
	tip, ok, err := r.branchTip(fleetBranch)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("repository %s has no branch %s to read %s from; pass a cluster keys file", r.path, fleetBranch, clusters.Path)
	}
	c, err := object.GetCommit(r.st, tip)
	if err != nil {
		return nil, err
	}
	f, err := c.File(clusters.Path)
	if errors.Is(err, object.ErrFileNotFound) {
		return nil, fmt.Errorf("%s has no %s listing the cluster keys; pass a cluster keys file", fleetBranch, clusters.Path)
	}
	if err != nil {
		return nil, err
	}
	if f.Size > clusters.MaxSize {
		return nil, fmt.Errorf("%s:%s is too large", fleetBranch, clusters.Path)
	}
	text, err := f.Contents()
	if err != nil {
		return nil, err
	}
	return clusters.Parse(fleetBranch+":"+clusters.Path, []byte(text))
}

// writePack stores the bundle's pack in the repository. The packs Create
// writes are complete; a thin pack (from `git bundle create`) is refused
// by go-git's indexer for its missing delta bases.
func (r *repository) writePack(bundlePath string, h *Header) error {
	f, err := os.Open(bundlePath)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Seek(h.PackOffset, io.SeekStart); err != nil {
		return err
	}
	w, err := r.st.PackfileWriter()
	if err != nil {
		return err
	}
	_, err = io.Copy(w, f)
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	return err
}

// checkHistory checks that the commits from tip down to the prerequisites
// and their root trees are present, so a pack that omits part of what it
// claims is refused before any ref points into it.
func (r *repository) checkHistory(tip plumbing.Hash, stop []plumbing.Hash) error {
	w, err := walkRange(r.st, []plumbing.Hash{tip}, stop)
	if err != nil {
		return err
	}
	for _, c := range w.Commits {
		if _, err := r.st.EncodedObject(plumbing.TreeObject, c.TreeHash); err != nil {
			return fmt.Errorf("tree %s of commit %s is missing", c.TreeHash, short(c.Hash))
		}
	}
	return nil
}

// checkStatusCommit refuses c unless it is signed by the cluster and
// changes nothing outside clusters/<cluster>/ against its first parent.
func (r *repository) checkStatusCommit(out *Imported, c *object.Commit, name string, cluster *clusters.Cluster, now time.Time) {
	raw, err := rawObject(r.st, c.Hash)
	if err != nil {
		out.refuse(reason.BundleInvalid, c.Hash, "commit %s cannot be read: %v", short(c.Hash), err)
		return
	}
	payload, sig := signature.Split(raw)
	if _, err := signature.Verify(cluster.Keyring(), payload, sig, now); err != nil {
		re := asReason(err)
		out.refuse(re.Code, c.Hash, "status commit %s: %s (cluster %s's keys)", short(c.Hash), re.Message, name)
	}
	parentTree := plumbing.ZeroHash
	if len(c.ParentHashes) > 0 {
		p, err := object.GetCommit(r.st, c.ParentHashes[0])
		if err != nil {
			out.refuse(reason.BundleInvalid, c.Hash, "parent of commit %s: %v", short(c.Hash), err)
			return
		}
		parentTree = p.TreeHash
	}
	where, err := changedOutside(r.st, parentTree, c.TreeHash, name)
	if err != nil {
		out.refuse(reason.BundleInvalid, c.Hash, "commit %s: %v", short(c.Hash), err)
		return
	}
	if where != "" {
		out.refuse(reason.NotAuthorized, c.Hash, "status commit %s of cluster %s changes %s; a cluster writes only clusters/%s/", short(c.Hash), name, where, name)
	}
}

// rawObject reads an object's content.
func rawObject(s storer.EncodedObjectStorer, h plumbing.Hash) ([]byte, error) {
	obj, err := s.EncodedObject(plumbing.AnyObject, h)
	if err != nil {
		return nil, err
	}
	rd, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// entries reads the entries of tree h by name; the zero hash is the empty
// tree.
func entries(s storer.EncodedObjectStorer, h plumbing.Hash) (map[string]object.TreeEntry, error) {
	out := map[string]object.TreeEntry{}
	if h.IsZero() {
		return out, nil
	}
	t, err := object.GetTree(s, h)
	if err != nil {
		return nil, fmt.Errorf("tree %s: %w", h, err)
	}
	for _, e := range t.Entries {
		out[e.Name] = e
	}
	return out, nil
}

// changedOutside returns the first path outside clusters/<cluster> whose
// entry differs between the root trees a and b, or "" when none does. It
// compares two levels of entries, never whole trees.
func changedOutside(s storer.EncodedObjectStorer, a, b plumbing.Hash, cluster string) (string, error) {
	ea, err := entries(s, a)
	if err != nil {
		return "", err
	}
	eb, err := entries(s, b)
	if err != nil {
		return "", err
	}
	for _, name := range unionNames(ea, eb) {
		x, y := ea[name], eb[name]
		if x == y {
			continue
		}
		if name != "clusters" {
			return name, nil
		}
		sub := func(e object.TreeEntry) plumbing.Hash {
			if e.Mode == filemode.Dir {
				return e.Hash
			}
			return plumbing.ZeroHash
		}
		if (x.Hash != plumbing.ZeroHash && x.Mode != filemode.Dir) || (y.Hash != plumbing.ZeroHash && y.Mode != filemode.Dir) {
			return "clusters", nil
		}
		ca, err := entries(s, sub(x))
		if err != nil {
			return "", err
		}
		cb, err := entries(s, sub(y))
		if err != nil {
			return "", err
		}
		for _, n := range unionNames(ca, cb) {
			if n != cluster && ca[n] != cb[n] {
				return "clusters/" + n, nil
			}
		}
	}
	return "", nil
}

// unionNames lists the names of both entry sets, sorted.
func unionNames(a, b map[string]object.TreeEntry) []string {
	var names []string
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// mergeStatus moves the status branch to include tip: to tip itself when
// the branch is missing or an ancestor of tip, not at all when it already
// holds tip, and otherwise to a new merge commit. It starts over when the
// branch moves meanwhile.
func (r *repository) mergeStatus(o StatusImportOptions, branch, cluster string, tip plumbing.Hash, sm *SignedManifest, now time.Time) (*StatusMerge, error) {
	ref := plumbing.NewBranchReferenceName(branch)
	for attempt := 0; attempt < maxMergeAttempts; attempt++ {
		cur, ok, err := r.branchTip(branch)
		if err != nil {
			return nil, err
		}
		res := &StatusMerge{Cluster: cluster, Tip: tip, Branch: tip, Kind: FastForward}
		if ok {
			if holds, err := isAncestor(r.st, tip, cur); err != nil {
				return nil, err
			} else if holds {
				res.Kind, res.Branch = UpToDate, cur
				return res, nil
			}
			ff, err := isAncestor(r.st, cur, tip)
			if err != nil {
				return nil, err
			}
			if !ff {
				m, err := r.mergeCommit(o, cur, tip, cluster, sm, now)
				if err != nil {
					return nil, err
				}
				res.Kind, res.Branch = MergeCommit, m
			}
		}
		err = r.updateRef(ref, res.Branch, cur)
		if errors.Is(err, errRefChanged) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return res, nil
	}
	return nil, fmt.Errorf("status branch %s kept moving; %d attempts to merge failed, try again", branch, maxMergeAttempts)
}

// mergeCommit writes a commit with parents hub and site whose tree is hub's
// with clusters/<cluster> replaced by site's.
func (r *repository) mergeCommit(o StatusImportOptions, hub, site plumbing.Hash, cluster string, sm *SignedManifest, now time.Time) (plumbing.Hash, error) {
	hc, err := object.GetCommit(r.st, hub)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sc, err := object.GetCommit(r.st, site)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	tree, err := r.takeClusterDir(hc.TreeHash, sc.TreeHash, cluster)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	who := o.Committer
	if who.Name == "" {
		who = object.Signature{Name: "Nodewright", Email: "nodewright@localhost"}
	}
	who.When = now.Truncate(time.Second)
	c := &object.Commit{
		Author:       who,
		Committer:    who,
		TreeHash:     tree,
		ParentHashes: []plumbing.Hash{hub, site},
		Message: fmt.Sprintf("Merge status of cluster %s from bundle %d\n\nOrigin %s, tip %s; only clusters/%s/ is taken from it.\n",
			cluster, sm.Sequence, sm.Origin, sm.Tip, cluster),
	}
	if o.SignKey != nil {
		unsigned := &plumbing.MemoryObject{}
		if err := c.EncodeWithoutSignature(unsigned); err != nil {
			return plumbing.ZeroHash, err
		}
		payload, err := rawMemory(unsigned)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		sig, err := o.SignKey.Sign(payload, signature.Namespace, now)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		c.PGPSignature = strings.TrimRight(string(sig), "\n") + "\n"
	}
	obj := r.st.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return r.st.SetEncodedObject(obj)
}

// rawMemory reads an in-memory object's content.
func rawMemory(o plumbing.EncodedObject) ([]byte, error) {
	rd, err := o.Reader()
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	return io.ReadAll(rd)
}

// takeClusterDir writes the tree hub with clusters/<cluster> as in site
// (removed when site has none) and returns its id.
func (r *repository) takeClusterDir(hub, site plumbing.Hash, cluster string) (plumbing.Hash, error) {
	hubRoot, err := entries(r.st, hub)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	siteRoot, err := entries(r.st, site)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	dirOf := func(e object.TreeEntry, ok bool) plumbing.Hash {
		if ok && e.Mode == filemode.Dir {
			return e.Hash
		}
		return plumbing.ZeroHash
	}
	hubClusters, err := entries(r.st, dirOf(hubRoot["clusters"], true))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	siteEntry, siteHas := siteRoot["clusters"]
	siteClusters, err := entries(r.st, dirOf(siteEntry, siteHas))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if e, ok := siteClusters[cluster]; ok {
		hubClusters[cluster] = e
	} else {
		delete(hubClusters, cluster)
	}
	if len(hubClusters) == 0 {
		delete(hubRoot, "clusters")
	} else {
		h, err := writeTree(r.st, hubClusters)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		hubRoot["clusters"] = object.TreeEntry{Name: "clusters", Mode: filemode.Dir, Hash: h}
	}
	return writeTree(r.st, hubRoot)
}

// writeTree stores a tree of the given entries in git's order (names
// compared as if directories ended in '/').
func writeTree(s storer.EncodedObjectStorer, es map[string]object.TreeEntry) (plumbing.Hash, error) {
	list := make([]object.TreeEntry, 0, len(es))
	for _, e := range es {
		list = append(list, e)
	}
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(list, func(i, j int) bool { return key(list[i]) < key(list[j]) })
	var b bytes.Buffer
	for _, e := range list {
		fmt.Fprintf(&b, "%o %s\x00", uint32(e.Mode), e.Name)
		b.Write(e.Hash[:])
	}
	obj := s.NewEncodedObject()
	obj.SetType(plumbing.TreeObject)
	obj.SetSize(int64(b.Len()))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(b.Bytes()); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}
