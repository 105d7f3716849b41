package bundle

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/nodewright/nodewright/source/signature"
	"github.com/nodewright/nodewright/source/trust"
)

// ManifestKind is the kind of a bundle manifest document.
const ManifestKind = "BundleManifest"

// ManifestSuffix is appended to a bundle's path to name its manifest.
const ManifestSuffix = ".manifest"

// MaxManifestSize bounds a manifest file; larger input is refused unread.
const MaxManifestSize = 1 << 20

// maxPrerequisites bounds the prerequisite list of a manifest.
const maxPrerequisites = 10000

// Type says which branch a bundle carries and so how it is imported.
type Type string

const (
	// Fleet bundles carry the fleet branch from the hub to a site, where
	// Import verifies them as a fetch would be.
	Fleet Type = "fleet"
	// Status bundles carry a cluster's status branch from its site to the
	// hub, where ImportStatus merges the cluster's directory.
	Status Type = "status"
)

// Manifest describes one bundle file. It travels next to the bundle as
// <bundle>.manifest: this document as indented JSON, followed by an armored
// detached signature (SSH in namespace "nodewright-bundle", or OpenPGP) over
// exactly the JSON bytes before it, as a signed git tag carries its
// signature after its text.
type Manifest struct {
	// APIVersion is nodewright.io/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind is BundleManifest.
	Kind string `json:"kind"`
	// Type is fleet or status.
	Type Type `json:"type"`
	// Origin identifies the bundle state of the side that made the bundle;
	// sequence numbers rise per (Origin, Branch).
	Origin string `json:"origin"`
	// Branch is the branch the bundle carries, without refs/heads/.
	Branch string `json:"branch"`
	// Cluster is the cluster a status bundle reports for, or the cluster a
	// fleet bundle was cut for (whose appliedCommit chose the
	// prerequisites); empty for a fleet bundle cut for no cluster.
	Cluster string `json:"cluster,omitempty"`
	// Sequence is the bundle's number, from 1 up per (Origin, Branch).
	Sequence uint64 `json:"sequence"`
	// Tip is the commit the bundle's branch points to.
	Tip string `json:"tip"`
	// Prerequisites are the commits the receiver must already hold, as in
	// the bundle's header; empty for a full bundle.
	Prerequisites []string `json:"prerequisites"`
	// Commits is how many commits the bundle brings.
	Commits int `json:"commits"`
	// Bundle names the bundle file's size and digest.
	Bundle FileDigest `json:"bundle"`
	// StatusAcknowledged, in a fleet bundle cut for Cluster, is the newest
	// status commit of that cluster the hub has imported: the site's next
	// status bundle starts there.
	StatusAcknowledged string `json:"statusAcknowledged,omitempty"`
	// Created is when the bundle was made.
	Created time.Time `json:"created"`
}

// FileDigest is the size and SHA-256 of a file.
type FileDigest struct {
	// Size is the file's length in bytes.
	Size int64 `json:"size"`
	// SHA256 is the file's SHA-256, lower-case hex.
	SHA256 string `json:"sha256"`
}

// SignedManifest is a parsed manifest file: the manifest, the exact bytes
// its signature covers, and the armored signature.
type SignedManifest struct {
	Manifest
	// Payload is the JSON the signature covers.
	Payload []byte
	// Signature is the armored signature, empty when the file has none.
	Signature []byte
}

// ErrUnsigned is returned by ParseManifest for a manifest without a
// signature block; the SignedManifest is returned with it.
var ErrUnsigned = errors.New("the manifest carries no signature")

