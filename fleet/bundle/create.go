package bundle

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"go.yaml.in/yaml/v3"

	"github.com/nodewright/nodewright/internal/atomicfile"
	"github.com/nodewright/nodewright/internal/yamlfile"
	"github.com/nodewright/nodewright/source/trust"
)

// Default branch names.
const (
	// DefaultBranch is the fleet branch.
	DefaultBranch = "main"
	// DefaultStatusBranch is the status branch of DESIGN.md.
	DefaultStatusBranch = "nodewright/status"
)

// maxStatusFile bounds the status.yaml Create reads an appliedCommit from.
const maxStatusFile = 8 << 20

// ErrNothingNew is returned by Create when the receiver already holds the
// branch's tip, so a bundle would be empty (git refuses those too).
var ErrNothingNew = errors.New("nothing to bundle")

// CreateOptions says what Create bundles.
type CreateOptions struct {
	// Repo is a local git repository, with a work tree or bare.
	Repo string
	// Out is the bundle file to write; the manifest goes to Out+".manifest".
	Out string
	// Branch is the fleet branch; "" means main.
	Branch string
	// Status bundles the status branch (a site's report for the hub)
	// instead of the fleet branch.
	Status bool
	// StatusBranch is the status branch; "" means nodewright/status.
	StatusBranch string
	// Cluster is, for a fleet bundle, the cluster it is cut for: the
	// bundle starts at the appliedCommit of clusters/<Cluster>/status.yaml
	// on the status branch. For a status bundle it is the reporting
	// cluster, and required.
	Cluster string
	// Since, when set, is a revision the receiver holds: the bundle starts
	// there whatever the status or the acknowledgements say.
	Since string
	// Key signs the manifest.
	Key *SigningKey
	// StatePath is the bundle state file; "" means nodewright/bundles.json
	// in the repository's git directory.
	StatePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Created reports what Create wrote.
type Created struct {
	// Manifest is the signed manifest.
	Manifest Manifest
	// Path and ManifestPath are the files written.
	Path, ManifestPath string
	// Objects is how many objects the bundle's pack holds.
	Objects int
	// Since says where the prerequisites came from, for the operator.
	Since string
}

// Create writes an incremental bundle of the fleet branch (or, with
// Status, of the status branch) and its signed manifest, and records the
// bundle's sequence number in the state file. Usage and repository
// problems are errors; ErrNothingNew means the receiver is up to date.
func Create(o CreateOptions) (*Created, error) {
	now := clock(o.Now)
	switch {
	case o.Out == "":
		return nil, errors.New("no output file given")
	case o.Key == nil:
		return nil, errors.New("no signing key given")
	case o.Status && o.Cluster == "":
		return nil, errors.New("a status bundle needs the cluster it reports for")
	case o.Cluster != "" && !clusterPattern.MatchString(o.Cluster):
		return nil, fmt.Errorf("%q is not a cluster name", o.Cluster)
	}
	fleetBranch := orDefault(o.Branch, DefaultBranch)
	statusBranch := orDefault(o.StatusBranch, DefaultStatusBranch)
	typ, branch := Fleet, fleetBranch
	if o.Status {
		typ, branch = Status, statusBranch
	}
	for _, b := range []string{fleetBranch, statusBranch} {
		if plumbing.NewBranchReferenceName(b).Validate() != nil {
			return nil, fmt.Errorf("%q is not a valid branch name", b)
		}
	}

	if fi, err := os.Stat(filepath.Dir(o.Out)); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("output directory %s does not exist", filepath.Dir(o.Out))
	}
	r, err := openRepository(o.Repo)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	tip, ok, err := r.branchTip(branch)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("repository %s has no branch %s", o.Repo, branch)
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
	if err := state.ensureOrigin(); err != nil {
		return nil, err
	}

	since, from, err := r.chooseSince(o, typ, statusBranch, tip, state)
	if err != nil {
		return nil, err
	}
	var exclude []plumbing.Hash
	if !since.IsZero() {
		exclude = append(exclude, since)
	}
	w, err := walkRange(r.st, []plumbing.Hash{tip}, exclude)
	if err != nil {
		return nil, err
	}
	if len(w.Commits) == 0 {
		return nil, fmt.Errorf("%w: %s is at %s, which the receiver already holds (%s)", ErrNothingNew, branch, short(tip), from)
	}

	// Reserve the sequence number before anything leaves: a crash after
	// this costs a gap in the sequence, never a number used twice.
	rec := state.created(branch)
	if rec == nil {
		state.Created = append(state.Created, CreatedRecord{Branch: branch})
		rec = &state.Created[len(state.Created)-1]
	}
	rec.Sequence++
	rec.Time = now().UTC()
	if err := state.save(statePath); err != nil {
		return nil, err
	}

	wr, err := writeBundle(r.st, o.Out, plumbing.NewBranchReferenceName(branch), tip, w)
	if err != nil {
		return nil, err
	}
	m := Manifest{
		APIVersion:    trust.APIVersion,
		Kind:          ManifestKind,
		Type:          typ,
		Origin:        state.Origin,
		Branch:        branch,
		Cluster:       o.Cluster,
		Sequence:      rec.Sequence,
		Tip:           tip.String(),
		Prerequisites: []string{},
		Commits:       len(w.Commits),
		Bundle:        wr.Digest,
		Created:       now().UTC().Truncate(time.Second),
	}
	for _, b := range w.Boundary {
		m.Prerequisites = append(m.Prerequisites, b.Hash.String())
	}
	if typ == Fleet && o.Cluster != "" {
		m.StatusAcknowledged = state.acknowledged(o.Cluster)
	}
	data, err := m.Sign(o.Key, now())
	if err != nil {
		return nil, err
	}
	manifestPath := o.Out + ManifestSuffix
	if err := atomicfile.WriteFile(manifestPath, data, 0o644); err != nil {
		return nil, err
	}
	rec.Tip = tip.String()
	if err := state.save(statePath); err != nil {
		return nil, err
	}
	return &Created{Manifest: m, Path: o.Out, ManifestPath: manifestPath, Objects: wr.Objects, Since: from}, nil
}

