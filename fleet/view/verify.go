package view

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/fleet/clusters"
	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/revwalk"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// Reason codes of audit verification. They surface as REJECTED lines of
// nodewright audit verify, one per broken cluster, naming its first broken
// link.
const (
	// AuditBroken surfaces when a cluster's audit.jsonl does not verify:
	// a line that cannot be parsed, a record whose hash does not match its
	// content, a seq or prev that does not follow the record before it
	// (a line tampered with, reordered or deleted), a record naming
	// another cluster, or a status commit that rewrote or removed lines
	// an earlier commit had written (an audit log may only grow).
	AuditBroken reason.Code = "AuditBroken"
	// StatusSignature surfaces when a commit changes a cluster's directory
	// without a valid signature by one of that cluster's keys: unsigned,
	// an unknown key, a signature that does not verify, another cluster's
	// key, or a cluster .nodewright/clusters.yaml does not list.
	StatusSignature reason.Code = "StatusSignature"
	// StatusScope surfaces when a cluster's validly signed commit changes
	// anything outside its own directory clusters/<cluster>/: another
	// cluster's directory or a path outside clusters/.
	StatusScope reason.Code = "StatusScope"
	// StatusRollback surfaces when a commit that does not write a
	// cluster's directory itself (a merge, or a commit whose tree is an
	// older one's) takes it from a parent whose report is older than
	// another parent's: the status shown would go back in time.
	StatusRollback reason.Code = "StatusRollback"
	// StatusMissing surfaces when .nodewright/clusters.yaml lists a
	// cluster that has no directory at the status branch's tip: it has
	// never reported there, or the branch was replaced by a history
	// without it.
	StatusMissing reason.Code = "StatusMissing"
)

// VerifyOptions says what Verify checks.
type VerifyOptions struct {
	// Cluster, when set, checks only that cluster's chain and the commits
	// that change its directory.
	Cluster string
	// Keys are the cluster keys; nil reads .nodewright/clusters.yaml at
	// the fleet branch's tip with LoadKeys.
	Keys *clusters.Keys
	// TrustRoot, when set, verifies the fleet branch against it (as
	// nodewright verify does, from the start of its history) before its
	// cluster keys are believed; a refused fleet branch ends verification
	// with the source's refusals as problems.
	TrustRoot *trust.Policy
}

// Report is what Verify found.
type Report struct {
	Repo        string `json:"repo"`
	Branch      string `json:"branch"`
	Commit      string `json:"commit"`
	FleetBranch string `json:"fleetBranch"`
	FleetCommit string `json:"fleetCommit"`
	// Commits counts the status-branch commits examined.
	Commits int `json:"commits"`
	// Clusters are the clusters checked, by name.
	Clusters []ClusterAudit `json:"clusters"`
	// Problems are the first broken link of each broken cluster (by
	// cluster name), then the first problem not tied to a cluster.
	Problems []Problem `json:"problems"`
}

// Intact reports whether nothing is broken.
func (r *Report) Intact() bool { return len(r.Problems) == 0 }

// ClusterAudit is one cluster's verification result.
type ClusterAudit struct {
	Name string `json:"name"`
	// Listed is true when .nodewright/clusters.yaml lists the cluster.
	Listed bool `json:"listed"`
	// Commits counts the commits that changed its directory.
	Commits int `json:"commits"`
	// Records counts the records of its audit.jsonl at the tip, and Head
	// is the newest one's hash.
	Records int    `json:"records"`
	Head    string `json:"head,omitempty"`
	// Intact is false when Broken is set.
	Intact bool `json:"intact"`
	// Broken is the cluster's first broken link.
	Broken *Problem `json:"broken,omitempty"`
}

// KeysFile names the cluster keys file at the fleet branch in messages,
// as "<branch>:.nodewright/clusters.yaml".
func (r *Repo) KeysFile() string { return r.FleetBranch + ":" + clusters.Path }