var (
	originPattern  = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,63}$`)
	clusterPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)
)

// ParseManifest splits a manifest file into its JSON and its signature,
// decodes the JSON strictly (unknown fields, trailing data and wrong types
// are errors) and validates every field. A well-formed manifest without a
// signature is returned together with ErrUnsigned. It does not verify the
// signature: see SignedManifest.Verify.
func ParseManifest(data []byte) (*SignedManifest, error) {
	if len(data) > MaxManifestSize {
		return nil, fmt.Errorf("manifest is %d bytes, more than the %d allowed", len(data), MaxManifestSize)
	}
	payload, sig, err := splitSignature(data)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	sm := &SignedManifest{Payload: payload, Signature: sig}
	if err := dec.Decode(&sm.Manifest); err != nil {
		return nil, fmt.Errorf("manifest JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("manifest JSON: data after the document")
	}
	if err := sm.Manifest.Validate(); err != nil {
		return nil, err
	}
	if len(sig) == 0 {
		return sm, ErrUnsigned
	}
	return sm, nil
}

// splitSignature cuts data at the first line that begins an armored
// signature. JSON never has a line starting with "-----BEGIN" (a string
// cannot hold a raw newline), so the cut is unambiguous. The signature
// block must run to the end of the data.
func splitSignature(data []byte) (payload, sig []byte, err error) {
	i := 0
	if !bytes.HasPrefix(data, []byte("-----BEGIN ")) {
		j := bytes.Index(data, []byte("\n-----BEGIN "))
		if j < 0 {
			return data, nil, nil
		}
		i = j + 1
	}
	payload, sig = data[:i], data[i:]
	var end string
	switch {
	case bytes.HasPrefix(sig, []byte(sshSigBegin+"\n")):
		end = "-----END SSH SIGNATURE-----"
	case bytes.HasPrefix(sig, []byte(pgpSigBegin+"\n")):
		end = "-----END PGP SIGNATURE-----"
	default:
		return nil, nil, errors.New("manifest: the block after the JSON is neither an SSH nor an OpenPGP signature")
	}
	body := bytes.TrimSuffix(sig, []byte("\n"))
	if !bytes.HasSuffix(body, []byte("\n"+end)) || bytes.Count(sig, []byte("-----BEGIN ")) != 1 {
		return nil, nil, errors.New("manifest: the signature block is not the last thing in the file")
	}
	return payload, sig, nil
}

// Validate checks every field of the manifest.
func (m *Manifest) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if m.APIVersion != trust.APIVersion {
		bad("apiVersion %q is not %q", clip(m.APIVersion), trust.APIVersion)
	}
	if m.Kind != ManifestKind {
		bad("kind %q is not %q", clip(m.Kind), ManifestKind)
	}
	switch m.Type {
	case Fleet:
		if m.StatusAcknowledged != "" && !isCommitID(m.StatusAcknowledged) {
			bad("statusAcknowledged %q is not a 40-hex commit id", clip(m.StatusAcknowledged))
		}
		if m.StatusAcknowledged != "" && m.Cluster == "" {
			bad("statusAcknowledged needs the cluster it was acknowledged for")
		}
	case Status:
		if m.Cluster == "" {
			bad("a status bundle names its cluster")
		}
		if m.StatusAcknowledged != "" {
			bad("statusAcknowledged belongs in fleet bundles only")
		}
	default:
		bad("type %q is not %q or %q", clip(string(m.Type)), Fleet, Status)
	}
	if !originPattern.MatchString(m.Origin) {
		bad("origin %q is not 1-64 lower-case letters, digits and '-'", clip(m.Origin))
	}
	if m.Branch == "" || plumbing.NewBranchReferenceName(m.Branch).Validate() != nil {
		bad("branch %q is not a valid branch name", clip(m.Branch))
	}
	if m.Cluster != "" && !clusterPattern.MatchString(m.Cluster) {
		bad("cluster %q is not a cluster name (lower-case letters, digits, '.', '-'; at most 63)", clip(m.Cluster))
	}
	if m.Sequence < 1 {
		bad("sequence must be at least 1")
	}
	if !isCommitID(m.Tip) {
		bad("tip %q is not a 40-hex commit id", clip(m.Tip))
	}
	if len(m.Prerequisites) > maxPrerequisites {
		bad("%d prerequisites, more than the %d allowed", len(m.Prerequisites), maxPrerequisites)
	} else {
		seen := map[string]bool{}
		for i, p := range m.Prerequisites {
			switch {
			case !isCommitID(p):
				bad("prerequisites[%d] %q is not a 40-hex commit id", i, clip(p))
			case seen[p]:
				bad("prerequisites[%d] %s is listed twice", i, p)
			case p == m.Tip:
				bad("prerequisites[%d] is the tip itself", i)
			}
			seen[p] = true
		}
	}
	if m.Commits < 1 {
		bad("commits must be at least 1")
	}
	if m.Bundle.Size < 1 {
		bad("bundle.size must be positive")
	}
	if !isHexID(m.Bundle.SHA256, 64) {
		bad("bundle.sha256 %q is not 64 lower-case hex digits", clip(m.Bundle.SHA256))
	}
	if m.Created.IsZero() {
		bad("created is required")
	}
	if len(errs) > 0 {
		return fmt.Errorf("manifest: %w", errors.Join(errs...))
	}
	return nil
}

// isCommitID reports whether s is a 40-hex object id other than all zeros.
func isCommitID(s string) bool {
	_, ok := parseID(s)
	return ok
}

// encode renders the manifest as the signed JSON payload.
func (m *Manifest) encode() ([]byte, error) {
	if m.Prerequisites == nil {
		m.Prerequisites = []string{}
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// Sign validates the manifest and renders its file: the JSON followed by
// key's signature over it.
func (m *Manifest) Sign(key *SigningKey, now time.Time) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	payload, err := m.encode()
	if err != nil {
		return nil, err
	}
	sig, err := key.Sign(payload, Namespace, now)
	if err != nil {
		return nil, err
	}
	return append(payload, sig...), nil
}

// Verify checks the manifest's signature against the keys of kr at time
// now and returns who signed. A failure is a *reason.Error: Unsigned,
// UnknownKey, BadSignature, KeyRevoked or KeyExpired. Which principals may
// sign which bundles is the caller's decision.
func (sm *SignedManifest) Verify(kr *trust.Keyring, now time.Time) (signature.Signer, error) {
	return verifyManifestSignature(kr, sm.Payload, sm.Signature, now)
}
