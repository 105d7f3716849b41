package statusbranch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"

	"github.com/nodewright/nodewright/reconciler/audit"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// Names in the branch's tree.
const (
	clustersDir = "clusters"
	statusFile  = "status.yaml"
	auditFile   = "audit.jsonl"
)

// errMissingObject says the local object cache lacks an object the build
// needs (the branch was reset to an older commit): fetch afresh.
var errMissingObject = errors.New("object missing from the local cache")

// store is a small in-memory object store holding the objects of the
// branch tip a Writer builds on: the tip commit, the root and clusters
// trees, the cluster's own tree and audit.jsonl. Everything else the tip
// reaches stays on the server.
type store struct {
	*memory.Storage
}

func newStore() store { return store{memory.NewStorage()} }

func (s store) put(typ plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	obj := s.NewEncodedObject()
	obj.SetType(typ)
	obj.SetSize(int64(len(data)))
	w, err := obj.Writer()
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if _, err := w.Write(data); err != nil {
		return plumbing.ZeroHash, err
	}
	if err := w.Close(); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

func (s store) read(typ plumbing.ObjectType, h plumbing.Hash) ([]byte, error) {
	obj, err := s.EncodedObject(typ, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("%s %s: %w", typ, h, errMissingObject)
	}
	if err != nil {
		return nil, err
	}
	r, err := obj.Reader()
	if err != nil {
		return nil, err
	}
	defer func() { _ = r.Close() }()
	return io.ReadAll(r)
}

func (s store) tree(h plumbing.Hash) ([]object.TreeEntry, error) {
	obj, err := s.EncodedObject(plumbing.TreeObject, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		return nil, fmt.Errorf("tree %s: %w", h, errMissingObject)
	}
	if err != nil {
		return nil, err
	}
	var t object.Tree
	if err := t.Decode(obj); err != nil {
		return nil, err
	}
	return t.Entries, nil
}

func (s store) putTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	sortEntries(entries)
	obj := s.NewEncodedObject()
	t := object.Tree{Entries: entries}
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, err
	}
	return s.SetEncodedObject(obj)
}

// copyTo copies the objects hs from s into dst.
func (s store) copyTo(dst store, hs ...plumbing.Hash) error {
	for _, h := range hs {
		if h.IsZero() {
			continue
		}
		obj, err := s.EncodedObject(plumbing.AnyObject, h)
		if err != nil {
			return fmt.Errorf("%s: %w", h, err)
		}
		if _, err := dst.SetEncodedObject(obj); err != nil {
			return err
		}
	}
	return nil
}

// sortEntries sorts tree entries as git does: by name, a tree's name
// compared as if it ended in "/".
func sortEntries(es []object.TreeEntry) {
	key := func(e object.TreeEntry) string {
		if e.Mode == filemode.Dir {
			return e.Name + "/"
		}
		return e.Name
	}
	sort.Slice(es, func(i, j int) bool { return key(es[i]) < key(es[j]) })
}

func findEntry(es []object.TreeEntry, name string) (object.TreeEntry, bool) {
	for _, e := range es {
		if e.Name == name {
			return e, true
		}
	}
	return object.TreeEntry{}, false
}

// setEntry returns es with name set to (mode, h), replacing an entry of
// that name.
func setEntry(es []object.TreeEntry, name string, mode filemode.FileMode, h plumbing.Hash) []object.TreeEntry {
	out := make([]object.TreeEntry, 0, len(es)+1)
	for _, e := range es {
		if e.Name != name {
			out = append(out, e)
		}
	}
	return append(out, object.TreeEntry{Name: name, Mode: mode, Hash: h})
}

// head is what a build knows of the branch: the tip and the part of its
// tree the cluster's commits change.
type head struct {
	commit   plumbing.Hash // zero before the branch exists
	root     []object.TreeEntry
	clusters []object.TreeEntry
	own      []object.TreeEntry
	// status is the blob id of status.yaml, zero when absent.
	status plumbing.Hash
	// audit is audit.jsonl's content and chainHead its last record.
	audit      []byte
	auditBlob  plumbing.Hash
	chainHead  v1.AuditLog
	auditLines int
}