// LoadKeys reads and parses .nodewright/clusters.yaml at the fleet
// branch's tip.
func LoadKeys(r *Repo) (*clusters.Keys, error) {
	if r.FleetTip.IsZero() {
		if r.FleetErr != nil {
			return nil, r.FleetErr
		}
		return nil, fmt.Errorf("%s: no fleet branch %s", r.Name, r.FleetBranch)
	}
	c, err := r.commit(r.FleetTip)
	if err != nil {
		return nil, err
	}
	top, err := r.tree(c.Tree)
	if err != nil {
		return nil, err
	}
	missing := fmt.Errorf("%s: no %s at %s (%s): the cluster keys are needed to check status signatures", r.Name, clusters.Path, r.FleetBranch, c.Short())
	dir, ok := find(top, ".nodewright")
	if !ok || !dir.isDir() {
		return nil, missing
	}
	entries, err := r.tree(dir.hash)
	if err != nil {
		return nil, err
	}
	f, ok := find(entries, "clusters.yaml")
	if !ok || f.isDir() {
		return nil, missing
	}
	data, err := r.read(plumbing.BlobObject, f.hash)
	if err != nil {
		return nil, err
	}
	return clusters.Parse(r.KeysFile(), data)
}

// Verify checks the status branch: that every commit changing
// clusters/<c>/ is signed by a key of cluster c and changes nothing
// outside that directory, that no commit rewrites or removes audit lines
// an earlier one wrote, and that each cluster's audit.jsonl at the tip is
// one hash chain from seq 1 whose records name the cluster. Commits are
// judged oldest first (parents before children), with signatures checked
// at the committer time. Each cluster reports its first broken link only.
// An error means the repository or the keys could not be read.
func Verify(r *Repo, o VerifyOptions) (*Report, error) {
	rep := &Report{Repo: r.Name, Branch: r.Branch, Commit: r.Tip.String(), FleetBranch: r.FleetBranch,
		Clusters: []ClusterAudit{}, Problems: []Problem{}}
	if !r.FleetTip.IsZero() {
		rep.FleetCommit = r.FleetTip.String()
	}
	if o.TrustRoot != nil {
		if r.FleetTip.IsZero() {
			return nil, fmt.Errorf("%s: no fleet branch %s to verify against the trust root", r.Name, r.FleetBranch)
		}
		v := &source.Verifier{Root: o.TrustRoot, Store: r.store}
		res, err := v.Verify(plumbing.ZeroHash, r.FleetTip)
		if err != nil {
			return nil, err
		}
		if !res.Accepted() {
			for _, ref := range res.Refusals {
				rep.Problems = append(rep.Problems, Problem{Code: ref.Code, Commit: ref.Commit,
					Message: fmt.Sprintf("fleet branch %s: %s; its cluster keys are not believed", r.FleetBranch, ref.Message)})
			}
			return rep, nil
		}
	}
	keys := o.Keys
	if keys == nil {
		var err error
		if keys, err = LoadKeys(r); err != nil {
			return nil, err
		}
	}
	v := &verifier{r: r, keys: keys, only: o.Cluster, rep: rep, trees: map[plumbing.Hash][]entry{},
		clusters: map[string]*clusterState{}}
	if err := v.walk(); err != nil {
		return nil, err
	}
	if err := v.checkTip(); err != nil {
		return nil, err
	}
	v.finish()
	return rep, nil
}

// clusterState is what the walk learns about one cluster.
type clusterState struct {
	audit   ClusterAudit
	broken  bool
	growth  []growth // how its audit.jsonl grew, oldest first
	present bool     // has a directory at the tip
}

// growth records that commit left audit.jsonl with lines lines.
type growth struct {
	commit *commit
	lines  int
}

type verifier struct {
	r        *Repo
	keys     *clusters.Keys
	only     string
	rep      *Report
	trees    map[plumbing.Hash][]entry
	clusters map[string]*clusterState
	fleetBad bool // a problem not tied to a cluster was reported
}

func (v *verifier) state(name string) *clusterState {
	s, ok := v.clusters[name]
	if !ok {
		s = &clusterState{audit: ClusterAudit{Name: name}}
		_, s.audit.Listed = v.keys.Cluster(name)
		v.clusters[name] = s
	}
	return s
}