// chooseSince decides which commit the receiver holds, and says why:
// --since; for a fleet bundle cut for a cluster, the cluster's
// appliedCommit; for a status bundle, the status commit the hub
// acknowledged, else the tip of the previous status bundle. Zero means a
// full bundle.
func (r *repository) chooseSince(o CreateOptions, typ Type, statusBranch string, tip plumbing.Hash, state *State) (plumbing.Hash, string, error) {
	if o.Since != "" {
		h, err := r.resolve(o.Since)
		if err != nil {
			return plumbing.ZeroHash, "", err
		}
		if err := r.mustPrecede(h, tip, "--since "+o.Since); err != nil {
			return plumbing.ZeroHash, "", err
		}
		return h, "--since " + o.Since, nil
	}
	if typ == Fleet {
		if o.Cluster == "" {
			return plumbing.ZeroHash, "a full bundle: no --cluster or --since given", nil
		}
		h, err := r.appliedCommit(statusBranch, o.Cluster)
		if err != nil {
			return plumbing.ZeroHash, "", err
		}
		from := fmt.Sprintf("appliedCommit of cluster %s on %s", o.Cluster, statusBranch)
		if err := r.mustPrecede(h, tip, from); err != nil {
			return plumbing.ZeroHash, "", err
		}
		return h, from, nil
	}
	for _, c := range []struct{ id, from string }{
		{state.acknowledged(o.Cluster), "the status commit the hub acknowledged"},
		{createdTip(state, statusBranch), "the tip of the previous status bundle"},
	} {
		h, ok := parseID(c.id)
		if !ok {
			continue
		}
		if _, err := r.st.EncodedObject(plumbing.CommitObject, h); err != nil {
			continue
		}
		if ok, err := isAncestor(r.st, h, tip); err != nil || !ok {
			continue
		}
		return h, c.from + " " + short(h), nil
	}
	return plumbing.ZeroHash, "a full bundle: the hub has acknowledged nothing yet", nil
}

