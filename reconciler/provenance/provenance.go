package provenance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/nodewright/nodewright/internal/atomicfile"
	v1 "github.com/nodewright/nodewright/schema/v1alpha1"
)

// ReasonNotFromSource is the reason code of an operation whose spec
// matches nothing the reconciler applied from a verified commit.
const ReasonNotFromSource = "NotFromSource"

// FileName is the record's file in a FleetSource's state directory.
const FileName = "applied.json"

// versionsKept is how many versions of one operation the record keeps:
// the one being applied and the one before it, so that a crash between
// recording and applying, or an in-flight operation whose newer version
// waits, still matches.
const versionsKept = 2

// maxFileSize bounds what Load reads of one record file.
const maxFileSize = 64 << 20

// Version is one applied version of an operation's manifest.
type Version struct {
	// Commit is the verified fleet commit it was applied from; Path and
	// Blob name the manifest in it.
	Commit string `json:"commit"`
	Path   string `json:"path"`
	Blob   string `json:"blob"`
	// Digest is SpecDigest of the applied object.
	Digest string `json:"digest"`
	// Admission is the admission gates' verdict on it at Commit.
	Admission v1.Admission `json:"admission"`
	// Recorded is when the reconciler recorded it.
	Recorded time.Time `json:"recorded"`
	// Started is set once the operation controller let this version past
	// its admission gates (MarkStarted): only a started version may be in
	// a phase that changes the site, whatever its status says.
	Started bool `json:"started,omitempty"`
}

// file is the JSON form of one FleetSource's record.
type file struct {
	Operations map[string][]Version `json:"operations"`
}

// Ledger is the record of every FleetSource under one state directory.
// It is safe for concurrent use.
type Ledger struct {
	dir string

	mu sync.Mutex
	// sources maps namespace → FleetSource name → operation key → versions,
	// newest last.
	sources map[string]map[string]map[string][]Version
	// verified holds, per namespace, the FleetSources that in this process
	// verified their source and recorded every operation of it (Verified):
	// records read from disk match, but only that makes a miss a refusal.
	// Another process under the same state directory (a standby replica,
	// an older run) may have written the file before it recorded what it
	// applied, and a pass that began has not recorded everything yet.
	verified map[string]map[string]bool
}

// New is an empty ledger kept in memory only (tests, and a reconciler
// without a state directory).
func New() *Ledger {
	return &Ledger{sources: map[string]map[string]map[string][]Version{}, verified: map[string]map[string]bool{}}
}

// Open loads the records found under stateDir (<namespace>/<fleetsource>/
// applied.json); a missing directory is an empty ledger, and an unreadable
// record is an error naming its file.
func Open(stateDir string) (*Ledger, error) {
	if stateDir == "" {
		return nil, errors.New("provenance: no state directory")
	}
	l := New()
	l.dir = stateDir
	matches, err := filepath.Glob(filepath.Join(stateDir, "*", "*", FileName))
	if err != nil {
		return nil, err
	}
	for _, path := range matches {
		ops, err := readFile(path)
		if err != nil {
			return nil, err
		}
		source := filepath.Dir(path)
		l.sourceMap(filepath.Base(filepath.Dir(source)))[filepath.Base(source)] = ops
	}
	return l, nil
}

func readFile(path string) (map[string][]Version, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("provenance record %s: %w", path, err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("provenance record %s: %w", path, err)
	}
	if info.Size() > maxFileSize {
		return nil, fmt.Errorf("provenance record %s: %d bytes, more than the %d allowed", path, info.Size(), maxFileSize)
	}
	var doc file
	dec := json.NewDecoder(f)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("provenance record %s: %w", path, err)
	}
	if doc.Operations == nil {
		doc.Operations = map[string][]Version{}
	}
	return doc.Operations, nil
}

func (l *Ledger) sourceMap(namespace string) map[string]map[string][]Version {
	m := l.sources[namespace]
	if m == nil {
		m = map[string]map[string][]Version{}
		l.sources[namespace] = m
	}
	return m
}

// Key is an operation's key in the record: its kind and name.
func Key(kind, name string) string { return kind + "/" + name }

// Begin starts the record of FleetSource namespace/source (its file
// exists from now on). The FleetSource controller calls it once it has
// verified its source, before it records; Verified follows once every
// operation of the source is recorded.
func (l *Ledger) Begin(namespace, source string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.sourceMap(namespace)
	if _, ok := m[source]; ok {
		return nil
	}
	m[source] = map[string][]Version{}
	return l.save(namespace, source)
}

// Verified says that FleetSource namespace/source has recorded every
// operation of its verified source in this process: from now on
// operations of its namespace that match nothing are refused rather than
// waited for.
func (l *Ledger) Verified(namespace, source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.verified[namespace] == nil {
		l.verified[namespace] = map[string]bool{}
	}
	l.verified[namespace][source] = true
}