// tree reads a tree through a small cache: consecutive commits share most
// of their trees.
func (v *verifier) tree(h plumbing.Hash) ([]entry, error) {
	if e, ok := v.trees[h]; ok {
		return e, nil
	}
	e, err := v.r.tree(h)
	if err != nil {
		return nil, err
	}
	if len(v.trees) > 256 {
		clear(v.trees)
	}
	v.trees[h] = e
	return e, nil
}

// order returns every commit reachable from the tip, parents before
// children (a depth-first post-order over parents in order).
func (v *verifier) order() ([]*commit, error) {
	return revwalk.All(func(h plumbing.Hash) (revwalk.Commit[*commit], error) {
		c, err := v.r.commit(h)
		if err != nil {
			return revwalk.Commit[*commit]{}, err
		}
		return revwalk.Commit[*commit]{Object: c, Parents: c.Parents, Time: c.Time}, nil
	}, []plumbing.Hash{v.r.Tip})
}

// changes are what a commit introduces: the cluster directories whose
// content differs from every parent's, and other paths that do.
type changes struct {
	clusters map[string]plumbing.Hash // cluster -> its new directory tree (zero when removed)
	stray    []string
}

// diffNames calls fn with the name of every entry that is in one of two
// trees in git order but not, or not the same, in the other: one merge
// pass, so a tree of many clusters costs its length, not its square. A
// name that is a file in one and a directory in the other is reported
// twice.
func diffNames(a, b []entry, fn func(name string)) {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case j == len(b):
			fn(a[i].name)
			i++
		case i == len(a):
			fn(b[j].name)
			j++
		default:
			switch c := gitCompare(a[i], b[j]); {
			case c < 0:
				fn(a[i].name)
				i++
			case c > 0:
				fn(b[j].name)
				j++
			default:
				if a[i].hash != b[j].hash || a[i].mode != b[j].mode {
					fn(a[i].name)
				}
				i++
				j++
			}
		}
	}
}

// edges are the names a commit's tree changes against each parent: for
// each name, the parents whose entry differs. A root commit has one edge,
// from the empty tree.
type edges struct {
	n     int // parents (1 for a root commit)
	names map[string][]int
	order []string // names in first-seen order, sorted before use
}

func newEdges(parents int) *edges {
	return &edges{n: max(parents, 1), names: map[string][]int{}}
}

func (d *edges) add(name string, edge int) {
	es, seen := d.names[name]
	if !seen {
		d.order = append(d.order, name)
	}
	if len(es) == 0 || es[len(es)-1] != edge {
		d.names[name] = append(es, edge)
	}
}

// introduced reports whether name differs from every parent: content the
// commit brings in itself rather than takes from one of its parents.
func (d *edges) introduced(name string) bool { return len(d.names[name]) == d.n }

// sorted returns the changed names in order.
func (d *edges) sorted() []string {
	slices.Sort(d.order)
	return d.order
}

// diff fills the edges of cur against each parent tree (a nil tree for
// a root commit's one edge).
func diff(cur []entry, parents [][]entry) *edges {
	d := newEdges(len(parents))
	if len(parents) == 0 {
		diffNames(cur, nil, func(name string) { d.add(name, 0) })
		return d
	}
	for i, p := range parents {
		diffNames(cur, p, func(name string) { d.add(name, i) })
	}
	return d
}

// subtree returns the entries of the directory name in entries (nil when
// it is missing or not a directory).
func (v *verifier) subtree(entries []entry, name string) ([]entry, error) {
	e, ok := find(entries, name)
	if !ok || !e.isDir() {
		return nil, nil
	}
	return v.tree(e.hash)
}

// dirOf returns the tree of the directory name in entries, or zero.
func dirOf(entries []entry, name string) plumbing.Hash {
	if e, ok := find(entries, name); ok && e.isDir() {
		return e.hash
	}
	return plumbing.ZeroHash
}

// commitDiff is what one commit changes against its parents: at the top
// level and in clusters/.
type commitDiff struct {
	top, clusters  *edges
	cur            []entry   // the commit's clusters/ entries
	parents        [][]entry // each parent's clusters/ entries, read when clusters/ changed
	parentCommits  []*commit
	clustersIsFile bool // the commit's clusters is not a directory
}

