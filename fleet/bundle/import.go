package bundle

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/nodewright/nodewright/source"
	"github.com/nodewright/nodewright/source/mirror"
	"github.com/nodewright/nodewright/source/reason"
	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// ImportOptions says which fleet bundle Import brings into which source.
type ImportOptions struct {
	// Bundle is the bundle file.
	Bundle string
	// Manifest is its manifest; "" means Bundle+".manifest".
	Manifest string
	// Into is the source state directory (as `nodewright verify
	// --state-dir` uses it): the bundle goes into its mirror/ through
	// source.Source, which verifies every new commit.
	Into string
	// Branch is the fleet branch; "" means main.
	Branch string
	// Root is the trust root of the source.
	Root *trust.Policy
	// StatePath is the bundle state file; "" means Into/bundles.json.
	StatePath string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Imported reports an import. Refusals empty means the bundle was taken.
type Imported struct {
	// Manifest is the bundle's manifest, once it could be read.
	Manifest *Manifest
	// Signer signed the manifest.
	Signer signature.Signer
	// Refusals list why the bundle was refused; nothing moved then.
	Refusals reason.List
	// Gap, when set, says sequence numbers were skipped: the bundle was
	// imported, but earlier ones never arrived here.
	Gap *Gap
	// Result is the source verification of a fleet bundle.
	Result *source.Result
	// Status reports the merge of a status bundle.
	Status *StatusMerge
}

// Accepted reports whether the bundle was imported.
func (i *Imported) Accepted() bool { return len(i.Refusals) == 0 }

// refuse records a refusal.
func (i *Imported) refuse(code reason.Code, commit plumbing.Hash, format string, args ...any) {
	c := ""
	if !commit.IsZero() {
		c = commit.String()
	}
	i.Refusals = append(i.Refusals, reason.Errorf(code, c, format, args...))
}

// Gap is a jump in the sequence numbers of one origin and branch.
type Gap struct {
	// Origin and Branch name the sequence.
	Origin, Branch string
	// Last is the sequence imported before (0: none), Got the one imported.
	Last, Got uint64
}

// String says which sequence numbers never arrived.
func (g *Gap) String() string {
	if g.Last == 0 {
		return fmt.Sprintf("bundle sequence %d of branch %s is the first from origin %s imported here; sequences before it were not", g.Got, g.Branch, g.Origin)
	}
	first, last := g.Last+1, g.Got-1
	which := fmt.Sprintf("sequence %d was", first)
	if last > first {
		which = fmt.Sprintf("sequences %d to %d were", first, last)
	}
	return fmt.Sprintf("bundle sequence %d of branch %s from origin %s follows %d here: %s never imported (each bundle also carries the commits before it, so nothing is missing from the repository, but a bundle may have gone astray)", g.Got, g.Branch, g.Origin, g.Last, which)
}

// Import brings a fleet bundle into a source's mirror: it verifies the
// manifest's signature against the policy in force (the trust root, or the
// policy at the source's last accepted commit) and requires a committer to
// have signed it, checks the bundle's sha256 against the manifest, that
// every prerequisite is in the mirror (BundleInvalid), that the sequence is
// newer than the last one imported from the same origin and branch
// (BundleReplay), and then runs source.Source on the bundle, which imports
// it and verifies every new commit. The sequence is recorded only when the
// source accepts.
//
// Refusals are in the result; an error means the files, the state or the
// source could not be read or written.
func Import(ctx context.Context, o ImportOptions) (*Imported, error) {
	now := clock(o.Now)
	branch := orDefault(o.Branch, DefaultBranch)
	if o.Root == nil {
		return nil, errors.New("no trust root given")
	}
	if err := checkStateDir(o.Into); err != nil {
		return nil, err
	}
	statePath := o.StatePath
	if statePath == "" {
		statePath = filepath.Join(o.Into, StateFile)
	}
	state, unlock, err := openState(statePath)
	if err != nil {
		return nil, err
	}
	defer unlock()

	out := &Imported{}
	var m *mirror.Mirror
	mirrorDir := filepath.Join(o.Into, "mirror")
	if _, err := os.Stat(mirrorDir); err == nil {
		if m, err = mirror.Open(mirrorDir); err != nil {
			return nil, err
		}
		defer func() {
			if m != nil {
				m.Close()
			}
		}()
	}
	policy, err := policyInForce(o.Into, m, o.Root)
	if err != nil {
		if reason.CodeOf(err) != "" {
			out.Refusals = append(out.Refusals, reason.Refusals(err)...)
			return out, nil
		}
		return nil, err
	}
	verify := func(sm *SignedManifest) (signature.Signer, *reason.Error) {
		return verifyAgainst(sm, now(), policy, trust.RoleCommitters, "")
	}
	c, err := precheck(out, o.Bundle, o.Manifest, Fleet, branch, o.Into, verify)
	if err != nil || c == nil {
		return out, err
	}
	defer c.cleanup()
	sm := c.sm

	var store storer.EncodedObjectStorer
	if m != nil {
		store = m.Storer()
	}
	checkPrerequisites(out, store, sm, "the mirror")
	gap := checkSequence(out, state, &sm.Manifest)
	if m != nil {
		m.Close()
		m = nil
	}
	if !out.Accepted() {
		return out, nil
	}

	src := &source.Source{Repo: c.path, Branch: branch, StateDir: o.Into, Root: o.Root, Now: o.Now}
	res, err := src.Sync(ctx)
	if err != nil {
		return out, err
	}
	out.Result = res
	if !res.Accepted() {
		out.Refusals = append(out.Refusals, res.Refusals...)
		return out, nil
	}
	out.Gap = gap
	state.setImported(&sm.Manifest, now())
	if sm.Cluster != "" && sm.StatusAcknowledged != "" {
		state.setAcknowledged(sm.Cluster, sm.StatusAcknowledged, now())
	}
	if err := state.save(statePath); err != nil {
		return out, err
	}
	return out, nil
}

// checkStateDir refuses an --into that is not a source state directory:
// a file, or a bare repository (the mirror itself rather than its parent).
func checkStateDir(dir string) error {
	if dir == "" {
		return errors.New("no source state directory given")
	}
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	if _, bare, err := findGitDir(dir); err == nil && bare {
		return fmt.Errorf("%s is a bare git repository; pass the source state directory that holds mirror/ (as `nodewright verify --state-dir`)", dir)
	}
	return nil
}

// policyInForce is the trust policy that judges the next commit of the
// source at dir, and so who may sign bundles now: source.PolicyInForce,
// the one rule for commits, plans and manifests (never older than the
// trust root, nor than the policy recorded at the last accepted commit).
func policyInForce(dir string, m *mirror.Mirror, root *trust.Policy) (*trust.Policy, error) {
	st, err := source.LoadState(dir)
	if err != nil {
		return nil, err
	}
	if st.Last().IsZero() || m == nil {
		return root, nil
	}
	return source.PolicyInForce(m.Storer(), st, root)
}

// verifyAgainst verifies the manifest's signature against policy and
// requires the signer to hold role; holder, when set, names a principal
// that may sign without the role (a cluster signing its own report).
func verifyAgainst(sm *SignedManifest, now time.Time, policy *trust.Policy, role, holder string) (signature.Signer, *reason.Error) {
	signer, err := sm.Verify(policy.Keyring(), now)
	if err != nil {
		return signer, asReason(err)
	}
	if signer.Principal != holder && !policy.HasRole(signer.Principal, role) {
		return signer, reason.Errorf(reason.NotAuthorized, "", "the bundle manifest is signed by %q, who is not in role %s of the policy in force", signer.Principal, role)
	}
	return signer, nil
}

// asReason returns err as a *reason.Error, wrapping one without a code as
// BadSignature.
func asReason(err error) *reason.Error {
	var re *reason.Error
	if errors.As(err, &re) {
		return re
	}
	return reason.Errorf(reason.BadSignature, "", "%v", err)
}

// checked is a bundle whose manifest, signature and digest precheck
// verified.
type checked struct {
	sm     *SignedManifest
	header *Header
	// path is a private copy of the bundle, made while hashing it, so that
	// the bytes verified are the bytes imported even if the original file
	// changes meanwhile. cleanup removes it.
	path    string
	cleanup func()
}

// precheck reads the manifest, checks that it describes a bundle of type
// and branch, verifies its signature with verify, copies the bundle into
// a private directory under workDir while hashing it, and checks the copy
// against the manifest's digest and the bundle's header against the
// manifest. Refusals go into out and yield no checked bundle; the checks
// stop at the first, since nothing in an unverified manifest or an altered
// bundle can be relied on.
func precheck(out *Imported, bundlePath, manifestPath string, typ Type, branch, workDir string, verify func(*SignedManifest) (signature.Signer, *reason.Error)) (*checked, error) {
	if manifestPath == "" {
		manifestPath = bundlePath + ManifestSuffix
	}
	if _, err := os.Stat(bundlePath); err != nil {
		return nil, fmt.Errorf("bundle: %w", err)
	}
	data, err := readLimited(manifestPath, MaxManifestSize)
	if err != nil {
		return nil, fmt.Errorf("bundle manifest: %w", err)
	}
	name, bundleName := filepath.Base(manifestPath), filepath.Base(bundlePath)
	sm, err := ParseManifest(data)
	switch {
	case errors.Is(err, ErrUnsigned):
		out.Manifest = &sm.Manifest
		out.refuse(reason.Unsigned, plumbing.ZeroHash, "bundle manifest %s is not signed", name)
		return nil, nil
	case err != nil:
		out.refuse(reason.BundleInvalid, plumbing.ZeroHash, "bundle manifest %s: %v", name, err)
		return nil, nil
	}
	out.Manifest = &sm.Manifest
	// The kind is checked first, only to say which command takes the
	// bundle; nothing is acted on before the signature is verified.
	tip := plumbing.NewHash(sm.Tip)
	switch {
	case sm.Type != typ && typ == Fleet:
		out.refuse(reason.BundleInvalid, tip, "%s carries the status branch of cluster %s; import it at the hub with --status", bundleName, sm.Cluster)
		return nil, nil
	case sm.Type != typ:
		out.refuse(reason.BundleInvalid, tip, "%s carries the fleet branch; import it at a site without --status", bundleName)
		return nil, nil
	case sm.Branch != branch:
		out.refuse(reason.BundleInvalid, tip, "%s carries branch %s, not %s", bundleName, sm.Branch, branch)
		return nil, nil
	}
	signer, refusal := verify(sm)
	out.Signer = signer
	if refusal != nil {
		out.Refusals = append(out.Refusals, refusal)
		return nil, nil
	}
	c := &checked{sm: sm}
	var digest FileDigest
	c.path, digest, c.cleanup, err = snapshot(bundlePath, workDir)
	if err != nil {
		return nil, err
	}
	refuse := func(format string, args ...any) (*checked, error) {
		c.cleanup()
		out.refuse(reason.BundleInvalid, tip, format, args...)
		return nil, nil
	}
	if digest != sm.Bundle {
		return refuse("%s does not match its signed manifest: sha256 %s (%d bytes), the manifest says %s (%d bytes); the bundle was altered or damaged", bundleName, digest.SHA256, digest.Size, sm.Bundle.SHA256, sm.Bundle.Size)
	}
	f, err := os.Open(c.path)
	if err != nil {
		c.cleanup()
		return nil, fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	if c.header, err = ReadHeader(f); err != nil {
		return refuse("%s: %v", bundleName, err)
	}
	if got, ok := c.header.Refs[plumbing.NewBranchReferenceName(branch)]; !ok || got != tip {
		return refuse("%s: its header does not carry refs/heads/%s at %s as its manifest says", bundleName, branch, short(tip))
	}
	if !sameSet(c.header.Prerequisites, sm.Prerequisites) {
		return refuse("%s: the prerequisites in its header differ from its manifest's", bundleName)
	}
	return c, nil
}

// snapshot copies the file src into a new private directory under workDir,
// keeping its base name, and returns the copy's path, its digest and a
// function that removes the directory.
func snapshot(src, workDir string) (string, FileDigest, func(), error) {
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return "", FileDigest{}, nil, fmt.Errorf("bundle: %w", err)
	}
	dir, err := os.MkdirTemp(workDir, ".incoming-")
	if err != nil {
		return "", FileDigest{}, nil, fmt.Errorf("bundle: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	dst := filepath.Join(dir, filepath.Base(src))
	digest, err := copyHashing(src, dst)
	if err != nil {
		cleanup()
		return "", FileDigest{}, nil, fmt.Errorf("bundle: %w", err)
	}
	return dst, digest, cleanup, nil
}

// copyHashing copies src to the new file dst and returns the size and
// SHA-256 of what it copied.
func copyHashing(src, dst string) (FileDigest, error) {
	in, err := os.Open(src)
	if err != nil {
		return FileDigest{}, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return FileDigest{}, err
	}
	sum := sha256.New()
	n, err := io.Copy(io.MultiWriter(out, sum), in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return FileDigest{}, err
	}
	return FileDigest{Size: n, SHA256: hex.EncodeToString(sum.Sum(nil))}, nil
}

// readLimited reads a file of at most max bytes.
func readLimited(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > max {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, max)
	}
	return data, nil
}

// sameSet reports whether hashes and ids name the same commits.
func sameSet(hashes []plumbing.Hash, ids []string) bool {
	a := make([]string, len(hashes))
	for i, h := range hashes {
		a[i] = h.String()
	}
	b := append([]string(nil), ids...)
	sort.Strings(a)
	sort.Strings(b)
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// checkPrerequisites refuses (BundleInvalid) every prerequisite commit the
// store lacks, naming it; a nil store holds nothing.
func checkPrerequisites(out *Imported, store storer.EncodedObjectStorer, sm *SignedManifest, where string) {
	for _, p := range sm.Prerequisites {
		h := plumbing.NewHash(p)
		if store != nil {
			if _, err := object.GetCommit(store, h); err == nil {
				continue
			}
		}
		out.refuse(reason.BundleInvalid, h, "prerequisite %s of bundle sequence %d is missing from %s: import the bundles before it first, or ask for a bundle made with --since a commit this side has", p, sm.Sequence, where)
	}
}

// MaxSequenceGap bounds how far a bundle's sequence number may jump past
// the last one imported from its origin and branch (or past zero for the
// first).
const MaxSequenceGap = 10_000

// checkSequence refuses a bundle whose sequence is not above the last one
// imported from its origin and branch (BundleReplay), and returns the gap
// when it skips numbers.
func checkSequence(out *Imported, state *State, m *Manifest) *Gap {
	rec := state.imported(m.Origin, m.Branch)
	last := uint64(0)
	if rec != nil {
		last = rec.Sequence
		if m.Sequence <= rec.Sequence {
			out.refuse(reason.BundleReplay, plumbing.NewHash(m.Tip), "bundle sequence %d of branch %s from origin %s is not newer than sequence %d, imported here at %s; refusing a replay", m.Sequence, m.Branch, m.Origin, rec.Sequence, rec.Time.Format(time.RFC3339))
			return nil
		}
	}
	if m.Sequence-last > MaxSequenceGap {
		out.refuse(reason.LimitExceeded, plumbing.NewHash(m.Tip), "bundle sequence %d of branch %s from origin %s is %d past the last one imported here (%d); at most %d may be skipped, so that one manifest cannot block every later bundle of the origin as a replay", m.Sequence, m.Branch, m.Origin, m.Sequence-last, last, MaxSequenceGap)
		return nil
	}
	if m.Sequence > last+1 {
		return &Gap{Origin: m.Origin, Branch: m.Branch, Last: last, Got: m.Sequence}
	}
	return nil
}