// Record adds v as the newest version of the operation kind/name applied
// by FleetSource namespace/source, keeping the version before it, and
// writes the source's record before it returns. A version with the same
// digest as a kept one replaces it (new approvals on the same manifest)
// and keeps its Started mark.
func (l *Ledger) Record(namespace, source, kind, name string, v Version) error {
	if v.Digest == "" || v.Commit == "" || v.Blob == "" {
		return fmt.Errorf("provenance: record of %s/%s %s lacks its digest, commit or blob", namespace, name, kind)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.sourceMap(namespace)
	ops := m[source]
	if ops == nil {
		ops = map[string][]Version{}
		m[source] = ops
	}
	key := Key(kind, name)
	vs := slices.DeleteFunc(slices.Clone(ops[key]), func(old Version) bool {
		if old.Digest == v.Digest {
			v.Started = v.Started || old.Started
			return true
		}
		return false
	})
	vs = append(vs, v)
	if len(vs) > versionsKept {
		vs = vs[len(vs)-versionsKept:]
	}
	ops[key] = vs
	return l.save(namespace, source)
}

// Known reports whether any FleetSource of namespace records a version of
// the operation kind/name.
func (l *Ledger) Known(namespace, kind, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ops := range l.sources[namespace] {
		if len(ops[Key(kind, name)]) > 0 {
			return true
		}
	}
	return false
}

// MarkStarted marks the version of kind/name in namespace whose digest is
// digest as let past its admission gates, and writes its record.
func (l *Ledger) MarkStarted(namespace, kind, name, digest string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, source := range sortedKeys(l.sources[namespace]) {
		vs := l.sources[namespace][source][Key(kind, name)]
		for i := range vs {
			if vs[i].Digest == digest {
				if vs[i].Started {
					return nil
				}
				vs[i].Started = true
				return l.save(namespace, source)
			}
		}
	}
	return fmt.Errorf("provenance: no recorded version %s of %s %s/%s to mark started", short(digest), kind, namespace, name)
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Forget drops FleetSource namespace/source's record, as when the
// FleetSource is deleted.
func (l *Ledger) Forget(namespace, source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sourceMap(namespace), source)
	delete(l.verified[namespace], source)
}

// save writes one source's record; l.mu is held.
func (l *Ledger) save(namespace, source string) error {
	if l.dir == "" {
		return nil
	}
	data, err := json.Marshal(file{Operations: l.sources[namespace][source]})
	if err != nil {
		return err
	}
	dir := filepath.Join(l.dir, namespace, source)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("provenance: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, FileName), data, 0o600)
}

// Problem says why an operation has no verified version.
type Problem string

// The problems Check reports.
const (
	// NotReady: no FleetSource of the namespace has recorded since the
	// state directory was made; wait for one.
	NotReady Problem = "NotReady"
	// NotFromSource: the FleetSources of the namespace record the
	// operation in other versions only, or not at all.
	NotFromSource Problem = ReasonNotFromSource
)

// Result is Check's answer: the version the operation is, or the problem.
type Result struct {
	Version Version
	Problem Problem
	Message string
}

// OK reports whether the operation is a recorded version.
func (r Result) OK() bool { return r.Problem == "" }

// Check finds the recorded version whose digest is obj's, among the
// records of every FleetSource of obj's namespace.
func (l *Ledger) Check(kind string, obj v1.Operation) Result {
	if l == nil {
		return Result{Problem: NotFromSource, Message: "no provenance record is configured, so nothing can be traced to a verified commit"}
	}
	digest, err := SpecDigest(obj)
	if err != nil {
		return Result{Problem: NotFromSource, Message: fmt.Sprintf("its spec cannot be encoded: %v", err)}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	sources := l.sources[obj.GetNamespace()]
	notReady := Result{Problem: NotReady, Message: "waiting for a FleetSource of namespace " + obj.GetNamespace() + " to verify its source"}
	known := 0
	for _, name := range sortedKeys(sources) {
		for _, v := range sources[name][Key(kind, obj.GetName())] {
			known++
			if v.Digest == digest {
				return Result{Version: v}
			}
		}
	}
	if len(l.verified[obj.GetNamespace()]) == 0 {
		return notReady
	}
	if known == 0 {
		return Result{Problem: NotFromSource, Message: fmt.Sprintf("no verified commit of a FleetSource in namespace %s holds %s %s", obj.GetNamespace(), kind, obj.GetName())}
	}
	return Result{Problem: NotFromSource, Message: fmt.Sprintf("its spec (digest %s) differs from the %d version(s) applied from verified commits: it was changed in the cluster", digest[:12], known)}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SpecDigest is the SHA-256 of the canonical JSON of obj's spec with its
// defaults filled in (v1.Default): the same for a manifest decoded from
// git and for the object the API server stores from it, and different
// after any change of a field.
func SpecDigest(obj v1.Operation) (string, error) {
	c, ok := obj.DeepCopyObject().(v1.Object)
	if !ok {
		return "", errors.New("not a nodewright object")
	}
	v1.Default(c)
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(c)
	if err != nil {
		return "", err
	}
	spec, ok := m["spec"]
	if !ok {
		return "", errors.New("no spec")
	}
	data, err := json.Marshal(spec) // map keys sorted: one encoding per spec
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}