func (v *verifier) diffOf(c *commit, parents []*commit) (*commitDiff, error) {
	top, err := v.tree(c.Tree)
	if err != nil {
		return nil, err
	}
	parentTops := make([][]entry, len(parents))
	for i, p := range parents {
		if parentTops[i], err = v.tree(p.Tree); err != nil {
			return nil, err
		}
	}
	d := &commitDiff{top: diff(top, parentTops), parentCommits: parents}
	if e, ok := find(top, ClustersDir); ok && !e.isDir() {
		d.clustersIsFile = true
	}
	if d.cur, err = v.subtree(top, ClustersDir); err != nil {
		return nil, err
	}
	d.parents = make([][]entry, len(parents))
	if _, changed := d.top.names[ClustersDir]; !changed {
		d.clusters = newEdges(len(parents))
		return d, nil
	}
	for i, pt := range parentTops {
		if d.parents[i], err = v.subtree(pt, ClustersDir); err != nil {
			return nil, err
		}
	}
	d.clusters = diff(d.cur, d.parents)
	return d, nil
}

// introducedChanges are the changes the commit makes itself, which must
// be signed by the cluster whose directory they are in.
func (d *commitDiff) introducedChanges() changes {
	ch := changes{clusters: map[string]plumbing.Hash{}}
	for _, name := range d.top.sorted() {
		if !d.top.introduced(name) {
			continue
		}
		if name != ClustersDir {
			ch.stray = append(ch.stray, name)
		} else if d.clustersIsFile {
			ch.stray = append(ch.stray, ClustersDir)
		}
	}
	for _, name := range d.clusters.sorted() {
		if !d.clusters.introduced(name) {
			continue
		}
		e, ok := find(d.cur, name)
		wasDir := false
		for _, p := range d.parents {
			if !dirOf(p, name).IsZero() {
				wasDir = true
			}
		}
		switch {
		case ok && e.isDir():
			ch.clusters[name] = e.hash
		case wasDir: // removed, or replaced by a file
			ch.clusters[name] = plumbing.ZeroHash
		}
		if ok && !e.isDir() {
			ch.stray = append(ch.stray, ClustersDir+"/"+name)
		}
	}
	return ch
}

// describeCommit names a commit for messages: short id and subject.
func describeCommit(c *commit) string {
	subject := c.Subject()
	if len(subject) > 60 {
		subject = subject[:60] + "..."
	}
	return fmt.Sprintf("commit %s (%q)", c.Short(), subject)
}

// walk judges every commit reachable from the tip, parents before
// children, merges and commits that change nothing included: what a
// commit brings in itself must be signed and scoped (judge), and on every
// edge from a parent each cluster's records must survive (keepRecords).
func (v *verifier) walk() error {
	commits, err := v.order()
	if err != nil {
		return err
	}
	byID := make(map[plumbing.Hash]*commit, len(commits))
	for _, c := range commits {
		byID[c.ID] = c
	}
	v.rep.Commits = len(commits)
	for _, c := range commits {
		parents := make([]*commit, len(c.Parents))
		for i, p := range c.Parents {
			parents[i] = byID[p]
		}
		d, err := v.diffOf(c, parents)
		if err != nil {
			return err
		}
		if ch := d.introducedChanges(); len(ch.clusters) > 0 || len(ch.stray) > 0 {
			if err := v.judge(c, d, ch); err != nil {
				return err
			}
		}
		if err := v.keepRecords(c, d); err != nil {
			return err
		}
	}
	return nil
}