// readHead reads the part of commit's tree a build needs from s.
func readHead(s store, commit plumbing.Hash, cluster string) (*head, error) {
	h := &head{commit: commit}
	if commit.IsZero() {
		return h, nil
	}
	raw, err := s.read(plumbing.CommitObject, commit)
	if err != nil {
		return nil, err
	}
	rootHash, err := commitTree(raw)
	if err != nil {
		return nil, fmt.Errorf("commit %s: %w", commit, err)
	}
	if h.root, err = s.tree(rootHash); err != nil {
		return nil, err
	}
	e, ok := findEntry(h.root, clustersDir)
	if !ok {
		return h, nil
	}
	if e.Mode != filemode.Dir {
		return nil, fmt.Errorf("commit %s: %s is not a directory", commit, clustersDir)
	}
	if h.clusters, err = s.tree(e.Hash); err != nil {
		return nil, err
	}
	e, ok = findEntry(h.clusters, cluster)
	if !ok {
		return h, nil
	}
	if e.Mode != filemode.Dir {
		return nil, fmt.Errorf("commit %s: %s/%s is not a directory", commit, clustersDir, cluster)
	}
	if h.own, err = s.tree(e.Hash); err != nil {
		return nil, err
	}
	if e, ok := findEntry(h.own, statusFile); ok {
		h.status = e.Hash
	}
	if e, ok := findEntry(h.own, auditFile); ok {
		if h.audit, err = s.read(plumbing.BlobObject, e.Hash); err != nil {
			return nil, err
		}
		h.auditBlob = e.Hash
		if err := h.readChainHead(cluster); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// readChainHead parses the last line of audit.jsonl, the record new ones
// must continue from.
func (h *head) readChainHead(cluster string) error {
	body := bytes.TrimRight(h.audit, "\n")
	if len(body) == 0 {
		return nil
	}
	h.auditLines = bytes.Count(body, []byte("\n")) + 1
	last := body[bytes.LastIndexByte(body, '\n')+1:]
	name := fmt.Sprintf("%s/%s/%s", clustersDir, cluster, auditFile)
	recs, err := audit.ParseJSONL(name, bytes.NewReader(last))
	switch {
	case err != nil:
	case len(recs) != 1:
		err = fmt.Errorf("expected one record, read %d", len(recs))
	default:
		err = audit.Verify(recs)
	}
	if err != nil {
		return fmt.Errorf("%s line %d on the branch is not a valid audit record, refusing to append: %w", name, h.auditLines, err)
	}
	h.chainHead = v1.AuditLog{Seq: recs[0].Seq, Hash: recs[0].Hash}
	return nil
}

// commitTree returns the tree id of a raw commit.
func commitTree(raw []byte) (plumbing.Hash, error) {
	line, _, _ := bytes.Cut(raw, []byte("\n"))
	id, ok := bytes.CutPrefix(line, []byte("tree "))
	if !ok || !plumbing.IsHash(string(id)) {
		return plumbing.ZeroHash, errors.New("no tree header")
	}
	return plumbing.NewHash(string(id)), nil
}

// identity is the author and committer of a cluster's commits.
type identity struct{ name, email string }

func clusterIdentity(cluster string) identity {
	return identity{name: "nodewright-" + cluster, email: cluster + "@nodewright.invalid"}
}

// build applies updates one commit each on top of h, skipping those that
// change nothing. It returns the new head, the commits made and every
// object written (to push).
type build struct {
	s       store
	cluster string
	budget  int
	signer  Signer
	who     identity
	now     time.Time

	objects []plumbing.Hash
	commits int
}

// apply makes the commit for u on top of h, or returns h unchanged when u
// changes nothing.
func (b *build) apply(h *head, u update) (*head, error) {
	st := u.Status
	if st.Cluster == "" {
		st.Cluster = b.cluster
	}
	statusYAML, _, err := EncodeStatus(st, b.budget)
	if err != nil {
		return nil, err
	}
	var fresh []v1.AuditRecord
	for _, r := range u.Records {
		if r.Seq > h.chainHead.Seq {
			fresh = append(fresh, r)
		}
	}
	auditName := fmt.Sprintf("%s/%s/%s", clustersDir, b.cluster, auditFile)
	if len(fresh) > 0 {
		if h.chainHead.Seq > 0 {
			err = audit.VerifyFrom(h.chainHead, fresh)
		} else {
			err = audit.Verify(fresh)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: the new records do not continue the chain on the branch (last seq %d): %w", auditName, h.chainHead.Seq, err)
		}
	}
	statusBlob := plumbing.ComputeHash(plumbing.BlobObject, statusYAML)
	if statusBlob == h.status && len(fresh) == 0 {
		return h, nil
	}

	next := *h
	own := h.own
	if statusBlob != h.status {
		if _, err := b.put(plumbing.BlobObject, statusYAML); err != nil {
			return nil, err
		}
		own = setEntry(own, statusFile, filemode.Regular, statusBlob)
		next.status = statusBlob
	}
	if len(fresh) > 0 {
		lines, err := encodeRecords(fresh)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", auditName, err)
		}
		body := bytes.TrimRight(h.audit, "\n")
		content := make([]byte, 0, len(body)+1+len(lines))
		content = append(content, body...)
		if len(body) > 0 {
			content = append(content, '\n')
		}
		content = append(content, lines...)
		blob, err := b.put(plumbing.BlobObject, content)
		if err != nil {
			return nil, err
		}
		own = setEntry(own, auditFile, filemode.Regular, blob)
		next.audit, next.auditBlob = content, blob
		last := fresh[len(fresh)-1]
		next.chainHead = v1.AuditLog{Seq: last.Seq, Hash: last.Hash}
		next.auditLines = h.auditLines + len(fresh)
	}
	ownHash, err := b.putTree(own)
	if err != nil {
		return nil, err
	}
	clusters := setEntry(h.clusters, b.cluster, filemode.Dir, ownHash)
	clustersHash, err := b.putTree(clusters)
	if err != nil {
		return nil, err
	}
	root := setEntry(h.root, clustersDir, filemode.Dir, clustersHash)
	rootHash, err := b.putTree(root)
	if err != nil {
		return nil, err
	}
	msg := commitMessage(b.cluster, statusBlob != h.status, fresh)
	commit, err := b.commit(rootHash, h.commit, u.Queued, msg)
	if err != nil {
		return nil, err
	}
	next.commit, next.root, next.clusters, next.own = commit, root, clusters, own
	return &next, nil
}

func (b *build) put(typ plumbing.ObjectType, data []byte) (plumbing.Hash, error) {
	h, err := b.s.put(typ, data)
	if err == nil {
		b.objects = append(b.objects, h)
	}
	return h, err
}

func (b *build) putTree(es []object.TreeEntry) (plumbing.Hash, error) {
	h, err := b.s.putTree(es)
	if err == nil {
		b.objects = append(b.objects, h)
	}
	return h, err
}

// commit writes a signed commit object laid out byte for byte as `git
// commit -S` writes one: the gpgsig header after committer, each line of
// the armored signature after the first indented by one space.
func (b *build) commit(tree, parent plumbing.Hash, authored time.Time, msg string) (plumbing.Hash, error) {
	if authored.IsZero() {
		authored = b.now
	}
	var hdr bytes.Buffer
	fmt.Fprintf(&hdr, "tree %s\n", tree)
	if !parent.IsZero() {
		fmt.Fprintf(&hdr, "parent %s\n", parent)
	}
	fmt.Fprintf(&hdr, "author %s <%s> %d +0000\n", b.who.name, b.who.email, authored.Unix())
	fmt.Fprintf(&hdr, "committer %s <%s> %d +0000\n", b.who.name, b.who.email, b.now.Unix())
	payload := append(bytes.Clone(hdr.Bytes()), '\n')
	payload = append(payload, msg...)
	sig, err := b.signer.Sign(payload, b.now)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	lines := strings.Split(strings.TrimRight(string(sig), "\n"), "\n")
	hdr.WriteString("gpgsig " + strings.Join(lines, "\n ") + "\n")
	hdr.WriteByte('\n')
	hdr.WriteString(msg)
	h, err := b.put(plumbing.CommitObject, hdr.Bytes())
	if err == nil {
		b.commits++
	}
	return h, err
}

// commitMessage says what a commit carries, with a trailer naming the
// cluster for tools that read the log.
func commitMessage(cluster string, statusChanged bool, records []v1.AuditRecord) string {
	var parts []string
	if statusChanged {
		parts = append(parts, "status")
	}
	if n := len(records); n > 0 {
		rng := strconv.FormatInt(records[0].Seq, 10)
		if n > 1 {
			rng += "-" + strconv.FormatInt(records[n-1].Seq, 10)
		}
		parts = append(parts, "audit "+rng)
	}
	return fmt.Sprintf("%s: %s\n\nNodewright-Cluster: %s\n", cluster, strings.Join(parts, ", "), cluster)
}

// encodeRecords writes records as audit.jsonl lines, as encoding/json
// writes AuditRecord, and checks that each reads back with the same hash.
func encodeRecords(records []v1.AuditRecord) ([]byte, error) {
	var buf bytes.Buffer
	for _, r := range records {
		line, err := json.Marshal(r)
		if err != nil {
			return nil, fmt.Errorf("encode seq %d: %w", r.Seq, err)
		}
		back, err := audit.ParseJSONL("record", bytes.NewReader(line))
		if err != nil {
			return nil, fmt.Errorf("seq %d does not read back: %w", r.Seq, err)
		}
		if len(back) != 1 {
			return nil, fmt.Errorf("seq %d does not read back: %d records", r.Seq, len(back))
		}
		if audit.Hash(back[0]) != r.Hash {
			return nil, fmt.Errorf("seq %d does not survive a JSON round trip (its time or text cannot be represented)", r.Seq)
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}
