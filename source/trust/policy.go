package trust

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"sort"
	"time"

	"github.com/nodewright/nodewright/internal/yamlfile"
)

// APIVersion is the apiVersion every Nodewright document carries.
const APIVersion = "nodewright.io/v1alpha1"

// Kind is the kind of a trust policy document.
const Kind = "TrustPolicy"

// Path is where the trust policy lives in a fleet repository.
const Path = ".nodewright/trust.yaml"

// Role names the policy must or may define.
const (
	// RoleCommitters may sign commits that change files.
	RoleCommitters = "committers"
	// RoleApprovers may approve operations (when the operations section names it).
	RoleApprovers = "approvers"
	// RoleTrustAdmins authorize changes of the trust policy itself.
	RoleTrustAdmins = "trust-admins"
)

// History says which commits of a new range must be signed.
type History string

const (
	// HistoryAll verifies every commit of a new range.
	HistoryAll History = "all"
	// HistoryFirstParent verifies only the first-parent chain, so merged
	// branches may carry unsigned work as long as the merge is signed.
	HistoryFirstParent History = "first-parent"
)

// Policy is a TrustPolicy document: who may commit, approve and change
// trust. Build one with Parse; a zero Policy is not valid.
type Policy struct {
	APIVersion string                   `yaml:"apiVersion" json:"apiVersion"`
	Kind       string                   `yaml:"kind" json:"kind"`
	Version    int                      `yaml:"version" json:"version"`
	History    History                  `yaml:"history,omitempty" json:"history,omitempty"`
	Since      string                   `yaml:"since,omitempty" json:"since,omitempty"`
	Freshness  *Freshness               `yaml:"freshness,omitempty" json:"freshness,omitempty"`
	Principals []Principal              `yaml:"principals" json:"principals"`
	Roles      map[string]Role          `yaml:"roles" json:"roles"`
	Operations map[string]OperationRule `yaml:"operations,omitempty" json:"operations,omitempty"`

	keyring *Keyring
	digest  string
	source  string
}

// Freshness bounds how old the newest accepted commit may be before the
// source reports Stale.
type Freshness struct {
	// MaxAge is a Go duration such as "72h".
	MaxAge string `yaml:"maxAge" json:"maxAge"`

	maxAge time.Duration
}

// Principal is a person or system with one or more keys; it counts once
// towards any threshold, however many keys it holds.
type Principal struct {
	Name string `yaml:"name" json:"name"`
	Keys []Key  `yaml:"keys" json:"keys"`
}

// Key is one public key: exactly one of OpenPGP (ASCII-armored; its
// subkeys count as the principal's) or SSH (one line: an authorized_keys
// line "[options] type base64 [comment]", or an allowed_signers line
// "principals [options] type base64 [comment]"; the options namespaces,
// valid-after and valid-before restrict the key and reach its Holder;
// every other option is refused).
type Key struct {
	OpenPGP string `yaml:"openpgp,omitempty" json:"openpgp,omitempty"`
	SSH     string `yaml:"ssh,omitempty" json:"ssh,omitempty"`
	// Revoked keys sign nothing new from the commit that revokes them on.
	Revoked bool `yaml:"revoked,omitempty" json:"revoked,omitempty"`
}

// Role is a set of principals and how many of them must agree.
type Role struct {
	Principals []string `yaml:"principals" json:"principals"`
	Threshold  int      `yaml:"threshold" json:"threshold"`
}

// OperationRule names the role whose approvals an operation kind needs.
type OperationRule struct {
	Role      string `yaml:"role" json:"role"`
	Threshold int    `yaml:"threshold" json:"threshold"`
}

// Error is a policy problem located in its file, formatted as
// "file:line: field: message": the repository's located error. Trust
// documents' problems are located by line only.
type Error = yamlfile.Error

// Errors is every problem found in one document.
type Errors = yamlfile.Errors

// MaxPolicySize bounds a policy document; larger input is refused unread.
const MaxPolicySize = 1 << 20

// Parse decodes and validates a TrustPolicy document. file names the
// document in errors. Decoding is strict: unknown fields, duplicate keys,
// wrong types and more than one document are errors. On failure the error
// is an Errors listing every problem found.
func Parse(file string, data []byte) (*Policy, error) {
	var p Policy
	root, err := DecodeDocument(file, data, MaxPolicySize, "a trust policy", &p)
	if err != nil {
		return nil, err
	}
	p.source = file
	v := validator{Validator{File: file, Root: root}}
	v.validate(&p)
	if len(v.Errs) > 0 {
		return nil, v.Errs
	}
	canon, err := json.Marshal(&p)
	if err != nil {
		return nil, Errors{{File: file, Message: "cannot encode policy: " + err.Error()}}
	}
	sum := sha256.Sum256(canon)
	p.digest = hex.EncodeToString(sum[:])
	return &p, nil
}

// Digest is a stable hash of the policy's content: two documents with the
// same meaning have the same digest whatever their formatting.
func (p *Policy) Digest() string { return p.digest }

// Source is the file name the policy was parsed from.
func (p *Policy) Source() string { return p.source }

// Keyring returns the keys of the policy indexed for signature checks.
func (p *Policy) Keyring() *Keyring { return p.keyring }

// HistoryMode returns the history mode with its default applied.
func (p *Policy) HistoryMode() History {
	if p.History == "" {
		return HistoryAll
	}
	return p.History
}

// MaxAge returns freshness.maxAge, or 0 when the policy sets none.
func (p *Policy) MaxAge() time.Duration {
	if p.Freshness == nil {
		return 0
	}
	return p.Freshness.maxAge
}

// HasRole reports whether principal holds role.
func (p *Policy) HasRole(principal, role string) bool {
	for _, n := range p.Roles[role].Principals {
		if n == principal {
			return true
		}
	}
	return false
}

// RoleNames returns the policy's role names, sorted.
func (p *Policy) RoleNames() []string {
	names := make([]string, 0, len(p.Roles))
	for n := range p.Roles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