// judge checks one commit that changes something.
func (v *verifier) judge(c *commit, d *commitDiff, ch changes) error {
	signer, sigErr := signature.Verify(v.keys.Keyring(), c.Payload, c.Signature, signedAt(c))
	signerName := ""
	if sigErr == nil {
		signerName = signer.Principal
	}
	touched := make([]string, 0, len(ch.clusters))
	for name := range ch.clusters {
		touched = append(touched, name)
	}
	sort.Strings(touched)
	for _, name := range touched {
		if v.only == "" || v.only == name {
			v.state(name).audit.Commits++
		}
	}

	// What the commit changes beyond the signer's own directory.
	var outside []string
	for _, name := range touched {
		if name != signerName {
			outside = append(outside, ClustersDir+"/"+name+"/")
		}
	}
	outside = append(outside, ch.stray...)

	if signerName != "" && len(outside) > 0 && (v.only == "" || v.only == signerName) {
		s := v.state(signerName)
		if !s.broken {
			v.breakLink(signerName, Problem{Code: StatusScope, Commit: c.ID.String(),
				Message: fmt.Sprintf("cluster %s: %s is signed by cluster %s's key %s but changes %s; a cluster's commits may change only its own directory clusters/%s/",
					signerName, describeCommit(c), signerName, signer.Key, strings.Join(outside, ", "), signerName)})
		}
	}
	if signerName == "" && len(ch.stray) > 0 && v.only == "" && !v.fleetBad {
		v.fleetBad = true
		v.rep.Problems = append(v.rep.Problems, Problem{Code: StatusScope, Commit: c.ID.String(),
			Message: fmt.Sprintf("%s changes %s, outside every cluster directory, and is not signed by a cluster key (%v)",
				describeCommit(c), strings.Join(ch.stray, ", "), sigErr)})
	}

	for _, name := range touched {
		if v.only != "" && v.only != name {
			continue
		}
		s := v.state(name)
		if s.broken {
			continue
		}
		dir := ClustersDir + "/" + name + "/"
		switch {
		case sigErr != nil:
			v.breakLink(name, Problem{Code: StatusSignature, Commit: c.ID.String(),
				Message: fmt.Sprintf("cluster %s: %s changes %s but %s", name, describeCommit(c), dir, sigMessage(sigErr))})
			continue
		case !s.audit.Listed:
			v.breakLink(name, Problem{Code: StatusSignature, Commit: c.ID.String(),
				Message: fmt.Sprintf("cluster %s: %s changes %s, but %s lists no cluster %s, so no key may write there (signed by cluster %s's key)",
					name, describeCommit(c), dir, v.r.KeysFile(), name, signerName)})
			continue
		case signerName != name:
			v.breakLink(name, Problem{Code: StatusSignature, Commit: c.ID.String(),
				Message: fmt.Sprintf("cluster %s: %s changes %s but is signed by cluster %s's key %s, not by a key of cluster %s",
					name, describeCommit(c), dir, signerName, signer.Key, name)})
			continue
		case len(outside) > 0:
			continue // reported above as the signer's StatusScope
		}
		if err := v.appendOnly(c, d, name, ch.clusters[name]); err != nil {
			return err
		}
	}
	return nil
}

// signedAt is the time a commit's keys are judged at: when its OpenPGP
// signature says it was made, so that a cluster key that expired later
// does not void the history it signed while valid. SSH signatures carry
// no time (and SSH keys do not expire); for them, and for a signature
// that cannot be read, it is the committer time.
func signedAt(c *commit) time.Time {
	if t, ok := signature.SignatureTime(c.Signature); ok {
		return t
	}
	return c.Time
}

// sigMessage turns a signature.Verify refusal into the end of a sentence.
func sigMessage(err error) string {
	var re *reason.Error
	if errors.As(err, &re) {
		return fmt.Sprintf("its signature is refused (%s: %s)", re.Code, re.Message)
	}
	return "its signature is refused: " + err.Error()
}

func (v *verifier) breakLink(name string, p Problem) {
	s := v.state(name)
	s.broken = true
	p.Cluster = name
	s.audit.Broken = &p
}