// mustPrecede fails unless since is an ancestor of (or equal to) tip.
func (r *repository) mustPrecede(since, tip plumbing.Hash, what string) error {
	ok, err := isAncestor(r.st, since, tip)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s is %s, which is not an ancestor of the branch tip %s; the receiver could not fast-forward", what, short(since), short(tip))
	}
	return nil
}

// createdTip is the tip of the last bundle made of branch, or "".
func createdTip(s *State, branch string) string {
	if rec := s.created(branch); rec != nil {
		return rec.Tip
	}
	return ""
}

// appliedCommit reads the appliedCommit of clusters/<cluster>/status.yaml
// at the status branch's tip. The file is read leniently: only that field
// matters here, and fleet/statusbranch owns the format.
func (r *repository) appliedCommit(statusBranch, cluster string) (plumbing.Hash, error) {
	file := path.Join("clusters", cluster, "status.yaml")
	tip, ok, err := r.branchTip(statusBranch)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("repository %s has no status branch %s to read cluster %s's appliedCommit from; pass --since REV, or leave out --cluster for a full bundle", r.path, statusBranch, cluster)
	}
	c, err := object.GetCommit(r.st, tip)
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("status branch %s: %w", statusBranch, err)
	}
	f, err := c.File(file)
	if errors.Is(err, object.ErrFileNotFound) {
		return plumbing.ZeroHash, fmt.Errorf("%s has no %s: cluster %s has not reported; pass --since REV, or leave out --cluster for a full bundle", statusBranch, file, cluster)
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("%s:%s: %w", statusBranch, file, err)
	}
	if f.Size > maxStatusFile {
		return plumbing.ZeroHash, fmt.Errorf("%s:%s is %d bytes, more than %d", statusBranch, file, f.Size, maxStatusFile)
	}
	rd, err := f.Reader()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer rd.Close()
	data, err := io.ReadAll(io.LimitReader(rd, maxStatusFile))
	if err != nil {
		return plumbing.ZeroHash, err
	}
	applied, err := readAppliedCommit(statusBranch+":"+file, data)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	h, ok := parseID(applied)
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("%s:%s has no appliedCommit (a 40-hex commit id); pass --since REV", statusBranch, file)
	}
	if _, err := r.st.EncodedObject(plumbing.CommitObject, h); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("cluster %s applied %s, which is not in %s; pass --since REV", cluster, short(h), r.path)
	}
	return h, nil
}

// readAppliedCommit returns the top-level appliedCommit of a status.yaml
// named name, "" when it has none. Only that field is read: the first
// document's other fields are fleet/statusbranch's to check. Problems
// (size, syntax, an appliedCommit that is not a string) are located
// yamlfile errors.
func readAppliedCommit(name string, data []byte) (string, error) {
	docs, err := yamlfile.Documents(name, data, maxStatusFile)
	if err != nil || len(docs) == 0 || len(docs[0].Content) == 0 {
		return "", err
	}
	top := docs[0].Content[0]
	if top.Kind != yaml.MappingNode {
		return "", nil
	}
	applied := ""
	for i := 0; i+1 < len(top.Content); i += 2 {
		if top.Content[i].Value != "appliedCommit" {
			continue
		}
		var v struct {
			AppliedCommit string `json:"appliedCommit"`
		}
		one := &yaml.Node{Kind: yaml.MappingNode, Content: top.Content[i : i+2]}
		if errs := yamlfile.DecodeNode(name, one, &v, yamlfile.Options{Aliases: true}); len(errs) > 0 {
			return "", errs
		}
		applied = v.AppliedCommit
	}
	return applied, nil
}

// clock returns now, or time.Now when now is nil.
func clock(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// orDefault returns s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// short abbreviates a commit id for messages.
func short(h plumbing.Hash) string { return h.String()[:12] }
