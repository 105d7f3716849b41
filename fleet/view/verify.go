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

	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/fleet/clusters"
	"github.com/nodewright/nodewright/reconciler/audit"
	"github.com/nodewright/nodewright/schema/v1alpha1"
	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/reason"
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
	seen := map[plumbing.Hash]bool{v.r.Tip: true}
	type frame struct {
		c    *commit
		next int
	}
	root, err := v.r.commit(v.r.Tip)
	if err != nil {
		return nil, err
	}
	stack := []frame{{c: root}}
	var out []*commit
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		if top.next < len(top.c.Parents) {
			p := top.c.Parents[top.next]
			top.next++
			if seen[p] {
				continue
			}
			seen[p] = true
			pc, err := v.r.commit(p)
			if err != nil {
				return nil, err
			}
			stack = append(stack, frame{c: pc})
			continue
		}
		out = append(out, top.c)
		stack = stack[:len(stack)-1]
	}
	return out, nil
}

// changes are what a commit introduces: the cluster directories whose
// content differs from every parent's, and other paths that do.
type changes struct {
	clusters map[string]plumbing.Hash // cluster -> its new directory tree (zero when removed)
	stray    []string
}

// introduced compares a tree's entries with each parent tree's and returns
// the names whose entry differs from all of them (present or removed).
func introduced(cur []entry, parents [][]entry) []string {
	names := map[string]bool{}
	for _, e := range cur {
		names[e.name] = true
	}
	for _, p := range parents {
		for _, e := range p {
			names[e.name] = true
		}
	}
	var out []string
	for name := range names {
		ce, cok := find(cur, name)
		same := false
		if len(parents) == 0 {
			same = !cok
		}
		for _, p := range parents {
			pe, pok := find(p, name)
			if cok == pok && (!cok || (ce.hash == pe.hash && ce.mode == pe.mode)) {
				same = true
				break
			}
		}
		if !same {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// subtree returns the entries of the directory name in entries (nil when
// it is missing or not a directory).
func (v *verifier) subtree(entries []entry, name string) ([]entry, plumbing.Hash, error) {
	e, ok := find(entries, name)
	if !ok || !e.isDir() {
		return nil, plumbing.ZeroHash, nil
	}
	sub, err := v.tree(e.hash)
	return sub, e.hash, err
}

func (v *verifier) changesOf(c *commit, parents []*commit) (changes, error) {
	ch := changes{clusters: map[string]plumbing.Hash{}}
	top, err := v.tree(c.Tree)
	if err != nil {
		return ch, err
	}
	parentTops := make([][]entry, len(parents))
	for i, p := range parents {
		if parentTops[i], err = v.tree(p.Tree); err != nil {
			return ch, err
		}
	}
	for _, name := range introduced(top, parentTops) {
		if name != ClustersDir {
			ch.stray = append(ch.stray, name)
			continue
		}
		cur, _, err := v.subtree(top, ClustersDir)
		if err != nil {
			return ch, err
		}
		if e, ok := find(top, ClustersDir); ok && !e.isDir() {
			ch.stray = append(ch.stray, ClustersDir)
		}
		var ps [][]entry
		for _, pt := range parentTops {
			sub, _, err := v.subtree(pt, ClustersDir)
			if err != nil {
				return ch, err
			}
			ps = append(ps, sub)
		}
		for _, cname := range introduced(cur, ps) {
			e, ok := find(cur, cname)
			wasDir := false
			for _, p := range ps {
				if pe, ok := find(p, cname); ok && pe.isDir() {
					wasDir = true
				}
			}
			isDir := ok && e.isDir()
			switch {
			case isDir:
				ch.clusters[cname] = e.hash
			case wasDir: // removed, or replaced by a file
				ch.clusters[cname] = plumbing.ZeroHash
			}
			if ok && !isDir {
				ch.stray = append(ch.stray, ClustersDir+"/"+cname)
			}
		}
	}
	return ch, nil
}

// describeCommit names a commit for messages: short id and subject.
func describeCommit(c *commit) string {
	subject := c.Subject()
	if len(subject) > 60 {
		subject = subject[:60] + "..."
	}
	return fmt.Sprintf("commit %s (%q)", c.Short(), subject)
}

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
		ch, err := v.changesOf(c, parents)
		if err != nil {
			return err
		}
		if len(ch.clusters) == 0 && len(ch.stray) == 0 {
			continue
		}
		if err := v.judge(c, parents, ch); err != nil {
			return err
		}
	}
	return nil
}

// judge checks one commit that changes something.
func (v *verifier) judge(c *commit, parents []*commit, ch changes) error {
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
		if err := v.appendOnly(c, parents, name, ch.clusters[name]); err != nil {
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
	sig := bytes.TrimSpace(c.Signature)
	if !bytes.HasPrefix(sig, []byte("-----BEGIN PGP SIGNATURE-----")) {
		return c.Time
	}
	block, err := armor.Decode(bytes.NewReader(sig))
	if err != nil {
		return c.Time
	}
	p, err := packet.Read(block.Body)
	if s, ok := p.(*packet.Signature); err == nil && ok && !s.CreationTime.IsZero() {
		return s.CreationTime
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

// parentDir returns the cluster's directory tree in commit p (zero when
// it has none).
func (v *verifier) parentDir(p *commit, name string) (plumbing.Hash, error) {
	top, err := v.tree(p.Tree)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	sub, _, err := v.subtree(top, ClustersDir)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if e, ok := find(sub, name); ok && e.isDir() {
		return e.hash, nil
	}
	return plumbing.ZeroHash, nil
}

// appendOnly checks that commit c's audit.jsonl of cluster name extends
// the version of every parent that has one, and records its growth.
func (v *verifier) appendOnly(c *commit, parents []*commit, name string, dir plumbing.Hash) error {
	newBlob, err := v.auditBlob(dir)
	if err != nil {
		return err
	}
	var newData []byte
	if !newBlob.IsZero() {
		if newData, err = v.r.read(plumbing.BlobObject, newBlob); err != nil {
			return err
		}
	}
	file := auditPath(name)
	for _, p := range parents {
		pdir, err := v.parentDir(p, name)
		if err != nil {
			return err
		}
		oldBlob, err := v.auditBlob(pdir)
		if err != nil {
			return err
		}
		if oldBlob.IsZero() || oldBlob == newBlob {
			continue
		}
		oldData, err := v.r.read(plumbing.BlobObject, oldBlob)
		if err != nil {
			return err
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
		if err := audit.VerifyFrom(v1alpha1.AuditLog{}, recs); err != nil {
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