// auditBlob returns the audit.jsonl blob in a cluster directory tree
// (zero when there is none).
func (v *verifier) auditBlob(dir plumbing.Hash) (plumbing.Hash, error) {
	if dir.IsZero() {
		return plumbing.ZeroHash, nil
	}
	entries, err := v.tree(dir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if e, ok := find(entries, AuditFile); ok && !e.isDir() {
		return e.hash, nil
	}
	return plumbing.ZeroHash, nil
}

// auditData reads the audit.jsonl of a cluster directory (nil and zero
// when there is none).
func (v *verifier) auditData(dir plumbing.Hash) ([]byte, plumbing.Hash, error) {
	blob, err := v.auditBlob(dir)
	if err != nil || blob.IsZero() {
		return nil, blob, err
	}
	data, err := v.r.read(plumbing.BlobObject, blob)
	return data, blob, err
}

// appendOnly checks that the audit.jsonl that commit c writes for cluster
// name extends the version of every parent that has one, and records its
// growth.
func (v *verifier) appendOnly(c *commit, d *commitDiff, name string, dir plumbing.Hash) error {
	newData, newBlob, err := v.auditData(dir)
	if err != nil {
		return err
	}
	file := auditPath(name)
	for _, p := range d.parents {
		oldData, oldBlob, err := v.auditData(dirOf(p, name))
		if err != nil {
			return err
		}
		if oldBlob.IsZero() || oldBlob == newBlob {
			continue
		}
		if newBlob.IsZero() {
			v.breakLink(name, Problem{Code: AuditBroken, Commit: c.ID.String(), File: file,
				Message: fmt.Sprintf("cluster %s: %s removes %s and its %d records; an audit log may only grow", name, describeCommit(c), file, countLines(oldData))})
			return nil
		}
		if !bytes.HasPrefix(newData, oldData) {
			line, seq, what := describeRewrite(oldData, newData)
			v.breakLink(name, Problem{Code: AuditBroken, Commit: c.ID.String(), File: file, Line: line, Seq: seq,
				Message: fmt.Sprintf("cluster %s: %s rewrites %s: %s; an audit log may only grow", name, describeCommit(c), file, what)})
			return nil
		}
	}
	if !newBlob.IsZero() {
		s := v.state(name)
		n := countLines(newData)
		if len(s.growth) == 0 || s.growth[len(s.growth)-1].lines < n {
			s.growth = append(s.growth, growth{commit: c, lines: n})
		}
	}
	return nil
}

// keepRecords checks the edges on which a commit (a merge, or one whose
// tree equals an older commit's) takes a cluster's directory from one
// parent rather than writing it: no signature is needed for that, since
// the content was judged where it was written, but the directory taken
// must be at least as new as every other parent's. Against each parent
// whose directory differs, the cluster's directory must still be there,
// its audit.jsonl must extend that parent's, and its report must not be
// older.
func (v *verifier) keepRecords(c *commit, d *commitDiff) error {
	for _, name := range d.clusters.sorted() {
		if d.clusters.introduced(name) || (v.only != "" && v.only != name) || v.state(name).broken {
			continue
		}
		cur := dirOf(d.cur, name)
		for _, i := range d.clusters.names[name] {
			old := dirOf(d.parents[i], name)
			if old.IsZero() {
				continue // new on this edge: taken from the parent that wrote it
			}
			p, err := v.keptFrom(c, d.parentCommits[i], name, old, cur)
			if err != nil {
				return err
			}
			if p != nil {
				v.breakLink(name, *p)
				break
			}
		}
	}
	return nil
}

// keptFrom judges one edge, from parent p's directory old to the commit's
// cur, for cluster name; it returns the problem, or nil.
func (v *verifier) keptFrom(c, p *commit, name string, old, cur plumbing.Hash) (*Problem, error) {
	file := auditPath(name)
	oldData, oldBlob, err := v.auditData(old)
	if err != nil {
		return nil, err
	}
	if cur.IsZero() {
		return &Problem{Code: AuditBroken, Commit: c.ID.String(), File: file,
			Message: fmt.Sprintf("cluster %s: %s drops %s/%s/ (and %s with its %d records) that its parent %s has; a cluster's directory may not disappear",
				name, describeCommit(c), ClustersDir, name, file, countLines(oldData), p.Short())}, nil
	}
	newData, newBlob, err := v.auditData(cur)
	if err != nil {
		return nil, err
	}
	switch {
	case oldBlob.IsZero() || oldBlob == newBlob:
	case newBlob.IsZero():
		return &Problem{Code: AuditBroken, Commit: c.ID.String(), File: file,
			Message: fmt.Sprintf("cluster %s: %s drops %s and its %d records that its parent %s has; an audit log may only grow",
				name, describeCommit(c), file, countLines(oldData), p.Short())}, nil
	case !bytes.HasPrefix(newData, oldData):
		line, seq, what := describeRewrite(oldData, newData)
		return &Problem{Code: AuditBroken, Commit: c.ID.String(), File: file, Line: line, Seq: seq,
			Message: fmt.Sprintf("cluster %s: %s takes %s/%s/ from another parent, older than its parent %s's: against that parent's %s, %s; an audit log may only grow",
				name, describeCommit(c), ClustersDir, name, p.Short(), file, what)}, nil
	}
	was, err := v.reportTime(old, name)
	if err != nil {
		return nil, err
	}
	now, err := v.reportTime(cur, name)
	if err != nil {
		return nil, err
	}
	if !was.IsZero() && !now.IsZero() && now.Before(was) {
		return &Problem{Code: StatusRollback, Commit: c.ID.String(), File: ClustersDir + "/" + name + "/" + StatusFile,
			Message: fmt.Sprintf("cluster %s: %s takes %s/%s/ back to the report of %s, older than the report of %s in its parent %s; a commit that does not write a cluster's directory may only take its newest one",
				name, describeCommit(c), ClustersDir, name, now.UTC().Format(time.RFC3339), was.UTC().Format(time.RFC3339), p.Short())}, nil
	}
	return nil, nil
}

// reportTime is the time of the status.yaml in a cluster directory; zero
// when it is missing or does not parse (the tip check reports that). An
// error means the repository could not be read.
func (v *verifier) reportTime(dir plumbing.Hash, name string) (time.Time, error) {
	entries, err := v.tree(dir)
	if err != nil {
		return time.Time{}, err
	}
	e, ok := find(entries, StatusFile)
	if !ok || e.isDir() {
		return time.Time{}, nil
	}
	data, err := v.r.read(plumbing.BlobObject, e.hash)
	if err != nil {
		return time.Time{}, err
	}
	st, err := ParseStatus(ClustersDir+"/"+name+"/"+StatusFile, name, data)
	if err != nil {
		return time.Time{}, nil
	}
	return st.Time.Time, nil
}

// countLines counts lines, a last line without newline included.
func countLines(b []byte) int {
	n := bytes.Count(b, []byte{'\n'})
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}

// describeRewrite finds the first line where newer differs from older and
// says what happened to it.
func describeRewrite(older, newer []byte) (line int, seq int64, what string) {
	ol, nl := splitLines(older), splitLines(newer)
	i := 0
	for i < len(ol) && i < len(nl) && bytes.Equal(ol[i], nl[i]) {
		i++
	}
	line = i + 1
	oldSeq, oldOK := seqOf(ol, i)
	newSeq, newOK := seqOf(nl, i)
	switch {
	case i >= len(nl):
		if len(ol)-i == 1 {
			return line, oldSeq, fmt.Sprintf("line %d (seq %d), its last line, was removed", line, oldSeq)
		}
		return line, oldSeq, fmt.Sprintf("lines %d to %d, from seq %d on, were removed", line, len(ol), oldSeq)
	case oldOK && newOK && oldSeq == newSeq:
		return line, newSeq, fmt.Sprintf("line %d (seq %d) was changed", line, newSeq)
	case oldOK && newOK:
		return line, oldSeq, fmt.Sprintf("line %d held seq %d and now holds seq %d: a record was removed or reordered", line, oldSeq, newSeq)
	}
	return line, oldSeq, fmt.Sprintf("line %d differs from the version before", line)
}

// splitLines splits b after each newline, without an empty last element.
func splitLines(b []byte) [][]byte {
	lines := bytes.SplitAfter(b, []byte{'\n'})
	if len(lines) > 0 && len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// seqOf reads the seq of line i, if it is a record.
func seqOf(lines [][]byte, i int) (int64, bool) {
	if i >= len(lines) {
		return 0, false
	}
	var r struct {
		Seq *int64 `json:"seq"`
	}
	if json.Unmarshal(lines[i], &r) != nil || r.Seq == nil {
		return 0, false
	}
	return *r.Seq, true
}

// introducedBy names the commit that wrote line n of a cluster's
// audit.jsonl.
func (s *clusterState) introducedBy(n int) string {
	for _, g := range s.growth {
		if g.lines >= n {
			return fmt.Sprintf("; the line was written by %s", describeCommit(g.commit))
		}
	}
	return ""
}

// checkTip verifies the hash chain of each cluster's audit.jsonl at the
// tip.
func (v *verifier) checkTip() error {
	tip, err := v.r.commit(v.r.Tip)
	if err != nil {
		return err
	}
	dirs, err := v.r.clusterDirs(tip.Tree)
	if err != nil {
		return err
	}
	for _, e := range dirs {
		if v.only != "" && e.name != v.only {
			continue
		}
		s := v.state(e.name)
		s.present = true
		d, err := v.r.clusterFiles(e)
		if err != nil {
			return err
		}
		if d.audit.IsZero() {
			continue
		}
		data, err := v.r.read(plumbing.BlobObject, d.audit)
		if err != nil {
			return err
		}
		file := auditPath(e.name)
		recs, err := audit.ParseJSONL(file, bytes.NewReader(data))
		if s.broken {
			s.audit.Records = len(recs)
			continue
		}
		if err != nil {
			p := Problem{Code: AuditBroken, File: file, Message: fmt.Sprintf("cluster %s: %v", e.name, err)}
			var pe *audit.ParseError
			if errors.As(err, &pe) {
				p.Line = pe.Line
				p.Message += s.introducedBy(pe.Line)
			}
			v.breakLink(e.name, p)
			continue
		}
		s.audit.Records = len(recs)
		if len(recs) > 0 {
			s.audit.Head = recs[len(recs)-1].Hash
		}
		if err := audit.VerifyFrom(v1.AuditLog{}, recs); err != nil {
			p := Problem{Code: AuditBroken, File: file, Message: fmt.Sprintf("cluster %s: %s: %v", e.name, file, err)}
			var be *audit.BrokenLinkError
			if errors.As(err, &be) {
				p.Line, p.Seq = be.Line, be.Seq
				p.Message = fmt.Sprintf("cluster %s: %s:%d (seq %d): %s%s", e.name, file, be.Line, be.Seq, be.Reason, s.introducedBy(be.Line))
			}
			v.breakLink(e.name, p)
			continue
		}
		for i, rec := range recs {
			if rec.Cluster != e.name {
				v.breakLink(e.name, Problem{Code: AuditBroken, File: file, Line: i + 1, Seq: rec.Seq,
					Message: fmt.Sprintf("cluster %s: %s:%d (seq %d): the record names cluster %q, not %s%s", e.name, file, i+1, rec.Seq, rec.Cluster, e.name, s.introducedBy(i+1))})
				break
			}
		}
	}
	return nil
}

// finish fills the report's clusters and problems in name order.
func (v *verifier) finish() {
	names := make([]string, 0, len(v.clusters))
	for name := range v.clusters {
		names = append(names, name)
	}
	for _, name := range v.keys.Names() {
		if _, ok := v.clusters[name]; !ok && (v.only == "" || v.only == name) {
			v.state(name)
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if s := v.clusters[name]; s.audit.Listed && !s.present && !s.broken {
			v.breakLink(name, Problem{Code: StatusMissing, Commit: v.r.Tip.String(),
				Message: fmt.Sprintf("cluster %s: %s lists cluster %s, but %s has no directory %s/%s/ at commit %s: it has never reported here, or the branch was replaced by a history without it",
					name, v.r.KeysFile(), name, v.r.Branch, ClustersDir, name, v.r.Tip.String()[:12])})
		}
	}
	fleetWide := v.rep.Problems
	v.rep.Problems = []Problem{}
	for _, name := range names {
		s := v.clusters[name]
		s.audit.Intact = s.audit.Broken == nil
		v.rep.Clusters = append(v.rep.Clusters, s.audit)
		if s.audit.Broken != nil {
			v.rep.Problems = append(v.rep.Problems, *s.audit.Broken)
		}
	}
	v.rep.Problems = append(v.rep.Problems, fleetWide...)
}
